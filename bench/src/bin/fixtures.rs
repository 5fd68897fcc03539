//! Makes the benchmark fixtures in `target/bench/`: the Prowler CLI scans a moto account
//! (buckets and IAM users) and writes its OCSF file; then files of a given record count
//! or size are made from those records with varied uids. Existing files are kept
//! (`--rescan` runs Prowler again).

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bench::fixtures::{replicate, seeds, Size};
use bench::{bench_dir, files, venv};
use ocsf_ingest::local::moto;

/// Resources created in moto for Prowler to find.
const BUCKETS: usize = 10;
const USERS: usize = 10;
/// Record counts and sizes (MB) the benchmarks read.
const RECORD_FILES: &[u64] = &[6_500];
const MB_FILES: &[u64] = &[10, 100, 1_000];

#[tokio::main]
async fn main() -> Result<()> {
    let rescan = std::env::args().any(|a| a == "--rescan");
    std::fs::create_dir_all(bench_dir())?;
    if rescan || !files::prowler().exists() {
        scan_moto().await?;
    }
    let seeds = seeds(&files::prowler())?;
    println!("{}: {} records", files::prowler().display(), seeds.len());
    let targets = RECORD_FILES
        .iter()
        .map(|&n| (files::records(n), Size::Records(n)))
        .chain(
            MB_FILES
                .iter()
                .map(|&mb| (files::megabytes(mb), Size::Bytes(mb * 1_000_000))),
        );
    for (path, size) in targets {
        if path.exists() && !rescan {
            continue;
        }
        let started = Instant::now();
        let partial = path.with_extension("partial");
        let (records, bytes) = replicate(&seeds, size, std::fs::File::create(&partial)?)?;
        std::fs::rename(&partial, &path)?;
        println!(
            "{}: {records} records, {bytes} bytes ({:.1} s)",
            path.display(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

async fn scan_moto() -> Result<()> {
    let venv = venv();
    let prowler = venv.join("bin").join("prowler");
    if !prowler.exists() {
        bail!(
            "{} is missing: run scripts/venv (or set OCSF_INGEST_VENV)",
            prowler.display()
        );
    }
    let server = moto::ensure_installed(&venv).await?;
    let moto = moto::start(&server, 0).await?;
    populate(&venv, &moto.endpoint).await?;
    let port = moto.endpoint.rsplit(':').next().unwrap_or_default();
    let out = tempdir()?;
    println!("scanning moto with the Prowler CLI (about two minutes)…");
    let started = Instant::now();
    let run = tokio::process::Command::new(&prowler)
        .args([
            "aws",
            "-f",
            "us-east-1",
            "-s",
            "s3",
            "iam",
            "-M",
            "json-ocsf",
        ])
        .arg("-o")
        .arg(&out)
        .args([
            "-F",
            "scan",
            "--no-banner",
            "--aws-retries-max-attempts",
            "0",
            "-z",
        ])
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        // S3 Control prefixes the account id to the host; an IPv6 literal makes botocore
        // refuse that name at once instead of asking DNS for it.
        .env(
            "AWS_ENDPOINT_URL_S3_CONTROL",
            format!("http://[::1]:{port}"),
        )
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output();
    let output = tokio::time::timeout(Duration::from_secs(900), run)
        .await
        .context("prowler did not finish within 15 minutes")??;
    let written = out.join("scan.ocsf.json");
    if !written.exists() {
        bail!(
            "prowler wrote no OCSF file ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    std::fs::copy(&written, files::prowler())?;
    std::fs::remove_dir_all(&out)?;
    println!("scan done in {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

async fn populate(venv: &Path, endpoint: &str) -> Result<()> {
    let script = format!(
        r#"
import boto3, sys
kw = dict(endpoint_url=sys.argv[1], region_name="us-east-1",
          aws_access_key_id="testing", aws_secret_access_key="testing")
s3 = boto3.client("s3", **kw)
for i in range({BUCKETS}):
    s3.create_bucket(Bucket=f"bench-bucket-{{i}}")
iam = boto3.client("iam", **kw)
for i in range({USERS}):
    iam.create_user(UserName=f"bench-user-{{i}}")
"#
    );
    let status = tokio::process::Command::new(venv.join("bin").join("python"))
        .args(["-c", &script, endpoint])
        .status()
        .await?;
    if !status.success() {
        bail!("populating moto failed: {status}");
    }
    Ok(())
}

fn tempdir() -> Result<std::path::PathBuf> {
    let dir = bench_dir().join(format!("prowler-out-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
