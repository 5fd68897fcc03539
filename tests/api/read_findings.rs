//! GET /api/v1/findings and /findings/{uid}: filters over findings the real upload and
//! processor stored in two ingestions, checked against a model kept here.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use shared::store::{FindingWrite, RawRef};

use crate::fixtures::{finding, to_bytes};
use crate::helpers::get_json;
use crate::helpers::{spawn_app, TestApp};

const SEVERITIES: [(&str, u64); 4] = [("Low", 2), ("Medium", 3), ("High", 4), ("Critical", 5)];
const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-south-1"];
const CHECKS: [&str; 3] = ["s3_bucket_public", "iam_root_mfa", "ec2_open_ssh"];

/// What the test expects stored for one finding.
#[derive(Clone, Debug)]
struct Model {
    severity: &'static str,
    status_code: &'static str,
    region: &'static str,
    account: String,
    check: &'static str,
    ingestion: String,
    delta: &'static str,
    record: Value,
}

fn record(i: usize, fail: bool) -> Value {
    let mut r = finding(&format!("uid-{i:02}"));
    let (severity, id) = SEVERITIES[i % 4];
    r["severity"] = json!(severity);
    r["severity_id"] = json!(id);
    r["status_code"] = json!(if fail { "FAIL" } else { "PASS" });
    r["cloud"]["region"] = json!(REGIONS[i % 3]);
    r["cloud"]["account"]["uid"] = json!(format!("11111111111{}", i % 2));
    r["metadata"]["event_code"] = json!(CHECKS[i % 3]);
    r
}

pub async fn ingest(app: &TestApp, records: &[Value]) -> String {
    let response = app
        .upload_multipart(to_bytes(records), "scan.ocsf.json")
        .await;
    assert_eq!(response.status(), 202);
    let id = response.json::<Value>().await.unwrap()["data"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        app.wait_for_final(&id).await["data"]["attributes"]["status"],
        "completed"
    );
    id
}

fn expect(model: &BTreeMap<String, Model>, pred: impl Fn(&Model) -> bool) -> Vec<String> {
    model
        .iter()
        .filter(|(_, m)| pred(m))
        .map(|(uid, _)| uid.clone())
        .collect()
}

