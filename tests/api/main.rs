//! End-to-end tests: each test starts its own local stack (its own moto, resources and
//! gateway port) and drives it over HTTP like a client would.

mod auth_logs;
mod auth_matrix;
mod dev;
mod fixtures;
mod helpers;
mod ingestions;
mod keys;
mod presigned;
mod processing;
mod prowler;
mod read_counts;
mod read_errors;
mod read_findings;
mod read_ingestions;
mod record_rules;
mod upload;
