//! Code shared by the three ingestion functions (upload, processor, read) and the
//! user-facing binary: configuration, the job model, OCSF checks, JSON:API rendering,
//! API-key authentication and the DynamoDB/S3/SQS adapters.
//!
//! AWS types stay in [`aws`] and [`store`]; everything else is plain Rust that is
//! tested without a network.

pub mod auth;
pub mod aws;
pub mod config;
pub mod deps;
pub mod job;
pub mod jsonapi;
pub mod message;
pub mod ocsf;
pub mod store;
pub mod telemetry;
pub mod time;

pub use config::Config;
pub use deps::Deps;
pub use jsonapi::ApiError;
