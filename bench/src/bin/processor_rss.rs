//! Peak resident memory of the whole processor — SDK clients, the S3 object streamed and
//! inflated, lookups and writes in flight — on files of growing size, against moto.
//! Usage: `processor_rss NAME=FILE...`.
//!
//! The parent starts a local stack and stores each file (streamed from disk) as the
//! object of a pending job, the way a presigned upload arrives, without a queue message:
//! the stack's own processor never sees it. Each job then runs to its end in a child
//! process of its own, configured from the environment as the Lambda is, which reports
//! its peak RSS (`VmHWM`). moto's memory is its own process's, not counted.

use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};
use aws_sdk_s3::primitives::ByteStream;
use bench::peak_rss_bytes;
use serde_json::{json, Value};
use shared::job::Job;
use shared::message::JobMessage;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Runtime::new()?;
    if args.first().map(String::as_str) == Some("--child") {
        let message = serde_json::from_str(args.get(1).context("--child MESSAGE")?)?;
        return runtime.block_on(child(message));
    }
    runtime.block_on(parent(args))
}

async fn parent(args: Vec<String>) -> Result<()> {
    let stack = bench::stack::start("rss", 0, Vec::new()).await?;
    let config = &stack.config;
    let env = [
        ("INGEST_BUCKET", config.bucket.as_str()),
        ("JOBS_TABLE", &config.jobs_table),
        ("FINDINGS_TABLE", &config.findings_table),
        ("KEYS_TABLE", &config.keys_table),
        ("QUEUE_URL", &config.queue_url),
        ("AWS_ENDPOINT_URL", &stack.moto_endpoint),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
    ];
    let exe = std::env::current_exe()?;
    let mut out = serde_json::Map::new();
    for arg in args {
        let (name, path) = arg.split_once('=').context("arguments are NAME=FILE")?;
        let job = Job::new_pending(&stack.tenant_id, None, None, None);
        stack
            .clients
            .s3
            .put_object()
            .bucket(&config.bucket)
            .key(&job.object_key)
            .body(ByteStream::from_path(path).await?)
            .send()
            .await
            .with_context(|| format!("storing {path}"))?;
        ensure!(stack.deps.stores.jobs.create(&job).await?, "job exists");
        let message = JobMessage {
            tenant_id: job.tenant_id.clone(),
            job_id: job.id.clone(),
            object_key: job.object_key.clone(),
        };
        let output = std::process::Command::new(&exe)
            .arg("--child")
            .arg(serde_json::to_string(&message)?)
            .envs(env)
            .output()?;
        if !output.status.success() {
            bail!("{name}: {}", String::from_utf8_lossy(&output.stderr));
        }
        let mut figures: Value = serde_json::from_slice(&output.stdout)?;
        let done = stack
            .deps
            .stores
            .jobs
            .get(&job.tenant_id, &job.id)
            .await?
            .context("job gone")?;
        ensure!(
            done.status.as_str() == "completed",
            "{name}: the job ended {:?}",
            done.status
        );
        figures["file_bytes"] = json!(std::fs::metadata(path)?.len());
        figures["records"] = json!(done.processed);
        figures["invalid"] = json!(done.invalid);
        eprintln!("{name}: {figures}");
        out.insert(name.to_string(), figures);
    }
    bench::results::save("processor_memory", &Value::Object(out))
}

async fn child(message: JobMessage) -> Result<()> {
    let deps = shared::Deps::from_env().await?;
    let before = peak_rss_bytes().unwrap_or(0);
    let started = Instant::now();
    let end = processor::process_job(&deps, &message, None)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "{}",
        json!({
            "run_end": format!("{end:?}"),
            "seconds": started.elapsed().as_secs_f64(),
            "peak_rss_bytes": peak_rss_bytes(),
            "peak_rss_before_bytes": before,
        })
    );
    Ok(())
}
