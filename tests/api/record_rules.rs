//! One invalid record per rule of API.md, through the real upload and processor, read
//! back from the errors endpoint: each with its code and JSON pointer.

use serde_json::{json, Value};

use crate::fixtures::{finding, to_bytes};
use crate::helpers::spawn_app;

type Mutation = fn(&mut Value);

fn remove(v: &mut Value, path: &[&str]) {
    let (last, parents) = path.split_last().unwrap();
    let mut at = v;
    for p in parents {
        at = &mut at[*p];
    }
    at.as_object_mut().unwrap().remove(*last);
}

/// (how to break a valid record, expected code, expected pointer)
fn cases() -> Vec<(Mutation, &'static str, &'static str)> {
    vec![
        (|v| *v = json!("a string"), "not_an_object", ""),
        (
            |v| v["unmapped"]["padding"] = json!("x".repeat(300 * 1024)),
            "record_too_large",
            "",
        ),
        (
            |v| v["class_uid"] = json!(2003),
            "unsupported_class",
            "/class_uid",
        ),
        (|v| remove(v, &["class_uid"]), "missing_field", "/class_uid"),
        (
            |v| v["class_uid"] = json!("2004"),
            "invalid_type",
            "/class_uid",
        ),
        (
            |v| v["category_uid"] = json!(5),
            "invalid_value",
            "/category_uid",
        ),
        (
            |v| v["activity_id"] = json!(4),
            "invalid_value",
            "/activity_id",
        ),
        (
            |v| v["type_uid"] = json!(200403),
            "invalid_value",
            "/type_uid",
        ),
        (
            |v| v["severity_id"] = json!(9),
            "invalid_value",
            "/severity_id",
        ),
        (
            |v| v["severity"] = json!("Low"),
            "invalid_value",
            "/severity",
        ),
        (|v| v["time"] = json!(1.5), "invalid_type", "/time"),
        (|v| v["time"] = json!(-1), "invalid_value", "/time"),
        (|v| remove(v, &["metadata"]), "missing_field", "/metadata"),
        (
            |v| v["metadata"]["product"] = json!("Prowler"),
            "invalid_type",
            "/metadata/product",
        ),
        (
            |v| remove(v, &["metadata", "version"]),
            "missing_field",
            "/metadata/version",
        ),
        (
            |v| v["finding_info"] = json!("f"),
            "invalid_type",
            "/finding_info",
        ),
        (
            |v| v["finding_info"]["uid"] = json!(""),
            "invalid_value",
            "/finding_info/uid",
        ),
        (
            |v| v["finding_info"]["uid"] = json!(7),
            "invalid_type",
            "/finding_info/uid",
        ),
        (
            |v| remove(v, &["finding_info", "title"]),
            "missing_field",
            "/finding_info/title",
        ),
        (
            |v| v["resources"] = json!([{"name": "no uid"}]),
            "missing_field",
            "/resources/0/uid",
        ),
        (
            |v| v["resources"] = json!(["arn"]),
            "invalid_type",
            "/resources/0",
        ),
        (
            |v| v["cloud"] = json!({"provider": 1}),
            "invalid_type",
            "/cloud/provider",
        ),
        (
            |v| v["status_id"] = json!("1"),
            "invalid_type",
            "/status_id",
        ),
        (
            |v| v["status_code"] = json!(false),
            "invalid_type",
            "/status_code",
        ),
        (|v| v["status"] = json!(null), "invalid_type", "/status"),
    ]
}

#[tokio::test]
async fn every_rule_is_reported_with_its_code_and_pointer() {
    let app = spawn_app().await;
    let cases = cases();
    let mut records = Vec::new();
    for (i, (mutate, _, _)) in cases.iter().enumerate() {
        let mut record = finding(&format!("rule-{i}"));
        mutate(&mut record);
        records.push(record);
    }
    // One valid record, and a duplicate of it: the later one is the invalid one.
    records.push(finding("kept"));
    records.push(finding("kept"));
    let total = records.len();

    let (id, job) = app.ingest_json(to_bytes(&records)).await;
    assert_eq!(job["data"]["attributes"]["status"], "completed");
    assert_eq!(
        job["data"]["attributes"]["summary"],
        json!({"total": total, "processed": total, "invalid": cases.len() + 1})
    );

    let errors: Value = app
        .get(&format!("/api/v1/ingestions/{id}/errors?page[size]=100"))
        .await
        .json()
        .await
        .unwrap();
    let got: Vec<(u64, String, String)> = errors["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let a = &e["attributes"];
            (
                a["record_index"].as_u64().unwrap(),
                a["code"].as_str().unwrap().to_string(),
                a["pointer"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut expected: Vec<(u64, String, String)> = cases
        .iter()
        .enumerate()
        .map(|(i, (_, code, pointer))| (i as u64, code.to_string(), pointer.to_string()))
        .collect();
    expected.push((
        (total - 1) as u64,
        "duplicate_finding_uid".into(),
        "/finding_info/uid".into(),
    ));
    assert_eq!(got, expected);
    assert_eq!(errors["meta"]["total"], expected.len());
    // Records that have a uid name it in their error.
    assert_eq!(errors["data"][2]["attributes"]["finding_uid"], "rule-2");
    assert_eq!(errors["data"][0]["attributes"]["finding_uid"], Value::Null);
}
