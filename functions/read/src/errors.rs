//! GET /api/v1/ingestions/{id}/errors: a job's record errors as `ingestion-errors`.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use serde_json::{json, Value};
use shared::jsonapi::{json_response, paginated_document};
use shared::store::StoredRecordError;
use shared::{ApiError, Deps};

use crate::query::{self, past_the_end, Query};
use shared::store::internal;

pub async fn list(
    deps: &Deps,
    tenant_id: &str,
    job_id: &str,
    path: &str,
    query: &Query,
) -> Result<Response<Body>, ApiError> {
    let page = query::error_list(query)?;
    // A job of another tenant, or none, answers 404 before its errors are looked at.
    deps.stores
        .jobs
        .get(tenant_id, job_id)
        .await
        .map_err(internal("job lookup"))?
        .ok_or_else(ApiError::not_found)?;
    let found = deps
        .stores
        .jobs
        .list_errors(tenant_id, job_id, page.offset(), page.size)
        .await
        .map_err(internal("error list"))?;
    if !page.exists(found.total) {
        return Err(past_the_end(page, found.total));
    }
    let data = found
        .errors
        .iter()
        .enumerate()
        .map(|(i, e)| resource(job_id, page.offset() + i as u64, e))
        .collect();
    let mut doc = paginated_document(data, page, found.total, path, query.pairs());
    // Every error is kept (the processor has no cap), so the listing is never truncated.
    doc["meta"]["total"] = json!(found.total);
    doc["meta"]["truncated"] = json!(false);
    Ok(json_response(StatusCode::OK, &doc))
}

/// `n` is the error's 0-based position in the job's listing.
fn resource(job_id: &str, n: u64, error: &StoredRecordError) -> Value {
    json!({
        "type": "ingestion-errors",
        "id": format!("{job_id}:{n}"),
        "attributes": {
            "record_index": error.record_index,
            "finding_uid": error.finding_uid,
            "pointer": error.pointer,
            "code": error.code,
            "detail": error.detail,
        },
    })
}
