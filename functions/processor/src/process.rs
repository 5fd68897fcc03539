//! One job from claim to completion, streaming the file: a blocking task decompresses
//! and splits the array into records, the async side validates them and writes findings
//! and errors in groups of 100 (BatchWriteItems of 25). Memory holds a few groups (and,
//! for a gzip upload, the compressed records of one span of at most 8 MiB), whatever the
//! file size.

use std::io::{BufRead, BufReader, Read};
use std::time::Instant;

use flate2::read::MultiGzDecoder;
use shared::job::{Counts, Job, JobStatus};
use shared::message::JobMessage;
use shared::ocsf::MAX_RECORD_BYTES;
use shared::store::{Checkpoint, ClaimOutcome, FindingWrite, Run, StoreError, StoredRecordError};
use shared::Deps;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::io::SyncIoBridge;

use crate::scan::{ArrayScanner, RawRecord, ScanError};
use crate::transform::{
    check_record, include_written, resolve_batch, Candidate, Checked, FileFailure,
};

/// Records per message from the reading side.
const CHUNK: usize = 25;
/// Valid records looked up and written together: one BatchGetItem (its maximum of 100
/// keys) and BatchWriteItems of 25.
pub const GROUP: usize = 100;
/// A gzip upload's records are kept in one S3 object per span of this many groups, or
/// fewer when their plain bytes reach [`SPAN_BYTES`] (which bounds the memory a span
/// holds).
const SPAN_GROUPS: usize = 10;
const SPAN_BYTES: u64 = 8 * 1024 * 1024;
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
    /// Whether the file is gzip-compressed (its records are then copied out to S3).
    gzip: bool,
    processed: u64,
    invalid: u64,
    batch: Vec<Candidate>,
    errors: Vec<StoredRecordError>,
    /// The previous group's findings write, still in flight while the next group is
    /// validated and looked up.
    in_flight: Option<InFlight>,
    /// For a gzip upload: the records and findings of the groups whose raw object is not
    /// written yet.
    span: Option<Span>,
}

/// The groups of a gzip upload whose records go to one raw object. Their findings point
/// into it, so they are written only once it is stored; until then, later groups see
/// them (for duplicates) through `written`.
struct Span {
    key: String,
    /// The records, compressed as they come (away while a group is being compressed).
    encoder: Option<flate2::write::GzEncoder<Vec<u8>>>,
    /// Plain bytes so far: the next record's offset.
    plain_len: u64,
    groups: usize,
    findings: Vec<FindingWrite>,
    written: Vec<(String, u64)>,
}

impl Span {
    fn new(key: String) -> Self {
        Self {
            key,
            encoder: Some(new_encoder()),
            plain_len: 0,
            groups: 0,
            findings: Vec::new(),
            written: Vec::new(),
        }
    }

    fn is_full(&self) -> bool {
        self.groups >= SPAN_GROUPS || self.plain_len >= SPAN_BYTES
    }
}

/// gzip at the fastest level, which already makes pretty-printed Prowler output about
/// fifteen times smaller (fewer bytes to send to S3 and to keep there).
fn new_encoder() -> flate2::write::GzEncoder<Vec<u8>> {
    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast())
}

fn compression_failed(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("records compression: {e}"))
}

/// A group's findings being written, and their (uid, record index).
struct InFlight {
    write: JoinHandle<Result<(), StoreError>>,
    written: Vec<(String, u64)>,
}

