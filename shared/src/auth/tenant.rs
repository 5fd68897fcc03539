//! Tenant ids. A tenant id is part of every storage key (`TENANT#<t>`, `TENANT#<t>#JOB#…`)
//! and of every S3 object key, so it is restricted to characters that cannot be confused
//! with those keys' separators.

pub const MAX_TENANT_ID_LEN: usize = 64;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid tenant id {0:?}: use 1 to 64 characters from a-z, A-Z, 0-9, '.', '_' and '-', \
     starting with a letter or digit"
)]
pub struct InvalidTenantId(pub String);

/// Checks a tenant id an operator chose.
pub fn validate_tenant_id(tenant_id: &str) -> Result<(), InvalidTenantId> {
    let bytes = tenant_id.as_bytes();
    let ok = !bytes.is_empty()
        && bytes.len() <= MAX_TENANT_ID_LEN
        && bytes[0].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(InvalidTenantId(tenant_id.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_cannot_contain_key_separators() {
        for good in [
            "acme",
            "other-tenant",
            "Acme.Corp_2",
            "dev",
            &"a".repeat(64),
        ] {
            assert_eq!(validate_tenant_id(good), Ok(()), "{good}");
        }
        for bad in ["", "a#b", "a/b", "a b", "-acme", ".", "é", &"a".repeat(65)] {
            assert!(validate_tenant_id(bad).is_err(), "{bad}");
        }
    }
}
