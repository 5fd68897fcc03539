//! The one AWS client factory. Endpoints, credentials and region come from the standard
//! AWS environment (so `AWS_ENDPOINT_URL` points everything at a local emulator).

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::config::SharedInterceptor;

/// SDK clients, built once per process and shared by every request.
#[derive(Clone, Debug)]
pub struct AwsClients {
    pub s3: aws_sdk_s3::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
}

impl AwsClients {
    /// Clients for the environment the process runs in (Lambda or a shell).
    pub async fn from_env() -> Self {
        let config = aws_config::defaults(BehaviorVersion::latest()).load().await;
        Self::from_sdk_config(&config)
    }

    pub fn from_sdk_config(config: &SdkConfig) -> Self {
        Self::with_interceptors(config, &[])
    }

    /// The same clients with `interceptors` on every call of every client (the benchmarks
    /// count requests this way).
    pub fn with_interceptors(config: &SdkConfig, interceptors: &[SharedInterceptor]) -> Self {
        // Emulators serve every bucket under one host, so path-style addressing is needed
        // whenever the endpoint is overridden.
        let mut s3 = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(config.endpoint_url().is_some());
        let mut dynamodb = aws_sdk_dynamodb::config::Builder::from(config);
        let mut sqs = aws_sdk_sqs::config::Builder::from(config);
        for interceptor in interceptors {
            s3.push_interceptor(interceptor.clone());
            dynamodb.push_interceptor(interceptor.clone());
            sqs.push_interceptor(interceptor.clone());
        }
        Self {
            s3: aws_sdk_s3::Client::from_conf(s3.build()),
            dynamodb: aws_sdk_dynamodb::Client::from_conf(dynamodb.build()),
            sqs: aws_sdk_sqs::Client::from_conf(sqs.build()),
        }
    }
}
