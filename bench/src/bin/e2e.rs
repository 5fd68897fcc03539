//! End to end on the local stack: a real scan (gzip, as a client with a big file sends
//! it) goes through the gateway; the clock runs from the 202 to the job's `completed`,
//! polled through the read API. Baseline: the same findings items written straight to
//! moto with BatchWriteItem as the processor sends them (groups of 100: four requests of
//! 25 in flight together, one group after the other). Two rounds; the second re-ingests
//! the same file (every finding unchanged). The pair of rounds is repeated (5 times by
//! default), each time for a tenant of its own, and the baseline after each round, so
//! that both sides of every ratio see the machine in the same state.
//! Usage: `e2e FILE [REPEATS]`.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bench::core::{run, Stage};
use bench::stack::{gzip, start};
use serde_json::{json, Value};

#[tokio::main]
async fn main() -> Result<()> {
    let file = std::env::args()
        .nth(1)
        .context("usage: e2e FILE [REPEATS]")?;
    let repeats: u32 = match std::env::args().nth(2) {
        Some(n) => n.parse().context("REPEATS is a number")?,
        None => 5,
    };
    let bytes = std::fs::read(&file).with_context(|| format!("reading {file}"))?;
    let body = gzip(&bytes)?;
    let stack = start("bench-e2e", 0, Vec::new()).await?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()?;

    // The baseline's items: what the processor would write for this file.
    let mut findings = Vec::new();
    run(&bytes[..], Stage::Transform, |batch| {
        findings.extend_from_slice(batch)
    })?;

    let mut rounds = Vec::new();
    for repeat in 1..=repeats {
        let tenant = format!("bench-e2e-{repeat}");
        let api_key = stack
            .create_key(&tenant, &shared::auth::Permission::ALL)
            .await?;
        let baseline_tenant = format!("bench-baseline-{repeat}");
        for round in 1..=2 {
            let upload_started = Instant::now();
            let response = http
                .post(format!("{}/api/v1/ingestions", stack.base_url))
                .header("Authorization", format!("Api-Key {api_key}"))
                .header("Content-Type", "application/json")
                .body(body.clone())
                .send()
                .await?;
            let status = response.status();
            let document: Value = response.json().await?;
            if status != 202 {
                bail!("upload answered {status}: {document}");
            }
            let accepted = Instant::now();
            let id = document["data"]["id"]
                .as_str()
                .context("job id")?
                .to_string();
            let job = loop {
                let job: Value = http
                    .get(format!("{}/api/v1/ingestions/{id}", stack.base_url))
                    .header("Authorization", format!("Api-Key {api_key}"))
                    .send()
                    .await?
                    .json()
                    .await?;
                let status = job["data"]["attributes"]["status"].as_str().unwrap_or("");
                if status == "completed" || status == "failed" {
                    break job;
                }
                if accepted.elapsed() > Duration::from_secs(900) {
                    bail!("job {id} did not finish in 15 minutes");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            };
            let to_completed = accepted.elapsed().as_secs_f64();
            if job["data"]["attributes"]["status"] != "completed" {
                bail!("job {id} failed: {job}");
            }

            // The same items with the processor's write pattern and nothing else: groups of
            // 100, each as four BatchWriteItems of 25 in flight together.
            let started = Instant::now();
            for group in findings.chunks(100) {
                stack
                    .deps
                    .stores
                    .findings
                    .put(&baseline_tenant, group.to_vec())
                    .await?;
            }
            let baseline = started.elapsed().as_secs_f64();
            let processed = job["data"]["attributes"]["summary"]["processed"].clone();
            eprintln!(
            "repeat {repeat}, round {round}: 202 → completed {to_completed:.2} s, baseline {baseline:.2} s"
        );
            rounds.push(json!({
                "round": round,
                "repeat": repeat,
                "records": processed,
                "upload_body_bytes": body.len(),
                "upload_to_202_seconds": (accepted - upload_started).as_secs_f64(),
                "accepted_to_completed_seconds": to_completed,
                "baseline_batch_write_seconds": baseline,
                "ratio": to_completed / baseline,
            }));
        }
    }
    bench::results::save(
        "e2e",
        &json!({"file": file, "file_bytes": bytes.len(), "findings": findings.len(), "rounds": rounds}),
    )
}
