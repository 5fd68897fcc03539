//! The processor as the SQS event source mapping drives it: failures are retried after
//! the visibility timeout, and a message that keeps failing ends in the dead-letter queue
//! with its job marked failed.

use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::Value;

use crate::fixtures::{scan, to_bytes};
use crate::helpers::spawn_app_custom;

#[tokio::test]
async fn a_message_that_keeps_failing_ends_in_the_dlq_and_its_job_fails() {
    // Findings cannot be written (their table is missing): every delivery fails.
    let app = spawn_app_custom(vec![("FINDINGS_TABLE", "no-such-findings-table")], Some(1)).await;
    let response = app
        .post_raw(to_bytes(&scan(3)), &[("Content-Type", "application/json")])
        .await;
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    let id = body["data"]["id"].as_str().unwrap();

    let job = app.wait_for_final(id).await;
    let attributes = &job["data"]["attributes"];
    assert_eq!(attributes["status"], "failed", "{job}");
    assert_eq!(attributes["failure_reason"], "retries_exhausted");
    assert_eq!(attributes["summary"]["total"], 3);

    // The message itself is kept in the dead-letter queue, and the main queue is empty.
    let sqs = &app.stack.clients.sqs;
    let dlq_url = sqs
        .get_queue_url()
        .queue_name(format!(
            "{}-ingestdeadletterqueue",
            app.stack
                .config
                .queue_url
                .rsplit('/')
                .next()
                .unwrap()
                .trim_end_matches("-ingestqueue")
        ))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let mut in_dlq = Vec::new();
    for _ in 0..100 {
        let received = sqs
            .receive_message()
            .queue_url(&dlq_url)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        in_dlq.extend(received.messages.unwrap_or_default());
        if !in_dlq.is_empty() {
            break;
        }
    }
    assert_eq!(in_dlq.len(), 1);
    let message: Value = serde_json::from_str(in_dlq[0].body.as_deref().unwrap()).unwrap();
    assert_eq!(message["job_id"], id);
    let left = sqs
        .get_queue_attributes()
        .queue_url(&app.stack.config.queue_url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    assert_eq!(left[&QueueAttributeName::ApproximateNumberOfMessages], "0");
    assert_eq!(
        left[&QueueAttributeName::ApproximateNumberOfMessagesNotVisible],
        "0"
    );

    // One file-level error says why.
    use aws_sdk_dynamodb::types::AttributeValue;
    let errors = app
        .stack
        .clients
        .dynamodb
        .query()
        .table_name(&app.stack.config.jobs_table)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(
            ":pk",
            AttributeValue::S(format!("TENANT#{}#JOB#{id}", app.stack.tenant_id)),
        )
        .send()
        .await
        .unwrap()
        .items
        .unwrap();
    assert_eq!(errors.len(), 1);
    assert_eq!(
        errors[0]["code"],
        AttributeValue::S("retries_exhausted".into())
    );
    assert!(
        !errors[0].contains_key("record_index"),
        "a file-level error"
    );
    let detail = match &errors[0]["detail"] {
        AttributeValue::S(s) => s.clone(),
        other => panic!("{other:?}"),
    };
    assert!(detail.starts_with("processing failed 5 times"), "{detail}");
}
