//! The local stack: moto serves S3, DynamoDB and SQS; resources are provisioned from
//! template.yaml; an HTTP gateway turns requests into API Gateway HTTP API (payload 2.0)
//! events for the very handlers Lambda runs; a poller feeds the processor the way the
//! SQS event source mapping does.

pub mod feeder;
pub mod gateway;
pub mod moto;
pub mod provision;
pub mod stack;
pub mod template;

pub use stack::{LocalStack, StackOptions};
