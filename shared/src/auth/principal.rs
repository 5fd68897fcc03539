use subtle::ConstantTimeEq;
use time::{Duration, OffsetDateTime};

use super::key::{hash_secret, ApiKey};
use crate::jsonapi::ApiError;

/// `last_used_at` is written at most once per this interval per key, so authentication
/// does not turn every request into a DynamoDB write.
pub const LAST_USED_RESOLUTION: Duration = Duration::seconds(60);

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
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

/// Everything known about a key except its secret: what `keys list` shows.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyInfo {
    pub prefix: String,
    pub tenant_id: String,
    pub name: String,
    pub permissions: Vec<Permission>,
    pub created_at: OffsetDateTime,
    pub expires_at: Option<OffsetDateTime>,
    pub last_used_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
}

/// Whether a key can authenticate right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    Active,
    Expired,
    Revoked,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Active => "active",
            KeyState::Expired => "expired",
            KeyState::Revoked => "revoked",
        }
    }
}

impl KeyInfo {
    /// Revocation wins over expiry: it is the operator's explicit act.
    pub fn state(&self, now: OffsetDateTime) -> KeyState {
        if self.revoked_at.is_some() {
            KeyState::Revoked
        } else if self.expires_at.is_some_and(|at| at <= now) {
            KeyState::Expired
        } else {
            KeyState::Active
        }
    }

    /// Whether a successful request at `now` should record itself as the key's last use.
    pub fn last_used_is_stale(&self, now: OffsetDateTime) -> bool {
        self.last_used_at
            .is_none_or(|at| now - at >= LAST_USED_RESOLUTION)
    }
}

/// A key as stored: its description and the SHA-256 of its secret, never the secret.
#[derive(Clone, PartialEq)]
pub struct StoredKey {
    pub info: KeyInfo,
    pub secret_hash: String,
}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey")
            .field("info", &self.info)
            .field("secret_hash", &"<redacted>")
            .finish()
    }
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
    /// secret produce the same error (and both compute a hash), so a caller cannot probe
    /// for prefixes.
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
        if !matches || stored.info.prefix != presented.prefix {
            return Err(invalid());
        }
        match stored.info.state(now) {
            KeyState::Revoked => Err(ApiError::AuthenticationFailed(
                "this API key has been revoked".into(),
            )),
            KeyState::Expired => Err(ApiError::AuthenticationFailed(
                "this API key has expired".into(),
            )),
            KeyState::Active => Ok(Principal {
                tenant_id: stored.info.tenant_id.clone(),
                key_prefix: stored.info.prefix.clone(),
                permissions: stored.info.permissions.clone(),
            }),
        }
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

    fn stored(secret_hash: String) -> StoredKey {
        StoredKey {
            info: KeyInfo {
                prefix: "ABCDEFGH".into(),
                tenant_id: "t1".into(),
                name: "ci".into(),
                permissions: vec![Permission::ManageIngestions],
                created_at: OffsetDateTime::UNIX_EPOCH,
                expires_at: None,
                last_used_at: None,
                revoked_at: None,
            },
            secret_hash,
        }
    }

    fn secret_of(full_key: &str) -> &str {
        full_key.split_once('.').unwrap().1
    }

    #[test]
    fn verify_accepts_the_right_secret_only() {
        let key = generate_key();
        let other = generate_key();
        let s = stored(key.secret_hash.clone());
        let now = OffsetDateTime::now_utc();
        let presented = ApiKey {
            prefix: "ABCDEFGH",
            secret: secret_of(&key.full_key),
        };
        let principal = StoredKey::verify(Some(&s), &presented, now).unwrap();
        assert_eq!(principal.tenant_id, "t1");
        assert_eq!(principal.key_prefix, "ABCDEFGH");
        assert!(principal.require(Permission::ManageIngestions).is_ok());
        let denied = principal.require(Permission::ReadFindings).unwrap_err();
        assert_eq!(denied.code(), "permission_denied");
        assert_eq!(
            denied.to_string(),
            "this API key lacks the read_findings permission"
        );

        let wrong = ApiKey {
            prefix: "ABCDEFGH",
            secret: secret_of(&other.full_key),
        };
        let unknown = StoredKey::verify(None, &presented, now).unwrap_err();
        assert_eq!(unknown.code(), "authentication_failed");
        assert_eq!(
            StoredKey::verify(Some(&s), &wrong, now).unwrap_err(),
            unknown
        );
    }

    #[test]
    fn expired_and_revoked_keys_fail_even_with_the_right_secret() {
        let key = generate_key();
        let presented = ApiKey {
            prefix: "ABCDEFGH",
            secret: secret_of(&key.full_key),
        };
        let now = OffsetDateTime::now_utc();
        let mut s = stored(key.secret_hash.clone());
        s.info.expires_at = Some(now + Duration::seconds(1));
        assert!(StoredKey::verify(Some(&s), &presented, now).is_ok());
        s.info.expires_at = Some(now);
        let err = StoredKey::verify(Some(&s), &presented, now).unwrap_err();
        assert_eq!(err.to_string(), "this API key has expired");
        assert_eq!(s.info.state(now), KeyState::Expired);
        s.info.revoked_at = Some(now);
        let err = StoredKey::verify(Some(&s), &presented, now).unwrap_err();
        assert_eq!(err.to_string(), "this API key has been revoked");
        assert_eq!(s.info.state(now), KeyState::Revoked);
    }

    #[test]
    fn last_use_is_recorded_at_most_once_per_resolution() {
        let now = OffsetDateTime::now_utc();
        let mut s = stored(String::new());
        assert!(s.info.last_used_is_stale(now));
        s.info.last_used_at = Some(now - Duration::seconds(59));
        assert!(!s.info.last_used_is_stale(now));
        s.info.last_used_at = Some(now - LAST_USED_RESOLUTION);
        assert!(s.info.last_used_is_stale(now));
    }

    #[test]
    fn debug_output_never_shows_the_hash() {
        let s = stored("0123456789abcdef".into());
        let shown = format!("{s:?}");
        assert!(!shown.contains("0123456789abcdef"), "{shown}");
        assert!(shown.contains("ABCDEFGH"), "{shown}");
    }
}
