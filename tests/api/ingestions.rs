//! POST /api/v1/ingestions and GET /api/v1/ingestions/{id}: the happy path end to end.

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{json, Value};

use crate::fixtures::{gzip, scan, to_bytes};
use crate::helpers::{assert_timestamp, get_json, spawn_app};

#[tokio::test]
async fn a_multipart_upload_is_accepted_processed_and_stored() {
    let app = spawn_app().await;
    let records = scan(60);
    let bytes = to_bytes(&records);
    let size = bytes.len();

    let response = app
        .upload_multipart(bytes, "prowler-output-123456789012-20260217.ocsf.json")
        .await;

    assert_eq!(response.status(), 202);
    assert_eq!(
        response.headers()["content-type"],
        "application/vnd.api+json"
    );
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let body: Value = response.json().await.unwrap();
    let id = body["data"]["id"].as_str().unwrap().to_string();
    let uuid = uuid::Uuid::parse_str(&id).expect("the id is a UUID");
    assert_eq!(uuid.get_version_num(), 7);
    assert_eq!(location, format!("/api/v1/ingestions/{id}"));
    let requested_at = body["data"]["attributes"]["requested_at"].clone();
    assert_timestamp(&requested_at);
    assert_eq!(
        body,
        json!({
            "data": {
                "type": "ingestions",
                "id": id,
                "attributes": {
                    "status": "pending",
                    "summary": {"total": 60, "processed": 0, "invalid": 0},
                    "requested_at": requested_at,
                    "started_at": null,
                    "completed_at": null,
                    "file_name": "prowler-output-123456789012-20260217.ocsf.json",
                    "file_size": size,
                    "failure_reason": null
                },
                "links": {"self": format!("/api/v1/ingestions/{id}")}
            },
            "meta": {"version": "v1"}
        })
    );

    let done = app.wait_for_final(&id).await;
    let attributes = &done["data"]["attributes"];
    assert_eq!(attributes["status"], "completed");
    assert_eq!(
        attributes["summary"],
        json!({"total": 60, "processed": 60, "invalid": 0})
    );
    assert_eq!(attributes["requested_at"], requested_at);
    assert_timestamp(&attributes["started_at"]);
    assert_timestamp(&attributes["completed_at"]);
    assert!(attributes["started_at"].as_str() <= attributes["completed_at"].as_str());

    // Every finding is in DynamoDB, under the tenant, with its original record.
    let stores = &app.stack.deps.stores;
    assert_eq!(app.stored_findings().await, 60);
    let uid = records[7]["finding_info"]["uid"].as_str().unwrap();
    let item = app
        .stack
        .clients
        .dynamodb
        .get_item()
        .table_name(&app.stack.config.findings_table)
        .key(
            "pk",
            AttributeValue::S(format!("TENANT#{}", app.stack.tenant_id)),
        )
        .key("sk", AttributeValue::S(format!("FINDING#{uid}")))
        .send()
        .await
        .unwrap()
        .item
        .expect("the finding is stored");
    assert_eq!(item["uid"], AttributeValue::S(uid.to_string()));
    assert_eq!(item["delta"], AttributeValue::S("new".into()));
    assert_eq!(item["ingestion_id"], AttributeValue::S(id.clone()));
    assert_eq!(item["severity"], AttributeValue::S("High".into()));
    assert_eq!(item["status_code"], AttributeValue::S("FAIL".into()));
    // The item points at the record's bytes in the uploaded file.
    let number = |name: &str| match &item[name] {
        AttributeValue::N(n) => n.parse::<u64>().unwrap(),
        other => panic!("{name}: {other:?}"),
    };
    let AttributeValue::S(key) = &item["raw_key"] else {
        panic!("raw record reference missing")
    };
    let upload = stores.objects.get(key).await.unwrap();
    let (at, len) = (number("raw_at") as usize, number("raw_len") as usize);
    let stored: Value = serde_json::from_slice(&upload[at..at + len]).unwrap();
    assert_eq!(stored, records[7], "the original record is kept whole");
    let (status, body) = get_json(&app, &format!("/api/v1/findings/{uid}")).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["attributes"]["raw"], records[7]);
}

