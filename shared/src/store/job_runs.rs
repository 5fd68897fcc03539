//! A processor's hold on a job: a lease so that two processors never work on the same
//! job at once while a crashed one is taken over once its lease runs out, and the
//! checkpoint a run leaves when it stops early so the next run resumes where it stopped.
//!
//! Attributes on the job item: `lease_owner`, `lease_until` (epoch ms), and
//! `checkpoint_index`, `checkpoint_offset`, `checkpoint_gzip` with the counters of the
//! records before the checkpoint in `processed` / `invalid`.

use aws_sdk_dynamodb::types::ReturnValue;
use time::OffsetDateTime;

use super::item::{get_s, n, opt_n, s, ts, Item};
use super::jobs::{from_item, job_pk, job_sk};
use super::{condition_failed, JobsStore, StoreError};
use crate::job::{Job, JobStatus};

/// Where a run stopped: the next record's index and the byte offset (in the
/// decompressed file) just after the last record read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Checkpoint {
    pub index: u64,
    pub offset: u64,
    pub gzip: bool,
    pub processed: u64,
    pub invalid: u64,
}

/// A claimed job.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub job: Job,
    pub owner: String,
    pub resume: Option<Checkpoint>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ClaimOutcome {
    Claimed(Box<Run>),
    /// Another run holds an unexpired lease: try again later.
    Busy,
    /// Missing, or already completed or failed: nothing to do.
    Finished,
}

impl JobsStore {
    /// Takes a pending job, or a processing one whose lease has run out.
    pub async fn claim_run(
        &self,
        tenant_id: &str,
        job_id: &str,
        now: OffsetDateTime,
        lease_ms: u64,
    ) -> Result<ClaimOutcome, StoreError> {
        let now_ms = epoch_ms(now);
        let owner = uuid::Uuid::now_v7().to_string();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(job_pk(tenant_id)))
            .key("sk", s(job_sk(job_id)))
            .update_expression(
                "SET #status = :processing, started_at = if_not_exists(started_at, :now), \
                 lease_owner = :owner, lease_until = :until",
            )
            .condition_expression(
                "#status = :pending OR (#status = :processing AND \
                 (attribute_not_exists(lease_until) OR lease_until < :now_ms))",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":processing", s(JobStatus::Processing.as_str()))
            .expression_attribute_values(":pending", s(JobStatus::Pending.as_str()))
            .expression_attribute_values(":now", ts(now))
            .expression_attribute_values(":now_ms", n(now_ms))
            .expression_attribute_values(":until", n(now_ms.saturating_add(lease_ms)))
            .expression_attribute_values(":owner", s(&owner))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(output) => {
                let item = output.attributes.unwrap_or_default();
                Ok(ClaimOutcome::Claimed(Box::new(Run {
                    job: from_item(&item)?,
                    owner,
                    resume: checkpoint_of(&item)?,
                })))
            }
            Err(err) if condition_failed(&err) => match self.get(tenant_id, job_id).await? {
                Some(job) if job.status == JobStatus::Processing => Ok(ClaimOutcome::Busy),
                _ => Ok(ClaimOutcome::Finished),
            },
            Err(err) => Err(StoreError::aws("UpdateItem claim run", err)),
        }
    }

    /// Saves where the run stopped and gives up the lease, so the continuation (or any
    /// later delivery) resumes there at once. False if the run no longer owns the job.
    pub async fn save_checkpoint(
        &self,
        run: &Run,
        checkpoint: Checkpoint,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(job_pk(&run.job.tenant_id)))
            .key("sk", s(job_sk(&run.job.id)))
            .update_expression(
                "SET checkpoint_index = :index, checkpoint_offset = :offset, \
                 checkpoint_gzip = :gzip, #processed = :processed, #invalid = :invalid \
                 REMOVE lease_until, lease_owner",
            )
            .condition_expression("#status = :processing AND lease_owner = :owner")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#processed", "processed")
            .expression_attribute_names("#invalid", "invalid")
            .expression_attribute_values(":processing", s(JobStatus::Processing.as_str()))
            .expression_attribute_values(":owner", s(&run.owner))
            .expression_attribute_values(":index", n(checkpoint.index))
            .expression_attribute_values(":offset", n(checkpoint.offset))
            .expression_attribute_values(":gzip", s(if checkpoint.gzip { "1" } else { "0" }))
            .expression_attribute_values(":processed", n(checkpoint.processed))
            .expression_attribute_values(":invalid", n(checkpoint.invalid))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if condition_failed(&err) => Ok(false),
            Err(err) => Err(StoreError::aws("UpdateItem save checkpoint", err)),
        }
    }
}

impl JobsStore {
    /// Gives up a run's lease without a checkpoint (the run failed; its message comes
    /// back and the next delivery starts over from the last checkpoint).
    pub async fn release_run(&self, run: &Run) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(job_pk(&run.job.tenant_id)))
            .key("sk", s(job_sk(&run.job.id)))
            .update_expression("REMOVE lease_until, lease_owner")
            .condition_expression("lease_owner = :owner")
            .expression_attribute_values(":owner", s(&run.owner))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if condition_failed(&err) => Ok(()),
            Err(err) => Err(StoreError::aws("UpdateItem release run", err)),
        }
    }
}

fn checkpoint_of(item: &Item) -> Result<Option<Checkpoint>, StoreError> {
    let Some(index) = opt_n(item, "checkpoint_index")? else {
        return Ok(None);
    };
    Ok(Some(Checkpoint {
        index,
        offset: opt_n(item, "checkpoint_offset")?.unwrap_or(0),
        gzip: get_s(item, "checkpoint_gzip").is_ok_and(|g| g == "1"),
        processed: opt_n(item, "processed")?.unwrap_or(0),
        invalid: opt_n(item, "invalid")?.unwrap_or(0),
    }))
}

fn epoch_ms(t: OffsetDateTime) -> u64 {
    u64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}
