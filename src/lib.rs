//! The user-facing side of the OCSF ingestion service: the local stack that runs the
//! three Lambda handlers against moto exactly as AWS would invoke them, and tenant and
//! API-key administration.

pub mod admin;
pub mod local;
