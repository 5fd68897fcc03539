//! Presigned uploads for large files: `POST /api/v1/ingestions` with a JSON:API document
//! asking for an upload URL.
//!
//! The function creates the pending job and answers with a URL that lets the client `PUT`
//! the file straight into S3 (at `uploads/<tenant>/<job>.json`), bypassing API Gateway and
//! Lambda's payload limits. Nothing is queued here: the object's arrival sends an S3 event
//! notification to the processing queue, and that starts processing. A job whose file
//! never arrives is reported `upload_expired` by the read function.

use std::time::{Duration as StdDuration, SystemTime};

use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use serde_json::{json, Map, Value};
use shared::auth::Principal;
use shared::job::{Job, JobStatus};
use shared::jsonapi::{document, ingestion_resource, ErrorSource};
use shared::message::presigned_object_key;
use shared::store::{internal, PutPermit, Reservation};
use shared::{ApiError, Deps};
use time::{Duration, OffsetDateTime};

use crate::{find_job, hex_sha256, with_headers};

/// The media type that selects this path.
pub const JSON_API: &str = "application/vnd.api+json";

/// Longest accepted `file_name`, in characters.
const MAX_FILE_NAME_CHARS: usize = 255;

/// The content type the URL is signed for: the client must send exactly it (S3 refuses
/// another, and without one some clients default to a form encoding).
const UPLOAD_CONTENT_TYPE: &str = "application/json";

/// What the client asked to upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRequest {
    pub file_name: Option<String>,
    pub content_length: u64,
    pub gzip: bool,
}

fn invalid(pointer: &str, detail: impl Into<String>) -> ApiError {
    ApiError::invalid_at(detail, ErrorSource::Pointer(pointer.to_string()))
}

/// The object at `pointer`, or a 400 naming it.
fn object<'a>(
    value: &'a Value,
    pointer: &str,
    what: &str,
) -> Result<&'a Map<String, Value>, ApiError> {
    match value {
        Value::Object(map) => Ok(map),
        Value::Null => Err(invalid(pointer, format!("{what} is required"))),
        _ => Err(invalid(pointer, format!("{what} must be an object"))),
    }
}

/// Refuses members other than `allowed`, so that a misspelt one is not silently ignored.
fn only(map: &Map<String, Value>, pointer: &str, allowed: &[&str]) -> Result<(), ApiError> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(unknown) => Err(invalid(
            &format!("{pointer}/{unknown}"),
            format!(
                "unknown member {unknown:?}; allowed here: {}",
                allowed.join(", ")
            ),
        )),
        None => Ok(()),
    }
}

