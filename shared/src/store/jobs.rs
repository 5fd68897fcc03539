//! Jobs and their per-record errors. Status moves only forward: every transition is a
//! conditional write on the current status.
//!
//! A presigned job also gets an "awaited upload" item (`TENANT#<t>#UPLOADS`,
//! `<upload_expires_at>#<job id>`), so that the jobs whose upload may have expired are
//! found with one Query over a small partition, in expiry order, instead of reading every
//! job of the tenant.

use aws_sdk_dynamodb::types::ReturnValue;
use aws_sdk_dynamodb::Client;
use time::OffsetDateTime;

use super::item::{get_s, get_ts, n, opt_n, opt_s, opt_ts, put_opt, query_all, s, ts, Item};
use super::{batch, condition_failed, StoreError};
use crate::job::{Counts, Job, JobStatus};

#[derive(Clone, Debug)]
pub struct JobsStore {
    pub(super) client: Client,
    pub(super) table: String,
}

/// One per-record (or file-level) error, keyed deterministically so that a retry
/// overwrites instead of duplicating.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecordError {
    pub record_index: Option<u64>,
    /// Position of this error among the errors of its record.
    pub ordinal: u32,
    pub finding_uid: Option<String>,
    pub pointer: String,
    pub code: String,
    pub detail: String,
}

pub(super) fn job_pk(tenant_id: &str) -> String {
    format!("TENANT#{tenant_id}")
}

pub(super) fn job_sk(job_id: &str) -> String {
    format!("JOB#{job_id}")
}

pub(super) fn errors_pk(tenant_id: &str, job_id: &str) -> String {
    format!("TENANT#{tenant_id}#JOB#{job_id}")
}

fn awaited_pk(tenant_id: &str) -> String {
    format!("TENANT#{tenant_id}#UPLOADS")
}

/// A presigned job whose upload URL expired before some moment: maybe still waiting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwaitedUpload {
    pub job_id: String,
    /// The awaited-upload item's sort key, to forget it once the job is settled.
    pub marker: String,
}

impl JobsStore {
    pub fn new(client: Client, table: &str) -> Self {
        Self {
            client,
            table: table.to_string(),
        }
    }

