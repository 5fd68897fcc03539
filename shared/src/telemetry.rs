//! Logging set-up, shared by every binary: JSON lines in Lambda, filtered by RUST_LOG.

use tracing::Level;
use tracing_subscriber::filter::{filter_fn, FilterExt};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Installs the global subscriber once; later calls are ignored.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let layer = tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(false)
        .without_time()
        .with_target(false)
        .with_filter(filter.and(filter_fn(|meta| may_log(meta.target(), meta.level()))));
    let _ = tracing_subscriber::registry().with(layer).try_init();
}

/// Whatever RUST_LOG says: lambda_runtime logs every raw invocation event at TRACE, and
/// an API Gateway event carries the request's headers, `Authorization: Api-Key …`
/// included, so its TRACE events are never written.
fn may_log(target: &str, level: &Level) -> bool {
    !(target.starts_with("lambda_runtime") && *level == Level::TRACE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_lambda_events_never_reach_the_log() {
        assert!(!may_log(
            "lambda_runtime::layers::api_response",
            &Level::TRACE
        ));
        assert!(may_log(
            "lambda_runtime::layers::api_response",
            &Level::ERROR
        ));
        assert!(may_log("upload", &Level::TRACE));
    }
}
