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
    let errors = error_items(&app, id, "ERR#").await;
    assert_eq!(errors.len(), 1);
    assert_eq!(text(&errors[0]["code"]), "retries_exhausted");
    assert!(
        !errors[0].contains_key("record_index"),
        "a file-level error"
    );
    let detail = text(&errors[0]["detail"]);
    assert!(detail.starts_with("processing failed 5 times"), "{detail}");
}

/// Stores a file and queues its job the way the upload function does, without the
/// upload-time structure check (as a presigned upload would arrive).
async fn submit_unchecked(app: &crate::helpers::TestApp, file: Vec<u8>) -> String {
    let stores = &app.stack.deps.stores;
    let job = shared::job::Job::new_pending(&app.stack.tenant_id, None, None, None);
    stores
        .objects
        .put(&job.object_key, file.into(), None)
        .await
        .unwrap();
    assert!(stores.jobs.create(&job).await.unwrap());
    stores
        .queue
        .send(&shared::message::JobMessage {
            tenant_id: job.tenant_id.clone(),
            job_id: job.id.clone(),
            object_key: job.object_key.clone(),
        })
        .await
        .unwrap();
    job.id
}

#[tokio::test]
async fn malformed_json_mid_file_fails_the_job_with_the_byte_offset() {
    let app = crate::helpers::spawn_app().await;
    let mut file = to_bytes(&scan(30));
    let good_len = file.len();
    file.truncate(good_len - 1); // drop the closing bracket
    file.extend_from_slice(b", {\"class_uid\": 2004, oops}]");
    let id = submit_unchecked(&app, file).await;

    let job = app.wait_for_final(&id).await;
    let attributes = &job["data"]["attributes"];
    assert_eq!(attributes["status"], "failed", "{job}");
    assert_eq!(attributes["failure_reason"], "malformed_json");
    let errors = file_errors(&app, &id).await;
    assert_eq!(errors.len(), 1);
    let expected_offset = good_len - 1 + 2 + "{\"class_uid\": 2004, ".len();
    assert_eq!(
        errors[0],
        (
            "malformed_json".to_string(),
            format!(
                "the file is not valid JSON: key must be a string in record 30 at byte offset {expected_offset}"
            )
        )
    );
}

#[tokio::test]
async fn a_file_that_is_not_an_array_fails_and_all_invalid_records_fail() {
    let app = crate::helpers::spawn_app().await;
    let id = submit_unchecked(&app, b"  {\"findings\": []}".to_vec()).await;
    let job = app.wait_for_final(&id).await;
    assert_eq!(job["data"]["attributes"]["failure_reason"], "not_an_array");
    assert_eq!(
        file_errors(&app, &id).await[0].1,
        "the file must be a JSON array of OCSF Detection Finding objects, but it starts with '{' at byte offset 2"
    );

    let id = submit_unchecked(&app, b"[1, \"two\", {\"class_uid\": 2003}]".to_vec()).await;
    let job = app.wait_for_final(&id).await;
    assert_eq!(job["data"]["attributes"]["status"], "failed");
    assert_eq!(
        job["data"]["attributes"]["failure_reason"],
        "no_valid_records"
    );
    assert_eq!(
        job["data"]["attributes"]["summary"],
        serde_json::json!({"total": 3, "processed": 3, "invalid": 3})
    );
}

/// (code, detail) of a job's file-level errors.
async fn file_errors(app: &crate::helpers::TestApp, id: &str) -> Vec<(String, String)> {
    error_items(app, id, "ERR#FILE#")
        .await
        .iter()
        .map(|item| (text(&item["code"]), text(&item["detail"])))
        .collect()
}

/// A job's stored error items whose sort key starts with `prefix`, in key order.
async fn error_items(
    app: &crate::helpers::TestApp,
    id: &str,
    prefix: &str,
) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    use aws_sdk_dynamodb::types::AttributeValue;
    app.stack
        .clients
        .dynamodb
        .query()
        .table_name(&app.stack.config.jobs_table)
        .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
        .expression_attribute_values(
            ":pk",
            AttributeValue::S(format!("TENANT#{}#JOB#{id}", app.stack.tenant_id)),
        )
        .expression_attribute_values(":prefix", AttributeValue::S(prefix.into()))
        .send()
        .await
        .unwrap()
        .items
        .unwrap()
}

