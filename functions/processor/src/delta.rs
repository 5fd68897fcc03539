//! How a finding changed since the state stored before this ingestion.

use shared::store::StoredFindingState;

/// `new`, `changed` (status_code or severity differ) or `unchanged`, plus the first-seen
/// time to keep. A finding last written by this same ingestion keeps what that run
/// decided, so processing a job twice changes nothing.
pub fn delta_for<'a>(
    stored: Option<&'a StoredFindingState>,
    job_id: &str,
    status_code: Option<&str>,
    severity: &str,
    now: &'a str,
) -> (&'static str, &'a str) {
    let Some(stored) = stored else {
        return ("new", now);
    };
    if stored.ingestion_id.as_deref() == Some(job_id) {
        let delta = match stored.delta.as_deref() {
            Some("new") => "new",
            Some("changed") => "changed",
            _ => "unchanged",
        };
        return (delta, &stored.first_seen_at);
    }
    let same = stored.status_code.as_deref() == status_code
        && stored.severity.as_deref() == Some(severity);
    (
        if same { "unchanged" } else { "changed" },
        &stored.first_seen_at,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(status: &str, severity: &str, job: &str, delta: &str) -> StoredFindingState {
        StoredFindingState {
            first_seen_at: "2026-01-01T00:00:00.000000Z".into(),
            status_code: Some(status.into()),
            severity: Some(severity.into()),
            ingestion_id: Some(job.into()),
            delta: Some(delta.into()),
            record_index: Some(0),
        }
    }

    #[test]
    fn new_changed_unchanged() {
        let now = "2026-02-01T00:00:00.000000Z";
        assert_eq!(
            delta_for(None, "j2", Some("FAIL"), "High", now),
            ("new", now)
        );
        let s = state("FAIL", "High", "j1", "new");
        assert_eq!(
            delta_for(Some(&s), "j2", Some("FAIL"), "High", now),
            ("unchanged", "2026-01-01T00:00:00.000000Z")
        );
        assert_eq!(
            delta_for(Some(&s), "j2", Some("PASS"), "High", now).0,
            "changed"
        );
        assert_eq!(
            delta_for(Some(&s), "j2", Some("FAIL"), "Low", now).0,
            "changed"
        );
    }

    #[test]
    fn rerunning_the_same_ingestion_keeps_its_first_verdict() {
        let s = state("FAIL", "High", "j1", "new");
        let now = "2026-02-01T00:00:00.000000Z";
        assert_eq!(
            delta_for(Some(&s), "j1", Some("FAIL"), "High", now),
            ("new", "2026-01-01T00:00:00.000000Z")
        );
    }
}