    /// Stores a new job. Returns false, writing nothing, if the id already exists.
    pub async fn create(&self, job: &Job) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(job)))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if condition_failed(&err) => Ok(false),
            Err(err) => Err(StoreError::aws("PutItem job", err)),
        }
    }

    /// Stores a new presigned job and its awaited-upload item (first, so that no
    /// presigned job exists without one; an item without a job is dropped by the next
    /// [`Self::overdue_uploads`] reader). Returns false if the job id already exists.
    pub async fn create_presigned(&self, job: &Job) -> Result<bool, StoreError> {
        let expires_at = job
            .upload_expires_at
            .ok_or_else(|| StoreError::Corrupt("a presigned job needs upload_expires_at".into()))?;
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(awaited_pk(&job.tenant_id)))
            .item(
                "sk",
                s(format!("{}#{}", crate::time::format(expires_at), job.id)),
            )
            .item("job_id", s(&job.id))
            .send()
            .await
            .map_err(|e| StoreError::aws("PutItem awaited upload", e))?;
        self.create(job).await
    }

    /// The tenant's presigned jobs whose URL expired before `expired_before`, oldest
    /// first, as long as their awaited-upload item was not forgotten.
    pub async fn overdue_uploads(
        &self,
        tenant_id: &str,
        expired_before: OffsetDateTime,
    ) -> Result<Vec<AwaitedUpload>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk < :before")
            .expression_attribute_values(":pk", s(awaited_pk(tenant_id)))
            .expression_attribute_values(":before", s(crate::time::format(expired_before)))
            .consistent_read(true);
        query_all(query, "Query awaited uploads")
            .await?
            .iter()
            .map(|item| {
                Ok(AwaitedUpload {
                    job_id: get_s(item, "job_id")?,
                    marker: get_s(item, "sk")?,
                })
            })
            .collect()
    }

    /// Drops an awaited-upload item once its job no longer waits.
    pub async fn forget_awaited_upload(
        &self,
        tenant_id: &str,
        upload: &AwaitedUpload,
    ) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(awaited_pk(tenant_id)))
            .key("sk", s(&upload.marker))
            .send()
            .await
            .map_err(|e| StoreError::aws("DeleteItem awaited upload", e))?;
        Ok(())
    }

    /// Moves a presigned job that is still pending to failed (`upload_expired`). Returns
    /// false if it was no longer pending (its file arrived and processing began).
    pub async fn expire_upload(&self, job: &Job) -> Result<bool, StoreError> {
        let completed_at = job
            .completed_at
            .ok_or_else(|| StoreError::Corrupt("an expired job needs completed_at".into()))?;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(job_pk(&job.tenant_id)))
            .key("sk", s(job_sk(&job.id)))
            .update_expression(
                "SET #status = :failed, failure_reason = :reason, completed_at = :at",
            )
            .condition_expression("#status = :pending AND attribute_exists(upload_expires_at)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":failed", s(JobStatus::Failed.as_str()))
            .expression_attribute_values(":pending", s(JobStatus::Pending.as_str()))
            .expression_attribute_values(":reason", s(crate::job::UPLOAD_EXPIRED))
            .expression_attribute_values(":at", ts(completed_at))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if condition_failed(&err) => Ok(false),
            Err(err) => Err(StoreError::aws("UpdateItem expire upload", err)),
        }
    }

    /// Removes a job that never got queued, if it is still pending.
    pub async fn delete_pending(&self, tenant_id: &str, job_id: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(job_pk(tenant_id)))
            .key("sk", s(job_sk(job_id)))
            .condition_expression("#status = :pending")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":pending", s(JobStatus::Pending.as_str()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if condition_failed(&err) => Ok(()),
            Err(err) => Err(StoreError::aws("DeleteItem job", err)),
        }
    }

    pub async fn get(&self, tenant_id: &str, job_id: &str) -> Result<Option<Job>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(job_pk(tenant_id)))
            .key("sk", s(job_sk(job_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::aws("GetItem job", e))?;
        output.item.as_ref().map(from_item).transpose()
    }

    /// Moves a pending (or already processing) job to processing. `None` when the job
    /// is missing or already finished, so the caller acknowledges the message.
    pub async fn claim(
        &self,
        tenant_id: &str,
        job_id: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Job>, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(job_pk(tenant_id)))
            .key("sk", s(job_sk(job_id)))
            .update_expression(
                "SET #status = :processing, started_at = if_not_exists(started_at, :now)",
            )
            .condition_expression("#status IN (:pending, :processing)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":processing", s(JobStatus::Processing.as_str()))
            .expression_attribute_values(":pending", s(JobStatus::Pending.as_str()))
            .expression_attribute_values(":now", ts(now))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(output) => output.attributes.as_ref().map(from_item).transpose(),
            Err(err) if condition_failed(&err) => Ok(None),
            Err(err) => Err(StoreError::aws("UpdateItem claim job", err)),
        }
    }

    /// Publishes progress counters while the job is processing.
    pub async fn record_progress(
        &self,
        job: &Job,
        total: Option<u64>,
        processed: u64,
        invalid: u64,
    ) -> Result<(), StoreError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(job_pk(&job.tenant_id)))
            .key("sk", s(job_sk(&job.id)))
            .condition_expression("#status = :processing")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":processing", s(JobStatus::Processing.as_str()))
            .expression_attribute_names("#processed", "processed")
            .expression_attribute_names("#invalid", "invalid")
            .expression_attribute_values(":processed", n(processed))
            .expression_attribute_values(":invalid", n(invalid));
        update = match total {
            Some(total) => update
                .update_expression(
                    "SET #processed = :processed, #invalid = :invalid, #total = :total",
                )
                .expression_attribute_names("#total", "total")
                .expression_attribute_values(":total", n(total)),
            None => update.update_expression("SET #processed = :processed, #invalid = :invalid"),
        };
        match update.send().await {
            Ok(_) => Ok(()),
            Err(err) if condition_failed(&err) => Ok(()),
            Err(err) => Err(StoreError::aws("UpdateItem job progress", err)),
        }
    }

    /// Moves a processing job to its final status with its final counters. Returns
    /// false if the job was no longer processing (another run finished it).
    pub async fn finish(
        &self,
        job: &Job,
        status: JobStatus,
        counts: Counts,
        failure_reason: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(job_pk(&job.tenant_id)))
            .key("sk", s(job_sk(&job.id)))
            .condition_expression("#status = :processing")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#total", "total")
            .expression_attribute_values(":processing", s(JobStatus::Processing.as_str()))
            .expression_attribute_values(":status", s(status.as_str()))
            .expression_attribute_values(":total", n(counts.total))
            .expression_attribute_names("#processed", "processed")
            .expression_attribute_names("#invalid", "invalid")
            .expression_attribute_values(":processed", n(counts.processed))
            .expression_attribute_values(":invalid", n(counts.invalid))
            .expression_attribute_values(":now", ts(now));
        let set = "SET #status = :status, #total = :total, #processed = :processed, #invalid = :invalid, completed_at = :now";
        update = match failure_reason {
            Some(reason) => update
                .update_expression(format!("{set}, failure_reason = :reason"))
                .expression_attribute_values(":reason", s(reason)),
            None => update.update_expression(set),
        };
        match update.send().await {
            Ok(_) => Ok(true),
            Err(err) if condition_failed(&err) => Ok(false),
            Err(err) => Err(StoreError::aws("UpdateItem finish job", err)),
        }
    }

    /// Stores errors under their job.
    pub async fn put_errors(
        &self,
        tenant_id: &str,
        job_id: &str,
        errors: &[StoredRecordError],
    ) -> Result<(), StoreError> {
        let pk = errors_pk(tenant_id, job_id);
        let items = errors
            .iter()
            .map(|e| {
                let index = e
                    .record_index
                    .map_or_else(|| "FILE".to_string(), |i| format!("{i:012}"));
                let mut item = Item::from([
                    ("pk".to_string(), s(&pk)),
                    ("sk".to_string(), s(format!("ERR#{index}#{:04}", e.ordinal))),
                    ("pointer".to_string(), s(&e.pointer)),
                    ("code".to_string(), s(&e.code)),
                    ("detail".to_string(), s(&e.detail)),
                ]);
                put_opt(&mut item, "record_index", e.record_index.map(n));
                put_opt(&mut item, "finding_uid", e.finding_uid.as_deref().map(s));
                item
            })
            .collect();
        batch::put_all(&self.client, &self.table, items).await
    }
}

