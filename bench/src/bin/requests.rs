//! Every AWS request of an ingestion job, counted by an SDK interceptor, and what they
//! cost: the upload handler (auth, S3, DynamoDB, SQS), then the processor fed from the
//! queue as the event source mapping does. Two jobs of the same file: the first finds
//! every finding new, the second (a re-scan) finds them all unchanged.
//! Usage: `requests FILE`.

use std::time::Instant;

use anyhow::{bail, Context, Result};
use bench::counting::{Counter, Tally};
use bench::prices::*;
use bench::stack::{counting_clients, gzip, process_one, start, upload};
use serde_json::{json, Value};
use shared::Deps;

#[tokio::main]
async fn main() -> Result<()> {
    let file = std::env::args().nth(1).context("usage: requests FILE")?;
    let bytes = std::fs::read(&file).with_context(|| format!("reading {file}"))?;
    let body = gzip(&bytes)?;

    let stack = start("bench-requests", 0, Vec::new()).await?;
    // A queue of our own, so the stack's poller does not take the messages.
    let queue_url = stack
        .clients
        .sqs
        .create_queue()
        .queue_name("bench-requests-counted")
        .send()
        .await?
        .queue_url
        .context("no queue url")?;
    let counter = Counter::default();
    counter.set_findings_table(&stack.config.findings_table);
    let clients = counting_clients(&stack.moto_endpoint, &counter).await;
    let mut config = stack.config.clone();
    config.queue_url = queue_url.clone();
    let deps = Deps::new(&clients, config);

    let mut rounds = Vec::new();
    for label in [
        "first ingestion (every finding new)",
        "same file again (every finding unchanged)",
    ] {
        counter.take();
        let started = Instant::now();
        let cpu = cpu_seconds();
        let job_id = upload(&deps, &stack.api_key, body.clone()).await?;
        let upload_cpu = cpu_seconds() - cpu;
        let upload_tally = counter.take();
        let cpu = cpu_seconds();
        let mut invocations = 0u64;
        let job = loop {
            if process_one(&deps, &clients, &queue_url).await? {
                invocations += 1;
            }
            let job = stack
                .deps
                .stores
                .jobs
                .get(&stack.tenant_id, &job_id)
                .await?
                .context("the job is gone")?;
            if job.status.is_final() {
                break job;
            }
            if started.elapsed().as_secs() > 900 {
                bail!("job {job_id} did not finish in 15 minutes");
            }
        };
        let process_cpu = cpu_seconds() - cpu;
        let process_tally = counter.take();
        if job.status.as_str() != "completed" {
            bail!("job {job_id} ended {}", job.status.as_str());
        }
        let findings = job.processed - job.invalid;
        let job_item = bench::counting::item_size(
            &stack
                .clients
                .dynamodb
                .get_item()
                .table_name(&stack.config.jobs_table)
                .key(
                    "pk",
                    aws_sdk_dynamodb::types::AttributeValue::S(format!(
                        "TENANT#{}",
                        stack.tenant_id
                    )),
                )
                .key(
                    "sk",
                    aws_sdk_dynamodb::types::AttributeValue::S(format!("JOB#{job_id}")),
                )
                .send()
                .await?
                .item
                .unwrap_or_default(),
        );
        rounds.push(round(
            label,
            findings,
            body.len(),
            &upload_tally,
            &process_tally,
            upload_cpu,
            process_cpu,
            invocations,
            job_item,
        ));
    }
    bench::results::save(
        "requests",
        &json!({"file": file, "file_bytes": bytes.len(), "rounds": rounds}),
    )
}

