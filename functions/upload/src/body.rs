//! Getting the file out of the request: multipart `file` part or raw JSON body, either
//! possibly gzip-compressed (by magic bytes or `Content-Encoding: gzip`), and the
//! upload-time structural check of its content.

use std::io::Read;

use bytes::Bytes;
use flate2::read::GzDecoder;
use lambda_http::http::header;
use lambda_http::Request;
use shared::jsonapi::ErrorSource;
use shared::ocsf::{check_gzip_structure, check_structure, StructureError};
use shared::ApiError;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// A multipart body sent with `Content-Encoding: gzip` must be inflated whole to be
/// parsed, so it gets a tighter bound than a gzip file part (which streams).
const MULTIPART_INFLATE_LIMIT: u64 = 128 * 1024 * 1024;

/// The uploaded file, exactly as the client sent it (gzip stays compressed).
#[derive(Debug)]
pub struct UploadedFile {
    pub bytes: Bytes,
    pub gzip: bool,
    pub file_name: Option<String>,
}

impl UploadedFile {
    /// Checks the content is one JSON array and counts its records.
    pub fn count_records(&self, max_decompressed: u64) -> Result<u64, ApiError> {
        let counted = if self.gzip {
            check_gzip_structure(&self.bytes, max_decompressed)
        } else {
            check_structure(&self.bytes)
        };
        counted.map_err(|e| match e {
            StructureError::TooLarge { .. } => ApiError::FileTooLarge(e.to_string()),
            StructureError::NotJson { .. } | StructureError::NotAnArray { .. } => {
                ApiError::invalid_at(e.to_string(), ErrorSource::Pointer("/file".into()))
            }
            StructureError::NotUtf8 { .. } | StructureError::CorruptGzip(_) => {
                ApiError::invalid(e.to_string())
            }
        })
    }
}

pub async fn extract_file(request: &Request, max_bytes: usize) -> Result<UploadedFile, ApiError> {
    let raw: &[u8] = request.body().as_ref();
    if raw.len() > max_bytes {
        return Err(ApiError::FileTooLarge(format!(
            "the request body is {} bytes; direct uploads take at most {max_bytes} bytes. \
             Compress the file with gzip, or use a presigned upload for large files",
            raw.len()
        )));
    }
    let headers = request.headers();
    let content_encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase());
    let encoded_gzip = match content_encoding.as_deref() {
        None | Some("") | Some("identity") => false,
        Some("gzip") | Some("x-gzip") => true,
        Some(other) => {
            return Err(ApiError::UnsupportedMediaType(format!(
                "unsupported Content-Encoding {other:?}: send gzip or no encoding"
            )))
        }
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "multipart/form-data" => {
            let body = if encoded_gzip {
                inflate(raw, MULTIPART_INFLATE_LIMIT)?
            } else {
                Bytes::copy_from_slice(raw)
            };
            let (bytes, file_name) = multipart_file(content_type, body).await?;
            Ok(UploadedFile {
                gzip: bytes.starts_with(&GZIP_MAGIC),
                bytes,
                file_name,
            })
        }
        "application/json" => Ok(UploadedFile {
            gzip: encoded_gzip || raw.starts_with(&GZIP_MAGIC),
            bytes: Bytes::copy_from_slice(raw),
            file_name: None,
        }),
        _ => Err(ApiError::UnsupportedMediaType(format!(
            "unsupported Content-Type {content_type:?}: send multipart/form-data with a \
             \"file\" part, or application/json"
        ))),
    }
}

async fn multipart_file(
    content_type: &str,
    body: Bytes,
) -> Result<(Bytes, Option<String>), ApiError> {
    let boundary = multer::parse_boundary(content_type)
        .map_err(|e| ApiError::invalid(format!("the multipart Content-Type is malformed: {e}")))?;
    let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    loop {
        let field = multipart
            .next_field()
            .await
            .map_err(|e| ApiError::invalid(format!("the multipart body is malformed: {e}")))?;
        let Some(field) = field else {
            return Err(ApiError::invalid_at(
                "the multipart body has no \"file\" part",
                ErrorSource::Pointer("/file".into()),
            ));
        };
        if field.name() == Some("file") {
            let name = field.file_name().map(str::to_string);
            let bytes = field.bytes().await.map_err(|e| {
                ApiError::invalid(format!("the multipart \"file\" part is malformed: {e}"))
            })?;
            return Ok((bytes, name));
        }
    }
}

/// Decompresses a whole gzip body, refusing output past `limit`.
fn inflate(data: &[u8], limit: u64) -> Result<Bytes, ApiError> {
    let mut out = Vec::new();
    GzDecoder::new(data)
        .take(limit + 1)
        .read_to_end(&mut out)
        .map_err(|e| ApiError::invalid(format!("the gzip data is corrupt: {e}")))?;
    if out.len() as u64 > limit {
        return Err(ApiError::FileTooLarge(format!(
            "a multipart body sent with Content-Encoding: gzip may inflate to at most {limit} \
             bytes; gzip the file part itself instead, or use a presigned upload"
        )));
    }
    Ok(Bytes::from(out))
}
