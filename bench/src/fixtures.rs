//! Fixture files made from a real Prowler scan: the records as Prowler wrote them, then
//! further copies whose `finding_info.uid` gets a `-c<n>` suffix, so every record stays
//! a real Prowler record and every uid is distinct.

use std::collections::HashSet;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};
use processor::scan::ArrayScanner;
use serde_json::Value;

/// One record of the real scan: its bytes and its uid.
pub struct Seed {
    pub bytes: Vec<u8>,
    pub uid: String,
}

/// The records of a JSON array file, with their uids (records without one are skipped).
pub fn seeds(file: &Path) -> Result<Vec<Seed>> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let mut scanner = ArrayScanner::new(&bytes[..], usize::MAX);
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    while let Some(record) = scanner.next_record()? {
        let value: Value = serde_json::from_slice(&record.bytes)?;
        if let Some(uid) = value["finding_info"]["uid"].as_str() {
            if seen.insert(uid.to_string()) {
                out.push(Seed {
                    uid: uid.to_string(),
                    bytes: record.bytes,
                });
            }
        }
    }
    if out.is_empty() {
        bail!("{} has no records with a finding_info.uid", file.display());
    }
    Ok(out)
}

/// When to stop writing copies.
#[derive(Clone, Copy, Debug)]
pub enum Size {
    Records(u64),
    Bytes(u64),
}

/// Writes the seeds, then copies with varied uids, until `size` is reached. Returns the
/// number of records and bytes written.
pub fn replicate(seeds: &[Seed], size: Size, out: impl Write) -> Result<(u64, u64)> {
    let mut out = BufWriter::with_capacity(1 << 20, out);
    out.write_all(b"[")?;
    let (mut records, mut bytes) = (0u64, 1u64);
    'copies: for copy in 0u64.. {
        for seed in seeds {
            let done = match size {
                Size::Records(n) => records >= n,
                Size::Bytes(n) => bytes >= n,
            };
            if done {
                break 'copies;
            }
            if records > 0 {
                out.write_all(b", ")?;
                bytes += 2;
            }
            let record = if copy == 0 {
                seed.bytes.clone()
            } else {
                vary_uid(&seed.bytes, &seed.uid, &format!("{}-c{copy}", seed.uid))
            };
            out.write_all(&record)?;
            bytes += record.len() as u64;
            records += 1;
        }
    }
    out.write_all(b"]\n")?;
    out.flush()?;
    Ok((records, bytes + 2))
}

/// Replaces every occurrence of the JSON string `"uid"` in `record` with `"new"`.
fn vary_uid(record: &[u8], uid: &str, new: &str) -> Vec<u8> {
    let from = serde_json::to_string(uid).unwrap_or_default();
    let to = serde_json::to_string(new).unwrap_or_default();
    let (from, to) = (from.as_bytes(), to.as_bytes());
    let mut out = Vec::with_capacity(record.len() + to.len());
    let mut i = 0;
    while i < record.len() {
        if record[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(record[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_get_distinct_uids_and_stay_valid_json() {
        let file = br#"[{"finding_info": {"uid": "a"}, "x": "a"}, {"finding_info": {"uid": "b"}}]"#;
        let dir = std::env::temp_dir().join(format!("bench-fixtures-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("in.json");
        std::fs::write(&path, file).unwrap();
        let seeds = seeds(&path).unwrap();
        let mut out = Vec::new();
        let (records, bytes) = replicate(&seeds, Size::Records(5), &mut out).unwrap();
        assert_eq!((records, bytes), (5, out.len() as u64));
        let values: Vec<Value> = serde_json::from_slice(&out).unwrap();
        let uids: Vec<&str> = values
            .iter()
            .map(|v| v["finding_info"]["uid"].as_str().unwrap())
            .collect();
        assert_eq!(uids, ["a", "b", "a-c1", "b-c1", "a-c2"]);
        assert_eq!(
            values[2]["x"], "a-c1",
            "the string equal to the uid is varied too"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
