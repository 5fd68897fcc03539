//! GET /api/v1/ingestions/{id} and GET /api/v1/ingestions: jobs as `ingestions`
//! resources, with sparse fieldsets.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use serde_json::Value;
use shared::job::Job;
use shared::jsonapi::{document, ingestion_resource, json_response, paginated_document};
use shared::{ApiError, Deps};

use crate::query::{self, past_the_end, Query};
use shared::store::internal;

pub async fn get(
    deps: &Deps,
    tenant_id: &str,
    id: &str,
    query: &Query,
) -> Result<Response<Body>, ApiError> {
    let fields = query::ingestion(query)?;
    let job = deps
        .stores
        .jobs
        .get(tenant_id, id)
        .await
        .map_err(internal("job lookup"))?
        .ok_or_else(ApiError::not_found)?;
    Ok(json_response(
        StatusCode::OK,
        &document(resource(&job, fields.as_deref())),
    ))
}

pub async fn list(
    deps: &Deps,
    tenant_id: &str,
    path: &str,
    query: &Query,
) -> Result<Response<Body>, ApiError> {
    let params = query::ingestion_list(query)?;
    let page = params.page;
    let found = deps
        .stores
        .jobs
        .list(
            tenant_id,
            &params.filter,
            &params.sort,
            page.offset(),
            page.size,
        )
        .await
        .map_err(internal("job list"))?;
    if !page.exists(found.count) {
        return Err(past_the_end(page, found.count));
    }
    let data = found
        .jobs
        .iter()
        .map(|job| resource(job, params.fields.as_deref()))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &paginated_document(data, page, found.count, path, query.pairs()),
    ))
}

/// The resource, keeping only `fields` among its attributes when a fieldset is given.
fn resource(job: &Job, fields: Option<&[String]>) -> Value {
    let mut resource = ingestion_resource(job);
    if let (Some(fields), Some(Value::Object(attributes))) =
        (fields, resource.get_mut("attributes"))
    {
        attributes.retain(|name, _| fields.iter().any(|f| f == name));
    }
    resource
}
