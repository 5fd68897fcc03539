//! Records in, findings and errors out: validation, duplicate detection, delta and the
//! stored form of a finding. Plain Rust, no I/O; `process` feeds it and writes results.
//!
//! Duplicates of `finding_info.uid` within a file are found without remembering every uid:
//! within a batch by comparison, across batches through the stored finding, which records
//! the ingestion and record index that last wrote it. A finding written by this job at an
//! earlier index means the current record is a duplicate; the same index means this is a
//! re-run of the same record (a redelivered message), which is not.

use serde_json::Value;
use shared::ocsf::{validate_record, RecordError, ValidRecord, MAX_RECORD_BYTES};
use shared::store::{FindingWrite, RawRef, StoredFindingState, StoredRecordError};
use std::collections::{HashMap, HashSet};

use crate::delta_for;
use crate::scan::RawRecord;

/// Why a whole file could not be processed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileFailure {
    pub reason: &'static str,
    pub detail: String,
}

/// A record that passed the record rules, waiting for its batch.
#[derive(Debug)]
pub struct Candidate {
    pub index: u64,
    pub record: ValidRecord,
    /// The record's bytes (empty if they were not kept: see
    /// [`crate::scan::ArrayScanner::with_quick_check`]), their size, and their offset in
    /// the object its finding will point to (the upload's offset until the processor
    /// stores them elsewhere).
    pub raw: Vec<u8>,
    pub raw_len: u64,
    pub raw_offset: u64,
}

/// What became of one record.
#[derive(Debug)]
pub enum Checked {
    Valid(Candidate),
    Invalid(Vec<StoredRecordError>),
}

/// Applies the record rules. `Err` is a file-level failure (the JSON itself is broken).
pub fn check_record(record: RawRecord) -> Result<Checked, FileFailure> {
    let index = record.index;
    if let Some(size) = record.oversized {
        return Ok(Checked::Invalid(stored_errors(
            index,
            None,
            vec![RecordError {
                code: "record_too_large",
                pointer: String::new(),
                detail: format!(
                    "the record is {size} bytes; at most {MAX_RECORD_BYTES} are accepted"
                ),
            }],
        )));
    }
    // Most records are valid: the fast path confirms that without building a `Value`
    // (often as the scanner split them off). Whatever it declines goes the full way below,
    // which alone reports errors.
    let quick = record
        .valid
        .or_else(|| shared::ocsf::validate_fast(&record.bytes));
    if let Some(valid) = quick {
        return Ok(Checked::Valid(Candidate {
            index,
            record: valid,
            raw: record.bytes,
            raw_len: record.len,
            raw_offset: record.offset,
        }));
    }
    let value = match serde_json::from_slice::<Value>(&record.bytes) {
        Ok(value) => value,
        Err(e) if e.to_string().starts_with("recursion limit exceeded") => {
            return Ok(Checked::Invalid(stored_errors(
                index,
                None,
                vec![RecordError {
                    code: "invalid_value",
                    pointer: String::new(),
                    detail: "the record is nested too deeply (more than 128 levels)".into(),
                }],
            )))
        }
        Err(e) => {
            let offset = record.offset + offset_in(&record.bytes, e.line(), e.column());
            let message = e.to_string();
            let message = message
                .rfind(" at line ")
                .map_or(message.as_str(), |cut| &message[..cut]);
            return Err(FileFailure {
                reason: "malformed_json",
                detail: format!(
                    "the file is not valid JSON: {message} in record {index} at byte offset {offset}"
                ),
            });
        }
    };
    Ok(match validate_record(record.bytes.len(), &value) {
        Ok(valid) => Checked::Valid(Candidate {
            index,
            record: valid,
            raw: record.bytes,
            raw_len: record.len,
            raw_offset: record.offset,
        }),
        Err(errors) => {
            let uid = value
                .get("finding_info")
                .and_then(|info| info.get("uid"))
                .and_then(Value::as_str)
                .map(str::to_string);
            Checked::Invalid(stored_errors(index, uid, errors))
        }
    })
}

/// The outcome of a batch of candidates once the stored state of their uids is known.
#[derive(Debug, Default)]
pub struct Resolved {
    pub findings: Vec<FindingWrite>,
    /// Errors of records found to be duplicates, and how many records they are.
    pub errors: Vec<StoredRecordError>,
    pub duplicates: u64,
}

