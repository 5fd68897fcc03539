//! The upload function: `POST /api/v1/ingestions`.
//!
//! It authenticates the caller, takes the file from the request (multipart `file` part or
//! raw JSON, optionally gzip), checks its structure, then stores it in S3, records a
//! pending job in DynamoDB and queues it for the processor, in that order: a 202 means
//! all three happened.

mod body;

use lambda_http::http::{header, HeaderValue, StatusCode};
use lambda_http::{Body, Error, Request, Response};
use shared::auth::Permission;
use shared::job::{Counts, Job, JobStatus};
use shared::jsonapi::{document, ingestion_resource, json_response};
use shared::message::JobMessage;
use shared::ocsf::{check_structure, StructureError};
use shared::{ApiError, Deps};

pub use body::{extract_file, UploadedFile, DECOMPRESSED_LIMIT};

/// Lambda handler: every outcome is an HTTP response; only a broken runtime is an `Err`.
pub async fn handle(deps: &Deps, request: Request) -> Result<Response<Body>, Error> {
    Ok(match upload(deps, &request).await {
        Ok(response) => response,
        Err(err) => err.to_response(),
    })
}

async fn upload(deps: &Deps, request: &Request) -> Result<Response<Body>, ApiError> {
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let principal = deps.auth.authenticate(authorization).await?;
    principal.require(Permission::ManageIngestions)?;

    let file = extract_file(request, deps.config.max_upload_bytes).await?;
    let total = check_structure(&file.json).map_err(|e| match e {
        StructureError::NotJson { .. } | StructureError::NotAnArray { .. } => ApiError::invalid_at(
            e.to_string(),
            shared::jsonapi::ErrorSource::Pointer("/file".into()),
        ),
        StructureError::NotUtf8 { .. } => ApiError::invalid(e.to_string()),
    })?;

    let job = Job::new_pending(
        &principal.tenant_id,
        Some(total),
        file.file_name.clone(),
        Some(file.file_size as u64),
    );
    let internal = |step: &'static str| {
        move |e: shared::store::StoreError| {
            tracing::error!(error = %e, step, "upload failed");
            ApiError::Internal
        }
    };
    deps.stores
        .objects
        .put(&job.object_key, file.json, None)
        .await
        .map_err(internal("store file"))?;
    deps.stores
        .jobs
        .create(&job)
        .await
        .map_err(internal("create job"))?;
    let message = JobMessage {
        tenant_id: job.tenant_id.clone(),
        job_id: job.id.clone(),
        object_key: job.object_key.clone(),
    };
    if let Err(e) = deps.stores.queue.send(&message).await {
        // The job must not stay pending forever: mark it failed before answering 5xx.
        fail_unqueued(deps, &job).await;
        return Err(internal("queue job")(e));
    }
    tracing::info!(job_id = %job.id, tenant_id = %job.tenant_id, total, "ingestion accepted");

    let mut response = json_response(StatusCode::ACCEPTED, &document(ingestion_resource(&job)));
    if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/ingestions/{}", job.id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

async fn fail_unqueued(deps: &Deps, job: &Job) {
    let now = shared::time::now();
    let claimed = deps.stores.jobs.claim(&job.tenant_id, &job.id, now).await;
    let result = match claimed {
        Ok(Some(claimed)) => deps
            .stores
            .jobs
            .finish(
                &claimed,
                JobStatus::Failed,
                Counts {
                    total: job.total.unwrap_or(0),
                    ..Counts::default()
                },
                Some("enqueue_failed"),
                now,
            )
            .await
            .map(|_| ()),
        Ok(None) => Ok(()),
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        tracing::error!(error = %e, job_id = %job.id, "could not mark unqueued job failed");
    }
}
