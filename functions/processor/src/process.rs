//! One job from claim to completion, streaming the file: a blocking task decompresses
//! and splits the array into records, the async side validates them and writes findings
//! and errors in batches of 25. Memory holds a few batches, whatever the file size.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::io::{BufRead, BufReader, Read, Write};

use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::Value;
use shared::job::{Counts, Job, JobStatus};
use shared::message::JobMessage;
use shared::ocsf::{validate_record, RecordError, ValidRecord, MAX_RECORD_BYTES};
use shared::store::{FindingWrite, StoreError, StoredRecordError};
use shared::Deps;
use tokio::sync::mpsc;
use tokio_util::io::SyncIoBridge;

use crate::scan::{ArrayScanner, RawRecord, ScanError};

/// Records written per batch (one BatchWriteItem).
const CHUNK: usize = 25;
/// Progress is published after this many records.
const PROGRESS_EVERY: u64 = 1_000;
/// Batches read ahead of the writer.
const READ_AHEAD: usize = 4;
const READ_BUFFER: usize = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A record that passed validation, waiting for its batch to be written.
struct Pending {
    record: ValidRecord,
    raw: Vec<u8>,
}

/// Why a whole file could not be processed.
#[derive(Debug)]
struct FileFailure {
    reason: &'static str,
    detail: String,
}

/// Counters and per-file state while a job runs.
#[derive(Default)]
struct Progress {
    processed: u64,
    invalid: u64,
    /// Hashes of the finding uids seen so far: 8 bytes each, to keep memory small on
    /// files with millions of records.
    seen: HashSet<u64>,
    batch: Vec<Pending>,
    errors: Vec<StoredRecordError>,
}

pub async fn process_job(deps: &Deps, message: &JobMessage) -> Result<(), ProcessError> {
    let now = shared::time::now();
    let Some(job) = deps
        .stores
        .jobs
        .claim(&message.tenant_id, &message.job_id, now)
        .await?
    else {
        tracing::info!(job_id = %message.job_id, "job already finished or unknown; acknowledging");
        return Ok(());
    };
    let body = deps.stores.objects.open(&message.object_key).await?;
    let limit = deps.config.max_decompressed_bytes;
    let (tx, mut rx) = mpsc::channel(READ_AHEAD);
    let reader = tokio::task::spawn_blocking(move || read_records(body, limit, tx));

    let stamp = shared::time::format(now);
    let mut progress = Progress::default();
    let mut failure = None;
    while let Some(item) = rx.recv().await {
        match item {
            Ok(records) => {
                if let Err(f) = handle_records(deps, &job, &stamp, records, &mut progress).await? {
                    failure = Some(f);
                    break;
                }
            }
            Err(e) => {
                failure = Some(scan_failure(e));
                break;
            }
        }
    }
    drop(rx);
    let _ = reader.await;
    if let Some(failure) = failure {
        return fail_file(deps, &job, failure).await;
    }
    flush(deps, &job, &stamp, &mut progress).await?;

    let Progress {
        processed, invalid, ..
    } = progress;
    let (status, reason) = if processed > 0 && invalid == processed {
        (JobStatus::Failed, Some("no_valid_records"))
    } else {
        (JobStatus::Completed, None)
    };
    let counts = Counts {
        total: processed,
        processed,
        invalid,
    };
    deps.stores
        .jobs
        .finish(&job, status, counts, reason, shared::time::now())
        .await?;
    tracing::info!(job_id = %job.id, total = processed, invalid, status = status.as_str(), "job finished");
    Ok(())
}

/// The blocking side: decompress if needed, split the array, send batches.
fn read_records(
    body: Box<dyn tokio::io::AsyncRead + Send + Unpin>,
    limit: u64,
    tx: mpsc::Sender<Result<Vec<RawRecord>, ScanError>>,
) {
    let mut raw = BufReader::with_capacity(READ_BUFFER, SyncIoBridge::new(body));
    let gzip = match raw.fill_buf() {
        Ok(head) => head.starts_with(&[0x1f, 0x8b]),
        Err(e) => {
            let _ = tx.blocking_send(Err(ScanError::Read(e.to_string())));
            return;
        }
    };
    let source: Box<dyn BufRead> = if gzip {
        let inflated = Limited {
            inner: MultiGzDecoder::new(raw),
            remaining: limit,
        };
        Box::new(BufReader::with_capacity(READ_BUFFER, inflated))
    } else {
        Box::new(raw)
    };
    let mut scanner = ArrayScanner::new(source, MAX_RECORD_BYTES);
    let mut chunk = Vec::with_capacity(CHUNK);
    loop {
        match scanner.next_record() {
            Ok(Some(record)) => {
                chunk.push(record);
                if chunk.len() == CHUNK
                    && tx
                        .blocking_send(Ok(std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK))))
                        .is_err()
                {
                    return;
                }
            }
            Ok(None) => {
                if !chunk.is_empty() {
                    let _ = tx.blocking_send(Ok(chunk));
                }
                return;
            }
            Err(e) => {
                if !chunk.is_empty() && tx.blocking_send(Ok(chunk)).is_err() {
                    return;
                }
                let _ = tx.blocking_send(Err(e));
                return;
            }
        }
    }
}

