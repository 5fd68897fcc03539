//! BatchWriteItem in full batches of 25, retrying UnprocessedItems with backoff.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use aws_sdk_dynamodb::Client;

use super::item::Item;
use super::StoreError;

pub const BATCH_WRITE_MAX: usize = 25;
pub(super) const MAX_ATTEMPTS: u32 = 8;

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
    // The batches of one call go out together: their round trips overlap.
    let mut batches = Vec::new();
    while !requests.is_empty() {
        let rest = requests.split_off(requests.len().min(BATCH_WRITE_MAX));
        batches.push(write_batch(
            client,
            table,
            std::mem::replace(&mut requests, rest),
        ));
    }
    futures_util::future::try_join_all(batches).await?;
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
pub(super) fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((50u64 << attempt.min(6)).min(2_000))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemOutput;
    use aws_sdk_dynamodb::types::AttributeValue;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};

    fn items(n: usize) -> Vec<Item> {
        (0..n)
            .map(|i| Item::from([("pk".to_string(), AttributeValue::S(format!("k{i}")))]))
            .collect()
    }

    fn put(item: Item) -> WriteRequest {
        WriteRequest::builder()
            .put_request(PutRequest::builder().set_item(Some(item)).build().unwrap())
            .build()
    }

    // moto never answers with UnprocessedItems, so this path is exercised against the
    // SDK's own mock of DynamoDB.
    #[tokio::test]
    async fn unprocessed_items_are_sent_again_until_written() {
        let throttled = mock!(Client::batch_write_item)
            .match_requests(|r| r.request_items().is_some_and(|m| m["t"].len() == 25))
            .sequence()
            .output(|| {
                BatchWriteItemOutput::builder()
                    .unprocessed_items("t", items(3).into_iter().map(put).collect())
                    .build()
            })
            .build();
        let retried = mock!(Client::batch_write_item)
            .match_requests(|r| r.request_items().is_some_and(|m| m["t"].len() == 3))
            .sequence()
            .output(|| {
                BatchWriteItemOutput::builder()
                    .unprocessed_items("t", items(1).into_iter().map(put).collect())
                    .build()
            })
            .output(|| BatchWriteItemOutput::builder().build())
            .build();
        let rest = mock!(Client::batch_write_item)
            .match_requests(|r| r.request_items().is_some_and(|m| m["t"].len() == 5))
            .then_output(|| BatchWriteItemOutput::builder().build());
        let last = mock!(Client::batch_write_item)
            .match_requests(|r| r.request_items().is_some_and(|m| m["t"].len() == 1))
            .then_output(|| BatchWriteItemOutput::builder().build());
        let client = mock_client!(
            aws_sdk_dynamodb,
            RuleMode::MatchAny,
            [&throttled, &retried, &rest, &last]
        );

        put_all(&client, "t", items(30)).await.unwrap();

        assert_eq!(throttled.num_calls(), 1, "one full batch of 25");
        assert_eq!(retried.num_calls(), 1, "the 3 unprocessed sent again");
        assert_eq!(last.num_calls(), 1, "then the 1 still unprocessed");
        assert_eq!(
            rest.num_calls(),
            1,
            "the remaining 5 in a batch of their own"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn items_never_processed_are_an_error_not_a_hang() {
        let stuck = mock!(Client::batch_write_item).then_output(|| {
            BatchWriteItemOutput::builder()
                .unprocessed_items("t", items(2).into_iter().map(put).collect())
                .build()
        });
        let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&stuck]);
        let err = put_all(&client, "t", items(2)).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "BatchWriteItem failed: 2 items still unprocessed after 8 attempts"
        );
        assert_eq!(stuck.num_calls(), 8);
    }
}