#[tokio::test]
async fn findings_filter_paginate_and_show_their_raw_record() {
    let app = spawn_app().await;
    // Another tenant holds findings with the same uids; they must never show.
    let theirs = (0..5)
        .map(|i| FindingWrite {
            uid: format!("uid-{i:02}"),
            severity: "Critical".into(),
            status_code: Some("FAIL".into()),
            provider: Some("aws".into()),
            account_uid: Some("999999999999".into()),
            region: Some("us-east-1".into()),
            check_id: Some("theirs".into()),
            first_seen_at: "2026-01-01T00:00:00.000000Z".into(),
            last_seen_at: "2026-01-01T00:00:00.000000Z".into(),
            ingestion_id: "their-job".into(),
            record_index: i,
            delta: "new",
            raw: RawRef {
                key: "uploads/another-tenant/their-job.json".into(),
                offset: 0,
                len: 2,
            },
        })
        .collect();
    app.stack
        .deps
        .stores
        .findings
        .put("another-tenant", theirs)
        .await
        .unwrap();

    let mut model = BTreeMap::new();
    let first: Vec<Value> = (0..12).map(|i| record(i, i % 2 == 0)).collect();
    let a = ingest(&app, &first).await;
    for (i, r) in first.iter().enumerate() {
        model.insert(
            format!("uid-{i:02}"),
            Model {
                severity: SEVERITIES[i % 4].0,
                status_code: if i % 2 == 0 { "FAIL" } else { "PASS" },
                region: REGIONS[i % 3],
                account: format!("11111111111{}", i % 2),
                check: CHECKS[i % 3],
                ingestion: a.clone(),
                delta: "new",
                record: r.clone(),
            },
        );
    }
    // Second scan: 0..3 flip status (changed), 3..6 the same (unchanged), 12..14 new.
    let second: Vec<Value> = (0..6)
        .map(|i| record(i, if i < 3 { i % 2 != 0 } else { i % 2 == 0 }))
        .chain((12..14).map(|i| record(i, true)))
        .collect();
    let b = ingest(&app, &second).await;
    for r in &second {
        let uid = r["finding_info"]["uid"].as_str().unwrap().to_string();
        let i: usize = uid[4..].parse().unwrap();
        let delta = match i {
            0..=2 => "changed",
            3..=5 => "unchanged",
            _ => "new",
        };
        model.insert(
            uid,
            Model {
                severity: SEVERITIES[i % 4].0,
                status_code: r["status_code"]
                    .as_str()
                    .map(|s| if s == "FAIL" { "FAIL" } else { "PASS" })
                    .unwrap(),
                region: REGIONS[i % 3],
                account: format!("11111111111{}", i % 2),
                check: CHECKS[i % 3],
                ingestion: b.clone(),
                delta,
                record: r.clone(),
            },
        );
    }
    assert_eq!(model.len(), 14);

    type Pred = Box<dyn Fn(&Model) -> bool>;
    let cases: Vec<(String, Pred)> = vec![
        (String::new(), Box::new(|_| true)),
        (format!("filter[ingestion]={a}"), Box::new({ let a = a.clone(); move |m| m.ingestion == a })),
        (format!("filter[ingestion]={b}"), Box::new({ let b = b.clone(); move |m| m.ingestion == b })),
        ("filter[severity]=high".into(), Box::new(|m| m.severity == "High")),
        ("filter[severity__in]=Critical,LOW".into(), Box::new(|m| matches!(m.severity, "Critical" | "Low"))),
        ("filter[status_code]=FAIL".into(), Box::new(|m| m.status_code == "FAIL")),
        ("filter[provider]=aws".into(), Box::new(|_| true)),
        ("filter[provider]=gcp".into(), Box::new(|_| false)),
        ("filter[account_uid]=111111111111".into(), Box::new(|m| m.account == "111111111111")),
        ("filter[region]=eu-west-1".into(), Box::new(|m| m.region == "eu-west-1")),
        ("filter[check_id]=iam_root_mfa".into(), Box::new(|m| m.check == "iam_root_mfa")),
        ("filter[delta]=new".into(), Box::new(|m| m.delta == "new")),
        ("filter[delta]=changed".into(), Box::new(|m| m.delta == "changed")),
        ("filter[delta]=unchanged".into(), Box::new(|m| m.delta == "unchanged")),
        (
            format!("filter[ingestion]={b}&filter[status_code]=FAIL&filter[severity__in]=low,high,critical"),
            Box::new({ let b = b.clone(); move |m| m.ingestion == b && m.status_code == "FAIL" && m.severity != "Medium" }),
        ),
    ];
    for (query, pred) in &cases {
        let expected = expect(&model, pred);
        let (status, body) =
            get_json(&app, &format!("/api/v1/findings?{query}&page[size]=100")).await;
        assert_eq!(status, 200, "{query}: {body}");
        let got: Vec<&str> = body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_str().unwrap())
            .collect();
        assert_eq!(got, expected, "{query}");
        assert_eq!(
            body["meta"]["pagination"]["count"],
            expected.len(),
            "{query}"
        );
        for f in body["data"].as_array().unwrap() {
            let m = &model[f["id"].as_str().unwrap()];
            assert_eq!(f["type"], "findings");
            assert_eq!(f["attributes"]["severity"], m.severity);
            assert_eq!(f["attributes"]["ingestion_id"], m.ingestion.as_str());
            assert_eq!(f["attributes"]["delta"], m.delta);
            assert_eq!(f["attributes"]["check_id"], m.check);
            assert!(
                f["attributes"].get("raw").is_none(),
                "lists carry no raw record"
            );
        }
    }

    // Pages of 5 in uid order, and reversed.
    let all: Vec<String> = model.keys().cloned().collect();
    let (_, body) = get_json(&app, "/api/v1/findings?page[size]=5&page[number]=3").await;
    let got: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, all[10..]);
    assert_eq!(
        body["meta"],
        json!({"version": "v1", "pagination": {"page": 3, "pages": 3, "count": 14}})
    );
    assert_eq!(
        body["links"],
        json!({"first": "/api/v1/findings?page%5Bnumber%5D=1&page%5Bsize%5D=5",
               "last": "/api/v1/findings?page%5Bnumber%5D=3&page%5Bsize%5D=5",
               "next": null,
               "prev": "/api/v1/findings?page%5Bnumber%5D=2&page%5Bsize%5D=5"})
    );
    let (_, body) = get_json(&app, "/api/v1/findings?sort=-uid&page[size]=1").await;
    assert_eq!(body["data"][0]["id"], "uid-13");
    let (status, body) = get_json(&app, "/api/v1/findings?page[number]=3").await;
    assert_eq!(status, 400);
    assert_eq!(
        body["errors"][0]["detail"],
        "page[number] 3 is past the last page (2)"
    );

    // One finding: its latest state and the original record of the scan that last saw it.
    let (status, body) = get_json(&app, "/api/v1/findings/uid-01").await;
    assert_eq!(status, 200);
    let m = &model["uid-01"];
    assert_eq!(body["data"]["id"], "uid-01");
    assert_eq!(body["data"]["attributes"]["status_code"], m.status_code);
    assert_eq!(body["data"]["attributes"]["delta"], "changed");
    assert_eq!(body["data"]["attributes"]["raw"], m.record);
    assert_eq!(body["data"]["links"]["self"], "/api/v1/findings/uid-01");
    assert_eq!(body["meta"], json!({"version": "v1"}));
    let (status, body) = get_json(&app, "/api/v1/findings/uid-99").await;
    assert_eq!(status, 404);
    assert_eq!(body["errors"][0]["code"], "not_found");

    for (query, parameter) in [
        ("filter[severity]=severe", "filter[severity]"),
        ("filter[delta]=gone", "filter[delta]"),
        ("filter[status]=FAIL", "filter[status]"),
        ("filter[region]=", "filter[region]"),
        ("sort=severity", "sort"),
        ("page[size]=101", "page[size]"),
    ] {
        let (status, body) = get_json(&app, &format!("/api/v1/findings?{query}")).await;
        assert_eq!(status, 400, "{query}");
        assert_eq!(
            body["errors"][0]["source"],
            json!({"parameter": parameter}),
            "{query}"
        );
    }
}

