//! Tenants and API keys (layout in the module doc of `store`).
//!
//! The key item `KEY#<prefix>` is the single source of truth for a key: authentication
//! reads it with one GetItem, revocation and `last_used_at` update it. Each key also has
//! an immutable index item `TENANT#<t>` / `KEY#<prefix>` so that a tenant's keys can be
//! listed with one Query; both are written in one transaction, together with a check
//! that the tenant exists, so there is never a key without its tenant or index entry.

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Put, TransactWriteItem};
use aws_sdk_dynamodb::Client;
use time::OffsetDateTime;

use super::item::{get_s, get_ts, opt_ts, put_opt, query_all, s, scan_all, ts, Item};
use super::{condition_failed, StoreError};
use crate::auth::{KeyInfo, Permission, StoredKey, LAST_USED_RESOLUTION};

/// A tenant as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Tenant {
    pub tenant_id: String,
    pub name: String,
    pub created_at: OffsetDateTime,
}

/// What [`KeysStore::put_key`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutKeyOutcome {
    Created,
    /// No such tenant: nothing was written.
    NoSuchTenant,
    /// Another key already has this prefix (a one-in-10^11 draw): generate another.
    PrefixTaken,
}

/// What [`KeysStore::revoke_key`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeOutcome {
    Revoked(OffsetDateTime),
    /// It was revoked before, at this time (which is kept).
    AlreadyRevoked(OffsetDateTime),
    /// No key with this prefix belongs to the tenant.
    NotFound,
}

#[derive(Clone, Debug)]
pub struct KeysStore {
    client: Client,
    table: String,
}

fn tenant_pk(tenant_id: &str) -> AttributeValue {
    s(format!("TENANT#{tenant_id}"))
}

fn key_pk(prefix: &str) -> AttributeValue {
    s(format!("KEY#{prefix}"))
}

impl KeysStore {
    pub fn new(client: Client, table: &str) -> Self {
        Self {
            client,
            table: table.to_string(),
        }
    }

