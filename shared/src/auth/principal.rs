use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use super::key::{hash_secret, ApiKey};
use crate::jsonapi::ApiError;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    ManageIngestions,
    ReadFindings,
}

impl Permission {
    pub const ALL: [Permission; 2] = [Permission::ManageIngestions, Permission::ReadFindings];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::ManageIngestions => "manage_ingestions",
            Permission::ReadFindings => "read_findings",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// A key as stored: never the secret itself.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredKey {
    pub prefix: String,
    pub tenant_id: String,
    pub name: String,
    pub secret_hash: String,
    pub permissions: Vec<Permission>,
    pub created_at: OffsetDateTime,
    pub expires_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
}

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    pub tenant_id: String,
    pub key_prefix: String,
    pub permissions: Vec<Permission>,
}

impl StoredKey {
    /// Checks a presented key against this stored one. An unknown prefix and a wrong
    /// secret produce the same error, so a caller cannot probe for prefixes.
    pub fn verify(
        stored: Option<&StoredKey>,
        presented: &ApiKey<'_>,
        now: OffsetDateTime,
    ) -> Result<Principal, ApiError> {
        let presented_hash = hash_secret(presented.secret);
        let invalid = || ApiError::AuthenticationFailed("invalid API key".into());
        let Some(stored) = stored else {
            return Err(invalid());
        };
        let matches: bool = presented_hash
            .as_bytes()
            .ct_eq(stored.secret_hash.as_bytes())
            .into();
        if !matches {
            return Err(invalid());
        }
        if stored.revoked_at.is_some() {
            return Err(ApiError::AuthenticationFailed(
                "this API key has been revoked".into(),
            ));
        }
        if stored.expires_at.is_some_and(|at| at <= now) {
            return Err(ApiError::AuthenticationFailed(
                "this API key has expired".into(),
            ));
        }
        Ok(Principal {
            tenant_id: stored.tenant_id.clone(),
            key_prefix: stored.prefix.clone(),
            permissions: stored.permissions.clone(),
        })
    }
}

impl Principal {
    pub fn require(&self, permission: Permission) -> Result<(), ApiError> {
        if self.permissions.contains(&permission) {
            Ok(())
        } else {
            Err(ApiError::PermissionDenied(format!(
                "this API key lacks the {} permission",
                permission.as_str()
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::generate_key;
    use time::Duration;

    fn stored(secret_hash: String) -> StoredKey {
        StoredKey {
            prefix: "ABCDEFGH".into(),
            tenant_id: "t1".into(),
            name: "ci".into(),
            secret_hash,
            permissions: vec![Permission::ManageIngestions],
            created_at: OffsetDateTime::UNIX_EPOCH,
            expires_at: None,
            revoked_at: None,
        }
    }

    #[test]
    fn verify_accepts_the_right_secret_only() {
        let key = generate_key();
        let other = generate_key();
        let s = stored(key.secret_hash.clone());
        let now = OffsetDateTime::now_utc();
        let secret = key.full_key.split_once('.').unwrap().1;
        let presented = ApiKey {
            prefix: "ABCDEFGH",
            secret,
        };
        let principal = StoredKey::verify(Some(&s), &presented, now).unwrap();
        assert_eq!(principal.tenant_id, "t1");
        assert!(principal.require(Permission::ManageIngestions).is_ok());
        assert_eq!(
            principal
                .require(Permission::ReadFindings)
                .unwrap_err()
                .code(),
            "permission_denied"
        );

        let wrong = ApiKey {
            prefix: "ABCDEFGH",
            secret: other.full_key.split_once('.').unwrap().1,
        };
        let unknown = StoredKey::verify(None, &presented, now).unwrap_err();
        assert_eq!(
            StoredKey::verify(Some(&s), &wrong, now).unwrap_err(),
            unknown
        );
    }

    #[test]
    fn expired_and_revoked_keys_fail_even_with_the_right_secret() {
        let key = generate_key();
        let secret = key.full_key.split_once('.').unwrap().1;
        let presented = ApiKey {
            prefix: "ABCDEFGH",
            secret,
        };
        let now = OffsetDateTime::now_utc();
        let mut s = stored(key.secret_hash.clone());
        s.expires_at = Some(now - Duration::seconds(1));
        let err = StoredKey::verify(Some(&s), &presented, now).unwrap_err();
        assert_eq!(err.to_string(), "this API key has expired");
        s.expires_at = None;
        s.revoked_at = Some(now);
        let err = StoredKey::verify(Some(&s), &presented, now).unwrap_err();
        assert_eq!(err.to_string(), "this API key has been revoked");
    }
}
