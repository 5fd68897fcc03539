//! Idempotency keys: the first request with a key reserves it for one job and one file
//! content; a later request with the same key replays that job (or resumes it, if the
//! first request died half-way), and one with other content is a conflict. Records
//! expire after 24 h through DynamoDB TTL (`expires_at`); reads check the time too,
//! because TTL deletion lags.

use aws_sdk_dynamodb::Client;
use sha2::{Digest, Sha256};

use super::item::{get_s, n, opt_n, s};
use super::{condition_failed, StoreError};

/// How long a key is remembered.
pub const IDEMPOTENCY_TTL_SECONDS: i64 = 24 * 60 * 60;

#[derive(Clone, Debug)]
pub struct IdempotencyStore {
    client: Client,
    table: String,
}

/// What a key means for this request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// The key is now this request's.
    Fresh,
    /// The key was used with the same content, for this job.
    Replay { job_id: String, completed: bool },
    /// The key was used with other content.
    Conflict,
}

fn pk(tenant_id: &str, key: &str) -> String {
    // Hashing keeps arbitrary client strings out of the key schema and bounds its size.
    let digest = Sha256::digest(key.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("TENANT#{tenant_id}#IDEM#{hex}")
}

impl IdempotencyStore {
    pub fn new(client: Client, table: &str) -> Self {
        Self {
            client,
            table: table.to_string(),
        }
    }

    pub async fn reserve(
        &self,
        tenant_id: &str,
        key: &str,
        content_sha256: &str,
        job_id: &str,
        now_epoch: i64,
    ) -> Result<Reservation, StoreError> {
        for _ in 0..3 {
            let put = self
                .client
                .put_item()
                .table_name(&self.table)
                .item("pk", s(pk(tenant_id, key)))
                .item("sk", s("IDEM"))
                .item("job_id", s(job_id))
                .item("content_sha256", s(content_sha256))
                .item("state", s("reserved"))
                .item("expires_at", n(now_epoch + IDEMPOTENCY_TTL_SECONDS))
                .condition_expression("attribute_not_exists(pk) OR expires_at < :now")
                .expression_attribute_values(":now", n(now_epoch))
                .send()
                .await;
            match put {
                Ok(_) => return Ok(Reservation::Fresh),
                Err(err) if condition_failed(&err) => {}
                Err(err) => return Err(StoreError::aws("PutItem idempotency key", err)),
            }
            let existing = self
                .client
                .get_item()
                .table_name(&self.table)
                .key("pk", s(pk(tenant_id, key)))
                .key("sk", s("IDEM"))
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| StoreError::aws("GetItem idempotency key", e))?;
            // Gone (or expired) between the two calls: try to reserve again.
            let Some(item) = existing.item else { continue };
            if opt_n(&item, "expires_at")?.is_some_and(|at| (at as i64) < now_epoch) {
                continue;
            }
            if get_s(&item, "content_sha256")? != content_sha256 {
                return Ok(Reservation::Conflict);
            }
            return Ok(Reservation::Replay {
                job_id: get_s(&item, "job_id")?,
                completed: get_s(&item, "state")? == "done",
            });
        }
        Err(StoreError::Aws {
            operation: "PutItem idempotency key",
            message: "the key kept changing under concurrent requests".into(),
        })
    }

    /// Marks the key's job as durably accepted.
    pub async fn complete(&self, tenant_id: &str, key: &str) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk(tenant_id, key)))
            .key("sk", s("IDEM"))
            .update_expression("SET #state = :done")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":done", s("done"))
            .send()
            .await
            .map_err(|e| StoreError::aws("UpdateItem idempotency key", e))?;
        Ok(())
    }

    /// Frees a key whose request failed, so that a retry starts afresh.
    pub async fn release(
        &self,
        tenant_id: &str,
        key: &str,
        job_id: &str,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(pk(tenant_id, key)))
            .key("sk", s("IDEM"))
            .condition_expression("job_id = :job")
            .expression_attribute_values(":job", s(job_id))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if condition_failed(&err) => Ok(()),
            Err(err) => Err(StoreError::aws("DeleteItem idempotency key", err)),
        }
    }
}
