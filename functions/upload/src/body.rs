//! Getting the file out of the request: multipart `file` part or raw JSON body, either
//! possibly gzip-compressed (by magic bytes or `Content-Encoding: gzip`).

use std::io::Read;

use bytes::Bytes;
use flate2::read::GzDecoder;
use lambda_http::http::header;
use lambda_http::Request;
use shared::ApiError;

/// Decompressed size above which a gzip body is refused (gzip-bomb guard).
pub const DECOMPRESSED_LIMIT: u64 = 1024 * 1024 * 1024;
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The uploaded file, decompressed.
#[derive(Debug)]
pub struct UploadedFile {
    pub json: Bytes,
    pub file_name: Option<String>,
    /// Size of the file as the client sent it (the `file` part or the raw body),
    /// before a gzip file is decompressed.
    pub file_size: usize,
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
    let encoded_gzip = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("gzip"));
    let body = if encoded_gzip {
        gunzip(raw)?
    } else {
        Bytes::copy_from_slice(raw)
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
    let (file, file_name) = match mime.as_str() {
        "multipart/form-data" => multipart_file(content_type, body).await?,
        "application/json" => (body, None),
        _ => {
            return Err(ApiError::UnsupportedMediaType(format!(
                "unsupported Content-Type {content_type:?}: send multipart/form-data with a \
                 \"file\" part, or application/json"
            )))
        }
    };
    let file_size = file.len();
    let json = if file.starts_with(&GZIP_MAGIC) {
        gunzip(&file)?
    } else {
        file
    };
    Ok(UploadedFile {
        json,
        file_name,
        file_size,
    })
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
                shared::jsonapi::ErrorSource::Pointer("/file".into()),
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

/// Decompresses, stopping as soon as the output passes the limit.
fn gunzip(data: &[u8]) -> Result<Bytes, ApiError> {
    let mut out = Vec::with_capacity(data.len().saturating_mul(4).min(64 << 20));
    GzDecoder::new(data)
        .take(DECOMPRESSED_LIMIT + 1)
        .read_to_end(&mut out)
        .map_err(|e| ApiError::invalid(format!("the gzip data is corrupt: {e}")))?;
    if out.len() as u64 > DECOMPRESSED_LIMIT {
        return Err(ApiError::FileTooLarge(format!(
            "the file decompresses to more than {DECOMPRESSED_LIMIT} bytes; use a presigned upload"
        )));
    }
    Ok(Bytes::from(out))
}