/// Turns candidates into findings (with delta) or duplicate errors.
pub fn resolve_batch(
    job_id: &str,
    now: &str,
    raw_key: &str,
    candidates: Vec<Candidate>,
    stored: &HashMap<String, StoredFindingState>,
) -> Resolved {
    let mut out = Resolved::default();
    let mut in_batch = HashSet::new();
    for c in candidates {
        let state = stored.get(&c.record.uid);
        let written_earlier = state.is_some_and(|s| {
            s.ingestion_id.as_deref() == Some(job_id) && s.record_index.is_some_and(|i| i < c.index)
        });
        if written_earlier || !in_batch.insert(c.record.uid.clone()) {
            out.duplicates += 1;
            out.errors.extend(stored_errors(
                c.index,
                Some(c.record.uid.clone()),
                vec![RecordError {
                    code: "duplicate_finding_uid",
                    pointer: "/finding_info/uid".into(),
                    detail: format!(
                        "finding_info.uid {:?} appears earlier in this file",
                        c.record.uid
                    ),
                }],
            ));
            continue;
        }
        out.findings.push(finding(job_id, now, raw_key, c, state));
    }
    out
}

/// Adds what this job wrote in its previous group to the stored states of the next one.
/// The next group's lookup may run before that write lands, so a uid written there counts
/// as this job's, at its earlier index, whatever the lookup saw: a duplicate.
pub fn include_written(
    stored: &mut HashMap<String, StoredFindingState>,
    job_id: &str,
    written: Vec<(String, u64)>,
) {
    for (uid, index) in written {
        stored.insert(
            uid,
            StoredFindingState {
                first_seen_at: String::new(),
                status_code: None,
                severity: None,
                ingestion_id: Some(job_id.to_string()),
                delta: None,
                record_index: Some(index),
            },
        );
    }
}

/// The stored form of a valid record.
pub fn finding(
    job_id: &str,
    now: &str,
    raw_key: &str,
    c: Candidate,
    stored: Option<&StoredFindingState>,
) -> FindingWrite {
    let r = c.record;
    let (delta, first_seen) = delta_for(stored, job_id, r.status_code.as_deref(), r.severity, now);
    FindingWrite {
        first_seen_at: first_seen.to_string(),
        last_seen_at: now.to_string(),
        ingestion_id: job_id.to_string(),
        record_index: c.index,
        delta,
        raw: RawRef {
            key: raw_key.to_string(),
            offset: c.raw_offset,
            len: c.raw_len,
        },
        severity: r.severity.to_string(),
        uid: r.uid,
        status_code: r.status_code,
        provider: r.provider,
        account_uid: r.account_uid,
        region: r.region,
        check_id: r.check_id,
    }
}

fn stored_errors(
    index: u64,
    uid: Option<String>,
    errors: Vec<RecordError>,
) -> Vec<StoredRecordError> {
    errors
        .into_iter()
        .enumerate()
        .map(|(n, e)| StoredRecordError {
            record_index: Some(index),
            ordinal: n as u32,
            finding_uid: uid.clone(),
            pointer: e.pointer,
            code: e.code.to_string(),
            detail: e.detail,
        })
        .collect()
}

