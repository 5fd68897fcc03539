//! GET /api/v1/ingestions/{id} and GET /api/v1/ingestions: jobs as `ingestions`
//! resources, with sparse fieldsets.
//!
//! Both settle presigned uploads that never arrived before answering: a job still
//! pending past its URL's expiry (plus the grace for a PUT in flight) whose object is not
//! in S3 is moved to `failed` (`upload_expired`) with a conditional write, so that the
//! one job and the list always agree, and filters and sorts see the settled state.
//! A job whose object did arrive but which is still pending by then has lost its S3
//! event notification: its message is sent to the processing queue again.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use serde_json::Value;
use shared::job::{Job, JobStatus};
use shared::jsonapi::{document, ingestion_resource, json_response, paginated_document};
use shared::message::JobMessage;
use shared::{ApiError, Deps};
use time::Duration;

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
    let job = settle(deps, job).await?.0;
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
    settle_overdue_uploads(deps, tenant_id).await?;
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

fn grace(deps: &Deps) -> Duration {
    Duration::seconds(i64::try_from(deps.config.upload_grace_seconds).unwrap_or(i64::MAX))
}

/// The job as it stands once an overdue upload is settled, and whether it still waits
/// for its file (true only for a presigned job that is pending and not expired).
async fn settle(deps: &Deps, mut job: Job) -> Result<(Job, bool), ApiError> {
    let grace = grace(deps);
    if !job.upload_overdue(shared::time::now(), grace) {
        let waiting = job.status == JobStatus::Pending && job.upload_expires_at.is_some();
        return Ok((job, waiting));
    }
    // The file may have arrived in time: then it is processed, and the job must not be
    // failed here.
    let arrived = deps
        .stores
        .objects
        .exists(&job.object_key)
        .await
        .map_err(internal("upload lookup"))?;
    if arrived {
        // Its S3 event notification should have started the job long ago (the grace is
        // past). It may still be queued, or it was lost: send the job's message again. A
        // second message for a job already claimed is skipped by the processor.
        let message = JobMessage {
            tenant_id: job.tenant_id.clone(),
            job_id: job.id.clone(),
            object_key: job.object_key.clone(),
        };
        deps.stores
            .queue
            .send(&message)
            .await
            .map_err(internal("re-send upload notification"))?;
        tracing::warn!(job_id = %job.id, tenant_id = %job.tenant_id, "uploaded file still pending after the grace: job queued again");
        return Ok((job, true));
    }
    job.expire_upload(grace);
    let expired = deps
        .stores
        .jobs
        .expire_upload(&job)
        .await
        .map_err(internal("expire upload"))?;
    if expired {
        tracing::info!(job_id = %job.id, tenant_id = %job.tenant_id, "presigned upload expired");
        return Ok((job, false));
    }
    // It left pending meanwhile (its file arrived): show what is stored now.
    let current = deps
        .stores
        .jobs
        .get(&job.tenant_id, &job.id)
        .await
        .map_err(internal("job lookup"))?
        .ok_or_else(ApiError::not_found)?;
    Ok((current, false))
}

/// Settles every presigned job of the tenant whose upload URL expired more than the
/// grace ago, and forgets the ones that no longer wait. Usually one Query that finds
/// nothing.
async fn settle_overdue_uploads(deps: &Deps, tenant_id: &str) -> Result<(), ApiError> {
    let jobs = &deps.stores.jobs;
    let expired_before = shared::time::now() - grace(deps);
    let overdue = jobs
        .overdue_uploads(tenant_id, expired_before)
        .await
        .map_err(internal("awaited uploads"))?;
    for upload in overdue {
        let job = jobs
            .get(tenant_id, &upload.job_id)
            .await
            .map_err(internal("job lookup"))?;
        let waiting = match job {
            Some(job) => settle(deps, job).await?.1,
            None => false,
        };
        if !waiting {
            jobs.forget_awaited_upload(tenant_id, &upload)
                .await
                .map_err(internal("forget awaited upload"))?;
        }
    }
    Ok(())
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
