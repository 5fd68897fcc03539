//! POST /api/v1/ingestions: every body form, every refusal, the size limits, the
//! Idempotency-Key, and what happens when a backing service fails.

use serde_json::{json, Value};

use crate::fixtures::{gzip, scan, to_bytes};
use crate::helpers::{spawn_app, spawn_app_with, TestApp};

async fn error_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    assert_eq!(
        response.headers()["content-type"],
        "application/vnd.api+json"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["meta"], json!({"version": "v1"}));
    assert_eq!(body["errors"][0]["status"], status.to_string());
    (status, body["errors"][0].clone())
}

async fn accepted_and_completed(app: &TestApp, response: reqwest::Response, total: u64) {
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["attributes"]["summary"]["total"], total);
    let done = app
        .wait_for_final(body["data"]["id"].as_str().unwrap())
        .await;
    assert_eq!(done["data"]["attributes"]["status"], "completed", "{done}");
    assert_eq!(
        done["data"]["attributes"]["summary"],
        json!({"total": total, "processed": total, "invalid": 0})
    );
}

#[tokio::test]
async fn gzip_in_every_form_and_a_bom_are_accepted() {
    let app = spawn_app().await;
    let plain = to_bytes(&scan(5));

    // A gzip file part, recognised by its magic bytes.
    let response = app
        .upload_multipart(gzip(&plain), "scan.ocsf.json.gz")
        .await;
    accepted_and_completed(&app, response, 5).await;

    // A raw gzip body, by magic bytes.
    let response = app
        .post_raw(gzip(&plain), &[("Content-Type", "application/json")])
        .await;
    accepted_and_completed(&app, response, 5).await;

    // Content-Encoding: gzip on a raw body and on a multipart body.
    let response = app
        .post_raw(
            gzip(&plain),
            &[
                ("Content-Type", "application/json"),
                ("Content-Encoding", "gzip"),
            ],
        )
        .await;
    accepted_and_completed(&app, response, 5).await;
    let boundary = "XyZ123";
    let mut multipart = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nignored\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"s.json\"\r\nContent-Type: application/json\r\n\r\n"
    )
    .into_bytes();
    multipart.extend_from_slice(&plain);
    multipart.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let content_type = format!("multipart/form-data; boundary={boundary}");
    let response = app
        .post_raw(
            gzip(&multipart),
            &[
                ("Content-Type", &content_type),
                ("Content-Encoding", "gzip"),
            ],
        )
        .await;
    accepted_and_completed(&app, response, 5).await;

    // A UTF-8 byte order mark in front of the array.
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend_from_slice(&to_bytes(&scan(2)));
    let response = app
        .post_raw(bom, &[("Content-Type", "application/json; charset=utf-8")])
        .await;
    accepted_and_completed(&app, response, 2).await;
}

#[tokio::test]
async fn an_empty_array_completes_with_total_zero() {
    let app = spawn_app().await;
    let response = app
        .post_raw(b" [ ] ".to_vec(), &[("Content-Type", "application/json")])
        .await;
    accepted_and_completed(&app, response, 0).await;
}

