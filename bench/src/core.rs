//! The processor core exactly as `process_job` runs it, minus the network: split the
//! array, check each record, and turn each group of 100 into the findings that would be
//! written (delta against no stored state, raw record pointing into the file).

use std::collections::HashMap;
use std::io::BufRead;

use anyhow::{anyhow, Result};
use processor::scan::ArrayScanner;
use processor::transform::{check_record, resolve_batch, Checked};
use shared::ocsf::MAX_RECORD_BYTES;
use shared::store::FindingWrite;

/// Records per group, as in the processor.
pub const BATCH: usize = processor::GROUP;

/// How far down the pipeline to go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Split the array into records.
    Scan,
    /// Instead of checking, parse each record into a `serde_json::Value` (what the full
    /// validation path builds; valid records take the fast path and build none).
    Parse,
    /// Also parse and validate each record.
    Check,
    /// As `Check`, but each record is copied out whole by the splitter before it is
    /// checked: two passes over the bytes instead of one (for comparison).
    CheckApart,
    /// Also build the findings (delta, pointer to the raw record).
    Transform,
}

/// What came out of a run.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    pub records: u64,
    pub valid: u64,
    pub invalid: u64,
    pub findings: u64,
}

/// Runs the core over `reader`, handing each batch of findings to `sink`.
pub fn run(
    reader: impl BufRead,
    stage: Stage,
    mut sink: impl FnMut(&[FindingWrite]),
) -> Result<Tally> {
    let mut scanner = ArrayScanner::new(reader, MAX_RECORD_BYTES);
    if matches!(stage, Stage::Check | Stage::Transform) {
        // As the processor does for a plain upload (as the Prowler CLI sends): valid
        // records are checked as they are split off, their bytes left in the file.
        scanner = scanner.with_quick_check(shared::ocsf::validate_fast_prefix, false);
    }
    let mut tally = Tally::default();
    let mut batch = Vec::with_capacity(BATCH);
    let empty = HashMap::new();
    let now = "2026-01-01T00:00:00.000000Z";
    let mut flush = |batch: &mut Vec<_>, tally: &mut Tally| {
        let resolved = resolve_batch("bench-job", now, "bench-key", std::mem::take(batch), &empty);
        tally.findings += resolved.findings.len() as u64;
        tally.invalid += resolved.duplicates;
        sink(&resolved.findings);
    };
    while let Some(record) = scanner.next_record()? {
        tally.records += 1;
        if stage == Stage::Scan {
            std::hint::black_box(&record);
            continue;
        }
        if stage == Stage::Parse {
            let value: serde_json::Value = serde_json::from_slice(&record.bytes)?;
            std::hint::black_box(&value);
            continue;
        }
        match check_record(record).map_err(|f| anyhow!("{}: {}", f.reason, f.detail))? {
            Checked::Valid(candidate) => {
                tally.valid += 1;
                if matches!(stage, Stage::Check | Stage::CheckApart) {
                    std::hint::black_box(&candidate);
                    continue;
                }
                batch.push(candidate);
                if batch.len() == BATCH {
                    flush(&mut batch, &mut tally);
                }
            }
            Checked::Invalid(errors) => {
                tally.invalid += 1;
                std::hint::black_box(&errors);
            }
        }
    }
    if !batch.is_empty() {
        flush(&mut batch, &mut tally);
    }
    Ok(tally)
}
