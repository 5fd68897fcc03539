//! Logging set-up, shared by every binary: JSON lines in Lambda, filtered by RUST_LOG.

use tracing::Level;
use tracing_subscriber::filter::{filter_fn, FilterExt, LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// Installs the global subscriber once; later calls are ignored.
pub fn init() {
    let filter = targets(std::env::var("RUST_LOG").ok().as_deref());
    let layer = tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(false)
        .without_time()
        .with_target(false)
        .with_filter(filter.and(filter_fn(|meta| may_log(meta.target(), meta.level()))));
    let _ = tracing_subscriber::registry().with(layer).try_init();
}

/// RUST_LOG as a list of `level` and `target=level` directives (`info,aws_config=warn`);
/// `info` when it is unset or does not parse. Span and field filters (`[span{field}]`) are
/// not supported: they need a regex engine, which would make every function's binary
/// larger for a feature its logs do not use.
fn targets(rust_log: Option<&str>) -> Targets {
    rust_log
        .and_then(|directives| directives.parse().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO))
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
    fn rust_log_directives_pick_levels_per_target() {
        let filter = targets(Some("warn,processor=debug"));
        assert_eq!(filter.default_level(), Some(LevelFilter::WARN));
        assert!(filter.would_enable("processor::process", &Level::DEBUG));
        assert!(!filter.would_enable("aws_config", &Level::INFO));
        for unusable in [None, Some("info,[span{field=1}]=x")] {
            let filter = targets(unusable);
            assert!(filter.would_enable("read", &Level::INFO), "{unusable:?}");
            assert!(!filter.would_enable("read", &Level::DEBUG), "{unusable:?}");
        }
    }

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
