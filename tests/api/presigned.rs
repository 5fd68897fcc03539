//! POST /api/v1/ingestions with a JSON:API document: presigned uploads for files past the
//! direct limit, end to end (PUT to S3 → S3 event notification → processor), the
//! Idempotency-Key, every refusal, and uploads that never arrive.

use std::io::Write;
use std::time::Duration;

use serde_json::{json, Value};
use shared::auth::Permission;
use time::OffsetDateTime;

use crate::fixtures::{scan, to_bytes};
use crate::helpers::{assert_timestamp, spawn_app, spawn_app_with, TestApp};

const DIRECT_LIMIT: usize = 4 * 1024 * 1024;
const JSON_API: &str = "application/vnd.api+json";

fn request_doc(file_name: Option<&str>, content_length: u64, gzip: bool) -> Value {
    let mut upload = json!({"method": "presigned", "content_length": content_length});
    if let Some(name) = file_name {
        upload["file_name"] = json!(name);
    }
    if gzip {
        upload["content_encoding"] = json!("gzip");
    }
    json!({"data": {"type": "ingestions", "attributes": {"upload": upload}}})
}

async fn post_doc(app: &TestApp, doc: &Value, extra: &[(&str, &str)]) -> reqwest::Response {
    let mut headers = vec![("Content-Type", JSON_API), ("Accept", JSON_API)];
    headers.extend_from_slice(extra);
    app.post_raw(doc.to_string().into_bytes(), &headers).await
}

/// PUTs `bytes` to the presigned URL with exactly the headers the service returned.
async fn put_file(app: &TestApp, upload: &Value, bytes: Vec<u8>) -> reqwest::Response {
    assert_eq!(upload["method"], "PUT");
    let mut request = app.client.put(upload["url"].as_str().expect("upload url"));
    for (name, value) in upload["headers"].as_object().expect("upload headers") {
        request = request.header(name.as_str(), value.as_str().expect("header value"));
    }
    request.body(bytes).send().await.expect("PUT request")
}