/// A byte offset within `bytes` from serde_json's 1-based line and column.
fn offset_in(bytes: &[u8], line: usize, column: usize) -> u64 {
    let line_start: usize = bytes
        .split_inclusive(|b| *b == b'\n')
        .take(line.saturating_sub(1))
        .map(<[u8]>::len)
        .sum();
    (line_start + column.saturating_sub(1)).min(bytes.len()) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(index: u64, text: &str) -> RawRecord {
        RawRecord {
            index,
            offset: 100,
            bytes: text.as_bytes().to_vec(),
            len: text.len() as u64,
            oversized: None,
            end: 100 + text.len() as u64,
            valid: None,
        }
    }

    fn valid(index: u64, uid: &str) -> Candidate {
        let text = format!(
            r#"{{"class_uid":2004,"category_uid":2,"activity_id":1,"type_uid":200401,"severity_id":3,"time":1,
               "metadata":{{"product":{{}},"version":"1.4.0"}},"finding_info":{{"uid":"{uid}","title":"t"}},"status_code":"FAIL"}}"#
        );
        match check_record(raw(index, &text)).unwrap() {
            Checked::Valid(c) => c,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_finding_points_at_its_record_in_the_upload() {
        let c = valid(4, "u");
        let len = c.raw_len;
        let finding = finding("job", "now", "uploads/t/job.json", c, None);
        assert_eq!(
            finding.raw,
            RawRef {
                key: "uploads/t/job.json".into(),
                offset: 100,
                len
            }
        );
        assert_eq!((finding.record_index, finding.delta), (4, "new"));
    }

    #[test]
    fn malformed_records_fail_the_file_with_an_offset() {
        let failure = check_record(raw(3, "{\n  \"a\": tru }")).unwrap_err();
        assert_eq!(failure.reason, "malformed_json");
        assert!(
            failure.detail.contains("in record 3 at byte offset 112"),
            "{}",
            failure.detail
        );
    }

    #[test]
    fn deep_oversized_and_non_object_records_are_invalid_not_fatal() {
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let codes = |checked: Checked| match checked {
            Checked::Invalid(errors) => errors[0].code.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(codes(check_record(raw(0, &deep)).unwrap()), "invalid_value");
        let mut big = raw(0, "");
        big.oversized = Some(300_000);
        assert_eq!(codes(check_record(big).unwrap()), "record_too_large");
        assert_eq!(codes(check_record(raw(0, "42")).unwrap()), "not_an_object");
    }

    #[test]
    fn invalid_records_carry_their_uid_when_they_have_one() {
        match check_record(raw(7, r#"{"finding_info": {"uid": "u-1"}}"#)).unwrap() {
            Checked::Invalid(errors) => {
                assert!(errors.len() > 1, "every broken rule is reported");
                assert!(errors
                    .iter()
                    .all(|e| e.finding_uid.as_deref() == Some("u-1")));
                assert!(errors.iter().all(|e| e.record_index == Some(7)));
                let ordinals: Vec<u32> = errors.iter().map(|e| e.ordinal).collect();
                assert_eq!(ordinals, (0..errors.len() as u32).collect::<Vec<_>>());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn duplicates_are_found_in_the_batch_and_against_earlier_batches() {
        let now = "2026-01-01T00:00:00.000000Z";
        let out = resolve_batch(
            "job",
            now,
            "k",
            vec![valid(0, "a"), valid(1, "b"), valid(2, "a")],
            &HashMap::new(),
        );
        assert_eq!(out.findings.len(), 2);
        assert_eq!(out.duplicates, 1);
        assert_eq!(out.errors[0].record_index, Some(2));
        assert_eq!(out.errors[0].code, "duplicate_finding_uid");

        let state = |job: &str, index| StoredFindingState {
            first_seen_at: now.into(),
            status_code: Some("FAIL".into()),
            severity: Some("Medium".into()),
            ingestion_id: Some(job.into()),
            delta: Some("new".into()),
            record_index: Some(index),
        };
        // Written by this job at an earlier index: a duplicate.
        let stored = HashMap::from([("a".to_string(), state("job", 0))]);
        let out = resolve_batch("job", now, "k", vec![valid(30, "a")], &stored);
        assert_eq!(out.duplicates, 1);
        // Written by this job at this very index: a re-run, not a duplicate.
        let stored = HashMap::from([("a".to_string(), state("job", 30))]);
        let out = resolve_batch("job", now, "k", vec![valid(30, "a")], &stored);
        assert_eq!((out.duplicates, out.findings[0].delta), (0, "new"));
        // Written by another job: an update.
        let stored = HashMap::from([("a".to_string(), state("older", 0))]);
        let out = resolve_batch("job", now, "k", vec![valid(30, "a")], &stored);
        assert_eq!((out.duplicates, out.findings[0].delta), (0, "unchanged"));
        assert_eq!(out.findings[0].record_index, 30);
    }

    #[test]
    fn a_uid_the_previous_group_wrote_is_a_duplicate_whatever_the_lookup_saw() {
        let now = "2026-01-01T00:00:00.000000Z";
        // The lookup still saw the state of an older ingestion.
        let mut stored = HashMap::from([(
            "a".to_string(),
            StoredFindingState {
                first_seen_at: now.into(),
                status_code: Some("FAIL".into()),
                severity: Some("Medium".into()),
                ingestion_id: Some("older".into()),
                delta: Some("new".into()),
                record_index: Some(0),
            },
        )]);
        include_written(&mut stored, "job", vec![("a".into(), 3), ("b".into(), 4)]);
        let out = resolve_batch(
            "job",
            now,
            "k",
            vec![valid(105, "a"), valid(106, "c")],
            &stored,
        );
        assert_eq!(out.duplicates, 1);
        assert_eq!(out.errors[0].record_index, Some(105));
        assert_eq!(out.findings.len(), 1);
        assert_eq!(
            (out.findings[0].uid.as_str(), out.findings[0].delta),
            ("c", "new")
        );
    }
}