/// Parses and checks the request document (pure: no I/O).
pub fn parse_request(body: &[u8], max_content_length: u64) -> Result<UploadRequest, ApiError> {
    let doc: Value = serde_json::from_slice(body)
        .map_err(|e| invalid("", format!("the request body is not a JSON document: {e}")))?;
    let root = object(&doc, "", "the request document")?;
    only(root, "", &["data", "meta", "jsonapi"])?;
    let data = object(&doc["data"], "/data", "data")?;
    only(data, "/data", &["type", "attributes"])?;
    match data.get("type") {
        Some(Value::String(t)) if t == "ingestions" => {}
        Some(other) => {
            return Err(invalid(
                "/data/type",
                format!("type must be \"ingestions\", not {other}"),
            ))
        }
        None => return Err(invalid("/data/type", "type is required (\"ingestions\")")),
    }
    let attributes = object(&doc["data"]["attributes"], "/data/attributes", "attributes")?;
    only(attributes, "/data/attributes", &["upload"])?;
    const UPLOAD: &str = "/data/attributes/upload";
    let upload = object(
        &doc["data"]["attributes"]["upload"],
        UPLOAD,
        "attributes.upload",
    )?;
    only(
        upload,
        UPLOAD,
        &["method", "file_name", "content_length", "content_encoding"],
    )?;
    match upload.get("method") {
        Some(Value::String(m)) if m == "presigned" => {}
        _ => {
            return Err(invalid(
                &format!("{UPLOAD}/method"),
                "method must be \"presigned\"",
            ))
        }
    }
    let file_name = match upload.get("file_name") {
        None | Some(Value::Null) => None,
        Some(Value::String(name))
            if (1..=MAX_FILE_NAME_CHARS).contains(&name.chars().count())
                && !name.chars().any(char::is_control) =>
        {
            Some(name.clone())
        }
        Some(_) => {
            return Err(invalid(
                &format!("{UPLOAD}/file_name"),
                format!(
                    "file_name must be a string of 1 to {MAX_FILE_NAME_CHARS} characters \
                     without control characters"
                ),
            ))
        }
    };
    let length_pointer = format!("{UPLOAD}/content_length");
    let content_length = match upload.get("content_length") {
        None | Some(Value::Null) => {
            return Err(invalid(
                &length_pointer,
                "content_length is required: the exact size in bytes of the file to upload",
            ))
        }
        Some(value) => value.as_u64().filter(|n| *n > 0).ok_or_else(|| {
            invalid(
                &length_pointer,
                format!("content_length must be a positive integer, not {value}"),
            )
        })?,
    };
    if content_length > max_content_length {
        return Err(invalid(
            &length_pointer,
            format!(
                "content_length is {content_length} bytes; a presigned upload takes at most \
                 {max_content_length} bytes. Compress the file with gzip"
            ),
        ));
    }
    let gzip = match upload.get("content_encoding") {
        None | Some(Value::Null) => false,
        Some(Value::String(e)) if e == "gzip" => true,
        Some(Value::String(e)) if e == "identity" => false,
        Some(other) => {
            return Err(invalid(
                &format!("{UPLOAD}/content_encoding"),
                format!("content_encoding must be \"gzip\" or absent, not {other}"),
            ))
        }
    };
    Ok(UploadRequest {
        file_name,
        content_length,
        gzip,
    })
}

/// Creates the job (or replays the one created with the same Idempotency-Key and
/// document) and answers with its upload URL.
pub async fn create(
    deps: &Deps,
    principal: &Principal,
    key: Option<String>,
    body: &[u8],
) -> Result<Response<Body>, ApiError> {
    let upload = parse_request(body, deps.config.max_presigned_upload_bytes)?;
    let now = shared::time::now();
    let lifetime =
        Duration::seconds(i64::try_from(deps.config.presigned_url_seconds).unwrap_or(i64::MAX));
    let mut job = Job::new_presigned(
        &principal.tenant_id,
        upload.file_name.clone(),
        upload.content_length,
        now,
        now.checked_add(lifetime).ok_or_else(|| {
            tracing::error!(
                seconds = deps.config.presigned_url_seconds,
                "PRESIGNED_URL_SECONDS is out of range"
            );
            ApiError::Internal
        })?,
    );
    let Some(key) = key else {
        let meta = upload_meta(deps, &job, &upload, now).await?;
        store(deps, &job).await?;
        return Ok(accepted(&job, meta, false));
    };
    let reservation = deps
        .stores
        .idempotency
        .reserve(
            &principal.tenant_id,
            &key,
            &hex_sha256(body),
            &job.id,
            now.unix_timestamp(),
        )
        .await
        .map_err(internal("reserve idempotency key"))?;
    match reservation {
        Reservation::Conflict => {
            return Err(ApiError::IdempotencyKeyReused(
                "this Idempotency-Key was already used with a different request in the last \
                 24 hours"
                    .into(),
            ))
        }
        Reservation::Replay { job_id, completed } => {
            if completed {
                if let Some(existing) = find_job(deps, principal, &job_id).await? {
                    let meta = upload_meta(deps, &existing, &upload, now).await?;
                    return Ok(accepted(&existing, meta, true));
                }
            }
            // The first request with this key died part-way: finish it, same job id.
            job.id = job_id;
            job.object_key = presigned_object_key(&job.tenant_id, &job.id);
        }
        Reservation::Fresh => {}
    }
    let stored = async {
        let meta = upload_meta(deps, &job, &upload, now).await?;
        store(deps, &job).await?;
        Ok::<_, ApiError>(meta)
    }
    .await;
    let meta = match stored {
        Ok(meta) => meta,
        Err(e) => {
            if let Err(release) = deps
                .stores
                .idempotency
                .release(&principal.tenant_id, &key, &job.id)
                .await
            {
                tracing::error!(error = %release, "could not release the idempotency key");
            }
            return Err(e);
        }
    };
    deps.stores
        .idempotency
        .complete(&principal.tenant_id, &key)
        .await
        .map_err(internal("complete idempotency key"))?;
    // A resumed job may already exist from the first request, with its own URL expiry.
    match find_job(deps, principal, &job.id).await? {
        Some(current) if current != job => {
            let meta = upload_meta(deps, &current, &upload, now).await?;
            Ok(accepted(&current, meta, false))
        }
        _ => Ok(accepted(&job, meta, false)),
    }
}

