//! Adapters to S3, DynamoDB and SQS. Key layout (tenant first in every key):
//!
//! | table    | pk                          | sk                     | item            |
//! |----------|-----------------------------|------------------------|-----------------|
//! | jobs     | `TENANT#<t>`                | `JOB#<uuidv7>`         | a job           |
//! | jobs     | `TENANT#<t>#JOB#<id>`       | `ERR#<index>#<n>`      | a record error  |
//! | jobs     | `TENANT#<t>#IDEM#<sha256>`  | `IDEM`                 | an idempotency key (TTL) |
//! | findings | `TENANT#<t>`                | `FINDING#<uid>`        | a finding       |
//! | keys     | `KEY#<prefix>`              | `KEY`                  | an API key      |
//! | keys     | `TENANT#<t>`                | `TENANT`               | a tenant        |
//! | keys     | `TENANT#<t>`                | `KEY#<prefix>`         | index: the tenant's key |
//!
//! An API key is found by its prefix (authentication: one GetItem on `KEY#<prefix>`,
//! which holds the hash, permissions, expiry, revocation and `last_used_at`). The
//! tenant's index item only names the prefix, so listing a tenant's keys is one Query
//! plus a GetItem per key, and no key state is ever kept twice. Key and index item are
//! written in one TransactWriteItems that also checks the tenant exists (`keys.rs`).

mod batch;
mod counts;
mod finding_queries;
mod findings;
mod idempotency;
mod item;
mod job_queries;
mod job_runs;
mod jobs;
mod keys;
mod objects;
mod queue;

pub use finding_queries::{FindingFilter, FindingSummary, FindingsPage};
pub use findings::{FindingWrite, FindingsStore, RawRef, StoredFindingState};
pub use idempotency::{IdempotencyStore, Reservation, IDEMPOTENCY_TTL_SECONDS};
pub use job_queries::{
    compare_jobs, DayRange, ErrorsPage, JobFilter, JobSort, JobSortField, JobsPage,
    DEFAULT_JOB_SORT, SETTLE_MARGIN,
};
pub use job_runs::{Checkpoint, ClaimOutcome, Run};
pub use jobs::{AwaitedUpload, JobsStore, StoredRecordError};
pub use keys::{KeysStore, PutKeyOutcome, RevokeOutcome, Tenant};
pub use objects::{ObjectStore, PresignedPut, PutPermit};
pub use queue::JobQueue;

use crate::aws::AwsClients;
use crate::config::Config;

/// A failed call to a backing service, with enough context to log.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{operation} failed: {message}")]
    Aws {
        operation: &'static str,
        message: String,
    },
    #[error("stored item is malformed: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// A failed SDK call: the service's error code and message when it answered, the
    /// whole error chain otherwise (timeouts, connection failures).
    pub(crate) fn aws<E>(operation: &'static str, err: E) -> Self
    where
        E: std::error::Error + aws_sdk_dynamodb::error::ProvideErrorMetadata,
    {
        let message = match (err.code(), err.message()) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code.to_string(),
            _ => aws_sdk_dynamodb::error::DisplayErrorContext(&err).to_string(),
        };
        Self::Aws { operation, message }
    }

    /// A request that could not even be built (a missing required field).
    pub(crate) fn build(operation: &'static str, err: impl std::fmt::Display) -> Self {
        Self::Aws {
            operation,
            message: err.to_string(),
        }
    }
}

/// Turns a storage failure into the client's 500, logging which step failed and why
/// (the client never sees internals): `.map_err(store::internal("create job"))`.
pub fn internal(step: &'static str) -> impl Fn(StoreError) -> crate::ApiError {
    move |e| {
        tracing::error!(error = %e, step, "storage call failed");
        crate::ApiError::Internal
    }
}

/// Whether a conditional write was refused by its condition (any DynamoDB operation).
pub(crate) fn condition_failed<E: aws_sdk_dynamodb::error::ProvideErrorMetadata>(err: &E) -> bool {
    err.code() == Some("ConditionalCheckFailedException")
}

/// Every adapter a function may need, configured from one [`Config`].
#[derive(Clone, Debug)]
pub struct Stores {
    pub jobs: JobsStore,
    pub idempotency: IdempotencyStore,
    pub findings: FindingsStore,
    pub keys: KeysStore,
    pub objects: ObjectStore,
    pub queue: JobQueue,
}

impl Stores {
    pub fn new(clients: &AwsClients, config: &Config) -> Self {
        Self {
            jobs: JobsStore::new(clients.dynamodb.clone(), &config.jobs_table),
            idempotency: IdempotencyStore::new(clients.dynamodb.clone(), &config.jobs_table),
            findings: FindingsStore::new(
                clients.dynamodb.clone(),
                &config.findings_table,
                &config.jobs_table,
            ),
            keys: KeysStore::new(clients.dynamodb.clone(), &config.keys_table),
            objects: ObjectStore::new(clients.s3.clone(), &config.bucket),
            queue: JobQueue::new(clients.sqs.clone(), &config.queue_url),
        }
    }
}
