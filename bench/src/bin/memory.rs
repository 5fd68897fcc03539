//! Peak resident memory of the processor core on files of growing size. Usage:
//! `memory NAME=FILE...`; each file is processed in a child process of its own (read
//! from disk through a 256 KiB buffer, as the processor reads S3) that reports its peak
//! RSS (`VmHWM`).

use std::io::BufReader;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use bench::core::{run, Stage};
use bench::peak_rss_bytes;
use serde_json::{json, Value};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        return child(args.get(1).context("--child FILE")?);
    }
    let mut out = serde_json::Map::new();
    let exe = std::env::current_exe()?;
    for arg in args {
        let (name, path) = arg.split_once('=').context("arguments are NAME=FILE")?;
        let output = std::process::Command::new(&exe)
            .args(["--child", path])
            .output()?;
        if !output.status.success() {
            bail!("{name}: {}", String::from_utf8_lossy(&output.stderr));
        }
        let figures: Value = serde_json::from_slice(&output.stdout)?;
        eprintln!("{name}: {figures}");
        out.insert(name.to_string(), figures);
    }
    bench::results::save("memory", &Value::Object(out))
}

fn child(path: &str) -> Result<()> {
    let before = peak_rss_bytes().unwrap_or(0);
    let file = std::fs::File::open(path).with_context(|| format!("opening {path}"))?;
    let bytes = file.metadata()?.len();
    let started = Instant::now();
    let tally = run(
        BufReader::with_capacity(256 * 1024, file),
        Stage::Transform,
        |f| {
            std::hint::black_box(f);
        },
    )?;
    let figures = json!({
        "file_bytes": bytes,
        "records": tally.records,
        "findings": tally.findings,
        "seconds": started.elapsed().as_secs_f64(),
        "peak_rss_bytes": peak_rss_bytes(),
        "peak_rss_before_bytes": before,
    });
    println!("{figures}");
    Ok(())
}
