//! Reading a tenant's jobs as lists (`GET /api/v1/ingestions`) and a job's errors
//! (`GET /api/v1/ingestions/{id}/errors`), by Query and GetItem only. See
//! docs/read-api.md for the access patterns and their costs.
//!
//! - The default order (newest first) is the key order: job ids are UUIDv7, so `JOB#<id>`
//!   sorts by creation time and a page is one Query that reads only the jobs before it.
//! - `inserted_at` date filters become a sort-key range: the first 48 bits of a UUIDv7
//!   are its creation time in milliseconds.
//! - The unfiltered count comes from a per-tenant checkpoint (`TENANT#<t>#COUNT`, `JOBS`)
//!   holding how many jobs exist up to some job id, plus a Query over the jobs created
//!   after it. Jobs older than [`SETTLE_MARGIN`] are folded into the checkpoint with a
//!   conditional write, so a request reads only the recent jobs.
//! - Any other filter or sort reads the tenant's jobs (or the inserted_at range), then
//!   filters, sorts and counts in memory: jobs are few per tenant (one per upload) and
//!   small, and an exact count needs them all anyway.

use std::cmp::Ordering;

use aws_sdk_dynamodb::Client;
use time::{Date, Duration, OffsetDateTime, Time};

use super::counts::{Checkpoints, Counted};
use super::item::{opt_n, opt_s, query_count, s, Item};
use super::jobs::{errors_pk, from_item, job_pk, JobsStore};
use super::{StoreError, StoredRecordError};
use crate::job::{Job, JobStatus};

/// How old a job must be before the count checkpoint includes it. Jobs are created with
/// an id of the current time and only deleted (a job that could not be queued) within
/// the request that created them, so nothing changes below this margin.
pub const SETTLE_MARGIN: Duration = Duration::minutes(15);

/// UUIDv7 times may differ from `requested_at` by the time between two clock reads; the
/// key range is widened by this much and the exact day is checked on each job.
const KEY_RANGE_SLACK: Duration = Duration::minutes(1);

const JOB_PREFIX: &str = "JOB#";

/// Inclusive range of UTC days; `None` ends are open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DayRange {
    pub from: Option<Date>,
    pub to: Option<Date>,
}

impl DayRange {
    pub fn is_open(&self) -> bool {
        self.from.is_none() && self.to.is_none()
    }

    /// Narrows the range to days at or after `day`.
    pub fn at_least(&mut self, day: Date) {
        self.from = Some(self.from.map_or(day, |d| d.max(day)));
    }

    /// Narrows the range to days at or before `day`.
    pub fn at_most(&mut self, day: Date) {
        self.to = Some(self.to.map_or(day, |d| d.min(day)));
    }

    pub fn contains(&self, t: OffsetDateTime) -> bool {
        let day = t.to_offset(time::UtcOffset::UTC).date();
        self.from.is_none_or(|f| day >= f) && self.to.is_none_or(|to| day <= to)
    }

    /// Whether some time could match (a value must also be present).
    pub fn matches(&self, t: Option<OffsetDateTime>) -> bool {
        if self.is_open() {
            return true;
        }
        t.is_some_and(|t| self.contains(t))
    }
}

/// What a job list is filtered by; every part must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobFilter {
    pub statuses: Option<Vec<JobStatus>>,
    pub inserted_at: DayRange,
    pub completed_at: DayRange,
    /// Lower-case substring of the id, the file name or the status.
    pub search: Option<String>,
}

