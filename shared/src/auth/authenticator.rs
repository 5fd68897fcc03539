//! Turns an `Authorization` header into a [`Principal`], with a short cache of key
//! lookups so a warm function does not read DynamoDB on every request. The cache lives
//! at most `api_key_cache_seconds`, which bounds how long a revoked key keeps working.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::key::{parse_authorization, KeyFormatError};
use super::principal::{Principal, StoredKey};
use crate::jsonapi::ApiError;
use crate::store::KeysStore;

#[derive(Debug)]
pub struct Authenticator {
    keys: KeysStore,
    ttl: Duration,
    cache: Mutex<HashMap<String, (Instant, Option<StoredKey>)>>,
}

impl Authenticator {
    pub fn new(keys: KeysStore, ttl: Duration) -> Self {
        Self {
            keys,
            ttl,
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, ApiError> {
        let presented = parse_authorization(authorization).map_err(|e| match e {
            KeyFormatError::Missing => ApiError::NotAuthenticated(e.to_string()),
            KeyFormatError::WrongScheme | KeyFormatError::Malformed => {
                ApiError::AuthenticationFailed(e.to_string())
            }
        })?;
        let stored = self.lookup(presented.prefix).await?;
        StoredKey::verify(stored.as_ref(), &presented, crate::time::now())
    }

    async fn lookup(&self, prefix: &str) -> Result<Option<StoredKey>, ApiError> {
        if let Some(hit) = self.cached(prefix) {
            return Ok(hit);
        }
        let stored = self.keys.get_key(prefix).await.map_err(|e| {
            tracing::error!(error = %e, "API key lookup failed");
            ApiError::Internal
        })?;
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() > 10_000 {
                cache.clear();
            }
            cache.insert(prefix.to_string(), (Instant::now(), stored.clone()));
        }
        Ok(stored)
    }

    fn cached(&self, prefix: &str) -> Option<Option<StoredKey>> {
        let cache = self.cache.lock().ok()?;
        let (at, stored) = cache.get(prefix)?;
        (at.elapsed() < self.ttl).then(|| stored.clone())
    }
}
