//! Typed configuration, read once from the function's environment (set by template.yaml,
//! or by the local stack from the same template).

use std::collections::HashMap;

/// Everything a function needs to know about its deployment.
#[derive(Debug, Clone)]
pub struct Config {
    pub bucket: String,
    pub jobs_table: String,
    pub findings_table: String,
    pub keys_table: String,
    pub queue_url: String,
    /// Largest raw body the upload function accepts on the direct path.
    pub max_upload_bytes: usize,
    /// Largest decompressed size of a gzip file (gzip-bomb guard).
    pub max_decompressed_bytes: u64,
    /// Deliveries of a processing message before it goes to the dead-letter queue (the
    /// queue's redrive policy uses the same number).
    pub max_receive_count: u64,
    /// How long a processor's claim on a job lasts (longer than the function timeout, so
    /// a live run never loses it; a crashed run's job is taken over after it).
    pub lease_seconds: u64,
    /// Upper bound on one processor run before it checkpoints and continues in a new
    /// invocation; the Lambda deadline (less a margin) applies in any case.
    pub max_run_seconds: Option<u64>,
    /// How long a warm function may trust a key lookup it already made.
    pub api_key_cache_seconds: u64,
    /// Lifetime of a presigned upload URL.
    pub presigned_url_seconds: u64,
    /// Largest `content_length` a presigned upload may announce.
    pub max_presigned_upload_bytes: u64,
    /// How long after its URL expired a presigned job still waits for its file before it
    /// is reported `upload_expired` (a PUT that started in time may still be running).
    pub upload_grace_seconds: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {name} is not a valid number: {value:?}")]
    NotANumber { name: &'static str, value: String },
}

/// Default direct-upload ceiling: a synchronous Lambda invocation takes at most 6 MB of
/// event JSON, in which API Gateway base64-encodes a binary body (+33 %), so 4 MiB of raw
/// body leaves room for the headers and the rest of the event.
pub const DEFAULT_MAX_UPLOAD_BYTES: usize = 4 * 1024 * 1024;

/// Default decompressed-size ceiling for gzip files: 1 GiB.
pub const DEFAULT_MAX_DECOMPRESSED_BYTES: u64 = 1024 * 1024 * 1024;

/// Default presigned upload ceiling: 5 GiB, the most S3 takes in one PUT.
pub const DEFAULT_MAX_PRESIGNED_UPLOAD_BYTES: u64 = 5 * 1024 * 1024 * 1024;

/// Default lifetime of a presigned upload URL: one hour.
pub const DEFAULT_PRESIGNED_URL_SECONDS: u64 = 3600;

/// Default wait after a presigned URL expired: 15 minutes, time for a 5 GiB PUT that
/// started just before the expiry at about 6 MB/s.
pub const DEFAULT_UPLOAD_GRACE_SECONDS: u64 = 900;

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration from a map of variables (what the local stack resolves
    /// from template.yaml).
    pub fn from_map(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        Self::from_lookup(|name| vars.get(name).cloned())
    }

    fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |name: &'static str| get(name).ok_or(ConfigError::Missing(name));
        let number = |name: &'static str, default: u64| match get(name) {
            None => Ok(default),
            Some(value) => value
                .trim()
                .parse::<u64>()
                .map_err(|_| ConfigError::NotANumber { name, value }),
        };
        Ok(Self {
            bucket: required("INGEST_BUCKET")?,
            jobs_table: required("JOBS_TABLE")?,
            findings_table: required("FINDINGS_TABLE")?,
            keys_table: required("KEYS_TABLE")?,
            queue_url: required("QUEUE_URL")?,
            max_upload_bytes: number("MAX_UPLOAD_BYTES", DEFAULT_MAX_UPLOAD_BYTES as u64)? as usize,
            max_decompressed_bytes: number(
                "MAX_DECOMPRESSED_BYTES",
                DEFAULT_MAX_DECOMPRESSED_BYTES,
            )?,
            max_receive_count: number("MAX_RECEIVE_COUNT", 5)?,
            lease_seconds: number("PROCESSOR_LEASE_SECONDS", 960)?,
            max_run_seconds: match get("MAX_RUN_SECONDS") {
                Some(_) => Some(number("MAX_RUN_SECONDS", 0)?),
                None => None,
            },
            api_key_cache_seconds: number("API_KEY_CACHE_SECONDS", 30)?,
            presigned_url_seconds: number("PRESIGNED_URL_SECONDS", DEFAULT_PRESIGNED_URL_SECONDS)?,
            max_presigned_upload_bytes: number(
                "MAX_PRESIGNED_UPLOAD_BYTES",
                DEFAULT_MAX_PRESIGNED_UPLOAD_BYTES,
            )?,
            upload_grace_seconds: number("UPLOAD_GRACE_SECONDS", DEFAULT_UPLOAD_GRACE_SECONDS)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> HashMap<String, String> {
        [
            ("INGEST_BUCKET", "b"),
            ("JOBS_TABLE", "j"),
            ("FINDINGS_TABLE", "f"),
            ("KEYS_TABLE", "k"),
            ("QUEUE_URL", "http://q"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn defaults_apply_when_limits_are_unset() {
        let config = Config::from_map(&vars()).unwrap();
        assert_eq!(config.max_upload_bytes, DEFAULT_MAX_UPLOAD_BYTES);
        assert_eq!(config.api_key_cache_seconds, 30);
        assert_eq!(config.presigned_url_seconds, 3600);
        assert_eq!(config.max_presigned_upload_bytes, 5_368_709_120);
        assert_eq!(config.upload_grace_seconds, 900);
    }

    #[test]
    fn missing_and_malformed_variables_are_named() {
        let mut v = vars();
        v.remove("QUEUE_URL");
        let err = Config::from_map(&v).unwrap_err();
        assert_eq!(err.to_string(), "environment variable QUEUE_URL is not set");
        let mut v = vars();
        v.insert("MAX_UPLOAD_BYTES".into(), "lots".into());
        assert!(matches!(
            Config::from_map(&v),
            Err(ConfigError::NotANumber {
                name: "MAX_UPLOAD_BYTES",
                ..
            })
        ));
    }
}
