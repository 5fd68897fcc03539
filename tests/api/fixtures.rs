//! OCSF Detection Finding records shaped like the Prowler CLI's output.

use serde_json::{json, Value};

/// A valid Detection Finding with uid `uid`.
pub fn finding(uid: &str) -> Value {
    json!({
        "message": "S3 Bucket example-bucket has Public Access Block disabled.",
        "metadata": {
            "event_code": "s3_bucket_level_public_access_block",
            "product": {"name": "Prowler", "uid": "prowler", "vendor_name": "Prowler", "version": "5.46.0"},
            "profiles": ["cloud", "datetime"],
            "tenant_uid": "",
            "version": "1.5.0"
        },
        "severity_id": 4,
        "severity": "High",
        "status": "New",
        "status_code": "FAIL",
        "status_detail": "S3 Bucket example-bucket has Public Access Block disabled.",
        "status_id": 1,
        "unmapped": {"compliance": {"CIS-2.0": ["2.1.5"]}, "related_url": ""},
        "activity_name": "Create",
        "activity_id": 1,
        "finding_info": {
            "created_time": 1739800000,
            "created_time_dt": "2025-02-17T13:46:40.000000",
            "desc": "Ensure that S3 buckets have Public Access Block enabled.",
            "title": "Check S3 Bucket Level Public Access Block.",
            "types": ["Data Protection"],
            "uid": uid
        },
        "resources": [{
            "cloud_partition": "aws",
            "region": "us-east-1",
            "data": {"details": ""},
            "group": {"name": "s3"},
            "labels": [],
            "name": "example-bucket",
            "type": "AwsS3Bucket",
            "uid": "arn:aws:s3:::example-bucket"
        }],
        "category_name": "Findings",
        "category_uid": 2,
        "class_name": "Detection Finding",
        "class_uid": 2004,
        "cloud": {
            "account": {"name": "", "type": "AWS Account", "type_id": 10, "uid": "123456789012", "labels": []},
            "org": {"name": "", "uid": ""},
            "provider": "aws",
            "region": "us-east-1"
        },
        "remediation": {"desc": "Enable the Public Access Block.", "references": []},
        "risk_details": "Public access can expose data.",
        "time": 1739800000,
        "time_dt": "2025-02-17T13:46:40.000000",
        "type_uid": 200401,
        "type_name": "Detection Finding: Create"
    })
}

/// A file of `n` valid findings with distinct uids.
pub fn scan(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            finding(&format!(
                "prowler-aws-s3_bucket_level_public_access_block-123456789012-us-east-1-bucket-{i}"
            ))
        })
        .collect()
}

pub fn to_bytes(records: &[Value]) -> Vec<u8> {
    serde_json::to_vec_pretty(records).expect("fixtures serialize")
}

/// Request headers, as name and value.
pub type Headers = Vec<(&'static str, &'static str)>;

/// The same JSON file as a plain upload and as a gzip one: (name, body, headers).
pub fn plain_and_gzip(plain: &[u8]) -> [(&'static str, Vec<u8>, Headers); 2] {
    let json = ("Content-Type", "application/json");
    [
        ("plain", plain.to_vec(), vec![json]),
        (
            "gzip",
            gzip(plain),
            vec![json, ("Content-Encoding", "gzip")],
        ),
    ]
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}
