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
use shared::message::JobMessage;
use shared::Deps;

pub use delta::delta_for;
pub use process::{fail_exhausted, process_job};

/// Lambda handler: reports the messages that failed so only they are retried.
pub async fn handle(deps: &Deps, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, Error> {
    let mut response = SqsBatchResponse::default();
    for record in event.payload.records {
        let id = record.message_id.clone().unwrap_or_default();
        let body = record.body.as_deref().unwrap_or("");
        let message = match serde_json::from_str::<JobMessage>(body) {
            Ok(message) => message,
            Err(e) => {
                // Not ours (e.g. S3's test event): nothing to retry.
                tracing::warn!(message_id = %id, error = %e, "ignoring unrecognised message");
                continue;
            }
        };
        if let Err(e) = process_job(deps, &message).await {
            let receives: u64 = record
                .attributes
                .get("ApproximateReceiveCount")
                .and_then(|n| n.parse().ok())
                .unwrap_or(1);
            if receives >= deps.config.max_receive_count {
                // Last delivery: the message goes to the dead-letter queue next, so the
                // job must not be left looking alive.
                tracing::error!(message_id = %id, job_id = %message.job_id, error = %e, receives, "retries exhausted");
                if let Err(mark) = fail_exhausted(deps, &message, &e.to_string()).await {
                    tracing::error!(job_id = %message.job_id, error = %mark, "could not mark the job failed");
                }
            } else {
                tracing::error!(message_id = %id, job_id = %message.job_id, error = %e, receives, "processing failed; will retry");
            }
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    Ok(response)
}
