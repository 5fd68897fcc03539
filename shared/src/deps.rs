//! What every handler depends on, built once per process (cold start) and shared by
//! every invocation.

use std::time::Duration;

use crate::auth::Authenticator;
use crate::aws::AwsClients;
use crate::config::{Config, ConfigError};
use crate::store::Stores;

#[derive(Debug)]
pub struct Deps {
    pub config: Config,
    pub stores: Stores,
    pub auth: Authenticator,
}

impl Deps {
    pub fn new(clients: &AwsClients, config: Config) -> Self {
        let stores = Stores::new(clients, &config);
        let auth = Authenticator::new(
            stores.keys.clone(),
            Duration::from_secs(config.api_key_cache_seconds),
        );
        Self {
            config,
            stores,
            auth,
        }
    }

    /// Configuration and clients from the process environment (the Lambda entry points).
    pub async fn from_env() -> Result<Self, ConfigError> {
        let config = Config::from_env()?;
        Ok(Self::new(&AwsClients::from_env().await, config))
    }
}
