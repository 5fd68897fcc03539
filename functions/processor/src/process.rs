//! One job from claim to completion.

use std::collections::HashSet;
use std::io::{Read, Write};

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::value::RawValue;
use serde_json::Value;
use shared::job::{Counts, Job, JobStatus};
use shared::message::JobMessage;
use shared::ocsf::{validate_record, RecordError, ValidRecord};
use shared::store::{FindingWrite, StoreError, StoredRecordError};
use shared::Deps;

/// Records written per batch (one BatchWriteItem).
const CHUNK: usize = 25;
/// Progress is published after this many records.
const PROGRESS_EVERY: u64 = 1_000;

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A record that passed validation, waiting for its batch to be written.
struct Pending<'a> {
    record: ValidRecord,
    raw: &'a str,
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
    let object = deps.stores.objects.get(&message.object_key).await?;
    let object = match gunzip_if_needed(object, deps.config.max_decompressed_bytes) {
        Ok(object) => object,
        Err(detail) => {
            let failure = FileFailure {
                reason: "corrupt_gzip",
                detail,
            };
            return fail_file(deps, &job, failure).await;
        }
    };
    let text = match decode(&object) {
        Ok(text) => text,
        Err(failure) => return fail_file(deps, &job, failure).await,
    };
    let records: Vec<&RawValue> = match serde_json::from_str(text) {
        Ok(records) => records,
        Err(e) => {
            let failure = FileFailure {
                reason: "malformed_json",
                detail: shared::ocsf::check_structure(text.as_bytes())
                    .err()
                    .map(|e| e.to_string())
                    .unwrap_or_else(|| e.to_string()),
            };
            return fail_file(deps, &job, failure).await;
        }
    };

    let total = records.len() as u64;
    let stamp = shared::time::format(now);
    let mut seen = HashSet::new();
    let mut invalid = 0u64;
    let mut processed = 0u64;
    let mut batch: Vec<Pending> = Vec::with_capacity(CHUNK);
    let mut errors: Vec<StoredRecordError> = Vec::new();
    for (index, raw) in records.iter().enumerate() {
        let text = raw.get();
        let checked = serde_json::from_str::<Value>(text)
            .map_err(|e| vec![unparsable(e)])
            .and_then(|value| validate_record(text.len(), &value));
        let result = checked.and_then(|record| {
            if seen.insert(record.uid.clone()) {
                Ok(record)
            } else {
                Err(vec![duplicate(&record.uid)])
            }
        });
        match result {
            Ok(record) => batch.push(Pending { record, raw: text }),
            Err(record_errors) => {
                invalid += 1;
                let uid = finding_uid_of(text);
                errors.extend(record_errors.into_iter().enumerate().map(|(n, e)| {
                    StoredRecordError {
                        record_index: Some(index as u64),
                        ordinal: n as u32,
                        finding_uid: uid.clone(),
                        pointer: e.pointer,
                        code: e.code.to_string(),
                        detail: e.detail,
                    }
                }));
            }
        }
        processed += 1;
        if batch.len() == CHUNK {
            write_findings(deps, &job, std::mem::take(&mut batch), &stamp).await?;
        }
        if errors.len() >= CHUNK {
            deps.stores
                .jobs
                .put_errors(&job.tenant_id, &job.id, &std::mem::take(&mut errors))
                .await?;
        }
        if processed % PROGRESS_EVERY == 0 {
            deps.stores
                .jobs
                .record_progress(&job, Some(total), processed, invalid)
                .await?;
        }
    }
    write_findings(deps, &job, batch, &stamp).await?;
    deps.stores
        .jobs
        .put_errors(&job.tenant_id, &job.id, &errors)
        .await?;

    let (status, reason) = if total > 0 && invalid == total {
        (JobStatus::Failed, Some("no_valid_records"))
    } else {
        (JobStatus::Completed, None)
    };
    deps.stores
        .jobs
        .finish(
            &job,
            status,
            Counts {
                total,
                processed,
                invalid,
            },
            reason,
            shared::time::now(),
        )
        .await?;
    tracing::info!(job_id = %job.id, total, invalid, status = status.as_str(), "job finished");
    Ok(())
}

fn unparsable(e: serde_json::Error) -> RecordError {
    RecordError {
        code: "invalid_type",
        pointer: String::new(),
        detail: format!("the record could not be read: {e}"),
    }
}

fn duplicate(uid: &str) -> RecordError {
    RecordError {
        code: "duplicate_finding_uid",
        pointer: "/finding_info/uid".into(),
        detail: format!("finding_info.uid {uid:?} appears earlier in this file"),
    }
}

fn finding_uid_of(text: &str) -> Option<String> {
    let value: Value = serde_json::from_str(text).ok()?;
    value
        .get("finding_info")?
        .get("uid")?
        .as_str()
        .map(str::to_string)
}

async fn write_findings(
    deps: &Deps,
    job: &Job,
    batch: Vec<Pending<'_>>,
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
                raw_gzip: gzip(p.raw.as_bytes()),
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

/// Why a whole file could not be processed.
struct FileFailure {
    reason: &'static str,
    detail: String,
}

fn decode(object: &[u8]) -> Result<&str, FileFailure> {
    let bytes = object.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(object);
    std::str::from_utf8(bytes).map_err(|e| FileFailure {
        reason: "not_utf8",
        detail: format!(
            "the file is not valid UTF-8 (first invalid byte at offset {})",
            e.valid_up_to()
        ),
    })
}

/// Decompresses a gzip object (by magic bytes), bounded by the decompressed limit.
fn gunzip_if_needed(object: bytes::Bytes, limit: u64) -> Result<bytes::Bytes, String> {
    if !object.starts_with(&[0x1f, 0x8b]) {
        return Ok(object);
    }
    let mut out = Vec::new();
    GzDecoder::new(&object[..])
        .take(limit + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("the gzip data is corrupt: {e}"))?;
    if out.len() as u64 > limit {
        return Err(format!("the file decompresses to more than {limit} bytes"));
    }
    Ok(out.into())
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
