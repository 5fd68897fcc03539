//! Uploaded files in S3.

use std::time::{Duration, SystemTime};

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use bytes::Bytes;

use super::StoreError;

/// A presigned `PUT`: the URL and the headers the client must send exactly as given
/// (they are part of the signature).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresignedPut {
    pub url: String,
    pub headers: Vec<(String, String)>,
}

/// What a presigned `PUT` allows the client to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutPermit<'a> {
    pub key: &'a str,
    pub content_type: &'a str,
    pub content_length: u64,
    pub content_encoding: Option<&'a str>,
    /// When the signature starts and stops being valid.
    pub valid_from: SystemTime,
    pub valid_for: Duration,
}

#[derive(Clone, Debug)]
pub struct ObjectStore {
    client: Client,
    bucket: String,
}

impl ObjectStore {
    pub fn new(client: Client, bucket: &str) -> Self {
        Self {
            client,
            bucket: bucket.to_string(),
        }
    }

    /// Signs a `PUT` of exactly one object (no network call: the signature is computed
    /// with the function's own credentials, so the URL lives at most as long as they do).
    pub async fn presign_put(&self, permit: &PutPermit<'_>) -> Result<PresignedPut, StoreError> {
        let config = PresigningConfig::builder()
            .start_time(permit.valid_from)
            .expires_in(permit.valid_for)
            .build()
            .map_err(|e| StoreError::build("presign PutObject", e))?;
        let length = i64::try_from(permit.content_length)
            .map_err(|e| StoreError::build("presign PutObject", e))?;
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(permit.key)
            .content_type(permit.content_type)
            .content_length(length)
            .set_content_encoding(permit.content_encoding.map(str::to_string))
            .presigned(config)
            .await
            .map_err(|e| StoreError::build("presign PutObject", e))?;
        Ok(PresignedPut {
            url: request.uri().to_string(),
            headers: request
                .headers()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect(),
        })
    }

    /// Whether an object exists (HeadObject).
    pub async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(false),
            Err(err) => Err(StoreError::aws("HeadObject", err)),
        }
    }

    pub async fn put(
        &self,
        key: &str,
        body: Bytes,
        content_encoding: Option<&str>,
    ) -> Result<(), StoreError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .set_content_encoding(content_encoding.map(str::to_string))
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| StoreError::aws("PutObject", e))?;
        Ok(())
    }

    /// The object from byte `from` on, as a stream read as it is consumed.
    pub async fn open(
        &self,
        key: &str,
        from: u64,
    ) -> Result<Box<dyn tokio::io::AsyncRead + Send + Unpin>, StoreError> {
        let output = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .set_range((from > 0).then(|| format!("bytes={from}-")))
            .send()
            .await
            .map_err(|e| StoreError::aws("GetObject", e))?;
        Ok(Box::new(output.body.into_async_read()))
    }

    /// `len` bytes of the object from byte `offset` (one ranged GET).
    pub async fn read_range(&self, key: &str, offset: u64, len: u64) -> Result<Bytes, StoreError> {
        if len == 0 {
            return Ok(Bytes::new());
        }
        let output = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .range(format!("bytes={offset}-{}", offset + len - 1))
            .send()
            .await
            .map_err(|e| StoreError::aws("GetObject range", e))?;
        let data = output
            .body
            .collect()
            .await
            .map_err(|e| StoreError::build("GetObject body", e))?
            .into_bytes();
        if data.len() as u64 != len {
            return Err(StoreError::Corrupt(format!(
                "{key}: wanted {len} bytes at {offset}, got {}",
                data.len()
            )));
        }
        Ok(data)
    }

    /// `len` bytes from byte `offset` of the inflated content of a gzip-compressed object
    /// (one GET of the whole object; inflating stops once the range is read).
    pub async fn read_inflated_range(
        &self,
        key: &str,
        offset: u64,
        len: u64,
    ) -> Result<Bytes, StoreError> {
        use std::io::Read;

        let compressed = self.get(key).await?;
        let corrupt = |what: String| StoreError::Corrupt(format!("{key}: {what}"));
        let mut inflated = flate2::read::GzDecoder::new(compressed.as_ref());
        let skipped = std::io::copy(&mut (&mut inflated).take(offset), &mut std::io::sink())
            .map_err(|e| corrupt(e.to_string()))?;
        let mut data = Vec::with_capacity(usize::try_from(len).unwrap_or(0).min(1 << 20));
        inflated
            .take(len)
            .read_to_end(&mut data)
            .map_err(|e| corrupt(e.to_string()))?;
        if skipped != offset || data.len() as u64 != len {
            return Err(corrupt(format!(
                "wanted {len} bytes at {offset} of the inflated content, got {}",
                data.len()
            )));
        }
        Ok(data.into())
    }

    /// The whole object.
    pub async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        let output = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| StoreError::aws("GetObject", e))?;
        let data = output
            .body
            .collect()
            .await
            .map_err(|e| StoreError::build("GetObject body", e))?;
        Ok(data.into_bytes())
    }
}
