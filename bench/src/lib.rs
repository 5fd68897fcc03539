//! Benchmarks of the ingestion service, kept apart from the tests (no timing is ever
//! asserted in a test). `scripts/bench` builds everything in release and runs, side by
//! side: the processor core against serde_json and the Python peer (`core`, `peer.py`),
//! peak memory by file size (`memory`), AWS requests and cost per finding (`requests`),
//! end to end on the local stack (`e2e`) and upload latency (`upload_latency`); `report`
//! prints one table with the ratios and targets. Every binary writes its figures to
//! `target/bench/results/<name>.json`; fixtures are generated into `target/bench/` by
//! `fixtures` (a real Prowler scan of moto, then copies with varied uids).

pub mod core;
pub mod counting;
pub mod fixtures;
pub mod prices;
pub mod results;
pub mod stack;

use std::path::PathBuf;

/// Where fixtures and results go: `$BENCH_DIR`, else `target/bench` in the workspace.
pub fn bench_dir() -> PathBuf {
    std::env::var_os("BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target").join("bench"))
}

pub fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// The virtualenv with moto, the Prowler CLI and py-ocsf-models: `$OCSF_INGEST_VENV`,
/// else the project's `.venv` (made by `scripts/venv`).
pub fn venv() -> PathBuf {
    std::env::var_os("OCSF_INGEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv"))
}

/// Peak resident set size of this process so far, in bytes (`VmHWM`).
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The fixture files `fixtures` writes.
pub mod files {
    use std::path::PathBuf;

    /// The Prowler CLI's own output from scanning moto.
    pub fn prowler() -> PathBuf {
        super::bench_dir().join("prowler.ocsf.json")
    }

    /// Exactly `records` records: the real ones, then copies with varied uids.
    pub fn records(records: u64) -> PathBuf {
        super::bench_dir().join(format!("scan-{records}.ocsf.json"))
    }

    /// At least `mb` MB of records made the same way.
    pub fn megabytes(mb: u64) -> PathBuf {
        super::bench_dir().join(format!("synthetic-{mb}mb.ocsf.json"))
    }
}