#[tokio::test]
async fn malformed_bodies_are_400_with_a_precise_detail() {
    let app = spawn_app().await;
    let json = [("Content-Type", "application/json")];

    let (status, error) = error_of(
        app.post_raw(b"[\n  {\"a\": 1},\n  {\"b\" 2}\n]".to_vec(), &json)
            .await,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(error["code"], "invalid");
    assert_eq!(
        error["detail"],
        "the file is not valid JSON: expected `:` at line 3, column 8 (byte offset 21)"
    );
    assert_eq!(error["source"], json!({"pointer": "/file"}));

    let (status, error) = error_of(app.post_raw(b"{\"data\": []}".to_vec(), &json).await).await;
    assert_eq!(status, 400);
    assert_eq!(
        error["detail"],
        "the file must be a JSON array of OCSF Detection Finding objects, but its top level is an object"
    );

    let (status, error) = error_of(app.post_raw(b"[\"caf\xe9\"]".to_vec(), &json).await).await;
    assert_eq!(status, 400);
    assert_eq!(
        error["detail"],
        "the file is not valid UTF-8 (first invalid byte at offset 5)"
    );

    let mut corrupt = gzip(&to_bytes(&scan(3)));
    let n = corrupt.len();
    corrupt[n / 2] ^= 0x55;
    let (status, error) = error_of(app.post_raw(corrupt, &json).await).await;
    assert_eq!(status, 400);
    assert!(
        error["detail"]
            .as_str()
            .unwrap()
            .starts_with("the gzip data is corrupt"),
        "{error}"
    );

    let (status, error) = error_of(app.post_raw(Vec::new(), &json).await).await;
    assert_eq!(status, 400);
    assert!(error["detail"].as_str().unwrap().contains("EOF"), "{error}");
}

#[tokio::test]
async fn a_multipart_body_without_a_file_part_is_400() {
    let app = spawn_app().await;
    let form = reqwest::multipart::Form::new().text("document", "[]");
    let response = app
        .client
        .post(app.url("/api/v1/ingestions"))
        .header("Authorization", app.auth())
        .multipart(form)
        .send()
        .await
        .unwrap();
    let (status, error) = error_of(response).await;
    assert_eq!(status, 400);
    assert_eq!(error["detail"], "the multipart body has no \"file\" part");
    assert_eq!(error["source"], json!({"pointer": "/file"}));
}

#[tokio::test]
async fn other_media_types_are_415() {
    let app = spawn_app().await;
    for content_type in ["text/plain", "application/xml", "application/octet-stream"] {
        let (status, error) = error_of(
            app.post_raw(b"[]".to_vec(), &[("Content-Type", content_type)])
                .await,
        )
        .await;
        assert_eq!(status, 415, "{content_type}");
        assert_eq!(error["code"], "unsupported_media_type");
    }
    let (status, _) = error_of(app.post_raw(b"[]".to_vec(), &[]).await).await;
    assert_eq!(status, 415, "no Content-Type at all");
    let (status, _) = error_of(
        app.post_raw(
            b"[]".to_vec(),
            &[
                ("Content-Type", "application/json"),
                ("Content-Encoding", "br"),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(status, 415, "an encoding other than gzip");
}

/// A JSON array of valid findings padded with whitespace to exactly `len` bytes.
fn file_of_len(len: usize) -> Vec<u8> {
    let mut bytes = to_bytes(&scan(2));
    let close = bytes.pop().unwrap();
    assert_eq!(close, b']');
    bytes.resize(len - 1, b' ');
    bytes.push(b']');
    bytes
}

#[tokio::test]
async fn the_direct_limit_answers_a_helpful_413_and_the_gateway_enforces_aws_limits() {
    let app = spawn_app().await;
    let limit = app.stack.config.max_upload_bytes;
    let json = [("Content-Type", "application/json")];

    let response = app.post_raw(file_of_len(limit), &json).await;
    accepted_and_completed(&app, response, 2).await;

    let (status, error) = error_of(app.post_raw(file_of_len(limit + 1), &json).await).await;
    assert_eq!(status, 413);
    assert_eq!(error["code"], "file_too_large");
    let detail = error["detail"].as_str().unwrap();
    assert!(
        detail.contains("gzip") && detail.contains("presigned"),
        "{detail}"
    );

    // Past Lambda's 6 MB event (the body is base64-encoded in it) or API Gateway's
    // 10 MB payload, the gateway itself refuses, as API Gateway would.
    for size in [5 * 1024 * 1024, 11 * 1024 * 1024] {
        let response = app
            .post_raw(
                vec![b' '; size],
                &[("Content-Type", "application/octet-stream")],
            )
            .await;
        assert_eq!(response.status(), 413, "{size}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body, json!({"message": "Request Entity Too Large"}));
    }
}

#[tokio::test]
async fn gzip_that_inflates_past_the_limit_is_413_and_deep_nesting_does_not_crash() {
    let app = spawn_app_with(vec![("MAX_DECOMPRESSED_BYTES", "1048576")]).await;
    let mut bomb = b"[".to_vec();
    bomb.extend(std::iter::repeat_n(b' ', 2 * 1024 * 1024));
    bomb.push(b']');
    let (status, error) = error_of(
        app.post_raw(gzip(&bomb), &[("Content-Type", "application/json")])
            .await,
    )
    .await;
    assert_eq!(status, 413);
    assert_eq!(error["code"], "file_too_large");

    // Nested far deeper than any parser's recursion limit: accepted as one record,
    // which the processor then rejects without falling over.
    let deep = format!("[{}{}]", "[".repeat(50_000), "]".repeat(50_000));
    let response = app
        .post_raw(deep.into_bytes(), &[("Content-Type", "application/json")])
        .await;
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    let done = app
        .wait_for_final(body["data"]["id"].as_str().unwrap())
        .await;
    assert_eq!(done["data"]["attributes"]["status"], "failed");
    assert_eq!(
        done["data"]["attributes"]["summary"],
        json!({"total": 1, "processed": 1, "invalid": 1})
    );
}

#[tokio::test]
async fn the_same_idempotency_key_replays_the_job_and_other_content_conflicts() {
    let app = spawn_app().await;
    let file = to_bytes(&scan(4));
    let headers = [
        ("Content-Type", "application/json"),
        ("Idempotency-Key", "ci-run-812"),
    ];

    let first = app.post_raw(file.clone(), &headers).await;
    assert_eq!(first.status(), 202);
    let first: Value = first.json().await.unwrap();
    let id = first["data"]["id"].as_str().unwrap();
    app.wait_for_final(id).await;

    let again = app.post_raw(file.clone(), &headers).await;
    assert_eq!(again.status(), 202);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(
        again.headers()["location"],
        format!("/api/v1/ingestions/{id}").as_str()
    );
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["data"]["id"], id);
    assert_eq!(
        again["data"]["attributes"]["status"], "completed",
        "current state"
    );

    let (status, error) = error_of(app.post_raw(to_bytes(&scan(5)), &headers).await).await;
    assert_eq!(status, 409);
    assert_eq!(error["code"], "idempotency_key_reused");

    // Keys are per tenant: another tenant may use the same key for its own job.
    let other = app
        .stack
        .create_key("other-tenant", &shared::auth::Permission::ALL)
        .await
        .unwrap();
    let response = app
        .client
        .post(app.url("/api/v1/ingestions"))
        .header("Authorization", format!("Api-Key {other}"))
        .header("Content-Type", "application/json")
        .header("Idempotency-Key", "ci-run-812")
        .body(file.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    assert_ne!(body["data"]["id"], id);

    let (status, error) = error_of(
        app.post_raw(
            file,
            &[
                ("Content-Type", "application/json"),
                ("Idempotency-Key", ""),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(error["source"], json!({"header": "Idempotency-Key"}));
    assert_eq!(jobs_of(&app, &app.stack.tenant_id).await, 1);
}

/// How many jobs a tenant has in the jobs table.
async fn jobs_of(app: &TestApp, tenant: &str) -> usize {
    use aws_sdk_dynamodb::types::AttributeValue;
    app.stack
        .clients
        .dynamodb
        .query()
        .table_name(&app.stack.config.jobs_table)
        .key_condition_expression("pk = :pk AND begins_with(sk, :job)")
        .expression_attribute_values(":pk", AttributeValue::S(format!("TENANT#{tenant}")))
        .expression_attribute_values(":job", AttributeValue::S("JOB#".into()))
        .send()
        .await
        .unwrap()
        .count as usize
}

#[tokio::test]
async fn a_failing_queue_leaves_no_pending_job_and_a_retry_makes_exactly_one() {
    let app = spawn_app().await;
    let sqs = &app.stack.clients.sqs;
    let queue_url = app.stack.config.queue_url.clone();
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    sqs.delete_queue()
        .queue_url(&queue_url)
        .send()
        .await
        .unwrap();

    let file = to_bytes(&scan(3));
    let headers = [
        ("Content-Type", "application/json"),
        ("Idempotency-Key", "retry-me"),
    ];
    let (status, error) = error_of(app.post_raw(file.clone(), &headers).await).await;
    assert_eq!(status, 500);
    assert_eq!(error["code"], "internal_error");
    assert_eq!(
        jobs_of(&app, &app.stack.tenant_id).await,
        0,
        "no job left pending"
    );

    // The queue comes back; the client retries with the same key.
    let name = queue_url.rsplit('/').next().unwrap();
    let mut create = sqs.create_queue().queue_name(name);
    for (k, v) in attributes {
        if matches!(
            k,
            aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout
                | aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy
        ) {
            create = create.attributes(k, v);
        }
    }
    assert_eq!(create.send().await.unwrap().queue_url.unwrap(), queue_url);
    let response = app.post_raw(file, &headers).await;
    accepted_and_completed(&app, response, 3).await;
    assert_eq!(jobs_of(&app, &app.stack.tenant_id).await, 1);
}

#[tokio::test]
async fn a_failing_bucket_or_table_is_a_500_that_leaves_nothing_half_stored() {
    let app = spawn_app_with(vec![("INGEST_BUCKET", "no-such-bucket-here")]).await;
    let (status, error) = error_of(
        app.post_raw(to_bytes(&scan(1)), &[("Content-Type", "application/json")])
            .await,
    )
    .await;
    assert_eq!(status, 500);
    assert_eq!(
        error["detail"],
        "the service could not complete the request; it is safe to retry"
    );
    assert_eq!(jobs_of(&app, &app.stack.tenant_id).await, 0);

    let app = spawn_app_with(vec![("JOBS_TABLE", "no-such-table")]).await;
    let (status, _) = error_of(
        app.post_raw(to_bytes(&scan(1)), &[("Content-Type", "application/json")])
            .await,
    )
    .await;
    assert_eq!(status, 500);
    let messages = app
        .stack
        .clients
        .sqs
        .get_queue_attributes()
        .queue_url(&app.stack.config.queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .unwrap();
    assert_eq!(
        messages.attributes.unwrap()
            [&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages],
        "0",
        "nothing was queued for a job that does not exist"
    );
}
