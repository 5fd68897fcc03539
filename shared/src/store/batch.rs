//! BatchWriteItem in full batches of 25, retrying UnprocessedItems with backoff.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use aws_sdk_dynamodb::Client;

use super::item::Item;
use super::StoreError;

pub const BATCH_WRITE_MAX: usize = 25;
const MAX_ATTEMPTS: u32 = 8;

/// Puts every item, 25 per request, until DynamoDB has taken them all.
pub async fn put_all(client: &Client, table: &str, items: Vec<Item>) -> Result<(), StoreError> {
    let mut requests: Vec<WriteRequest> = items
        .into_iter()
        .map(|item| {
            let put = PutRequest::builder()
                .set_item(Some(item))
                .build()
                .map_err(|e| StoreError::build("BatchWriteItem", e))?;
            Ok(WriteRequest::builder().put_request(put).build())
        })
        .collect::<Result<_, StoreError>>()?;
    while !requests.is_empty() {
        let rest = requests.split_off(requests.len().min(BATCH_WRITE_MAX));
        write_batch(client, table, std::mem::replace(&mut requests, rest)).await?;
    }
    Ok(())
}

async fn write_batch(
    client: &Client,
    table: &str,
    mut batch: Vec<WriteRequest>,
) -> Result<(), StoreError> {
    for attempt in 0..MAX_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(backoff(attempt)).await;
        }
        let output = client
            .batch_write_item()
            .set_request_items(Some(HashMap::from([(table.to_string(), batch)])))
            .send()
            .await
            .map_err(|e| StoreError::aws("BatchWriteItem", e))?;
        batch = output
            .unprocessed_items
            .and_then(|mut unprocessed| unprocessed.remove(table))
            .unwrap_or_default();
        if batch.is_empty() {
            return Ok(());
        }
    }
    Err(StoreError::Aws {
        operation: "BatchWriteItem",
        message: format!(
            "{} items still unprocessed after {MAX_ATTEMPTS} attempts",
            batch.len()
        ),
    })
}

/// Exponential backoff: 50 ms, 100 ms, 200 ms … capped at 2 s.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((50u64 << attempt.min(6)).min(2_000))
}
