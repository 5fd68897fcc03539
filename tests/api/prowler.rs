//! The real Prowler CLI as a client: it scans the moto-emulated AWS account of a test
//! stack, pushes its OCSF output with `--push-to-cloud`, and every record it wrote ends
//! up stored.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{spawn_app, venv};

/// Gives the emulated account something to find: buckets and IAM users.
async fn populate_account(moto: &str) {
    let script = r#"
import boto3, sys
kw = dict(endpoint_url=sys.argv[1], region_name="us-east-1",
          aws_access_key_id="testing", aws_secret_access_key="testing")
s3 = boto3.client("s3", **kw)
for name in ("scan-bucket-a", "scan-bucket-b", "scan-bucket-c"):
    s3.create_bucket(Bucket=name)
iam = boto3.client("iam", **kw)
for user in ("alice", "bob"):
    iam.create_user(UserName=user)
"#;
    let status = tokio::process::Command::new(venv().join("bin").join("python"))
        .args(["-c", script, moto])
        .status()
        .await
        .expect("python runs");
    assert!(status.success(), "populating moto failed");
}

#[tokio::test]
async fn prowler_push_to_cloud_lands_every_finding() {
    let app = spawn_app().await;
    populate_account(&app.stack.moto_endpoint).await;
    let out_dir = tempfile::tempdir().unwrap();
    let moto_port = app
        .stack
        .moto_endpoint
        .rsplit(':')
        .next()
        .unwrap()
        .to_string();

    let run = tokio::process::Command::new(venv().join("bin").join("prowler"))
        .args([
            "aws",
            "-f",
            "us-east-1",
            "-s",
            "s3",
            "iam",
            "-M",
            "json-ocsf",
            "-o",
        ])
        .arg(out_dir.path())
        .args([
            "-F",
            "scan",
            "--no-banner",
            "--aws-retries-max-attempts",
            "0",
        ])
        .args(["--push-to-cloud", "-z"])
        .env("AWS_ENDPOINT_URL", &app.stack.moto_endpoint)
        // S3 Control prefixes the account id to the host; an IPv6 literal makes botocore
        // refuse that name at once instead of asking DNS for it.
        .env(
            "AWS_ENDPOINT_URL_S3_CONTROL",
            format!("http://[::1]:{moto_port}"),
        )
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("PROWLER_CLOUD_API_BASE_URL", &app.stack.base_url)
        .env("PROWLER_CLOUD_API_KEY", &app.stack.api_key)
        .stdin(Stdio::null())
        .output();
    let output = tokio::time::timeout(Duration::from_secs(600), run)
        .await
        .expect("prowler finished within 10 minutes")
        .expect("prowler runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "prowler failed: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let marker = "Findings successfully pushed to Prowler Cloud. Ingestion job: ";
    let line = stdout
        .lines()
        .find(|l| l.contains(marker))
        .unwrap_or_else(|| panic!("no push confirmation in prowler's output:\n{stdout}"));
    let id = line.split(marker).nth(1).unwrap().trim().to_string();

    let written: Vec<Value> = serde_json::from_slice(
        &std::fs::read(out_dir.path().join("scan.ocsf.json")).expect("prowler wrote its OCSF file"),
    )
    .unwrap();
    assert!(
        written.len() >= 20,
        "a real scan has findings: {}",
        written.len()
    );
    let uids: std::collections::HashSet<&str> = written
        .iter()
        .map(|r| r["finding_info"]["uid"].as_str().unwrap())
        .collect();

    let job = app.wait_for_final(&id).await;
    let total = written.len();
    assert_eq!(job["data"]["attributes"]["status"], "completed", "{job}");
    assert_eq!(
        job["data"]["attributes"]["summary"],
        json!({"total": total, "processed": total, "invalid": 0})
    );
    assert_eq!(
        job["data"]["attributes"]["file_name"], "scan.ocsf.json",
        "the part's file name is kept"
    );
    let stored = app.stored_findings().await;
    assert_eq!(stored as usize, uids.len());
}
