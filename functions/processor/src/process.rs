//! One job from claim to completion, streaming the file: a blocking task decompresses
//! and splits the array into records, the async side validates them and writes findings
//! and errors in batches of 25. Memory holds a few batches, whatever the file size.

use std::io::{BufRead, BufReader, Read};

use flate2::read::MultiGzDecoder;
use shared::job::{Counts, Job, JobStatus};
use shared::message::JobMessage;
use shared::ocsf::MAX_RECORD_BYTES;
use shared::store::{StoreError, StoredRecordError};
use shared::Deps;
use tokio::sync::mpsc;
use tokio_util::io::SyncIoBridge;

use crate::scan::{ArrayScanner, RawRecord, ScanError};
use crate::transform::{check_record, resolve_batch, Candidate, Checked, FileFailure};

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

/// Counters and pending writes while a job runs.
#[derive(Default)]
struct Progress {
    processed: u64,
    invalid: u64,
    batch: Vec<Candidate>,
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
        match check_record(record) {
            Err(failure) => return Ok(Err(failure)),
            Ok(Checked::Valid(candidate)) => progress.batch.push(candidate),
            Ok(Checked::Invalid(errors)) => {
                progress.invalid += 1;
                progress.errors.extend(errors);
            }
        }
        progress.processed += 1;
        if progress.batch.len() == CHUNK {
            write_batch(deps, job, stamp, progress).await?;
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

/// Looks up the batch's stored findings, then writes findings and duplicate errors.
async fn write_batch(
    deps: &Deps,
    job: &Job,
    stamp: &str,
    progress: &mut Progress,
) -> Result<(), ProcessError> {
    let batch = std::mem::take(&mut progress.batch);
    if batch.is_empty() {
        return Ok(());
    }
    let uids: Vec<&str> = batch.iter().map(|c| c.record.uid.as_str()).collect();
    let stored = deps.stores.findings.states(&job.tenant_id, &uids).await?;
    let resolved = resolve_batch(&job.id, stamp, batch, &stored);
    progress.invalid += resolved.duplicates;
    progress.errors.extend(resolved.errors);
    deps.stores
        .findings
        .put(&job.tenant_id, resolved.findings)
        .await?;
    Ok(())
}

async fn flush(
    deps: &Deps,
    job: &Job,
    stamp: &str,
    progress: &mut Progress,
) -> Result<(), ProcessError> {
    write_batch(deps, job, stamp, progress).await?;
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
