//! Each benchmark's figures, kept as JSON in `target/bench/results/` for `report`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use serde_json::Value;

fn path(name: &str) -> PathBuf {
    super::bench_dir()
        .join("results")
        .join(format!("{name}.json"))
}

/// Records a benchmark's figures (and prints them).
pub fn save(name: &str, figures: &Value) -> Result<()> {
    let path = path(name);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let text = serde_json::to_string_pretty(figures)?;
    std::fs::write(&path, &text).with_context(|| format!("writing {}", path.display()))?;
    println!("{text}");
    Ok(())
}

/// A benchmark's figures, if it ran.
pub fn load(name: &str) -> Option<Value> {
    let text = std::fs::read_to_string(path(name)).ok()?;
    serde_json::from_str(&text).ok()
}
