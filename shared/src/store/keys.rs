//! Tenants and API keys. A key item is found by its prefix; the secret is only a hash.

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

use super::item::{get_s, get_ts, opt_ts, put_opt, s, ts, Item};
use super::{condition_failed, StoreError};
use crate::auth::{Permission, StoredKey};

#[derive(Clone, Debug)]
pub struct KeysStore {
    client: Client,
    table: String,
}

impl KeysStore {
    pub fn new(client: Client, table: &str) -> Self {
        Self {
            client,
            table: table.to_string(),
        }
    }

    /// Creates the tenant if it does not exist yet.
    pub async fn ensure_tenant(&self, tenant_id: &str, name: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("TENANT#{tenant_id}")))
            .item("sk", s("TENANT"))
            .item("tenant_id", s(tenant_id))
            .item("name", s(name))
            .item("created_at", ts(crate::time::now()))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if condition_failed(&err) => Ok(()),
            Err(err) => Err(StoreError::aws("PutItem tenant", err)),
        }
    }

    pub async fn put_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        let mut item = Item::from([
            ("pk".to_string(), s(format!("KEY#{}", key.prefix))),
            ("sk".to_string(), s("KEY")),
            ("prefix".to_string(), s(&key.prefix)),
            ("tenant_id".to_string(), s(&key.tenant_id)),
            ("name".to_string(), s(&key.name)),
            ("secret_hash".to_string(), s(&key.secret_hash)),
            (
                "permissions".to_string(),
                AttributeValue::Ss(
                    key.permissions
                        .iter()
                        .map(|p| p.as_str().to_string())
                        .collect(),
                ),
            ),
            ("created_at".to_string(), ts(key.created_at)),
        ]);
        put_opt(&mut item, "expires_at", key.expires_at.map(ts));
        put_opt(&mut item, "revoked_at", key.revoked_at.map(ts));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|e| StoreError::aws("PutItem key", e))?;
        Ok(())
    }

    pub async fn get_key(&self, prefix: &str) -> Result<Option<StoredKey>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(format!("KEY#{prefix}")))
            .key("sk", s("KEY"))
            .send()
            .await
            .map_err(|e| StoreError::aws("GetItem key", e))?;
        let Some(item) = output.item else {
            return Ok(None);
        };
        let permissions = match item.get("permissions") {
            Some(AttributeValue::Ss(values)) => {
                values.iter().filter_map(|p| Permission::parse(p)).collect()
            }
            _ => Vec::new(),
        };
        Ok(Some(StoredKey {
            prefix: get_s(&item, "prefix")?,
            tenant_id: get_s(&item, "tenant_id")?,
            name: get_s(&item, "name")?,
            secret_hash: get_s(&item, "secret_hash")?,
            permissions,
            created_at: get_ts(&item, "created_at")?,
            expires_at: opt_ts(&item, "expires_at")?,
            revoked_at: opt_ts(&item, "revoked_at")?,
        }))
    }
}
