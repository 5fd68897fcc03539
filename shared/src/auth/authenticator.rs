//! Turns an `Authorization` header into a [`Principal`].
//!
//! Two small per-process memories keep a warm function from touching DynamoDB on every
//! request:
//! - a cache of key lookups (hits and misses), trusted for `api_key_cache_seconds` and
//!   never longer than [`MAX_CACHE_TTL`]: that is how long a revoked key may keep working
//!   in a function that looked it up just before the revocation;
//! - when each key's `last_used_at` was last written, so that it is written at most once
//!   per [`LAST_USED_RESOLUTION`] per key (and the write itself is conditional, so
//!   concurrent functions do not pile up either).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use super::key::{parse_authorization, KeyFormatError};
use super::principal::{KeyInfo, Principal, StoredKey, LAST_USED_RESOLUTION};
use crate::jsonapi::ApiError;
use crate::store::KeysStore;

/// The longest a key lookup is trusted, whatever the configuration says.
pub const MAX_CACHE_TTL: Duration = Duration::from_secs(60);

/// Entries kept per memory before it is emptied (prefixes are validated first, so only
/// well-formed ones get here; this bounds memory under a flood of random prefixes).
const MAX_ENTRIES: usize = 10_000;

/// The configured lookup cache lifetime, capped at [`MAX_CACHE_TTL`].
pub fn cache_ttl(configured: Duration) -> Duration {
    configured.min(MAX_CACHE_TTL)
}

#[derive(Debug)]
pub struct Authenticator {
    keys: KeysStore,
    ttl: Duration,
    cache: Mutex<HashMap<String, (Instant, Option<StoredKey>)>>,
    last_use_written: Mutex<HashMap<String, Instant>>,
}

impl Authenticator {
    /// `ttl` is capped at [`MAX_CACHE_TTL`]; zero disables the cache.
    pub fn new(keys: KeysStore, ttl: Duration) -> Self {
        Self {
            keys,
            ttl: cache_ttl(ttl),
            cache: Mutex::new(HashMap::new()),
            last_use_written: Mutex::new(HashMap::new()),
        }
    }

    /// 401 for a missing, malformed, unknown, wrong, expired or revoked key; the caller
    /// checks permissions on the returned principal (403).
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, ApiError> {
        let presented = parse_authorization(authorization).map_err(|e| match e {
            KeyFormatError::Missing => ApiError::NotAuthenticated(e.to_string()),
            KeyFormatError::WrongScheme | KeyFormatError::Malformed => {
                ApiError::AuthenticationFailed(e.to_string())
            }
        })?;
        let stored = self.lookup(presented.prefix).await?;
        let now = crate::time::now();
        let principal = StoredKey::verify(stored.as_ref(), &presented, now)?;
        if let Some(stored) = &stored {
            self.record_use(&stored.info, now).await;
        }
        Ok(principal)
    }

    async fn lookup(&self, prefix: &str) -> Result<Option<StoredKey>, ApiError> {
        if let Some(hit) = self.cached(prefix) {
            return Ok(hit);
        }
        let stored = self.keys.get_key(prefix).await.map_err(|e| {
            tracing::error!(error = %e, "API key lookup failed");
            ApiError::Internal
        })?;
        if !self.ttl.is_zero() {
            if let Ok(mut cache) = self.cache.lock() {
                if cache.len() >= MAX_ENTRIES {
                    cache.clear();
                }
                cache.insert(prefix.to_string(), (Instant::now(), stored.clone()));
            }
        }
        Ok(stored)
    }

    fn cached(&self, prefix: &str) -> Option<Option<StoredKey>> {
        let cache = self.cache.lock().ok()?;
        let (at, stored) = cache.get(prefix)?;
        (at.elapsed() < self.ttl).then(|| stored.clone())
    }

    /// Records the key's use if what is stored is older than the resolution and this
    /// process has not written it within the resolution. A failure only costs accuracy
    /// of `last_used_at`, never the request.
    async fn record_use(&self, key: &KeyInfo, now: OffsetDateTime) {
        if !key.last_used_is_stale(now) || !self.claim_last_use_write(&key.prefix) {
            return;
        }
        if let Err(e) = self.keys.record_last_use(&key.prefix, now).await {
            tracing::warn!(error = %e, key_prefix = %key.prefix, "could not record the API key's last use");
        }
    }

    fn claim_last_use_write(&self, prefix: &str) -> bool {
        let Ok(mut written) = self.last_use_written.lock() else {
            return false;
        };
        let resolution = LAST_USED_RESOLUTION.unsigned_abs();
        if written
            .get(prefix)
            .is_some_and(|at| at.elapsed() < resolution)
        {
            return false;
        }
        if written.len() >= MAX_ENTRIES {
            written.clear();
        }
        written.insert(prefix.to_string(), Instant::now());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revoked_key_is_trusted_from_cache_for_at_most_a_minute() {
        assert_eq!(cache_ttl(Duration::from_secs(30)), Duration::from_secs(30));
        assert_eq!(cache_ttl(Duration::from_secs(3600)), MAX_CACHE_TTL);
        assert_eq!(cache_ttl(Duration::ZERO), Duration::ZERO);
    }
}
