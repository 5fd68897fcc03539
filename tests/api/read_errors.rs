//! GET /api/v1/ingestions/{id}/errors: paginated `ingestion-errors`, exact totals, on a
//! seeded job with thousands of errors and on errors the real processor recorded.

use serde_json::{json, Value};
use shared::store::StoredRecordError;
use time::macros::datetime;

use crate::fixtures::{finding, scan, to_bytes};
use crate::helpers::{get_json, spawn_app};
use crate::read_ingestions::{job_at, seed};

#[tokio::test]
async fn thousands_of_errors_page_in_file_order_with_an_exact_total() {
    let app = spawn_app().await;
    let tenant = app.stack.tenant_id.clone();
    let job = job_at(&tenant, datetime!(2026-03-01 10:00 UTC));
    let other = job_at("another-tenant", datetime!(2026-03-01 11:00 UTC));
    seed(&app, &[job.clone(), other.clone()]).await;

    // Records 0..2600 each have one error, every tenth a second one; one file-level error.
    let mut errors = Vec::new();
    for i in 0..2600u64 {
        for ordinal in 0..(1 + u32::from(i % 10 == 0)) {
            errors.push(StoredRecordError {
                record_index: Some(i),
                ordinal,
                finding_uid: (i % 3 != 0).then(|| format!("uid-{i}")),
                pointer: format!("/p{ordinal}"),
                code: "missing_field".into(),
                detail: format!("record {i} error {ordinal}"),
            });
        }
    }
    errors.push(StoredRecordError {
        record_index: None,
        ordinal: 0,
        finding_uid: None,
        pointer: String::new(),
        code: "malformed_json".into(),
        detail: "unexpected end of file at byte 91234".into(),
    });
    // Stored out of order: the listing order comes from the keys.
    let mut shuffled = errors.clone();
    shuffled.reverse();
    let stores = &app.stack.deps.stores;
    stores
        .jobs
        .put_errors(&tenant, &job.id, &shuffled)
        .await
        .unwrap();
    stores
        .jobs
        .put_errors("another-tenant", &other.id, &errors[..5])
        .await
        .unwrap();
    let total = errors.len(); // 2600 + 260 + 1
    assert_eq!(total, 2861);
    let expected = |n: usize| {
        let e = &errors[n];
        json!({"type": "ingestion-errors", "id": format!("{}:{n}", job.id),
               "attributes": {"record_index": e.record_index, "finding_uid": e.finding_uid,
                              "pointer": e.pointer, "code": e.code, "detail": e.detail}})
    };

    let base = format!("/api/v1/ingestions/{}/errors", job.id);
    let (status, body) = get_json(&app, &base).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"], Value::Array((0..10).map(expected).collect()));
    assert_eq!(
        body["meta"],
        json!({"version": "v1", "total": 2861, "truncated": false,
               "pagination": {"page": 1, "pages": 287, "count": 2861}})
    );
    assert_eq!(body["links"]["next"], format!("{base}?page%5Bnumber%5D=2"));

    let mut seen = Vec::new();
    for number in 1..=29 {
        let (status, body) = get_json(
            &app,
            &format!("{base}?page[size]=100&page[number]={number}"),
        )
        .await;
        assert_eq!(status, 200, "page {number}");
        assert_eq!(body["meta"]["pagination"]["pages"], 29);
        seen.extend(body["data"].as_array().unwrap().iter().cloned());
    }
    assert_eq!(seen, (0..total).map(expected).collect::<Vec<_>>());
    assert_eq!(seen[total - 1]["attributes"]["record_index"], Value::Null);

    let (status, body) = get_json(&app, &format!("{base}?page[size]=100&page[number]=30")).await;
    assert_eq!(status, 400);
    assert_eq!(
        body["errors"][0]["source"],
        json!({"parameter": "page[number]"})
    );
    let (status, body) = get_json(&app, &format!("{base}?page[size]=1000")).await;
    assert_eq!(status, 400);
    assert_eq!(
        body["errors"][0]["source"],
        json!({"parameter": "page[size]"})
    );
    let (status, body) = get_json(&app, &format!("{base}?filter[code]=x")).await;
    assert_eq!(status, 400);
    assert_eq!(
        body["errors"][0]["source"],
        json!({"parameter": "filter[code]"})
    );

    // Another tenant's job answers like a missing one.
    let (status, theirs) = get_json(&app, &format!("/api/v1/ingestions/{}/errors", other.id)).await;
    assert_eq!(status, 404);
    let (_, missing) = get_json(
        &app,
        "/api/v1/ingestions/01a2429e-fe80-715f-aed1-9147e22c206f/errors",
    )
    .await;
    assert_eq!(theirs, missing);
    assert_eq!(theirs["errors"][0]["code"], "not_found");
}

#[tokio::test]
async fn errors_recorded_by_the_processor_are_listed_and_the_job_shows_in_the_list() {
    let app = spawn_app().await;
    let mut records = scan(3);
    records.push(json!({"class_uid": 1001}));
    let mut bad_severity = finding("bad-severity-uid");
    bad_severity["severity_id"] = json!(42);
    records.push(bad_severity);
    let response = app
        .upload_multipart(to_bytes(&records), "mixed.ocsf.json")
        .await;
    assert_eq!(response.status(), 202);
    let id = response.json::<Value>().await.unwrap()["data"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let done = app.wait_for_final(&id).await;
    assert_eq!(
        done["data"]["attributes"]["summary"],
        json!({"total": 5, "processed": 5, "invalid": 2})
    );

    let (status, body) = get_json(&app, &format!("/api/v1/ingestions/{id}/errors")).await;
    assert_eq!(status, 200, "{body}");
    let data = body["data"].as_array().unwrap();
    let total = data.len();
    assert!(total >= 2, "{body}");
    assert_eq!(body["meta"]["total"], total);
    assert_eq!(body["meta"]["truncated"], false);
    for (n, e) in data.iter().enumerate() {
        assert_eq!(e["type"], "ingestion-errors");
        assert_eq!(e["id"], format!("{id}:{n}"));
        assert!(e["attributes"]["code"]
            .as_str()
            .is_some_and(|c| !c.is_empty()));
    }
    let indexes: Vec<u64> = data
        .iter()
        .map(|e| e["attributes"]["record_index"].as_u64().unwrap())
        .collect();
    assert_eq!(indexes.first(), Some(&3));
    assert_eq!(indexes.last(), Some(&4));
    let severity = data
        .iter()
        .find(|e| e["attributes"]["record_index"] == 4)
        .unwrap();
    assert_eq!(severity["attributes"]["finding_uid"], "bad-severity-uid");
    assert_eq!(severity["attributes"]["pointer"], "/severity_id");

    // The uploaded job is listed, completed, with its file name.
    let (status, list) = get_json(
        &app,
        "/api/v1/ingestions?filter[status]=completed&filter[search]=MIXED",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(list["meta"]["pagination"]["count"], 1);
    assert_eq!(list["data"][0]["id"], id);
    assert_eq!(list["data"][0]["attributes"], done["data"]["attributes"]);
}