    /// Creates the tenant; `false` if it already existed (then nothing changes).
    pub async fn create_tenant(&self, tenant_id: &str, name: &str) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", tenant_pk(tenant_id))
            .item("sk", s("TENANT"))
            .item("tenant_id", s(tenant_id))
            .item("name", s(name))
            .item("created_at", ts(crate::time::now()))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if condition_failed(&err) => Ok(false),
            Err(err) => Err(StoreError::aws("PutItem tenant", err)),
        }
    }

    pub async fn get_tenant(&self, tenant_id: &str) -> Result<Option<Tenant>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", tenant_pk(tenant_id))
            .key("sk", s("TENANT"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::aws("GetItem tenant", e))?;
        output.item.as_ref().map(tenant_from).transpose()
    }

    /// Every tenant, by id. A Scan, for the operator's `tenants list` only: the table
    /// holds two small items per key and one per tenant.
    pub async fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        let scan = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression("sk = :tenant")
            .expression_attribute_values(":tenant", s("TENANT"));
        let mut tenants = scan_all(scan, "Scan tenants")
            .await?
            .iter()
            .map(tenant_from)
            .collect::<Result<Vec<_>, _>>()?;
        tenants.sort_by(|a, b| a.tenant_id.cmp(&b.tenant_id));
        Ok(tenants)
    }

    /// Writes a new key and its tenant index item, if the tenant exists and the prefix
    /// is free.
    pub async fn put_key(&self, key: &StoredKey) -> Result<PutKeyOutcome, StoreError> {
        let info = &key.info;
        let mut item = Item::from([
            ("pk".to_string(), key_pk(&info.prefix)),
            ("sk".to_string(), s("KEY")),
            ("prefix".to_string(), s(&info.prefix)),
            ("tenant_id".to_string(), s(&info.tenant_id)),
            ("name".to_string(), s(&info.name)),
            ("secret_hash".to_string(), s(&key.secret_hash)),
            (
                "permissions".to_string(),
                AttributeValue::Ss(
                    info.permissions
                        .iter()
                        .map(|p| p.as_str().to_string())
                        .collect(),
                ),
            ),
            ("created_at".to_string(), ts(info.created_at)),
        ]);
        put_opt(&mut item, "expires_at", info.expires_at.map(ts));
        put_opt(&mut item, "revoked_at", info.revoked_at.map(ts));
        let index = Item::from([
            ("pk".to_string(), tenant_pk(&info.tenant_id)),
            ("sk".to_string(), s(format!("KEY#{}", info.prefix))),
            ("prefix".to_string(), s(&info.prefix)),
            ("created_at".to_string(), ts(info.created_at)),
        ]);
        let build = |e| StoreError::build("TransactWriteItems key", e);
        let put = |item: Item| {
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(build)
        };
        let tenant_exists = ConditionCheck::builder()
            .table_name(&self.table)
            .key("pk", tenant_pk(&info.tenant_id))
            .key("sk", s("TENANT"))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(build)?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put(item)?).build())
            .transact_items(TransactWriteItem::builder().put(put(index)?).build())
            .transact_items(
                TransactWriteItem::builder()
                    .condition_check(tenant_exists)
                    .build(),
            )
            .send()
            .await;
        match result {
            Ok(_) => Ok(PutKeyOutcome::Created),
            // Which condition failed is told by the cancellation reasons, but asking is
            // simpler and does not depend on them.
            Err(err) if err.code() == Some("TransactionCanceledException") => {
                if self.get_tenant(&info.tenant_id).await?.is_none() {
                    Ok(PutKeyOutcome::NoSuchTenant)
                } else if self.get_key(&info.prefix).await?.is_some() {
                    Ok(PutKeyOutcome::PrefixTaken)
                } else {
                    Err(StoreError::aws("TransactWriteItems key", err))
                }
            }
            Err(err) => Err(StoreError::aws("TransactWriteItems key", err)),
        }
    }

    pub async fn get_key(&self, prefix: &str) -> Result<Option<StoredKey>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", key_pk(prefix))
            .key("sk", s("KEY"))
            .send()
            .await
            .map_err(|e| StoreError::aws("GetItem key", e))?;
        let Some(item) = output.item else {
            return Ok(None);
        };
        let permissions = match item.get("permissions") {
            Some(AttributeValue::Ss(values)) => {
                let mut permissions: Vec<Permission> =
                    values.iter().filter_map(|p| Permission::parse(p)).collect();
                permissions.sort();
                permissions
            }
            _ => Vec::new(),
        };
        Ok(Some(StoredKey {
            info: KeyInfo {
                prefix: get_s(&item, "prefix")?,
                tenant_id: get_s(&item, "tenant_id")?,
                name: get_s(&item, "name")?,
                permissions,
                created_at: get_ts(&item, "created_at")?,
                expires_at: opt_ts(&item, "expires_at")?,
                last_used_at: opt_ts(&item, "last_used_at")?,
                revoked_at: opt_ts(&item, "revoked_at")?,
            },
            secret_hash: get_s(&item, "secret_hash")?,
        }))
    }

    /// The tenant's keys, oldest first, without their hashes.
    pub async fn list_keys(&self, tenant_id: &str) -> Result<Vec<KeyInfo>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :key)")
            .expression_attribute_values(":pk", tenant_pk(tenant_id))
            .expression_attribute_values(":key", s("KEY#"));
        let prefixes = query_all(query, "Query tenant keys")
            .await?
            .iter()
            .map(|item| get_s(item, "prefix"))
            .collect::<Result<Vec<_>, _>>()?;
        // A tenant has a handful of keys; one GetItem each keeps the key item the only
        // place its state lives.
        let mut keys = Vec::with_capacity(prefixes.len());
        for prefix in prefixes {
            match self.get_key(&prefix).await? {
                Some(key) if key.info.tenant_id == tenant_id => keys.push(key.info),
                _ => {
                    return Err(StoreError::Corrupt(format!(
                        "tenant {tenant_id} lists key {prefix}, which is missing or not theirs"
                    )))
                }
            }
        }
        keys.sort_by(|a, b| (a.created_at, &a.prefix).cmp(&(b.created_at, &b.prefix)));
        Ok(keys)
    }

    /// Marks the tenant's key revoked (once: a second revocation keeps the first time).
    pub async fn revoke_key(
        &self,
        tenant_id: &str,
        prefix: &str,
        now: OffsetDateTime,
    ) -> Result<RevokeOutcome, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", key_pk(prefix))
            .key("sk", s("KEY"))
            .update_expression("SET revoked_at = :now")
            .condition_expression(
                "attribute_exists(pk) AND tenant_id = :tenant AND attribute_not_exists(revoked_at)",
            )
            .expression_attribute_values(":now", ts(now))
            .expression_attribute_values(":tenant", s(tenant_id))
            .send()
            .await;
        match result {
            Ok(_) => Ok(RevokeOutcome::Revoked(now)),
            Err(err) if condition_failed(&err) => Ok(match self.get_key(prefix).await? {
                Some(key) if key.info.tenant_id == tenant_id => match key.info.revoked_at {
                    Some(at) => RevokeOutcome::AlreadyRevoked(at),
                    None => RevokeOutcome::NotFound,
                },
                _ => RevokeOutcome::NotFound,
            }),
            Err(err) => Err(StoreError::aws("UpdateItem revoke key", err)),
        }
    }

    /// Sets `last_used_at` unless another writer set it within the last
    /// [`LAST_USED_RESOLUTION`] (timestamps share one fixed-width format, so they
    /// compare as strings).
    pub async fn record_last_use(
        &self,
        prefix: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", key_pk(prefix))
            .key("sk", s("KEY"))
            .update_expression("SET last_used_at = :now")
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(last_used_at) OR last_used_at < :cutoff)",
            )
            .expression_attribute_values(":now", ts(now))
            .expression_attribute_values(":cutoff", ts(now - LAST_USED_RESOLUTION))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if condition_failed(&err) => Ok(()),
            Err(err) => Err(StoreError::aws("UpdateItem key last use", err)),
        }
    }
}

fn tenant_from(item: &Item) -> Result<Tenant, StoreError> {
    Ok(Tenant {
        tenant_id: get_s(item, "tenant_id")?,
        name: get_s(item, "name")?,
        created_at: get_ts(item, "created_at")?,
    })
}
