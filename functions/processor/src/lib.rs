//! The processor function, fed by the processing queue.
//!
//! For each message it claims the job (pending → processing, a conditional write), reads
//! the file, validates every record, stores valid ones as findings and invalid ones as
//! errors, and moves the job to completed or failed. All writes are keyed
//! deterministically and counters are set, not added, so a redelivered message ends in
//! the same stored state as one clean run.

mod delta;
mod process;
pub mod scan;
pub mod transform;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent};
use shared::message::{jobs_in_message, JobMessage};
use shared::Deps;

pub use delta::delta_for;
pub use process::{fail_exhausted, process_job, RunEnd, GROUP};

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Lambda handler: reports the messages that failed so only they are retried.
pub async fn handle(deps: &Deps, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, Error> {
    let stop_at = stop_at(event.context.deadline, deps.config.max_run_seconds);
    let mut response = SqsBatchResponse::default();
    for record in event.payload.records {
        let id = record.message_id.clone().unwrap_or_default();
        let body = record.body.as_deref().unwrap_or("");
        let jobs = jobs_in_message(body);
        if jobs.is_empty() {
            // Not ours (e.g. S3's test event): nothing to retry.
            tracing::warn!(message_id = %id, "ignoring unrecognised message");
            continue;
        }
        let mut failed = false;
        for message in jobs {
            failed |= !run_one(deps, &message, &record.attributes, &id, stop_at).await;
        }
        if failed {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    Ok(response)
}

/// Time kept back before the Lambda deadline to write what is pending and checkpoint.
const DEADLINE_MARGIN: Duration = Duration::from_secs(60);

/// When runs in this invocation should checkpoint and continue: a margin before the
/// Lambda deadline (epoch milliseconds; 0 when there is none), or after
/// `max_run_seconds`, whichever comes first.
pub fn stop_at(deadline_ms: u64, max_run_seconds: Option<u64>) -> Option<Instant> {
    let now = Instant::now();
    let by_deadline = (deadline_ms > 0).then(|| {
        let deadline = UNIX_EPOCH + Duration::from_millis(deadline_ms);
        let left = deadline
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        now + left.saturating_sub(DEADLINE_MARGIN)
    });
    let by_budget = max_run_seconds.map(|s| now + Duration::from_secs(s));
    match (by_deadline, by_budget) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Processes one job; false if it failed and the message should come back.
async fn run_one(
    deps: &Deps,
    message: &JobMessage,
    attributes: &std::collections::HashMap<String, String>,
    id: &str,
    stop_at: Option<Instant>,
) -> bool {
    let Err(e) = process_job(deps, message, stop_at).await else {
        return true;
    };
    let receives: u64 = attributes
        .get("ApproximateReceiveCount")
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    if receives >= deps.config.max_receive_count {
        // Last delivery: the message goes to the dead-letter queue next, so the job must
        // not be left looking alive.
        tracing::error!(message_id = %id, job_id = %message.job_id, error = %e, receives, "retries exhausted");
        if let Err(mark) = fail_exhausted(deps, message, &e.to_string()).await {
            tracing::error!(job_id = %message.job_id, error = %mark, "could not mark the job failed");
        }
    } else {
        tracing::error!(message_id = %id, job_id = %message.job_id, error = %e, receives, "processing failed; will retry");
    }
    false
}
