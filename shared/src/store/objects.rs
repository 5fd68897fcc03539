//! Uploaded files in S3.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use bytes::Bytes;

use super::StoreError;

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
