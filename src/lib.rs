//! The user-facing side of the OCSF ingestion service: the local stack that runs the
//! three Lambda handlers against moto exactly as AWS would invoke them.

pub mod local;