#[tokio::test]
async fn records_of_a_gzip_upload_are_kept_per_batch_and_shown_whole() {
    let app = spawn_app().await;
    // 2,100 records: 21 groups, the last one partial, in three spans of up to 1,000
    // records; pretty-printed, as Prowler writes.
    let mut records = scan(2_100);
    // A duplicate in the second span of one in the first, found while the first span's
    // findings may still be being written.
    records[1_500] = records[20].clone();
    let plain = serde_json::to_vec_pretty(&records).unwrap();
    let response = app
        .post_raw(gzip(&plain), &[("Content-Type", "application/json")])
        .await;
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    let id = body["data"]["id"].as_str().unwrap().to_string();
    let done = app.wait_for_final(&id).await;
    assert_eq!(done["data"]["attributes"]["status"], "completed");
    assert_eq!(
        done["data"]["attributes"]["summary"],
        json!({"total": 2_100, "processed": 2_100, "invalid": 1})
    );
    for i in [0usize, 1, 20, 99, 100, 999, 1_000, 1_999, 2_000, 2_099] {
        let uid = records[i]["finding_info"]["uid"].as_str().unwrap();
        let (status, body) = get_json(&app, &format!("/api/v1/findings/{uid}")).await;
        assert_eq!(status, 200, "{uid}");
        assert_eq!(body["data"]["attributes"]["raw"], records[i], "{uid}");
    }
    let listed = app
        .stack
        .clients
        .s3
        .list_objects_v2()
        .bucket(&app.stack.config.bucket)
        .prefix(format!("raw/{}/{id}/", app.stack.tenant_id))
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    let prefix = format!("raw/{}/{id}/", app.stack.tenant_id);
    assert_eq!(
        keys,
        ["000000000000", "000000001000", "000000002000"]
            .map(|first| format!("{prefix}{first}.json.gz")),
        "one object per span of up to 1,000 records, named after its first"
    );
    for object in listed.contents() {
        let key = object.key().unwrap();
        assert!(key.ends_with(".json.gz"), "{key}");
        let stored = app.stack.deps.stores.objects.get(key).await.unwrap();
        assert_eq!(&stored[..2], b"\x1f\x8b", "{key} is gzip-compressed");
        assert!(
            stored.len() < plain.len() / 10,
            "{key}: {} bytes of {} plain bytes",
            stored.len(),
            plain.len()
        );
    }
}

#[tokio::test]
async fn a_raw_json_body_is_accepted_and_invalid_records_are_counted() {
    let app = spawn_app().await;
    let mut records = scan(3);
    records.push(json!({"class_uid": 1001}));
    let response = app
        .client
        .post(app.url("/api/v1/ingestions"))
        .header("Authorization", app.auth())
        .header("Content-Type", "application/json")
        .body(to_bytes(&records))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["attributes"]["summary"]["total"], 4);
    assert_eq!(body["data"]["attributes"]["file_name"], Value::Null);

    let done = app
        .wait_for_final(body["data"]["id"].as_str().unwrap())
        .await;
    assert_eq!(done["data"]["attributes"]["status"], "completed");
    assert_eq!(
        done["data"]["attributes"]["summary"],
        json!({"total": 4, "processed": 4, "invalid": 1})
    );
    assert_eq!(app.stored_findings().await, 3);
}

#[tokio::test]
async fn requests_without_a_valid_key_are_401_json_api_errors() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/api/v1/ingestions/01a2429e-fe80-715f-aed1-9147e22c206f"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Api-Key");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["status"], "401");
    assert_eq!(body["errors"][0]["code"], "not_authenticated");
    assert_eq!(body["meta"], json!({"version": "v1"}));

    let wrong = format!("Api-Key pk_ABCDEFGH.{}", "x".repeat(43));
    for path in ["/api/v1/ingestions/x", "/api/v1/ingestions"] {
        let response = app
            .client
            .get(app.url(path))
            .header("Authorization", &wrong)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["errors"][0]["code"], "authentication_failed");
    }
    let response = app
        .client
        .post(app.url("/api/v1/ingestions"))
        .header("Authorization", &wrong)
        .header("Content-Type", "application/json")
        .body("[]")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn unknown_jobs_paths_and_methods_are_json_api_errors() {
    let app = spawn_app().await;
    let response = app
        .get("/api/v1/ingestions/01a2429e-fe80-715f-aed1-9147e22c206f")
        .await;
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "not_found");

    let response = app.get("/api/v1/nothing-here").await;
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.headers()["content-type"],
        "application/vnd.api+json"
    );

    let response = app
        .client
        .delete(app.url("/api/v1/ingestions"))
        .header("Authorization", app.auth())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "GET, POST");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "method_not_allowed");
}

