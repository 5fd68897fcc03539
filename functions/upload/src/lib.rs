//! The upload function: `POST /api/v1/ingestions`.
//!
//! It authenticates the caller, takes the file from the request (multipart `file` part or
//! raw JSON, optionally gzip), checks its structure, then stores it in S3, records a
//! pending job in DynamoDB and queues it for the processor, in that order: a 202 means
//! all three happened. If a step fails, what the earlier steps wrote is undone (the job
//! is deleted, the idempotency key released) and the client gets a 5xx it may retry.
//!
//! A JSON:API document (`Content-Type: application/vnd.api+json`) asks for a presigned
//! upload instead: see [`presigned`].

mod body;
mod idempotency;
pub mod presigned;

use lambda_http::http::{header, HeaderValue, StatusCode};
use lambda_http::{Body, Error, Request, Response};
use sha2::{Digest, Sha256};
use shared::auth::{Permission, Principal};
use shared::job::Job;
use shared::jsonapi::{document, ingestion_resource, json_response};
use shared::message::JobMessage;
use shared::store::{internal, Reservation};
use shared::{ApiError, Deps};

pub use body::{extract_file, UploadedFile};
pub use idempotency::idempotency_key;

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
    let key = idempotency_key(request.headers())?;
    if is_json_api(request) {
        return presigned::create(deps, &principal, key, request.body().as_ref()).await;
    }

    let file = extract_file(request, deps.config.max_upload_bytes).await?;
    let total = file.count_records(deps.config.max_decompressed_bytes)?;
    let mut job = Job::new_pending(
        &principal.tenant_id,
        Some(total),
        file.file_name.clone(),
        Some(file.bytes.len() as u64),
    );

    let Some(key) = key else {
        accept(deps, &job, &file).await?;
        return Ok(accepted(&job, false));
    };
    let content_hash = hex_sha256(&file.bytes);
    let now_epoch = job.requested_at.unix_timestamp();
    let reservation = deps
        .stores
        .idempotency
        .reserve(
            &principal.tenant_id,
            &key,
            &content_hash,
            &job.id,
            now_epoch,
        )
        .await
        .map_err(internal("reserve idempotency key"))?;
    match reservation {
        Reservation::Conflict => Err(ApiError::IdempotencyKeyReused(
            "this Idempotency-Key was already used with a different file in the last 24 hours"
                .into(),
        )),
        Reservation::Replay { job_id, completed } => {
            if completed {
                if let Some(existing) = find_job(deps, &principal, &job_id).await? {
                    return Ok(accepted(&existing, true));
                }
            }
            // The first request with this key died part-way: finish its work, same job id.
            job.id = job_id;
            job.object_key = Job::object_key_for(&job.tenant_id, &job.id);
            finish_with_key(deps, &principal, &mut job, &file, &key).await
        }
        Reservation::Fresh => finish_with_key(deps, &principal, &mut job, &file, &key).await,
    }
}

async fn finish_with_key(
    deps: &Deps,
    principal: &Principal,
    job: &mut Job,
    file: &UploadedFile,
    key: &str,
) -> Result<Response<Body>, ApiError> {
    if let Err(e) = accept(deps, job, file).await {
        if let Err(release) = deps
            .stores
            .idempotency
            .release(&principal.tenant_id, key, &job.id)
            .await
        {
            tracing::error!(error = %release, "could not release the idempotency key");
        }
        return Err(e);
    }
    deps.stores
        .idempotency
        .complete(&principal.tenant_id, key)
        .await
        .map_err(internal("complete idempotency key"))?;
    // A resumed job may have been created (and even processed) by the first request.
    let current = find_job(deps, principal, &job.id).await?;
    Ok(accepted(current.as_ref().unwrap_or(job), false))
}

/// S3, then DynamoDB, then SQS; undoes the job if it cannot be queued.
async fn accept(deps: &Deps, job: &Job, file: &UploadedFile) -> Result<(), ApiError> {
    deps.stores
        .objects
        .put(&job.object_key, file.bytes.clone(), None)
        .await
        .map_err(internal("store file"))?;
    deps.stores
        .jobs
        .create(job)
        .await
        .map_err(internal("create job"))?;
    let message = JobMessage {
        tenant_id: job.tenant_id.clone(),
        job_id: job.id.clone(),
        object_key: job.object_key.clone(),
    };
    if let Err(e) = deps.stores.queue.send(&message).await {
        // A job nobody will process must not stay pending: take it back.
        if let Err(undo) = deps
            .stores
            .jobs
            .delete_pending(&job.tenant_id, &job.id)
            .await
        {
            tracing::error!(error = %undo, job_id = %job.id, "could not remove the unqueued job");
        }
        return Err(internal("queue job")(e));
    }
    tracing::info!(job_id = %job.id, tenant_id = %job.tenant_id, total = job.total, "ingestion accepted");
    Ok(())
}

/// Whether the body is a JSON:API document (media type parameters are ignored).
fn is_json_api(request: &Request) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case(presigned::JSON_API))
}

pub(crate) async fn find_job(
    deps: &Deps,
    principal: &Principal,
    job_id: &str,
) -> Result<Option<Job>, ApiError> {
    deps.stores
        .jobs
        .get(&principal.tenant_id, job_id)
        .await
        .map_err(internal("read job"))
}

fn accepted(job: &Job, replayed: bool) -> Response<Body> {
    let response = json_response(StatusCode::ACCEPTED, &document(ingestion_resource(job)));
    with_headers(response, job, replayed)
}

/// `Location` of the job, and `Idempotent-Replayed` when the job is a replay.
pub(crate) fn with_headers(
    mut response: Response<Body>,
    job: &Job,
    replayed: bool,
) -> Response<Body> {
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/ingestions/{}", job.id)) {
        headers.insert(header::LOCATION, location);
    }
    if replayed {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

pub(crate) fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
