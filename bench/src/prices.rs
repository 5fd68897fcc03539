//! AWS list prices used to turn counted requests into money: us-east-1, on-demand, in
//! US dollars, free tiers ignored.

/// DynamoDB on-demand, per write request unit.
pub const DYNAMODB_WRU: f64 = 0.625 / 1e6;
/// DynamoDB on-demand, per read request unit.
pub const DYNAMODB_RRU: f64 = 0.125 / 1e6;
/// S3 Standard PUT, COPY, POST, LIST.
pub const S3_PUT: f64 = 0.005 / 1e3;
/// S3 Standard GET and other reads.
pub const S3_GET: f64 = 0.0004 / 1e3;
/// SQS standard queue, per request (64 KB chunk).
pub const SQS_REQUEST: f64 = 0.40 / 1e6;
/// Lambda on arm64, per GB-second, and per invocation.
pub const LAMBDA_GB_SECOND: f64 = 0.000_013_333_4;
pub const LAMBDA_REQUEST: f64 = 0.20 / 1e6;
/// API Gateway HTTP API, per request (first 300 million a month).
pub const HTTP_API_REQUEST: f64 = 1.00 / 1e6;

/// The memory sizes template.yaml gives the functions (MB).
pub const UPLOAD_MEMORY_MB: f64 = 256.0;
pub const PROCESSOR_MEMORY_MB: f64 = 512.0;

/// Assumed round trip of one AWS request from Lambda in the same region (the local
/// stack's moto is no guide to AWS latency).
pub const ASSUMED_AWS_REQUEST_SECONDS: f64 = 0.010;

/// The table of prices, for the report.
pub fn describe() -> Vec<(&'static str, String)> {
    vec![
        (
            "DynamoDB on-demand write request unit",
            format!("${:.3} per million", DYNAMODB_WRU * 1e6),
        ),
        (
            "DynamoDB on-demand read request unit",
            format!("${:.3} per million", DYNAMODB_RRU * 1e6),
        ),
        (
            "S3 Standard PUT/POST/LIST",
            format!("${:.3} per 1,000", S3_PUT * 1e3),
        ),
        ("S3 Standard GET", format!("${:.4} per 1,000", S3_GET * 1e3)),
        (
            "SQS standard request",
            format!("${:.2} per million", SQS_REQUEST * 1e6),
        ),
        (
            "Lambda arm64",
            format!(
                "${LAMBDA_GB_SECOND} per GB-s + ${:.2} per million invocations",
                LAMBDA_REQUEST * 1e6
            ),
        ),
        (
            "API Gateway HTTP API",
            format!("${:.2} per million requests", HTTP_API_REQUEST * 1e6),
        ),
    ]
}
