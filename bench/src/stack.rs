//! Helpers around the local stack for the benchmarks that need AWS (moto): counting
//! clients, a direct upload through the upload handler, one processor invocation fed
//! from a queue the way the SQS event source mapping does it.

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use aws_lambda_events::event::sqs::SqsEvent;
use aws_sdk_dynamodb::config::{Credentials, Region};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use flate2::write::GzEncoder;
use flate2::Compression;
use ocsf_ingest::local::{LocalStack, StackOptions};
use serde_json::Value;
use shared::aws::AwsClients;
use shared::Deps;

use crate::counting::Counter;

/// A local stack on free ports (moto on `moto_port` if not 0), its resources named
/// after `prefix`.
pub async fn start(
    prefix: &str,
    moto_port: u16,
    env_overrides: Vec<(String, String)>,
) -> Result<LocalStack> {
    LocalStack::start(StackOptions {
        port: 0,
        moto_port,
        venv: crate::venv(),
        prefix: prefix.to_string(),
        env_overrides,
        ..StackOptions::default()
    })
    .await
    .context("starting the local stack")
}

/// Clients for `endpoint` (moto) that report every call to `counter`.
pub async fn counting_clients(endpoint: &str, counter: &Counter) -> AwsClients {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "bench"))
        .endpoint_url(endpoint)
        .load()
        .await;
    AwsClients::with_interceptors(&config, &[counter.shared()])
}

pub fn gzip(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes)?;
    Ok(encoder.finish()?)
}

/// `POST /api/v1/ingestions` straight into the upload handler; returns the job id.
pub async fn upload(deps: &Deps, api_key: &str, body: Vec<u8>) -> Result<String> {
    let request = http::Request::builder()
        .method("POST")
        .uri("/api/v1/ingestions")
        .header("authorization", format!("Api-Key {api_key}"))
        .header("content-type", "application/json")
        .body(lambda_http::Body::Binary(body))?;
    let response = upload::handle(deps, request)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let status = response.status();
    let body: Value = serde_json::from_slice(response.body().as_ref())?;
    if status != 202 {
        bail!("upload answered {status}: {body}");
    }
    body["data"]["id"]
        .as_str()
        .map(str::to_string)
        .context("no job id in the 202")
}

/// Receives one message from `queue_url`, runs the processor on it and deletes it, as
/// the event source mapping would (batch of one). Returns false if no message came.
pub async fn process_one(deps: &Deps, clients: &AwsClients, queue_url: &str) -> Result<bool> {
    let output = clients
        .sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(1)
        .wait_time_seconds(1)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await?;
    let Some(message) = output.messages.unwrap_or_default().into_iter().next() else {
        return Ok(false);
    };
    let record = ocsf_ingest::local::feeder::sqs_record(&message, None);
    let mut event = SqsEvent::default();
    event.records.push(record);
    let mut context = lambda_runtime::Context::default();
    context.deadline = (SystemTime::now() + Duration::from_secs(900))
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let response = processor::handle(deps, lambda_runtime::LambdaEvent::new(event, context))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if !response.batch_item_failures.is_empty() {
        bail!("the processor reported the message as failed");
    }
    let entry = DeleteMessageBatchRequestEntry::builder()
        .id("0")
        .receipt_handle(message.receipt_handle.unwrap_or_default())
        .build()?;
    clients
        .sqs
        .delete_message_batch()
        .queue_url(queue_url)
        .entries(entry)
        .send()
        .await?;
    Ok(true)
}
