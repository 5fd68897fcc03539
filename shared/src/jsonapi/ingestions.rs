use serde_json::{json, Value};

use crate::job::Job;
use crate::time::format;

/// The `ingestions` resource object for a job.
pub fn ingestion_resource(job: &Job) -> Value {
    json!({
        "type": "ingestions",
        "id": job.id,
        "attributes": {
            "status": job.status.as_str(),
            "summary": {
                "total": job.total,
                "processed": job.processed,
                "invalid": job.invalid,
            },
            "requested_at": format(job.requested_at),
            "started_at": job.started_at.map(format),
            "completed_at": job.completed_at.map(format),
            "file_name": job.file_name,
            "file_size": job.file_size,
            "failure_reason": job.failure_reason,
        },
        "links": { "self": format!("/api/v1/ingestions/{}", job.id) },
    })
}
