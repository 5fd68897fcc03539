//! The ingestion job: its states, counters and the only transitions allowed.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

/// `failure_reason` of a presigned job whose file never arrived.
pub const UPLOAD_EXPIRED: &str = "upload_expired";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Pending,
    Processing,
    Completed,
    Failed,
}

impl JobStatus {
    pub const ALL: [JobStatus; 4] = [
        JobStatus::Pending,
        JobStatus::Processing,
        JobStatus::Completed,
        JobStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Processing => "processing",
            JobStatus::Completed => "completed",
            JobStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }

    pub fn is_final(self) -> bool {
        matches!(self, JobStatus::Completed | JobStatus::Failed)
    }
}

/// A job's counters at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    pub total: u64,
    pub processed: u64,
    pub invalid: u64,
}

/// One ingestion job as stored and as shown.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: String,
    pub tenant_id: String,
    pub status: JobStatus,
    /// Records in the file; `None` until counted (presigned uploads).
    pub total: Option<u64>,
    pub processed: u64,
    pub invalid: u64,
    pub requested_at: OffsetDateTime,
    pub started_at: Option<OffsetDateTime>,
    pub completed_at: Option<OffsetDateTime>,
    pub file_name: Option<String>,
    pub file_size: Option<u64>,
    pub object_key: String,
    pub failure_reason: Option<String>,
    /// When the presigned upload URL stops working; `None` for direct uploads.
    pub upload_expires_at: Option<OffsetDateTime>,
}

impl Job {
    /// A new pending job with a time-ordered (UUIDv7) id.
    pub fn new_pending(
        tenant_id: &str,
        total: Option<u64>,
        file_name: Option<String>,
        file_size: Option<u64>,
    ) -> Self {
        let id = uuid::Uuid::now_v7().to_string();
        let object_key = Self::object_key_for(tenant_id, &id);
        Self {
            id,
            tenant_id: tenant_id.to_string(),
            status: JobStatus::Pending,
            total,
            processed: 0,
            invalid: 0,
            requested_at: crate::time::now(),
            started_at: None,
            completed_at: None,
            file_name,
            file_size,
            object_key,
            failure_reason: None,
            upload_expires_at: None,
        }
    }

    /// A new pending job whose file the client will PUT to a presigned URL valid until
    /// `upload_expires_at`. Its records are counted by the processor.
    pub fn new_presigned(
        tenant_id: &str,
        file_name: Option<String>,
        file_size: u64,
        requested_at: OffsetDateTime,
        upload_expires_at: OffsetDateTime,
    ) -> Self {
        let mut job = Self::new_pending(tenant_id, None, file_name, Some(file_size));
        job.object_key = crate::message::presigned_object_key(tenant_id, &job.id);
        job.requested_at = requested_at;
        job.upload_expires_at = Some(upload_expires_at);
        job
    }

    /// The moment a presigned job stops waiting for its file: the URL's expiry plus
    /// `grace` for a PUT still in flight. `None` for direct uploads.
    pub fn upload_deadline(&self, grace: Duration) -> Option<OffsetDateTime> {
        self.upload_expires_at.map(|at| at + grace)
    }

    /// Whether the job is still waiting for a presigned upload past its deadline.
    pub fn upload_overdue(&self, now: OffsetDateTime, grace: Duration) -> bool {
        self.status == JobStatus::Pending
            && self
                .upload_deadline(grace)
                .is_some_and(|deadline| now > deadline)
    }

    /// The job as it is once its upload is declared expired: failed, completed at the
    /// deadline (so every reader shows the same time, whenever it noticed).
    pub fn expire_upload(&mut self, grace: Duration) {
        self.status = JobStatus::Failed;
        self.failure_reason = Some(UPLOAD_EXPIRED.to_string());
        self.completed_at = self.upload_deadline(grace).or(self.completed_at);
    }
}

impl Job {
    /// Where a job's file lives in the bucket.
    pub fn object_key_for(tenant_id: &str, job_id: &str) -> String {
        format!("ingestions/{tenant_id}/{job_id}.json")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_and_only_two_are_final() {
        for status in JobStatus::ALL {
            assert_eq!(JobStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(JobStatus::parse("done"), None);
        let finals: Vec<_> = JobStatus::ALL
            .into_iter()
            .filter(|s| s.is_final())
            .collect();
        assert_eq!(finals, [JobStatus::Completed, JobStatus::Failed]);
    }

    #[test]
    fn new_jobs_are_pending_with_time_ordered_ids() {
        let a = Job::new_pending("t1", Some(3), None, None);
        let b = Job::new_pending("t1", Some(3), None, None);
        assert_eq!(a.status, JobStatus::Pending);
        assert!(a.id < b.id, "UUIDv7 ids sort by creation time");
        assert_eq!(a.object_key, format!("ingestions/t1/{}.json", a.id));
        assert_eq!(a.upload_expires_at, None);
    }

    #[test]
    fn presigned_jobs_expire_only_when_pending_past_the_deadline() {
        let requested = crate::time::now();
        let expires = requested + Duration::hours(1);
        let grace = Duration::minutes(15);
        let mut job = Job::new_presigned("t1", Some("big.json.gz".into()), 42, requested, expires);
        assert_eq!(job.object_key, format!("uploads/t1/{}.json", job.id));
        assert_eq!(job.total, None);
        assert_eq!(job.file_size, Some(42));
        assert_eq!(job.upload_deadline(grace), Some(expires + grace));
        assert!(!job.upload_overdue(expires, grace));
        assert!(!job.upload_overdue(expires + grace, grace));
        assert!(job.upload_overdue(expires + grace + Duration::microseconds(1), grace));
        let mut started = job.clone();
        started.status = JobStatus::Processing;
        assert!(!started.upload_overdue(expires + Duration::days(1), grace));
        let direct = Job::new_pending("t1", Some(1), None, None);
        assert!(!direct.upload_overdue(expires + Duration::days(1), grace));

        job.expire_upload(grace);
        assert_eq!(job.status, JobStatus::Failed);
        assert_eq!(job.failure_reason.as_deref(), Some(UPLOAD_EXPIRED));
        assert_eq!(job.completed_at, Some(expires + grace));
        assert!(!job.upload_overdue(expires + Duration::days(1), grace));
    }
}