#[tokio::test]
async fn uids_of_1024_characters_are_stored_and_found() {
    let app = spawn_app().await;
    let mut records = scan(3);
    let long = ["a".repeat(1024), "é".repeat(1024), "✓".repeat(1023) + "x"];
    for (record, uid) in records.iter_mut().zip(&long) {
        record["finding_info"]["uid"] = json!(uid);
    }
    let (_, done) = app.ingest_json(to_bytes(&records)).await;
    assert_eq!(
        done["data"]["attributes"]["summary"],
        json!({"total": 3, "processed": 3, "invalid": 0})
    );
    for (record, uid) in records.iter().zip(&long) {
        let path: String = uid
            .bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        let (status, body) = get_json(&app, &format!("/api/v1/findings/{path}")).await;
        assert_eq!(status, 200);
        assert_eq!(body["data"]["id"], json!(uid));
        assert_eq!(body["data"]["attributes"]["raw"], *record);
    }
    let (_, body) = get_json(&app, "/api/v1/findings").await;
    let listed: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed.len(), 3);
    assert!(long.iter().all(|uid| listed.contains(&uid.as_str())));
}

#[tokio::test]
async fn a_rescan_finds_the_stored_state_of_findings_whose_lookup_state_is_missing_or_unreadable() {
    let app = spawn_app().await;
    let mut records = scan(4);
    // A uid too long for a sort key of its own is found again through its hashed key.
    records[3]["finding_info"]["uid"] = json!("é".repeat(1024));
    let uids: Vec<String> = records
        .iter()
        .map(|r| r["finding_info"]["uid"].as_str().unwrap().to_string())
        .collect();
    let uid = |i: usize| uids[i].clone();
    let (first, _) = app.ingest_json(to_bytes(&records[..3])).await;
    let show = |uid: String| {
        let app = &app;
        async move {
            let path: String = uid.bytes().map(|b| format!("%{b:02X}")).collect();
            let (status, body) = get_json(app, &format!("/api/v1/findings/{path}")).await;
            assert_eq!(status, 200);
            body["data"]["attributes"].clone()
        }
    };
    let mut first_seen = Vec::new();
    for i in 0..3 {
        let attributes = show(uid(i)).await;
        assert_eq!(attributes["delta"], "new");
        first_seen.push(attributes["first_seen_at"].clone());
    }

    // Items written before `lookup_state` existed carry only the separate attributes (0);
    // one whose lookup state cannot be read is read the same way (1).
    let dynamodb = &app.stack.clients.dynamodb;
    let pk = AttributeValue::S(format!("TENANT#{}", app.stack.tenant_id));
    for (i, update) in [
        (0, "REMOVE lookup_state"),
        (1, "SET lookup_state = :broken"),
    ] {
        let mut request = dynamodb
            .update_item()
            .table_name(&app.stack.config.findings_table)
            .key("pk", pk.clone())
            .key("sk", AttributeValue::S(format!("FINDING#{}", uid(i))))
            .update_expression(update)
            .condition_expression("attribute_exists(lookup_state)");
        if i == 1 {
            request =
                request.expression_attribute_values(":broken", AttributeValue::S("[1,".into()));
        }
        request
            .send()
            .await
            .expect("the finding was stored with its lookup state");
    }

    // Again: 0 changes status, 1 does not, 2 changes severity (read from its lookup
    // state), 3 is new.
    records[0]["status_code"] = json!("PASS");
    records[2]["severity"] = json!("Low");
    records[2]["severity_id"] = json!(2);
    let (second, done) = app.ingest_json(to_bytes(&records)).await;
    assert_eq!(done["data"]["attributes"]["status"], "completed");
    for (i, delta) in ["changed", "unchanged", "changed", "new"]
        .iter()
        .enumerate()
    {
        let attributes = show(uid(i)).await;
        assert_eq!(attributes["delta"], *delta, "finding {i}");
        assert_eq!(attributes["ingestion_id"], json!(second), "finding {i}");
        if i < 3 {
            assert_eq!(attributes["first_seen_at"], first_seen[i], "finding {i}");
            assert_ne!(attributes["first_seen_at"], attributes["last_seen_at"]);
        }
    }
    assert_ne!(first, second);
    assert_eq!(app.stored_findings().await, 4);
}
