//! Feeds a queue to the processor the way Lambda's SQS event source mapping does:
//! batches of up to `BatchSize`, messages deleted only when processed, failures left to
//! reappear after the visibility timeout (and go to the DLQ after maxReceiveCount, which
//! the queue's redrive policy enforces).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use shared::aws::AwsClients;

pub type SqsFuture =
    Pin<Box<dyn Future<Output = Result<SqsBatchResponse, lambda_runtime::Error>> + Send>>;
/// The processor's handler, as `lambda_runtime::run` would call it.
pub type SqsHandler = Arc<dyn Fn(SqsEvent) -> SqsFuture + Send + Sync>;

#[derive(Clone)]
pub struct Feeder {
    pub clients: AwsClients,
    pub queue_url: String,
    pub queue_arn: String,
    pub batch_size: i32,
    pub report_batch_item_failures: bool,
    pub handler: SqsHandler,
}

impl Feeder {
    /// Polls forever (until the task is dropped).
    pub async fn run(self) {
        loop {
            if let Err(e) = self.poll_once().await {
                tracing::warn!(error = %e, "queue poll failed");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }

    /// One receive → invoke → delete round. Returns how many messages were received.
    pub async fn poll_once(&self) -> anyhow::Result<usize> {
        let output = self
            .clients
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(self.batch_size.clamp(1, 10))
            .wait_time_seconds(1)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await?;
        let messages = output.messages.unwrap_or_default();
        if messages.is_empty() {
            return Ok(0);
        }
        let mut event = SqsEvent::default();
        let mut receipts = HashMap::new();
        for m in &messages {
            let record = sqs_record(m, Some(&self.queue_arn));
            event.records.push(record);
            if let (Some(id), Some(receipt)) = (&m.message_id, &m.receipt_handle) {
                receipts.insert(id.clone(), receipt.clone());
            }
        }
        let count = messages.len();
        let failed: Vec<String> = match (self.handler)(event).await {
            Ok(response) if self.report_batch_item_failures => response
                .batch_item_failures
                .into_iter()
                .map(|f| f.item_identifier)
                .collect(),
            Ok(_) => Vec::new(),
            // The whole batch failed: every message comes back after its visibility timeout.
            Err(e) => {
                tracing::error!(error = %e, "processor invocation failed");
                return Ok(count);
            }
        };
        let entries: Vec<DeleteMessageBatchRequestEntry> = receipts
            .into_iter()
            .filter(|(id, _)| !failed.contains(id))
            .enumerate()
            .map(|(i, (_, receipt))| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(receipt)
                    .build()
            })
            .collect::<Result<_, _>>()?;
        if !entries.is_empty() {
            self.clients
                .sqs
                .delete_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await?;
        }
        Ok(count)
    }
}

/// The Lambda event record for a received SQS message, as the event source mapping
/// builds it.
pub fn sqs_record(m: &aws_sdk_sqs::types::Message, queue_arn: Option<&str>) -> SqsMessage {
    let mut record = SqsMessage::default();
    record.message_id = m.message_id.clone();
    record.receipt_handle = m.receipt_handle.clone();
    record.body = m.body.clone();
    record.md5_of_body = m.md5_of_body.clone();
    record.attributes = m
        .attributes
        .iter()
        .flatten()
        .map(|(k, v)| (k.as_str().to_string(), v.clone()))
        .collect();
    record.event_source = Some("aws:sqs".into());
    record.event_source_arn = queue_arn.map(str::to_string);
    record.aws_region = Some("us-east-1".into());
    record
}