async fn store(deps: &Deps, job: &Job) -> Result<(), ApiError> {
    deps.stores
        .jobs
        .create_presigned(job)
        .await
        .map_err(internal("create presigned job"))?;
    tracing::info!(job_id = %job.id, tenant_id = %job.tenant_id, file_size = job.file_size, "presigned upload issued");
    Ok(())
}

/// `meta.upload` for a job still waiting for its file with a URL not yet expired; `None`
/// otherwise (a replay of a job whose file already arrived, or whose URL is dead).
async fn upload_meta(
    deps: &Deps,
    job: &Job,
    upload: &UploadRequest,
    now: OffsetDateTime,
) -> Result<Option<Value>, ApiError> {
    let (JobStatus::Pending, Some(expires_at)) = (job.status, job.upload_expires_at) else {
        return Ok(None);
    };
    if expires_at <= now {
        return Ok(None);
    }
    // Signed from the job's own request time, so a replay shows the same expiry.
    let valid_for = StdDuration::try_from(expires_at - job.requested_at).map_err(|e| {
        tracing::error!(error = %e, job_id = %job.id, "upload expiry precedes the request");
        ApiError::Internal
    })?;
    let put = deps
        .stores
        .objects
        .presign_put(&PutPermit {
            key: &job.object_key,
            content_type: UPLOAD_CONTENT_TYPE,
            content_length: job.file_size.unwrap_or(upload.content_length),
            content_encoding: upload.gzip.then_some("gzip"),
            valid_from: SystemTime::from(job.requested_at),
            valid_for,
        })
        .await
        .map_err(internal("presign upload"))?;
    let headers: Map<String, Value> = put
        .headers
        .into_iter()
        .map(|(name, value)| (name, Value::String(value)))
        .collect();
    Ok(Some(json!({
        "url": put.url,
        "method": "PUT",
        "headers": headers,
        "expires_at": shared::time::format(expires_at),
    })))
}

