//! Tenant and API-key administration, for the local stack and for a deployment (with the
//! operator's AWS credentials). The `tenants` and `keys` subcommands of the binary call
//! these; the local stack uses [`create_key`] for its printed key.

use anyhow::{bail, Result};
use serde_json::{json, Value};
use shared::auth::{generate_key, validate_tenant_id, KeyInfo, Permission, StoredKey};
use shared::store::{KeysStore, PutKeyOutcome, RevokeOutcome, Tenant};
use time::OffsetDateTime;

/// What a new key should be.
#[derive(Debug, Clone)]
pub struct NewKey<'a> {
    pub tenant_id: &'a str,
    pub name: &'a str,
    pub permissions: &'a [Permission],
    pub expires_at: Option<OffsetDateTime>,
}

/// A key just created: the full key (shown once, never stored) and what was stored.
#[derive(Debug)]
pub struct CreatedKey {
    pub full_key: String,
    pub info: KeyInfo,
}

/// Creates a tenant; `false` if it already existed.
pub async fn create_tenant(keys: &KeysStore, tenant_id: &str, name: &str) -> Result<bool> {
    validate_tenant_id(tenant_id)?;
    Ok(keys.create_tenant(tenant_id, name).await?)
}

pub async fn list_tenants(keys: &KeysStore) -> Result<Vec<Tenant>> {
    Ok(keys.list_tenants().await?)
}

/// Creates a key for an existing tenant.
pub async fn issue_key(keys: &KeysStore, new: &NewKey<'_>) -> Result<CreatedKey> {
    validate_tenant_id(new.tenant_id)?;
    if new.name.trim().is_empty() {
        bail!("a key needs a non-empty name");
    }
    if new.permissions.is_empty() {
        bail!("a key needs at least one permission");
    }
    let now = shared::time::now();
    if new.expires_at.is_some_and(|at| at <= now) {
        bail!("the expiry must be in the future");
    }
    let mut permissions = new.permissions.to_vec();
    permissions.sort();
    permissions.dedup();
    // A prefix collision is a one-in-10^11 draw; three tries are plenty.
    for _ in 0..3 {
        let key = generate_key();
        let stored = StoredKey {
            info: KeyInfo {
                prefix: key.prefix,
                tenant_id: new.tenant_id.to_string(),
                name: new.name.to_string(),
                permissions: permissions.clone(),
                created_at: now,
                expires_at: new.expires_at,
                last_used_at: None,
                revoked_at: None,
            },
            secret_hash: key.secret_hash,
        };
        match keys.put_key(&stored).await? {
            PutKeyOutcome::Created => {
                return Ok(CreatedKey {
                    full_key: key.full_key,
                    info: stored.info,
                })
            }
            PutKeyOutcome::NoSuchTenant => bail!(
                "tenant {:?} does not exist; create it first with `ocsf-ingest tenants create --tenant {}`",
                new.tenant_id,
                new.tenant_id
            ),
            PutKeyOutcome::PrefixTaken => continue,
        }
    }
    bail!("could not draw an unused key prefix; try again")
}

/// Creates the tenant if needed and a new key for it; returns the full key, which is
/// shown once and never stored. The local stack's shortcut.
pub async fn create_key(
    keys: &KeysStore,
    tenant_id: &str,
    name: &str,
    permissions: &[Permission],
    expires_at: Option<OffsetDateTime>,
) -> Result<String> {
    create_tenant(keys, tenant_id, tenant_id).await?;
    let created = issue_key(
        keys,
        &NewKey {
            tenant_id,
            name,
            permissions,
            expires_at,
        },
    )
    .await?;
    Ok(created.full_key)
}

/// The tenant's keys, oldest first; an unknown tenant is an error rather than an empty
/// list, so a typo does not look like "no keys".
pub async fn list_keys(keys: &KeysStore, tenant_id: &str) -> Result<Vec<KeyInfo>> {
    validate_tenant_id(tenant_id)?;
    if keys.get_tenant(tenant_id).await?.is_none() {
        bail!("tenant {tenant_id:?} does not exist");
    }
    Ok(keys.list_keys(tenant_id).await?)
}