/// Stops decompression past the configured limit (gzip-bomb guard).
struct Limited<R> {
    inner: R,
    remaining: u64,
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.remaining {
            return Err(std::io::Error::other(DECOMPRESSED_LIMIT_MARK));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

const DECOMPRESSED_LIMIT_MARK: &str = "the file decompresses past the configured limit";

fn scan_failure(e: ScanError) -> FileFailure {
    let reason = match &e {
        ScanError::NotAnArray { .. } => "not_an_array",
        ScanError::Malformed { .. } => "malformed_json",
        ScanError::Read(message) if message.contains(DECOMPRESSED_LIMIT_MARK) => "file_too_large",
        ScanError::Read(_) => "unreadable_file",
    };
    FileFailure {
        reason,
        detail: e.to_string(),
    }
}

async fn handle_records(
    deps: &Deps,
    job: &Job,
    stamp: &str,
    records: Vec<RawRecord>,
    progress: &mut Progress,
) -> Result<Result<(), FileFailure>, ProcessError> {
    for record in records {
        let index = record.index;
        let outcome = match check(&record) {
            Ok(outcome) => outcome,
            Err(failure) => return Ok(Err(failure)),
        };
        let outcome = outcome.and_then(|valid| {
            let mut hasher = DefaultHasher::new();
            valid.uid.hash(&mut hasher);
            if progress.seen.insert(hasher.finish()) {
                Ok(valid)
            } else {
                Err(vec![duplicate(&valid.uid)])
            }
        });
        match outcome {
            Ok(valid) => progress.batch.push(Pending {
                record: valid,
                raw: record.bytes,
            }),
            Err(record_errors) => {
                progress.invalid += 1;
                let uid = finding_uid_of(&record.bytes);
                progress
                    .errors
                    .extend(record_errors.into_iter().enumerate().map(|(n, e)| {
                        StoredRecordError {
                            record_index: Some(index),
                            ordinal: n as u32,
                            finding_uid: uid.clone(),
                            pointer: e.pointer,
                            code: e.code.to_string(),
                            detail: e.detail,
                        }
                    }));
            }
        }
        progress.processed += 1;
        if progress.batch.len() == CHUNK {
            let batch = std::mem::take(&mut progress.batch);
            write_findings(deps, job, batch, stamp).await?;
        }
        if progress.errors.len() >= CHUNK {
            let errors = std::mem::take(&mut progress.errors);
            deps.stores
                .jobs
                .put_errors(&job.tenant_id, &job.id, &errors)
                .await?;
        }
        if progress.processed % PROGRESS_EVERY == 0 {
            deps.stores
                .jobs
                .record_progress(job, job.total, progress.processed, progress.invalid)
                .await?;
        }
    }
    Ok(Ok(()))
}

async fn flush(
    deps: &Deps,
    job: &Job,
    stamp: &str,
    progress: &mut Progress,
) -> Result<(), ProcessError> {
    write_findings(deps, job, std::mem::take(&mut progress.batch), stamp).await?;
    deps.stores
        .jobs
        .put_errors(
            &job.tenant_id,
            &job.id,
            &std::mem::take(&mut progress.errors),
        )
        .await?;
    Ok(())
}

/// Validates one record. The outer error is a file-level failure (malformed JSON).
#[allow(clippy::type_complexity)]
fn check(record: &RawRecord) -> Result<Result<ValidRecord, Vec<RecordError>>, FileFailure> {
    if let Some(size) = record.oversized {
        return Ok(Err(vec![RecordError {
            code: "record_too_large",
            pointer: String::new(),
            detail: format!("the record is {size} bytes; at most {MAX_RECORD_BYTES} are accepted"),
        }]));
    }
    match serde_json::from_slice::<Value>(&record.bytes) {
        Ok(value) => Ok(validate_record(record.bytes.len(), &value)),
        Err(e) if e.to_string().starts_with("recursion limit exceeded") => {
            Ok(Err(vec![RecordError {
                code: "invalid_value",
                pointer: String::new(),
                detail: "the record is nested too deeply (more than 128 levels)".into(),
            }]))
        }
        Err(e) => {
            let offset = record.offset + offset_in(&record.bytes, e.line(), e.column());
            let message = e.to_string();
            let message = message
                .rfind(" at line ")
                .map_or(message.as_str(), |cut| &message[..cut]);
            Err(FileFailure {
                reason: "malformed_json",
                detail: format!(
                    "the file is not valid JSON: {message} in record {} at byte offset {offset}",
                    record.index
                ),
            })
        }
    }
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

fn duplicate(uid: &str) -> RecordError {
    RecordError {
        code: "duplicate_finding_uid",
        pointer: "/finding_info/uid".into(),
        detail: format!("finding_info.uid {uid:?} appears earlier in this file"),
    }
}

fn finding_uid_of(bytes: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(bytes).ok()?;
    value
        .get("finding_info")?
        .get("uid")?
        .as_str()
        .map(str::to_string)
}

async fn write_findings(
    deps: &Deps,
    job: &Job,
    batch: Vec<Pending>,
    now: &str,
) -> Result<(), ProcessError> {
    if batch.is_empty() {
        return Ok(());
    }
    let uids: Vec<&str> = batch.iter().map(|p| p.record.uid.as_str()).collect();
    let states = deps.stores.findings.states(&job.tenant_id, &uids).await?;
    let writes = batch
        .iter()
        .map(|p| {
            let r = &p.record;
            let (delta, first_seen) = crate::delta_for(
                states.get(&r.uid),
                &job.id,
                r.status_code.as_deref(),
                r.severity,
                now,
            );
            FindingWrite {
                uid: r.uid.clone(),
                severity: r.severity.to_string(),
                status_code: r.status_code.clone(),
                provider: r.provider.clone(),
                account_uid: r.account_uid.clone(),
                region: r.region.clone(),
                check_id: r.check_id.clone(),
                first_seen_at: first_seen.to_string(),
                last_seen_at: now.to_string(),
                ingestion_id: job.id.clone(),
                delta,
                raw_gzip: gzip(&p.raw),
            }
        })
        .collect();
    deps.stores.findings.put(&job.tenant_id, writes).await?;
    Ok(())
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(data.len() / 4), Compression::fast());
    // Writing into a Vec cannot fail.
    let _ = encoder.write_all(data);
    encoder.finish().unwrap_or_default()
}

/// Marks a job failed after its message was delivered the maximum number of times.
pub async fn fail_exhausted(
    deps: &Deps,
    message: &JobMessage,
    last_error: &str,
) -> Result<(), ProcessError> {
    let now = shared::time::now();
    let Some(job) = deps
        .stores
        .jobs
        .claim(&message.tenant_id, &message.job_id, now)
        .await?
    else {
        return Ok(());
    };
    let failure = FileFailure {
        reason: "retries_exhausted",
        detail: format!(
            "processing failed {} times; the last error was: {last_error}",
            deps.config.max_receive_count
        ),
    };
    fail_file(deps, &job, failure).await
}

async fn fail_file(deps: &Deps, job: &Job, failure: FileFailure) -> Result<(), ProcessError> {
    let error = StoredRecordError {
        record_index: None,
        ordinal: 0,
        finding_uid: None,
        pointer: String::new(),
        code: failure.reason.to_string(),
        detail: failure.detail,
    };
    deps.stores
        .jobs
        .put_errors(&job.tenant_id, &job.id, &[error])
        .await?;
    deps.stores
        .jobs
        .finish(
            job,
            JobStatus::Failed,
            Counts {
                total: job.total.unwrap_or(0),
                processed: job.processed,
                invalid: job.invalid,
            },
            Some(failure.reason),
            shared::time::now(),
        )
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> RawRecord {
        RawRecord {
            index: 3,
            offset: 100,
            bytes: text.as_bytes().to_vec(),
            oversized: None,
        }
    }

    #[test]
    fn malformed_records_fail_the_file_with_an_offset() {
        let failure = check(&raw("{\n  \"a\": tru }")).unwrap_err();
        assert_eq!(failure.reason, "malformed_json");
        assert!(
            failure.detail.contains("in record 3 at byte offset 112"),
            "{}",
            failure.detail
        );
    }

    #[test]
    fn deep_and_oversized_records_are_invalid_not_fatal() {
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let errors = check(&raw(&deep)).unwrap().unwrap_err();
        assert_eq!(errors[0].code, "invalid_value");
        let mut big = raw("");
        big.oversized = Some(300_000);
        let errors = check(&big).unwrap().unwrap_err();
        assert_eq!(errors[0].code, "record_too_large");
        let errors = check(&raw("42")).unwrap().unwrap_err();
        assert_eq!(errors[0].code, "not_an_object");
    }
}