impl JobFilter {
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }

    pub fn matches(&self, job: &Job) -> bool {
        self.statuses
            .as_ref()
            .is_none_or(|statuses| statuses.contains(&job.status))
            && self.inserted_at.matches(Some(job.requested_at))
            && self.completed_at.matches(job.completed_at)
            && self.search.as_ref().is_none_or(|needle| {
                let needle = needle.to_lowercase();
                job.id.to_lowercase().contains(&needle)
                    || job.status.as_str().contains(&needle)
                    || job
                        .file_name
                        .as_ref()
                        .is_some_and(|f| f.to_lowercase().contains(&needle))
            })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobSortField {
    InsertedAt,
    RequestedAt,
    StartedAt,
    CompletedAt,
}

impl JobSortField {
    pub const NAMES: [&'static str; 4] =
        ["inserted_at", "requested_at", "started_at", "completed_at"];

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "inserted_at" => Some(Self::InsertedAt),
            "requested_at" => Some(Self::RequestedAt),
            "started_at" => Some(Self::StartedAt),
            "completed_at" => Some(Self::CompletedAt),
            _ => None,
        }
    }

    fn value(self, job: &Job) -> Option<OffsetDateTime> {
        match self {
            Self::InsertedAt | Self::RequestedAt => Some(job.requested_at),
            Self::StartedAt => job.started_at,
            Self::CompletedAt => job.completed_at,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobSort {
    pub field: JobSortField,
    pub descending: bool,
}

/// The default order: newest first.
pub const DEFAULT_JOB_SORT: JobSort = JobSort {
    field: JobSortField::InsertedAt,
    descending: true,
};

/// Orders two jobs by `sort`, the way PostgreSQL orders them (a missing time sorts after
/// every time ascending, before every time descending); ties end newest first.
pub fn compare_jobs(a: &Job, b: &Job, sort: &[JobSort]) -> Ordering {
    for key in sort {
        let order = match (key.field.value(a), key.field.value(b)) {
            (Some(x), Some(y)) => x.cmp(&y),
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
        };
        let order = if key.descending {
            order.reverse()
        } else {
            order
        };
        if order != Ordering::Equal {
            return order;
        }
    }
    b.id.cmp(&a.id)
}

/// One page of jobs and how many match in all.
#[derive(Debug, Clone, PartialEq)]
pub struct JobsPage {
    pub jobs: Vec<Job>,
    pub count: u64,
}

/// One page of a job's errors and how many it has in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorsPage {
    pub errors: Vec<StoredRecordError>,
    pub total: u64,
}

/// The smallest `JOB#<uuidv7>` key created at `t` or later.
fn job_key_at(t: OffsetDateTime) -> String {
    let ms = (t.unix_timestamp_nanos() / 1_000_000).max(0) as u64;
    format!("{JOB_PREFIX}{:08x}-{:04x}", ms >> 16, ms & 0xffff)
}

/// Sort-key bounds (inclusive) covering every job created on the days of `range`.
fn job_key_range(range: &DayRange) -> (String, String) {
    let from = range
        .from
        .map(|d| job_key_at(d.with_time(Time::MIDNIGHT).assume_utc() - KEY_RANGE_SLACK))
        .unwrap_or_else(|| JOB_PREFIX.to_string());
    let to = range
        .to
        .and_then(|d| d.next_day())
        .map(|d| job_key_at(d.with_time(Time::MIDNIGHT).assume_utc() + KEY_RANGE_SLACK))
        .unwrap_or_else(|| format!("{JOB_PREFIX}~"));
    (from, to)
}

impl JobsStore {
    /// One page of the tenant's jobs matching `filter`, in `sort` order.
    pub async fn list(
        &self,
        tenant_id: &str,
        filter: &JobFilter,
        sort: &[JobSort],
        offset: u64,
        limit: u64,
    ) -> Result<JobsPage, StoreError> {
        let by_key_order = match sort.first() {
            None => Some(true),
            Some(first) => matches!(
                first.field,
                JobSortField::InsertedAt | JobSortField::RequestedAt
            )
            .then_some(first.descending),
        };
        if let (true, Some(descending)) = (filter.is_empty(), by_key_order) {
            let count = self.count_all(tenant_id).await?;
            let items = query_window(
                &self.client,
                &self.table,
                &job_pk(tenant_id),
                JOB_PREFIX,
                !descending,
                offset,
                limit,
            )
            .await?;
            let jobs = items.iter().map(from_item).collect::<Result<_, _>>()?;
            return Ok(JobsPage { jobs, count });
        }
        let (from, to) = job_key_range(&filter.inserted_at);
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
            .expression_attribute_values(":pk", s(job_pk(tenant_id)))
            .expression_attribute_values(":from", s(&from))
            .expression_attribute_values(":to", s(&to));
        let mut jobs = Vec::new();
        let mut items = query.into_paginator().items().send();
        while let Some(item) = items.next().await {
            let job = from_item(&item.map_err(|e| StoreError::aws("Query jobs", e))?)?;
            if filter.matches(&job) {
                jobs.push(job);
            }
        }
        let sort = if sort.is_empty() {
            &[DEFAULT_JOB_SORT][..]
        } else {
            sort
        };
        jobs.sort_by(|a, b| compare_jobs(a, b, sort));
        let count = jobs.len() as u64;
        let jobs = jobs
            .into_iter()
            .skip(offset as usize)
            .take(limit as usize)
            .collect();
        Ok(JobsPage { jobs, count })
    }

    /// How many jobs the tenant has: the checkpoint plus the jobs created after it.
    pub async fn count_all(&self, tenant_id: &str) -> Result<u64, StoreError> {
        let checkpoints = Checkpoints {
            client: self.client.clone(),
            table: self.table.clone(),
        };
        let jobs = Counted {
            table: &self.table,
            index: None,
            pk_name: "pk",
            pk: job_pk(tenant_id),
            key_name: "sk",
            floor: JOB_PREFIX,
            ceiling: "JOB#~",
        };
        let settled_below = job_key_at(crate::time::now() - SETTLE_MARGIN);
        checkpoints
            .count(tenant_id, "JOBS", &jobs, &settled_below)
            .await
    }

    /// One page of a job's errors, in file order (file-level errors last), and the total.
    pub async fn list_errors(
        &self,
        tenant_id: &str,
        job_id: &str,
        offset: u64,
        limit: u64,
    ) -> Result<ErrorsPage, StoreError> {
        let pk = errors_pk(tenant_id, job_id);
        let count = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(&pk))
            .expression_attribute_values(":prefix", s("ERR#"));
        let total = query_count(count, "Query error count").await?;
        let errors = if offset >= total {
            Vec::new()
        } else {
            query_window(&self.client, &self.table, &pk, "ERR#", true, offset, limit)
                .await?
                .iter()
                .map(error_from_item)
                .collect::<Result<_, _>>()?
        };
        Ok(ErrorsPage { errors, total })
    }
}

fn error_from_item(item: &Item) -> Result<StoredRecordError, StoreError> {
    let sk = opt_s(item, "sk").unwrap_or_default();
    let ordinal = sk
        .rsplit('#')
        .next()
        .and_then(|o| o.parse().ok())
        .unwrap_or(0);
    Ok(StoredRecordError {
        record_index: opt_n(item, "record_index")?,
        ordinal,
        finding_uid: opt_s(item, "finding_uid"),
        pointer: opt_s(item, "pointer").unwrap_or_default(),
        code: opt_s(item, "code").unwrap_or_default(),
        detail: opt_s(item, "detail").unwrap_or_default(),
    })
}

/// Items `offset .. offset + limit` of a partition's `prefix` items in key order. The
/// items before the window are read with only their keys projected (DynamoDB still
/// charges their size, but nothing after the window is read).
pub(super) async fn query_window(
    client: &Client,
    table: &str,
    pk: &str,
    prefix: &str,
    forward: bool,
    offset: u64,
    limit: u64,
) -> Result<Vec<Item>, StoreError> {
    let mut start: Option<Item> = None;
    let mut skipped = 0u64;
    while skipped < offset {
        let want = (offset - skipped).min(1_000) as i32;
        let output = client
            .query()
            .table_name(table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":prefix", s(prefix))
            .scan_index_forward(forward)
            .projection_expression("pk, sk")
            .limit(want)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(|e| StoreError::aws("Query skip", e))?;
        skipped += output.count as u64;
        match output.last_evaluated_key {
            Some(key) => start = Some(key),
            // The partition ends before the window starts.
            None => return Ok(Vec::new()),
        }
    }
    let mut items = Vec::new();
    loop {
        let output = client
            .query()
            .table_name(table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":prefix", s(prefix))
            .scan_index_forward(forward)
            .limit((limit - items.len() as u64) as i32)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(|e| StoreError::aws("Query page", e))?;
        items.extend(output.items.unwrap_or_default());
        match output.last_evaluated_key {
            Some(key) if (items.len() as u64) < limit => start = Some(key),
            _ => return Ok(items),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    fn job(id: &str, requested: OffsetDateTime) -> Job {
        let mut job = Job::new_pending("t", Some(1), Some("Scan-A.json".into()), None);
        job.id = id.into();
        job.requested_at = requested;
        job
    }

    #[test]
    fn job_keys_follow_uuidv7_time_order() {
        let t = datetime!(2026-02-17 13:16:28.644 UTC);
        let ms = (t.unix_timestamp_nanos() / 1_000_000) as u64;
        let id = uuid::Uuid::new_v7(uuid::Timestamp::from_unix(
            uuid::NoContext,
            t.unix_timestamp() as u64,
            t.nanosecond(),
        ))
        .to_string();
        assert_eq!(job_key_at(t), format!("JOB#{}", &id[..13]));
        assert_eq!(&id[..13], format!("{:08x}-{:04x}", ms >> 16, ms & 0xffff));
        let (from, to) = job_key_range(&DayRange {
            from: Some(date!(2026 - 02 - 17)),
            to: Some(date!(2026 - 02 - 17)),
        });
        let key = format!("JOB#{id}");
        assert!(from <= key && key <= to);
        let (from, _) = job_key_range(&DayRange {
            from: Some(date!(2026 - 02 - 18)),
            to: None,
        });
        assert!(key < from);
    }

    #[test]
    fn filters_match_days_statuses_and_search() {
        let mut j = job("0190-abc", datetime!(2026-01-02 23:59:59 UTC));
        let mut f = JobFilter::default();
        assert!(f.is_empty() && f.matches(&j));
        f.inserted_at.at_least(date!(2026 - 01 - 02));
        f.inserted_at.at_most(date!(2026 - 01 - 02));
        assert!(f.matches(&j));
        f.inserted_at.at_least(date!(2026 - 01 - 03));
        assert!(!f.matches(&j));

        let mut f = JobFilter {
            completed_at: DayRange {
                from: None,
                to: Some(date!(2026 - 05 - 01)),
            },
            ..JobFilter::default()
        };
        assert!(
            !f.matches(&j),
            "no completed_at never matches a date filter"
        );
        j.completed_at = Some(datetime!(2026-04-30 10:00 UTC));
        assert!(f.matches(&j));
        f.statuses = Some(vec![JobStatus::Completed, JobStatus::Failed]);
        assert!(!f.matches(&j));

        for (needle, hit) in [
            ("scan-a", true),
            ("ABC", true),
            ("pend", true),
            ("zzz", false),
        ] {
            let f = JobFilter {
                search: Some(needle.into()),
                ..JobFilter::default()
            };
            assert_eq!(f.matches(&j), hit, "{needle}");
        }
    }

    #[test]
    fn sorting_puts_missing_times_last_ascending_and_first_descending() {
        let mut a = job("a", datetime!(2026-01-01 00:00 UTC));
        let mut b = job("b", datetime!(2026-01-02 00:00 UTC));
        let c = job("c", datetime!(2026-01-03 00:00 UTC));
        a.completed_at = Some(datetime!(2026-01-05 00:00 UTC));
        b.completed_at = Some(datetime!(2026-01-04 00:00 UTC));
        let mut jobs = [a.clone(), b.clone(), c.clone()];
        let asc = [JobSort {
            field: JobSortField::CompletedAt,
            descending: false,
        }];
        jobs.sort_by(|x, y| compare_jobs(x, y, &asc));
        let ids: Vec<_> = jobs.iter().map(|j| j.id.as_str()).collect();
        assert_eq!(ids, ["b", "a", "c"]);
        let desc = [JobSort {
            field: JobSortField::CompletedAt,
            descending: true,
        }];
        jobs.sort_by(|x, y| compare_jobs(x, y, &desc));
        let ids: Vec<_> = jobs.iter().map(|j| j.id.as_str()).collect();
        assert_eq!(ids, ["c", "a", "b"]);
        // Equal keys fall back to newest first.
        let started = [JobSort {
            field: JobSortField::StartedAt,
            descending: false,
        }];
        jobs.sort_by(|x, y| compare_jobs(x, y, &started));
        let ids: Vec<_> = jobs.iter().map(|j| j.id.as_str()).collect();
        assert_eq!(ids, ["c", "b", "a"]);
    }
}