/// Revokes one of the tenant's keys, named by prefix.
pub async fn revoke_key(keys: &KeysStore, tenant_id: &str, prefix: &str) -> Result<RevokeOutcome> {
    validate_tenant_id(tenant_id)?;
    Ok(keys
        .revoke_key(tenant_id, prefix, shared::time::now())
        .await?)
}

fn timestamp(t: Option<OffsetDateTime>) -> Value {
    t.map_or(Value::Null, |t| Value::String(shared::time::format(t)))
}

/// One key as `keys list --json` prints it: never the secret nor its hash.
pub fn key_json(key: &KeyInfo, now: OffsetDateTime) -> Value {
    json!({
        "prefix": key.prefix,
        "tenant": key.tenant_id,
        "name": key.name,
        "permissions": key.permissions.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
        "state": key.state(now).as_str(),
        "created_at": timestamp(Some(key.created_at)),
        "expires_at": timestamp(key.expires_at),
        "last_used_at": timestamp(key.last_used_at),
        "revoked_at": timestamp(key.revoked_at),
    })
}

/// The keys as an aligned text table, one row per key.
pub fn keys_table(keys: &[KeyInfo], now: OffsetDateTime) -> String {
    let dash = || "-".to_string();
    let when = |t: Option<OffsetDateTime>| t.map_or_else(dash, shared::time::format);
    let mut rows = vec![[
        "PREFIX",
        "NAME",
        "PERMISSIONS",
        "STATE",
        "CREATED",
        "EXPIRES",
        "LAST USED",
        "REVOKED",
    ]
    .map(String::from)];
    for key in keys {
        rows.push([
            key.prefix.clone(),
            key.name.clone(),
            key.permissions
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>()
                .join(","),
            key.state(now).as_str().to_string(),
            when(Some(key.created_at)),
            when(key.expires_at),
            when(key.last_used_at),
            when(key.revoked_at),
        ]);
    }
    let widths: Vec<usize> = (0..8)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    rows.iter()
        .map(|row| {
            let line: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, width)| format!("{cell:<width$}"))
                .collect();
            line.join("  ").trim_end().to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn key(prefix: &str, revoked: bool) -> KeyInfo {
        KeyInfo {
            prefix: prefix.into(),
            tenant_id: "acme".into(),
            name: "ci".into(),
            permissions: vec![Permission::ManageIngestions, Permission::ReadFindings],
            created_at: datetime!(2026-01-02 03:04:05.000006 UTC),
            expires_at: None,
            last_used_at: None,
            revoked_at: revoked.then_some(datetime!(2026-01-03 00:00:00 UTC)),
        }
    }

    #[test]
    fn the_table_aligns_columns_and_shows_absent_times_as_dashes() {
        let now = datetime!(2026-02-01 00:00:00 UTC);
        let table = keys_table(&[key("ABCDEFGH", false), key("JKMNPQRS", true)], now);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(
            lines[1],
            "ABCDEFGH  ci    manage_ingestions,read_findings  active   \
             2026-01-02T03:04:05.000006Z  -        -          -"
        );
        assert!(lines[2].starts_with("JKMNPQRS  ci    manage_ingestions,read_findings  revoked"));
        assert!(lines[2].ends_with("2026-01-03T00:00:00.000000Z"));
        assert!(lines[0].starts_with("PREFIX    NAME  PERMISSIONS"));
    }

    #[test]
    fn json_lists_every_field_but_the_secret() {
        let now = datetime!(2026-02-01 00:00:00 UTC);
        assert_eq!(
            key_json(&key("ABCDEFGH", true), now),
            json!({"prefix": "ABCDEFGH", "tenant": "acme", "name": "ci",
                   "permissions": ["manage_ingestions", "read_findings"], "state": "revoked",
                   "created_at": "2026-01-02T03:04:05.000006Z", "expires_at": null,
                   "last_used_at": null, "revoked_at": "2026-01-03T00:00:00.000000Z"})
        );
    }
}