pub(super) fn to_item(job: &Job) -> Item {
    let mut item = Item::from([
        ("pk".to_string(), s(job_pk(&job.tenant_id))),
        ("sk".to_string(), s(job_sk(&job.id))),
        ("id".to_string(), s(&job.id)),
        ("tenant_id".to_string(), s(&job.tenant_id)),
        ("status".to_string(), s(job.status.as_str())),
        ("processed".to_string(), n(job.processed)),
        ("invalid".to_string(), n(job.invalid)),
        ("requested_at".to_string(), ts(job.requested_at)),
        ("object_key".to_string(), s(&job.object_key)),
    ]);
    put_opt(&mut item, "total", job.total.map(n));
    put_opt(&mut item, "started_at", job.started_at.map(ts));
    put_opt(&mut item, "completed_at", job.completed_at.map(ts));
    put_opt(&mut item, "file_name", job.file_name.as_deref().map(s));
    put_opt(&mut item, "file_size", job.file_size.map(n));
    put_opt(
        &mut item,
        "failure_reason",
        job.failure_reason.as_deref().map(s),
    );
    put_opt(
        &mut item,
        "upload_expires_at",
        job.upload_expires_at.map(ts),
    );
    item
}

pub(super) fn from_item(item: &Item) -> Result<Job, StoreError> {
    let status = get_s(item, "status")?;
    Ok(Job {
        id: get_s(item, "id")?,
        tenant_id: get_s(item, "tenant_id")?,
        status: JobStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown job status {status:?}")))?,
        total: opt_n(item, "total")?,
        processed: opt_n(item, "processed")?.unwrap_or(0),
        invalid: opt_n(item, "invalid")?.unwrap_or(0),
        requested_at: get_ts(item, "requested_at")?,
        started_at: opt_ts(item, "started_at")?,
        completed_at: opt_ts(item, "completed_at")?,
        file_name: opt_s(item, "file_name"),
        file_size: opt_n(item, "file_size")?,
        object_key: get_s(item, "object_key")?,
        failure_reason: opt_s(item, "failure_reason"),
        upload_expires_at: opt_ts(item, "upload_expires_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_items_round_trip() {
        let mut job = Job::new_pending("t1", Some(5), Some("scan.ocsf.json".into()), Some(99));
        job.started_at = Some(crate::time::now());
        job.failure_reason = Some("upload_expired".into());
        assert_eq!(from_item(&to_item(&job)).unwrap(), job);
        let pending = Job::new_pending("t1", None, None, None);
        assert_eq!(from_item(&to_item(&pending)).unwrap(), pending);
        let now = crate::time::now();
        let presigned = Job::new_presigned("t1", None, 7, now, now + time::Duration::hours(1));
        let item = to_item(&presigned);
        assert!(item.contains_key("upload_expires_at"));
        assert_eq!(from_item(&item).unwrap(), presigned);
    }
}
