//! Tenant and API-key administration, for the local stack and for a deployment (with the
//! operator's AWS credentials).

use anyhow::Result;
use shared::auth::{generate_key, Permission, StoredKey};
use shared::store::KeysStore;
use time::OffsetDateTime;

/// Creates the tenant if needed and a new key for it; returns the full key, which is
/// shown once and never stored.
pub async fn create_key(
    keys: &KeysStore,
    tenant_id: &str,
    name: &str,
    permissions: &[Permission],
    expires_at: Option<OffsetDateTime>,
) -> Result<String> {
    keys.ensure_tenant(tenant_id, tenant_id).await?;
    let key = generate_key();
    keys.put_key(&StoredKey {
        prefix: key.prefix,
        tenant_id: tenant_id.to_string(),
        name: name.to_string(),
        secret_hash: key.secret_hash,
        permissions: permissions.to_vec(),
        created_at: shared::time::now(),
        expires_at,
        revoked_at: None,
    })
    .await?;
    Ok(key.full_key)
}
