//! Upload latency through the local gateway: multipart bodies (as the Prowler CLI sends
//! them) of about 1 MB and 4 MB, made of real records. The upload function's queue is
//! pointed at a queue nobody polls, so no processing runs alongside.
//! Usage: `upload_latency FILE`.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bench::fixtures::{replicate, seeds, Size};
use bench::stack::start;
use ocsf_ingest::local::moto::free_port;
use serde_json::json;

const SIZES: &[(&str, u64, usize)] = &[("1MB", 1_000_000, 60), ("4MB", 4_000_000, 30)];
const WARMUP: usize = 3;

#[tokio::main]
async fn main() -> Result<()> {
    let file = std::env::args()
        .nth(1)
        .context("usage: upload_latency FILE")?;
    let seeds = seeds(std::path::Path::new(&file))?;
    let moto_port = free_port()?;
    let sink = "bench-latency-sink";
    let queue = format!("http://127.0.0.1:{moto_port}/123456789012/{sink}");
    let stack = start(
        "bench-latency",
        moto_port,
        vec![("QUEUE_URL".into(), queue)],
    )
    .await?;
    stack
        .clients
        .sqs
        .create_queue()
        .queue_name(sink)
        .send()
        .await?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let mut out = serde_json::Map::new();
    for &(name, target, samples) in SIZES {
        let body = sized(&seeds, target)?;
        let mut times = Vec::with_capacity(samples);
        for i in 0..WARMUP + samples {
            let part = reqwest::multipart::Part::bytes(body.clone())
                .file_name("scan.ocsf.json")
                .mime_str("application/json")?;
            let started = Instant::now();
            let response = http
                .post(format!("{}/api/v1/ingestions", stack.base_url))
                .header("Authorization", format!("Api-Key {}", stack.api_key))
                .multipart(reqwest::multipart::Form::new().part("file", part))
                .send()
                .await?;
            let status = response.status();
            let _ = response.bytes().await?;
            let elapsed = started.elapsed().as_secs_f64();
            if status != 202 {
                bail!("{name}: upload answered {status}");
            }
            if i >= WARMUP {
                times.push(elapsed);
            }
        }
        times.sort_by(f64::total_cmp);
        let pct = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
        out.insert(
            name.to_string(),
            json!({
                "file_bytes": body.len(),
                "samples": samples,
                "p50_ms": pct(0.50) * 1e3,
                "p99_ms": pct(0.99) * 1e3,
                "max_ms": times[times.len() - 1] * 1e3,
            }),
        );
    }
    bench::results::save("upload_latency", &serde_json::Value::Object(out))
}

/// A JSON array of real records of at most `target` bytes.
fn sized(seeds: &[bench::fixtures::Seed], target: u64) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let (records, bytes) = replicate(seeds, Size::Bytes(target), &mut out)?;
    if bytes > target {
        out.clear();
        replicate(seeds, Size::Records(records - 1), &mut out)?;
    }
    Ok(out)
}