fn parse_ts(v: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(
        v.as_str().expect("timestamp"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("RFC 3339")
}

/// Polls until the job is final, for files that take longer than the helper's minute.
async fn wait_long(app: &TestApp, id: &str) -> Value {
    for _ in 0..1800 {
        let body: Value = app
            .get(&format!("/api/v1/ingestions/{id}"))
            .await
            .json()
            .await
            .expect("job JSON");
        match body["data"]["attributes"]["status"].as_str() {
            Some("completed") | Some("failed") => return body,
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    panic!("job {id} did not finish within 3 minutes");
}

/// A 202 for a presigned request: the pending job, `Location`, and `meta.upload`.
async fn accepted(
    response: reqwest::Response,
    file_name: Option<&str>,
    size: u64,
    lifetime: i64,
) -> (String, Value) {
    assert_eq!(response.status(), 202);
    assert_eq!(response.headers()["content-type"], JSON_API);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let body: Value = response.json().await.unwrap();
    let id = body["data"]["id"].as_str().expect("job id").to_string();
    assert_eq!(location, format!("/api/v1/ingestions/{id}"));
    let attributes = &body["data"]["attributes"];
    assert_eq!(attributes["status"], "pending");
    assert_eq!(
        attributes["summary"],
        json!({"total": null, "processed": 0, "invalid": 0})
    );
    assert_eq!(attributes["file_name"], json!(file_name));
    assert_eq!(attributes["file_size"], size);
    assert_eq!(attributes["started_at"], Value::Null);
    assert_eq!(attributes["completed_at"], Value::Null);
    assert_eq!(body["meta"]["version"], "v1");
    let upload = body["meta"]["upload"].clone();
    assert_eq!(upload["method"], "PUT");
    assert_timestamp(&upload["expires_at"]);
    assert_eq!(
        parse_ts(&upload["expires_at"]) - parse_ts(&attributes["requested_at"]),
        time::Duration::seconds(lifetime)
    );
    let url = upload["url"].as_str().expect("url");
    assert!(
        url.contains(&format!("/uploads/dev/{id}.json?")),
        "the URL names the job's object: {url}"
    );
    assert!(url.contains("X-Amz-Signature="), "{url}");
    assert!(url.contains(&format!("X-Amz-Expires={lifetime}")), "{url}");
    assert_eq!(upload["headers"]["content-type"], "application/json");
    assert_eq!(upload["headers"]["content-length"], size.to_string());
    (id, upload)
}

/// Every record of the job is stored as a finding (counted in the findings table, which
/// is quicker than paging the API through thousands), with its original record.
async fn assert_findings_stored(app: &TestApp, id: &str, n: usize, uids: &[&str]) {
    let mut stored = 0;
    let mut start = None;
    loop {
        let page = app
            .stack
            .clients
            .dynamodb
            .query()
            .table_name(&app.stack.config.findings_table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(
                ":pk",
                aws_sdk_dynamodb::types::AttributeValue::S("TENANT#dev".into()),
            )
            .select(aws_sdk_dynamodb::types::Select::Count)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("count findings");
        stored += page.count;
        match page.last_evaluated_key {
            Some(key) => start = Some(key),
            None => break,
        }
    }
    assert_eq!(stored as usize, n);
    for uid in uids {
        let finding = app.get(&format!("/api/v1/findings/{uid}")).await;
        assert_eq!(finding.status(), 200);
        let finding: Value = finding.json().await.unwrap();
        let attributes = &finding["data"]["attributes"];
        assert_eq!(attributes["ingestion_id"], id);
        assert_eq!(attributes["raw"]["finding_info"]["uid"], *uid);
    }
}

#[tokio::test]
async fn a_plain_file_of_tens_of_megabytes_is_ingested_through_a_presigned_upload() {
    let app = spawn_app().await;
    let records = scan(14_000);
    let bytes = to_bytes(&records);
    assert!(bytes.len() > 6 * DIRECT_LIMIT, "{} bytes", bytes.len());
    let size = bytes.len() as u64;

    let doc = request_doc(Some("big-scan.ocsf.json"), size, false);
    let (id, upload) = accepted(
        post_doc(&app, &doc, &[]).await,
        Some("big-scan.ocsf.json"),
        size,
        3600,
    )
    .await;
    assert_eq!(
        upload["headers"]
            .as_object()
            .unwrap()
            .get("content-encoding"),
        None
    );
    // Nothing starts before the file is there.
    let pending: Value = app
        .get(&format!("/api/v1/ingestions/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(pending["data"]["attributes"]["status"], "pending");

    let put = put_file(&app, &upload, bytes).await;
    assert_eq!(put.status(), 200, "{:?}", put.text().await);

    let done = wait_long(&app, &id).await;
    let attributes = &done["data"]["attributes"];
    assert_eq!(attributes["status"], "completed", "{done}");
    assert_eq!(
        attributes["summary"],
        json!({"total": 14_000, "processed": 14_000, "invalid": 0})
    );
    assert_eq!(attributes["failure_reason"], Value::Null);
    assert_eq!(attributes["file_size"], size);
    assert_timestamp(&attributes["started_at"]);
    assert_timestamp(&attributes["completed_at"]);
    let uid = |i: usize| records[i]["finding_info"]["uid"].as_str().unwrap();
    assert_findings_stored(&app, &id, 14_000, &[uid(0), uid(13_999)]).await;
}

#[tokio::test]
async fn a_gzip_file_past_the_direct_limit_is_ingested_through_a_presigned_upload() {
    let app = spawn_app().await;
    // Each record carries 2 KB of pseudo-random hex, so the gzip file itself is past the limit.
    let records: Vec<Value> = scan(12_000)
        .into_iter()
        .scan(0x9e37_79b9_7f4a_7c15u64, |state, mut r| {
            // xorshift64: cheap noise that gzip cannot squeeze much.
            let noise: String = (0..128)
                .map(|_| {
                    *state ^= *state << 13;
                    *state ^= *state >> 7;
                    *state ^= *state << 17;
                    format!("{:016x}", *state)
                })
                .collect();
            r["unmapped"]["nonce"] = json!(noise);
            Some(r)
        })
        .collect();
    let plain = to_bytes(&records);
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(&plain).unwrap();
    let gzipped = encoder.finish().unwrap();
    assert!(gzipped.len() > 2 * DIRECT_LIMIT, "{} bytes", gzipped.len());
    assert!(plain.len() > 10 * DIRECT_LIMIT, "{} bytes", plain.len());
    let size = gzipped.len() as u64;

    let doc = request_doc(Some("scan.ocsf.json.gz"), size, true);
    let (id, upload) = accepted(
        post_doc(&app, &doc, &[]).await,
        Some("scan.ocsf.json.gz"),
        size,
        3600,
    )
    .await;
    assert_eq!(upload["headers"]["content-encoding"], "gzip");
    let put = put_file(&app, &upload, gzipped).await;
    assert_eq!(put.status(), 200, "{:?}", put.text().await);

    let done = wait_long(&app, &id).await;
    assert_eq!(done["data"]["attributes"]["status"], "completed", "{done}");
    assert_eq!(
        done["data"]["attributes"]["summary"],
        json!({"total": 12_000, "processed": 12_000, "invalid": 0})
    );
    let uid = |i: usize| records[i]["finding_info"]["uid"].as_str().unwrap();
    assert_findings_stored(&app, &id, 12_000, &[uid(0), uid(11_999)]).await;
    let nonce = app.get(&format!("/api/v1/findings/{}", uid(11_999))).await;
    let nonce: Value = nonce.json().await.unwrap();
    assert_eq!(
        nonce["data"]["attributes"]["raw"]["unmapped"]["nonce"],
        records[11_999]["unmapped"]["nonce"]
    );
}

#[tokio::test]
async fn an_idempotency_key_replays_the_presigned_job() {
    let app = spawn_app().await;
    let bytes = to_bytes(&scan(3));
    let doc = request_doc(None, bytes.len() as u64, false);
    let key = [("Idempotency-Key", "presigned-run-1")];
    let (id, upload) = accepted(
        post_doc(&app, &doc, &key).await,
        None,
        bytes.len() as u64,
        3600,
    )
    .await;

    // The same document again: the same job and the same expiry, marked as a replay.
    let replay = post_doc(&app, &doc, &key).await;
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    let (again, replayed_upload) = accepted(replay, None, bytes.len() as u64, 3600).await;
    assert_eq!(again, id);
    assert_eq!(replayed_upload["expires_at"], upload["expires_at"]);

    // Another document with the key is a conflict.
    let other = request_doc(None, bytes.len() as u64 + 1, false);
    let conflict = post_doc(&app, &other, &key).await;
    assert_eq!(conflict.status(), 409);
    let body: Value = conflict.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "idempotency_key_reused");

    assert_eq!(put_file(&app, &upload, bytes).await.status(), 200);
    let done = app.wait_for_final(&id).await;
    assert_eq!(
        done["data"]["attributes"]["summary"],
        json!({"total": 3, "processed": 3, "invalid": 0})
    );
    // Once the file is in, a replay shows the job and offers no upload any more.
    let replay = post_doc(&app, &doc, &key).await;
    assert_eq!(replay.status(), 202);
    let body: Value = replay.json().await.unwrap();
    assert_eq!(body["data"]["id"], id.as_str());
    assert_eq!(body["data"]["attributes"]["status"], "completed");
    assert_eq!(body["meta"], json!({"version": "v1"}));

    let list: Value = app.get("/api/v1/ingestions").await.json().await.unwrap();
    assert_eq!(list["meta"]["pagination"]["count"], 1);
}

async fn job(app: &TestApp, id: &str) -> Value {
    let response = app.get(&format!("/api/v1/ingestions/{id}")).await;
    assert_eq!(response.status(), 200);
    response.json::<Value>().await.unwrap()["data"].clone()
}

async fn list_ids(app: &TestApp, query: &str) -> Vec<String> {
    let response = app.get(&format!("/api/v1/ingestions?{query}")).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn an_upload_that_never_arrives_fails_as_upload_expired() {
    let app = spawn_app_with(vec![
        ("PRESIGNED_URL_SECONDS", "2"),
        ("UPLOAD_GRACE_SECONDS", "0"),
    ])
    .await;
    let doc = request_doc(Some("never.json"), 1000, false);
    let (listed_first, upload_a) =
        accepted(post_doc(&app, &doc, &[]).await, Some("never.json"), 1000, 2).await;
    let (read_first, _) =
        accepted(post_doc(&app, &doc, &[]).await, Some("never.json"), 1000, 2).await;
    // A third job whose file arrives in time completes normally.
    let bytes = to_bytes(&scan(2));
    let small = request_doc(None, bytes.len() as u64, false);
    let (arrived, upload_c) = accepted(
        post_doc(&app, &small, &[]).await,
        None,
        bytes.len() as u64,
        2,
    )
    .await;
    assert_eq!(put_file(&app, &upload_c, bytes).await.status(), 200);

    // Before the expiry they wait.
    assert_eq!(
        job(&app, &listed_first).await["attributes"]["status"],
        "pending"
    );
    let pending = list_ids(&app, "filter[status]=pending").await;
    assert!(
        pending.contains(&listed_first) && pending.contains(&read_first),
        "{pending:?}"
    );

    let deadline = parse_ts(&upload_a["expires_at"]);
    let wait = deadline - OffsetDateTime::now_utc() + time::Duration::milliseconds(500);
    tokio::time::sleep(Duration::try_from(wait).unwrap_or_default()).await;
    assert_eq!(
        app.wait_for_final(&arrived).await["data"]["attributes"]["status"],
        "completed"
    );

    // A GET of the job notices first for one job, the list for the other; both show
    // the same state either way.
    let first = job(&app, &read_first).await;
    assert_eq!(first["attributes"]["failure_reason"], "upload_expired");
    assert_eq!(
        list_ids(&app, "filter[status]=pending").await,
        Vec::<String>::new()
    );
    let failed = list_ids(&app, "filter[status]=failed&sort=requested_at").await;
    assert_eq!(failed, vec![listed_first.clone(), read_first.clone()]);
    let listed: Value = app
        .get("/api/v1/ingestions?sort=requested_at")
        .await
        .json()
        .await
        .unwrap();
    for (i, id) in [&listed_first, &read_first].into_iter().enumerate() {
        let one = job(&app, id).await;
        let attributes = &one["attributes"];
        assert_eq!(attributes["status"], "failed");
        assert_eq!(attributes["failure_reason"], "upload_expired");
        assert_eq!(
            attributes["summary"],
            json!({"total": null, "processed": 0, "invalid": 0})
        );
        assert_eq!(attributes["started_at"], Value::Null);
        assert_timestamp(&attributes["completed_at"]);
        assert_eq!(listed["data"][i], one);
    }
    let completed_at = parse_ts(&job(&app, &listed_first).await["attributes"]["completed_at"]);
    assert_eq!(
        completed_at, deadline,
        "completed at the URL's expiry (grace 0)"
    );

    // A file that turns up after all does not move the failed job backwards.
    app.stack
        .clients
        .s3
        .put_object()
        .bucket(&app.stack.config.bucket)
        .key(format!("uploads/dev/{read_first}.json"))
        .content_type("application/json")
        .body(to_bytes(&scan(1)).into())
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let late = job(&app, &read_first).await;
    assert_eq!(late["attributes"]["status"], "failed");
    assert_eq!(late["attributes"]["failure_reason"], "upload_expired");
    assert_eq!(late["attributes"]["summary"]["total"], Value::Null);
}

#[tokio::test]
async fn an_upload_whose_notification_is_lost_is_queued_again_once_overdue() {
    let app = spawn_app_with(vec![
        ("PRESIGNED_URL_SECONDS", "2"),
        ("UPLOAD_GRACE_SECONDS", "1"),
    ])
    .await;
    // The bucket stops notifying the queue: the file arrives, its event never does.
    app.stack
        .clients
        .s3
        .put_bucket_notification_configuration()
        .bucket(&app.stack.config.bucket)
        .notification_configuration(aws_sdk_s3::types::NotificationConfiguration::builder().build())
        .send()
        .await
        .unwrap();
    let records = scan(3);
    let bytes = to_bytes(&records);
    let doc = request_doc(None, bytes.len() as u64, false);
    let (id, upload) = accepted(post_doc(&app, &doc, &[]).await, None, bytes.len() as u64, 2).await;
    assert_eq!(put_file(&app, &upload, bytes).await.status(), 200);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(job(&app, &id).await["attributes"]["status"], "pending");

    // Past the URL's expiry and the grace, reading the job finds its file and queues it.
    let overdue = parse_ts(&upload["expires_at"]) + time::Duration::seconds(1);
    let wait = overdue - OffsetDateTime::now_utc() + time::Duration::milliseconds(300);
    tokio::time::sleep(Duration::try_from(wait).unwrap_or_default()).await;
    let done = app.wait_for_final(&id).await;
    let attributes = &done["data"]["attributes"];
    assert_eq!(attributes["status"], "completed", "{done}");
    assert_eq!(
        attributes["summary"],
        json!({"total": 3, "processed": 3, "invalid": 0})
    );
    let uids: Vec<&str> = records
        .iter()
        .map(|r| r["finding_info"]["uid"].as_str().unwrap())
        .collect();
    assert_findings_stored(&app, &id, 3, &uids).await;
}

#[tokio::test]
async fn bad_presigned_requests_are_refused_and_create_nothing() {
    let app = spawn_app_with(vec![("MAX_PRESIGNED_UPLOAD_BYTES", "1000000")]).await;
    let upload = "/data/attributes/upload";
    let ok = |extra: Value| {
        let mut u = json!({"method": "presigned", "content_length": 10});
        for (k, v) in extra.as_object().unwrap() {
            u[k] = v.clone();
        }
        json!({"data": {"type": "ingestions", "attributes": {"upload": u}}})
    };
    let cases: Vec<(String, String)> = vec![
        ("{\"data\": ".into(), "".into()),
        ("[]".into(), "".into()),
        ("{}".into(), "/data".into()),
        (json!({"data": {"type": "ingestions", "attributes": {"upload": {"method": "presigned", "content_length": 10}}}, "extra": 1}).to_string(), "/extra".into()),
        (json!({"data": {"attributes": {}}}).to_string(), "/data/type".into()),
        (json!({"data": {"type": "findings", "attributes": {}}}).to_string(), "/data/type".into()),
        (json!({"data": {"type": "ingestions", "id": "abc"}}).to_string(), "/data/id".into()),
        (json!({"data": {"type": "ingestions"}}).to_string(), "/data/attributes".into()),
        (json!({"data": {"type": "ingestions", "attributes": {}}}).to_string(), upload.into()),
        (ok(json!({"method": "direct"})).to_string(), format!("{upload}/method")),
        (json!({"data": {"type": "ingestions", "attributes": {"upload": {"content_length": 10}}}}).to_string(), format!("{upload}/method")),
        (json!({"data": {"type": "ingestions", "attributes": {"upload": {"method": "presigned"}}}}).to_string(), format!("{upload}/content_length")),
        (ok(json!({"content_length": 0})).to_string(), format!("{upload}/content_length")),
        (ok(json!({"content_length": -1})).to_string(), format!("{upload}/content_length")),
        (ok(json!({"content_length": 2.5})).to_string(), format!("{upload}/content_length")),
        (ok(json!({"content_length": "10"})).to_string(), format!("{upload}/content_length")),
        (ok(json!({"content_length": 1_000_001})).to_string(), format!("{upload}/content_length")),
        (ok(json!({"file_name": ""})).to_string(), format!("{upload}/file_name")),
        (ok(json!({"file_name": "x".repeat(256)})).to_string(), format!("{upload}/file_name")),
        (ok(json!({"file_name": ["a"]})).to_string(), format!("{upload}/file_name")),
        (ok(json!({"content_encoding": "br"})).to_string(), format!("{upload}/content_encoding")),
        (ok(json!({"checksum": "abc"})).to_string(), format!("{upload}/checksum")),
    ];
    for (body, pointer) in &cases {
        let response = app
            .post_raw(body.clone().into_bytes(), &[("Content-Type", JSON_API)])
            .await;
        assert_eq!(response.status(), 400, "{body}");
        assert_eq!(response.headers()["content-type"], JSON_API);
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["meta"], json!({"version": "v1"}));
        assert_eq!(error["errors"][0]["status"], "400", "{body}");
        assert_eq!(error["errors"][0]["code"], "invalid", "{body}");
        assert_eq!(
            error["errors"][0]["source"],
            json!({"pointer": pointer}),
            "{body}"
        );
    }
    let too_big = app
        .post_raw(
            ok(json!({"content_length": 1_000_001}))
                .to_string()
                .into_bytes(),
            &[("Content-Type", JSON_API)],
        )
        .await;
    let error: Value = too_big.json().await.unwrap();
    assert_eq!(
        error["errors"][0]["detail"],
        "content_length is 1000001 bytes; a presigned upload takes at most 1000000 bytes. \
         Compress the file with gzip"
    );
    // The largest allowed size is accepted.
    let at_limit = app
        .post_raw(
            ok(json!({"content_length": 1_000_000}))
                .to_string()
                .into_bytes(),
            &[("Content-Type", "application/vnd.api+json; charset=utf-8")],
        )
        .await;
    assert_eq!(at_limit.status(), 202);

    // Authentication and permission come first, as for every upload.
    let valid = ok(json!({})).to_string().into_bytes();
    let anonymous = app
        .client
        .post(app.url("/api/v1/ingestions"))
        .header("Content-Type", JSON_API)
        .body(valid.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let reader = app
        .stack
        .create_key("dev", &[Permission::ReadFindings])
        .await
        .unwrap();
    let forbidden = app
        .client
        .post(app.url("/api/v1/ingestions"))
        .header("Authorization", format!("Api-Key {reader}"))
        .header("Content-Type", JSON_API)
        .body(valid)
        .send()
        .await
        .unwrap();
    assert_eq!(forbidden.status(), 403);

    // Only the one good request made a job.
    let list: Value = app.get("/api/v1/ingestions").await.json().await.unwrap();
    assert_eq!(list["meta"]["pagination"]["count"], 1);
}
