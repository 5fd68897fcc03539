//! The one AWS client factory. Endpoints, credentials and region come from the standard
//! AWS environment (so `AWS_ENDPOINT_URL` points everything at a local emulator).

use aws_config::{BehaviorVersion, SdkConfig};

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
        // Emulators serve every bucket under one host, so path-style addressing is needed
        // whenever the endpoint is overridden.
        let s3 = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(config.endpoint_url().is_some())
            .build();
        Self {
            s3: aws_sdk_s3::Client::from_conf(s3),
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            sqs: aws_sdk_sqs::Client::new(config),
        }
    }
}