fn text(value: &aws_sdk_dynamodb::types::AttributeValue) -> String {
    match value {
        aws_sdk_dynamodb::types::AttributeValue::S(s) => s.clone(),
        aws_sdk_dynamodb::types::AttributeValue::N(n) => n.clone(),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn duplicate_uids_within_a_file_are_invalid_across_batches_too() {
    let app = crate::helpers::spawn_app().await;
    let mut records = scan(160);
    records[10] = records[9].clone(); // same group of 100
    records[145] = records[3].clone(); // a later group
                                       // A gzip upload's later groups find the earlier ones' findings before they are
                                       // written (they wait for the raw object of their span).
    for (name, body, headers) in crate::fixtures::plain_and_gzip(&to_bytes(&records)) {
        let (id, job) = app.ingest(body, &headers).await;
        assert_eq!(
            job["data"]["attributes"]["summary"],
            serde_json::json!({"total": 160, "processed": 160, "invalid": 2}),
            "{name}"
        );
        assert_eq!(app.stored_findings().await, 158, "{name}");
        let errors = record_errors(&app, &id).await;
        assert_eq!(
            errors,
            [
                (
                    10,
                    "duplicate_finding_uid".to_string(),
                    "/finding_info/uid".to_string()
                ),
                (
                    145,
                    "duplicate_finding_uid".to_string(),
                    "/finding_info/uid".to_string()
                ),
            ],
            "{name}"
        );
    }
}

#[tokio::test]
async fn two_processors_on_one_job_end_like_one_clean_run() {
    let app = crate::helpers::spawn_app().await;
    let mut records = scan(230);
    records[170] = serde_json::json!({"class_uid": 2004});
    records[150] = records[5].clone(); // a later group
                                       // Stored and queued by hand, then also processed twice more, concurrently: the
                                       // queue's own delivery races two direct runs.
    let id = submit_unchecked(&app, to_bytes(&records)).await;
    let message = shared::message::JobMessage {
        tenant_id: app.stack.tenant_id.clone(),
        job_id: id.clone(),
        object_key: shared::job::Job::object_key_for(&app.stack.tenant_id, &id),
    };
    let deps = &app.stack.deps;
    let (a, b) = tokio::join!(
        processor::process_job(deps, &message, None),
        processor::process_job(deps, &message, None)
    );
    a.unwrap();
    b.unwrap();
    let job = app.wait_for_final(&id).await;
    assert_eq!(job["data"]["attributes"]["status"], "completed");
    assert_eq!(
        job["data"]["attributes"]["summary"],
        serde_json::json!({"total": 230, "processed": 230, "invalid": 2})
    );
    assert_eq!(app.stored_findings().await, 228);
    let errors = record_errors(&app, &id).await;
    assert_eq!(
        errors.len(),
        1 + errors.iter().filter(|e| e.0 == 170).count()
    );
    assert_eq!(
        errors[0],
        (
            150,
            "duplicate_finding_uid".into(),
            "/finding_info/uid".into()
        )
    );
    assert!(errors[1..].iter().all(|e| e.0 == 170));

    // A late redelivery of a finished job changes nothing.
    assert_eq!(
        processor::process_job(deps, &message, None).await.unwrap(),
        processor::RunEnd::Skipped
    );
    let again = app.wait_for_final(&id).await;
    assert_eq!(again, job);
    assert_eq!(record_errors(&app, &id).await, errors);
}

/// (record index, code, pointer) of a job's per-record errors, in file order.
async fn record_errors(app: &crate::helpers::TestApp, id: &str) -> Vec<(u64, String, String)> {
    error_items(app, id, "ERR#0")
        .await
        .iter()
        .map(|item| {
            let index = text(&item["record_index"]).parse().unwrap();
            (index, text(&item["code"]), text(&item["pointer"]))
        })
        .collect()
}

#[tokio::test]
async fn a_run_that_reaches_its_deadline_checkpoints_and_a_continuation_finishes() {
    // Every run stops after its first 25 records and continues in a new run.
    let app = crate::helpers::spawn_app_with(vec![("MAX_RUN_SECONDS", "0")]).await;
    let mut records = scan(130);
    records[100] = records[2].clone(); // a duplicate across runs
    records[61] = serde_json::json!({"class_uid": 2004});
    let plain = to_bytes(&records);
    for (name, body, headers) in crate::fixtures::plain_and_gzip(&plain) {
        let before = app.stored_findings().await;
        let (id, job) = app.ingest(body, &headers).await;
        assert_eq!(
            job["data"]["attributes"]["status"], "completed",
            "{name}: {job}"
        );
        assert_eq!(
            job["data"]["attributes"]["summary"],
            serde_json::json!({"total": 130, "processed": 130, "invalid": 2}),
            "{name}"
        );
        let errors = record_errors(&app, &id).await;
        assert_eq!(
            errors
                .iter()
                .map(|e| (e.0, e.1.as_str()))
                .filter(|e| e.1 == "duplicate_finding_uid")
                .collect::<Vec<_>>(),
            [(100, "duplicate_finding_uid")],
            "{name}"
        );
        assert!(
            errors.iter().all(|e| e.0 == 100 || e.0 == 61),
            "{name}: {errors:?}"
        );
        let after = app.stored_findings().await;
        assert_eq!(after, 128, "{name}: same uids both times ({before} before)");
    }
}

#[tokio::test]
async fn a_crashed_run_is_taken_over_once_its_lease_runs_out() {
    let app = crate::helpers::spawn_app().await;
    let records = scan(40);
    let job = shared::job::Job::new_pending(&app.stack.tenant_id, Some(40), None, None);
    let stores = &app.stack.deps.stores;
    stores
        .objects
        .put(&job.object_key, to_bytes(&records).into(), None)
        .await
        .unwrap();
    assert!(stores.jobs.create(&job).await.unwrap());
    // A run claims the job and dies at once; its lease lasts 300 ms.
    let claimed = stores
        .jobs
        .claim_run(&job.tenant_id, &job.id, shared::time::now(), 300)
        .await
        .unwrap();
    assert!(matches!(claimed, shared::store::ClaimOutcome::Claimed(_)));
    let message = shared::message::JobMessage {
        tenant_id: job.tenant_id.clone(),
        job_id: job.id.clone(),
        object_key: job.object_key.clone(),
    };
    // While the lease holds, another delivery leaves the job alone...
    assert_eq!(
        processor::process_job(&app.stack.deps, &message, None)
            .await
            .unwrap(),
        processor::RunEnd::Skipped
    );
    // ...and once it has run out, the redelivered message takes the job over.
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    stores.queue.send(&message).await.unwrap();
    let done = app.wait_for_final(&job.id).await;
    assert_eq!(done["data"]["attributes"]["status"], "completed");
    assert_eq!(
        done["data"]["attributes"]["summary"],
        serde_json::json!({"total": 40, "processed": 40, "invalid": 0})
    );
}