#[tokio::test]
async fn every_finding_gives_back_its_own_record_across_read_boundaries() {
    // Records of uneven sizes, about 1 MB in all: the processor's 256 KiB reads end inside
    // records, which are then split apart the slow way.
    let app = spawn_app().await;
    let mut records = crate::fixtures::scan(240);
    for (i, record) in records.iter_mut().enumerate() {
        record["unmapped"] = json!({"note": "é ✓ \"x\" ".repeat(100 + (i * 37) % 400)});
    }
    records[7] = json!({"class_uid": 2004});
    let plain = to_bytes(&records);
    assert!(plain.len() > 3 * 256 * 1024, "{} bytes", plain.len());
    for (name, body, headers) in crate::fixtures::plain_and_gzip(&plain) {
        let (id, job) = app.ingest(body, &headers).await;
        assert_eq!(
            job["data"]["attributes"]["summary"],
            json!({"total": 240, "processed": 240, "invalid": 1}),
            "{name}: {job}"
        );
        for (i, record) in records.iter().enumerate().filter(|(i, _)| *i != 7) {
            let uid = record["finding_info"]["uid"].as_str().unwrap();
            let (status, body) = get_json(&app, &format!("/api/v1/findings/{uid}")).await;
            assert_eq!(status, 200, "{name}: record {i}");
            let attributes = &body["data"]["attributes"];
            assert_eq!(
                attributes["ingestion_id"],
                id.as_str(),
                "{name}: record {i}"
            );
            assert_eq!(&attributes["raw"], record, "{name}: record {i}");
        }
    }
}
