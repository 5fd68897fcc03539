//! Processor core throughput on one core, side by side with serde_json merely
//! tokenizing the same bytes (the ceiling). Usage: `core NAME=FILE...`; each file is
//! read into memory first, then every stage runs until it has taken at least a second.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bench::core::{run, Stage, Tally};
use serde::de::IgnoredAny;
use serde_json::{json, Value};

const MIN_TIME: Duration = Duration::from_secs(1);

fn main() -> Result<()> {
    let mut out = serde_json::Map::new();
    for arg in std::env::args().skip(1) {
        let (name, path) = arg.split_once('=').context("arguments are NAME=FILE")?;
        let bytes = std::fs::read(path).with_context(|| format!("reading {path}"))?;
        out.insert(name.to_string(), measure(&bytes)?);
    }
    bench::results::save("core", &Value::Object(out))
}

fn measure(bytes: &[u8]) -> Result<Value> {
    let mb = bytes.len() as f64 / 1e6;
    let ceiling = repeat(|| {
        serde_json::from_slice::<IgnoredAny>(bytes)?;
        Ok(Tally::default())
    })?;
    let scan = repeat(|| run(bytes, Stage::Scan, |_| {}))?;
    let parse = repeat(|| run(bytes, Stage::Parse, |_| {}))?;
    let check = repeat(|| run(bytes, Stage::Check, |_| {}))?;
    let check_apart = repeat(|| run(bytes, Stage::CheckApart, |_| {}))?;
    let core = repeat(|| {
        run(bytes, Stage::Transform, |f| {
            std::hint::black_box(f);
        })
    })?;
    let tally = core.1;
    let records = tally.records as f64;
    let rate = |secs: f64| json!({"mb_per_s": mb / secs, "records_per_s": records / secs, "seconds": secs});
    Ok(json!({
        "bytes": bytes.len(),
        "records": tally.records,
        "valid": tally.valid,
        "findings": tally.findings,
        "avg_record_bytes": bytes.len() as f64 / records,
        "ceiling_serde_json_ignored_any": rate(ceiling.0),
        "scan": rate(scan.0),
        "scan_parse": rate(parse.0),
        "scan_check": rate(check.0),
        "scan_then_check": rate(check_apart.0),
        "core": rate(core.0),
    }))
}

/// Seconds per run (the mean over as many runs as fit in `MIN_TIME`, at least two).
fn repeat(mut f: impl FnMut() -> Result<Tally>) -> Result<(f64, Tally)> {
    let started = Instant::now();
    let mut runs = 0u32;
    let mut tally = Tally::default();
    while runs < 2 || started.elapsed() < MIN_TIME {
        tally = f()?;
        runs += 1;
    }
    Ok((started.elapsed().as_secs_f64() / f64::from(runs), tally))
}