impl InFlight {
    /// Waits for the write; what it wrote.
    async fn finish(self) -> Result<Vec<(String, u64)>, ProcessError> {
        self.write
            .await
            .map_err(|e| StoreError::Corrupt(format!("findings write task: {e}")))??;
        Ok(self.written)
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd {
    /// The job reached completed or failed.
    Finished,
    /// The run stopped at its deadline, saved a checkpoint and queued a continuation.
    Continued,
    /// Nothing to do: the job is finished, unknown, or another run holds its lease
    /// (that run's own message comes back if it dies).
    Skipped,
}

/// Processes a job from its checkpoint (or its start) until it is finished or `stop_at`
/// passes; at least one batch is processed per run, so every run makes progress.
pub async fn process_job(
    deps: &Deps,
    message: &JobMessage,
    stop_at: Option<Instant>,
) -> Result<RunEnd, ProcessError> {
    let now = shared::time::now();
    let lease_ms = deps.config.lease_seconds.saturating_mul(1000);
    let run = match deps
        .stores
        .jobs
        .claim_run(&message.tenant_id, &message.job_id, now, lease_ms)
        .await?
    {
        ClaimOutcome::Claimed(run) => *run,
        ClaimOutcome::Busy => {
            tracing::info!(job_id = %message.job_id, "another run holds the job; acknowledging");
            return Ok(RunEnd::Skipped);
        }
        ClaimOutcome::Finished => {
            tracing::info!(job_id = %message.job_id, "job already finished or unknown; acknowledging");
            return Ok(RunEnd::Skipped);
        }
    };
    let result = run_claimed(deps, message, stop_at, &run, now).await;
    if result.is_err() {
        // Let the next delivery of this message take the job at once.
        if let Err(e) = deps.stores.jobs.release_run(&run).await {
            tracing::error!(job_id = %run.job.id, error = %e, "could not release the job");
        }
    }
    result
}

async fn run_claimed(
    deps: &Deps,
    message: &JobMessage,
    stop_at: Option<Instant>,
    run: &Run,
    now: time::OffsetDateTime,
) -> Result<RunEnd, ProcessError> {
    let job = &run.job;
    let resume = run.resume.unwrap_or_default();
    let from = if resume.gzip { 0 } else { resume.offset };
    let body = deps.stores.objects.open(&message.object_key, from).await?;
    let limit = deps.config.max_decompressed_bytes;
    let (tx, mut rx) = mpsc::channel(READ_AHEAD);
    let start = run.resume;
    let reader = tokio::task::spawn_blocking(move || read_records(body, limit, start, tx));

    let stamp = shared::time::format(now);
    let mut progress = Progress {
        processed: resume.processed,
        invalid: resume.invalid,
        ..Progress::default()
    };
    let mut failure = None;
    let mut checkpoint = None;
    while let Some(item) = rx.recv().await {
        match item {
            Ok(chunk) => {
                let gzip = chunk.gzip;
                progress.gzip = gzip;
                let last = chunk.records.last().map(|r| (r.index, r.end));
                if let Err(f) =
                    handle_records(deps, job, &stamp, chunk.records, &mut progress).await?
                {
                    failure = Some(f);
                    break;
                }
                if stop_at.is_some_and(|at| Instant::now() >= at) {
                    if let Some((index, end)) = last {
                        checkpoint = Some(Checkpoint {
                            index: index + 1,
                            offset: end,
                            gzip,
                            processed: 0,
                            invalid: 0,
                        });
                    }
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
        // What was already sent is written before the job is failed.
        close_span(deps, job, &mut progress).await?;
        settle(&mut progress).await?;
        fail_file(deps, job, failure).await?;
        return Ok(RunEnd::Finished);
    }
    flush(deps, job, &stamp, &mut progress).await?;

    if let Some(mut checkpoint) = checkpoint {
        checkpoint.processed = progress.processed;
        checkpoint.invalid = progress.invalid;
        if deps.stores.jobs.save_checkpoint(run, checkpoint).await? {
            deps.stores.queue.send(message).await?;
            tracing::info!(job_id = %job.id, next_record = checkpoint.index, "deadline near: continuing in a new run");
        }
        return Ok(RunEnd::Continued);
    }

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
        .finish(job, status, counts, reason, shared::time::now())
        .await?;
    tracing::info!(job_id = %job.id, total = processed, invalid, status = status.as_str(), "job finished");
    Ok(RunEnd::Finished)
}

/// Records read by the blocking side, and whether the file is gzip-compressed.
struct Chunk {
    records: Vec<RawRecord>,
    gzip: bool,
}

/// The blocking side: decompress if needed, split the array (from the checkpoint, if
/// any), send batches.
fn read_records(
    body: Box<dyn tokio::io::AsyncRead + Send + Unpin>,
    limit: u64,
    resume: Option<Checkpoint>,
    tx: mpsc::Sender<Result<Chunk, ScanError>>,
) {
    let mut raw = BufReader::with_capacity(READ_BUFFER, SyncIoBridge::new(body));
    let gzip = match resume {
        Some(checkpoint) => checkpoint.gzip,
        None => match raw.fill_buf() {
            Ok(head) => head.starts_with(&[0x1f, 0x8b]),
            Err(e) => {
                let _ = tx.blocking_send(Err(ScanError::Read(e.to_string())));
                return;
            }
        },
    };
    let mut source: Box<dyn BufRead> = if gzip {
        let inflated = Limited {
            inner: MultiGzDecoder::new(raw),
            remaining: limit,
        };
        Box::new(BufReader::with_capacity(READ_BUFFER, inflated))
    } else {
        Box::new(raw)
    };
    let scanner = match resume {
        None => ArrayScanner::new(source, MAX_RECORD_BYTES),
        Some(checkpoint) => {
            if gzip {
                // A compressed stream cannot be entered mid-way: inflate up to the checkpoint.
                let skipped = std::io::copy(
                    &mut (&mut source).take(checkpoint.offset),
                    &mut std::io::sink(),
                );
                if let Err(e) = skipped {
                    let _ = tx.blocking_send(Err(ScanError::Read(e.to_string())));
                    return;
                }
            }
            ArrayScanner::resume(
                source,
                MAX_RECORD_BYTES,
                checkpoint.index,
                checkpoint.offset,
            )
        }
    };
    // Valid records are checked as they are split off, in this thread. Their bytes are
    // needed only to be stored again, for a gzip upload.
    let mut scanner = scanner.with_quick_check(shared::ocsf::validate_fast_prefix, gzip);
    let chunk = |records| Chunk { records, gzip };
    let mut records = Vec::with_capacity(CHUNK);
    loop {
        match scanner.next_record() {
            Ok(Some(record)) => {
                records.push(record);
                if records.len() == CHUNK {
                    let full = std::mem::replace(&mut records, Vec::with_capacity(CHUNK));
                    if tx.blocking_send(Ok(chunk(full))).is_err() {
                        return;
                    }
                }
            }
            Ok(None) => {
                if !records.is_empty() {
                    let _ = tx.blocking_send(Ok(chunk(records)));
                }
                return;
            }
            Err(e) => {
                if !records.is_empty() && tx.blocking_send(Ok(chunk(records))).is_err() {
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
        if progress.batch.len() == GROUP {
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

/// Looks up the group's stored findings (while the previous group's write finishes),
/// then starts writing its findings and records duplicate errors. The write runs while
/// the next group is validated and looked up; it is awaited before that group is
/// resolved, and by [`flush`].
///
/// For a gzip upload (whose offsets are in the inflated stream, which a ranged GET cannot
/// reach) the group's records are added to the current [`Span`] instead, and its findings
/// are written once the span's object is.
async fn write_batch(
    deps: &Deps,
    job: &Job,
    stamp: &str,
    progress: &mut Progress,
) -> Result<(), ProcessError> {
    let mut batch = std::mem::take(&mut progress.batch);
    let Some(first) = batch.first() else {
        return Ok(());
    };
    let (raw_key, compressing) = if progress.gzip {
        let span = progress.span.get_or_insert_with(|| {
            Span::new(shared::message::raw_batch_key(
                &job.tenant_id,
                &job.id,
                first.index,
            ))
        });
        let mut body = Vec::with_capacity(batch.iter().map(|c| c.raw.len() + 1).sum());
        for c in &mut batch {
            c.raw_offset = span.plain_len + body.len() as u64;
            body.extend_from_slice(&c.raw);
            body.push(b'\n');
        }
        span.plain_len += body.len() as u64;
        span.groups += 1;
        let mut encoder = span
            .encoder
            .take()
            .ok_or_else(|| compression_failed("no encoder"))?;
        let compressing = tokio::task::spawn_blocking(move || {
            use std::io::Write;
            encoder.write_all(&body).map(|()| encoder)
        });
        (span.key.clone(), Some(compressing))
    } else {
        (job.object_key.clone(), None)
    };
    // A group waits for the previous group's write; a gzip upload's group does not wait
    // for the previous span's (it only needs to know what that span wrote), which then
    // runs while this span fills, until the span after it is stored.
    let previous = if progress.gzip {
        None
    } else {
        progress.in_flight.take()
    };
    let (stored, written_before) = {
        let uids: Vec<&str> = batch.iter().map(|c| c.record.uid.as_str()).collect();
        let previous = async {
            match previous {
                Some(write) => write.finish().await,
                None => Ok(Vec::new()),
            }
        };
        tokio::join!(deps.stores.findings.states(&job.tenant_id, &uids), previous)
    };
    let (mut stored, written_before) = (stored?, written_before?);
    include_written(&mut stored, &job.id, written_before);
    if let Some(write) = &progress.in_flight {
        include_written(&mut stored, &job.id, write.written.clone());
    }
    if let Some(span) = &progress.span {
        include_written(&mut stored, &job.id, span.written.clone());
    }
    let resolved = resolve_batch(&job.id, stamp, &raw_key, batch, &stored);
    progress.invalid += resolved.duplicates;
    progress.errors.extend(resolved.errors);
    let written: Vec<(String, u64)> = resolved
        .findings
        .iter()
        .map(|f| (f.uid.clone(), f.record_index))
        .collect();
    match (compressing, progress.span.as_mut()) {
        (Some(compressing), Some(span)) => {
            span.encoder = Some(
                compressing
                    .await
                    .map_err(compression_failed)?
                    .map_err(compression_failed)?,
            );
            span.findings.extend(resolved.findings);
            span.written.extend(written);
            if span.is_full() {
                close_span(deps, job, progress).await?;
            }
        }
        _ => {
            let findings = deps.stores.findings.clone();
            let tenant_id = job.tenant_id.clone();
            let write =
                tokio::spawn(async move { findings.put(&tenant_id, resolved.findings).await });
            progress.in_flight = Some(InFlight { write, written });
        }
    }
    Ok(())
}

/// Stores the current span's raw object, then starts writing the findings that point
/// into it (awaited like a group's write). Nothing to do without a span.
async fn close_span(deps: &Deps, job: &Job, progress: &mut Progress) -> Result<(), ProcessError> {
    let Some(span) = progress.span.take() else {
        return Ok(());
    };
    settle(progress).await?;
    let Span {
        key,
        encoder,
        findings,
        written,
        ..
    } = span;
    let encoder = encoder.ok_or_else(|| compression_failed("no encoder"))?;
    let compressed = tokio::task::spawn_blocking(move || encoder.finish())
        .await
        .map_err(compression_failed)?
        .map_err(compression_failed)?;
    deps.stores
        .objects
        .put(&key, compressed.into(), None)
        .await?;
    let store = deps.stores.findings.clone();
    let tenant_id = job.tenant_id.clone();
    // A group at a time, as for a plain upload: four requests in flight, not forty.
    let write = tokio::spawn(async move {
        let mut findings = findings;
        while !findings.is_empty() {
            let rest = findings.split_off(findings.len().min(GROUP));
            store
                .put(&tenant_id, std::mem::replace(&mut findings, rest))
                .await?;
        }
        Ok(())
    });
    progress.in_flight = Some(InFlight { write, written });
    Ok(())
}

/// Waits for the findings write still in flight, if any.
async fn settle(progress: &mut Progress) -> Result<(), ProcessError> {
    match progress.in_flight.take() {
        Some(write) => write.finish().await.map(drop),
        None => Ok(()),
    }
}

async fn flush(
    deps: &Deps,
    job: &Job,
    stamp: &str,
    progress: &mut Progress,
) -> Result<(), ProcessError> {
    write_batch(deps, job, stamp, progress).await?;
    close_span(deps, job, progress).await?;
    settle(progress).await?;
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
