//! The unfiltered counts of jobs and findings come from a checkpoint plus what is newer
//! than it: the settled history is counted once, then never read again for a count.

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;
use shared::store::{FindingWrite, RawRef};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use crate::fixtures::finding;
use crate::helpers::{get_json, spawn_app, TestApp};
use crate::read_findings::ingest;
use crate::read_ingestions::{job_at, seed};

/// The count checkpoint `name` of the app's tenant: `(count, upto)`.
async fn checkpoint(app: &TestApp, name: &str) -> Option<(u64, String)> {
    let item = app
        .stack
        .clients
        .dynamodb
        .get_item()
        .table_name(&app.stack.config.jobs_table)
        .key(
            "pk",
            AttributeValue::S(format!("TENANT#{}#COUNT", app.stack.tenant_id)),
        )
        .key("sk", AttributeValue::S(name.into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item?;
    let (AttributeValue::N(count), AttributeValue::S(upto)) = (&item["count"], &item["upto"])
    else {
        panic!("{item:?}")
    };
    Some((count.parse().unwrap(), upto.clone()))
}

/// Adds `n` to the checkpoint's count behind the service's back: a count that reread the
/// history would not show it.
async fn inflate(app: &TestApp, name: &str, n: u64) {
    app.stack
        .clients
        .dynamodb
        .update_item()
        .table_name(&app.stack.config.jobs_table)
        .key(
            "pk",
            AttributeValue::S(format!("TENANT#{}#COUNT", app.stack.tenant_id)),
        )
        .key("sk", AttributeValue::S(name.into()))
        .update_expression("ADD #c :n")
        .expression_attribute_names("#c", "count")
        .expression_attribute_values(":n", AttributeValue::N(n.to_string()))
        .send()
        .await
        .unwrap();
}

async fn count(app: &TestApp, path: &str) -> u64 {
    let (status, body) = get_json(app, path).await;
    assert_eq!(status, 200, "{body}");
    body["meta"]["pagination"]["count"].as_u64().unwrap()
}

fn ids(body: &Value) -> Vec<String> {
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn the_job_count_reads_only_jobs_newer_than_its_checkpoint() {
    let app = spawn_app().await;
    let old = datetime!(2026-01-05 10:00:00 UTC);
    let mut jobs: Vec<_> = (0..30)
        .map(|i| job_at(&app.stack.tenant_id, old + Duration::hours(i)))
        .collect();
    let now = OffsetDateTime::now_utc();
    jobs.extend((0..3).map(|i| job_at(&app.stack.tenant_id, now - Duration::seconds(i))));
    seed(&app, &jobs).await;
    assert!(checkpoint(&app, "JOBS").await.is_none());

    assert_eq!(count(&app, "/api/v1/ingestions").await, 33);
    let (counted, upto) = checkpoint(&app, "JOBS").await.expect("a checkpoint");
    assert_eq!(counted, 30, "the settled jobs, not the recent ones");
    assert_eq!(upto, format!("JOB#{}", jobs[29].id));

    inflate(&app, "JOBS", 1_000).await;
    assert_eq!(count(&app, "/api/v1/ingestions").await, 1_033);
    seed(&app, &[job_at(&app.stack.tenant_id, now)]).await;
    assert_eq!(count(&app, "/api/v1/ingestions").await, 1_034);
    // Filtered lists count what matches, from the jobs themselves.
    assert_eq!(
        count(&app, "/api/v1/ingestions?filter[status]=pending").await,
        34
    );
}

#[tokio::test]
async fn the_finding_count_reads_only_findings_first_seen_after_its_checkpoint() {
    let app = spawn_app().await;
    let tenant = app.stack.tenant_id.clone();
    // 40 findings first seen weeks ago (written straight to the table).
    let old: Vec<FindingWrite> = (0..40)
        .map(|i| FindingWrite {
            uid: format!("old-{i:02}"),
            severity: "Low".into(),
            status_code: Some("PASS".into()),
            provider: Some("aws".into()),
            account_uid: None,
            region: None,
            check_id: None,
            first_seen_at: format!("2026-01-{:02}T00:00:00.000000Z", 1 + i / 2),
            last_seen_at: "2026-02-01T00:00:00.000000Z".into(),
            ingestion_id: "an-old-job".into(),
            record_index: i,
            delta: "new",
            raw: RawRef {
                key: "ingestions/old.json".into(),
                offset: 0,
                len: 2,
            },
        })
        .collect();
    app.stack
        .deps
        .stores
        .findings
        .put(&tenant, old)
        .await
        .unwrap();
    // ... and 5 new ones from a scan now.
    let scan: Vec<Value> = (0..5).map(|i| finding(&format!("new-{i}"))).collect();
    ingest(&app, &scan).await;

    assert_eq!(count(&app, "/api/v1/findings").await, 45);
    let (counted, upto) = checkpoint(&app, "FINDINGS").await.expect("a checkpoint");
    assert_eq!(counted, 40, "the settled findings, not the recent ones");
    assert_eq!(upto, "2026-01-20T00:00:00.000000Z");

    inflate(&app, "FINDINGS", 1_000).await;
    assert_eq!(count(&app, "/api/v1/findings").await, 1_045);
    // Seeing the same findings again adds nothing; new uids add one each.
    ingest(&app, &scan).await;
    assert_eq!(count(&app, "/api/v1/findings").await, 1_045);
    let more: Vec<Value> = (5..8).map(|i| finding(&format!("new-{i}"))).collect();
    ingest(&app, &more).await;
    assert_eq!(count(&app, "/api/v1/findings").await, 1_048);

    // Pages are read in uid order from the table, whatever the count says.
    let (_, body) = get_json(&app, "/api/v1/findings?page[size]=3&page[number]=2").await;
    assert_eq!(ids(&body), ["new-3", "new-4", "new-5"]);
    let (_, body) = get_json(&app, "/api/v1/findings?sort=-uid&page[size]=2").await;
    assert_eq!(ids(&body), ["old-39", "old-38"]);
    // Filtered lists count what matches, from the findings themselves.
    assert_eq!(
        count(&app, "/api/v1/findings?filter[severity]=low").await,
        40
    );
}