fn accepted(job: &Job, upload: Option<Value>, replayed: bool) -> Response<Body> {
    let mut doc = document(ingestion_resource(job));
    if let (Some(upload), Some(meta)) = (upload, doc.get_mut("meta").and_then(Value::as_object_mut))
    {
        meta.insert("upload".into(), upload);
    }
    with_headers(
        shared::jsonapi::json_response(StatusCode::ACCEPTED, &doc),
        job,
        replayed,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: u64 = 5 * 1024 * 1024 * 1024;

    fn parse(doc: Value) -> Result<UploadRequest, ApiError> {
        parse_request(doc.to_string().as_bytes(), MAX)
    }

    fn request(upload: Value) -> Value {
        json!({"data": {"type": "ingestions", "attributes": {"upload": upload}}})
    }

    fn pointer_of(err: ApiError) -> String {
        match err {
            ApiError::Invalid {
                at: Some(ErrorSource::Pointer(p)),
                ..
            } => p,
            other => panic!("expected an invalid pointer error, got {other:?}"),
        }
    }

    #[test]
    fn a_complete_request_is_read() {
        let parsed = parse(request(json!({
            "method": "presigned", "file_name": "scan.ocsf.json.gz",
            "content_length": 123456789, "content_encoding": "gzip"
        })))
        .unwrap();
        assert_eq!(
            parsed,
            UploadRequest {
                file_name: Some("scan.ocsf.json.gz".into()),
                content_length: 123_456_789,
                gzip: true
            }
        );
        let minimal = parse(request(
            json!({"method": "presigned", "content_length": MAX}),
        ))
        .unwrap();
        assert_eq!(
            minimal,
            UploadRequest {
                file_name: None,
                content_length: MAX,
                gzip: false
            }
        );
    }

    #[test]
    fn every_bad_part_is_pointed_at() {
        let upload = "/data/attributes/upload";
        let cases: Vec<(Value, String)> = vec![
            (json!([1]), "".into()),
            (json!({}), "/data".into()),
            (json!({"data": []}), "/data".into()),
            (json!({"data": {"attributes": {}}}), "/data/type".into()),
            (
                json!({"data": {"type": "findings", "attributes": {}}}),
                "/data/type".into(),
            ),
            (
                json!({"data": {"type": "ingestions", "id": "x", "attributes": {}}}),
                "/data/id".into(),
            ),
            (
                json!({"data": {"type": "ingestions"}}),
                "/data/attributes".into(),
            ),
            (
                json!({"data": {"type": "ingestions", "attributes": {}}}),
                upload.into(),
            ),
            (
                json!({"data": {"type": "ingestions", "attributes": {"upload": {}, "x": 1}}}),
                "/data/attributes/x".into(),
            ),
            (request(json!("presigned")), upload.into()),
            (
                request(json!({"content_length": 1})),
                format!("{upload}/method"),
            ),
            (
                request(json!({"method": "direct", "content_length": 1})),
                format!("{upload}/method"),
            ),
            (
                request(json!({"method": "presigned"})),
                format!("{upload}/content_length"),
            ),
            (
                request(json!({"method": "presigned", "content_length": 0})),
                format!("{upload}/content_length"),
            ),
            (
                request(json!({"method": "presigned", "content_length": -5})),
                format!("{upload}/content_length"),
            ),
            (
                request(json!({"method": "presigned", "content_length": 1.5})),
                format!("{upload}/content_length"),
            ),
            (
                request(json!({"method": "presigned", "content_length": "10"})),
                format!("{upload}/content_length"),
            ),
            (
                request(json!({"method": "presigned", "content_length": MAX + 1})),
                format!("{upload}/content_length"),
            ),
            (
                request(json!({"method": "presigned", "content_length": 1, "file_name": ""})),
                format!("{upload}/file_name"),
            ),
            (
                request(
                    json!({"method": "presigned", "content_length": 1, "file_name": "a".repeat(256)}),
                ),
                format!("{upload}/file_name"),
            ),
            (
                request(json!({"method": "presigned", "content_length": 1, "file_name": 7})),
                format!("{upload}/file_name"),
            ),
            (
                request(
                    json!({"method": "presigned", "content_length": 1, "content_encoding": "br"}),
                ),
                format!("{upload}/content_encoding"),
            ),
            (
                request(json!({"method": "presigned", "content_length": 1, "size": 1})),
                format!("{upload}/size"),
            ),
        ];
        for (doc, pointer) in cases {
            let err = parse(doc.clone()).expect_err(&doc.to_string());
            assert_eq!(err.code(), "invalid", "{doc}");
            assert_eq!(pointer_of(err), pointer, "{doc}");
        }
        let err = parse_request(b"{not json", MAX).unwrap_err();
        assert_eq!(pointer_of(err), "");
        assert!(parse(request(
            json!({"method": "presigned", "content_length": 1, "file_name": "é".repeat(255)})
        ))
        .is_ok());
    }
}