#[allow(clippy::too_many_arguments)]
fn round(
    label: &str,
    findings: u64,
    body_bytes: usize,
    upload: &Tally,
    process: &Tally,
    upload_cpu: f64,
    process_cpu: f64,
    invocations: u64,
    job_item_bytes: u64,
) -> Value {
    let mut all = upload.clone();
    for (k, v) in &process.requests {
        *all.requests.entry(k.clone()).or_default() += v;
    }
    for (k, v) in &process.write_units {
        *all.write_units.entry(k.clone()).or_default() += v;
    }
    for (k, v) in &process.read_units {
        *all.read_units.entry(k.clone()).or_default() += v;
    }
    let per_k = |n: f64| n * 1000.0 / findings as f64;
    let dynamo_writes: u64 = ["BatchWriteItem", "PutItem", "UpdateItem", "DeleteItem"]
        .iter()
        .map(|op| all.request(&format!("DynamoDB.{op}")))
        .sum();
    let dynamo_reads = all.requests_of("DynamoDB") - dynamo_writes;
    let s3_puts = all.request("S3.PutObject")
        + all.request("S3.UploadPart")
        + all.request("S3.CreateMultipartUpload")
        + all.request("S3.CompleteMultipartUpload");
    let s3_gets = all.requests_of("S3") - s3_puts;
    let sqs = all.requests_of("SQS");
    let wru = all.write_units() as f64;
    let rru = all.read_units();

    // Lambda time in AWS: this process's CPU time plus an assumed round trip per request.
    let upload_requests = upload.requests.values().sum::<u64>() as f64;
    let process_requests = process.requests.values().sum::<u64>() as f64;
    let upload_seconds = upload_cpu + upload_requests * ASSUMED_AWS_REQUEST_SECONDS;
    let process_seconds = process_cpu + process_requests * ASSUMED_AWS_REQUEST_SECONDS;
    let lambda = (upload_seconds * UPLOAD_MEMORY_MB + process_seconds * PROCESSOR_MEMORY_MB)
        / 1024.0
        * LAMBDA_GB_SECOND
        + (1 + invocations) as f64 * LAMBDA_REQUEST;
    let per_job = json!({
        "dynamodb_write_units": wru * DYNAMODB_WRU,
        "dynamodb_read_units": rru * DYNAMODB_RRU,
        "s3": s3_puts as f64 * S3_PUT + s3_gets as f64 * S3_GET,
        "sqs": sqs as f64 * SQS_REQUEST,
        "lambda": lambda,
        "http_api": HTTP_API_REQUEST,
    });
    let per_million = |v: &Value| -> Value {
        let map = v.as_object().cloned().unwrap_or_default();
        let mut out = serde_json::Map::new();
        let mut total = 0.0;
        for (k, v) in map {
            let dollars = v.as_f64().unwrap_or(0.0) * 1e6 / findings as f64;
            total += dollars;
            out.insert(k, json!(dollars));
        }
        out.insert("total".into(), json!(total));
        Value::Object(out)
    };
    let cost = per_million(&per_job);
    json!({
        "label": label,
        "findings": findings,
        "upload_body_bytes": body_bytes,
        "requests": all.requests,
        "write_units": all.write_units,
        "read_units": all.read_units,
        "upload_requests": upload.requests,
        "processor_invocations": invocations,
        "dynamodb_write_requests_per_1000": per_k(dynamo_writes as f64),
        "dynamodb_read_requests_per_1000": per_k(dynamo_reads as f64),
        "write_units_per_finding": wru / findings as f64,
        "index_write_units_per_finding": process.index_write_units as f64 / findings as f64,
        "finding_write_units_per_finding": (process.finding_write_units + process.index_write_units) as f64 / findings as f64,
        "read_units_per_finding": rru / findings as f64,
        "finding_items": process.finding_items,
        "finding_item_avg_bytes": process.finding_item_bytes as f64 / process.finding_items.max(1) as f64,
        "finding_item_max_bytes": process.finding_item_max_bytes,
        "job_item_bytes": job_item_bytes,
        "s3_requests_per_job": s3_puts + s3_gets,
        "sqs_requests_per_job": sqs,
        "upload_cpu_seconds": upload_cpu,
        "processor_cpu_seconds": process_cpu,
        "cost_per_million_findings": cost,
    })
}

/// This process's user + system CPU time so far.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name (which ends with ')'): utime is the 12th, stime 13th.
    let rest = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}
