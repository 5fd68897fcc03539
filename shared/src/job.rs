//! The ingestion job: its states, counters and the only transitions allowed.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

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
        }
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
    }
}
