//! `[metrics]` (the Prometheus listener) and `[otel]` (OpenTelemetry trace
//! export).

use std::net::SocketAddr;

/// `[metrics]`: a plaintext HTTP listener serving `/metrics` (Prometheus),
/// `/livez` and `/readyz`.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Address of the listener. Unset: no metrics endpoint.
    pub listen: Option<SocketAddr>,
}

/// `[otel]`: OpenTelemetry export of tracing spans (OTLP over HTTP,
/// protobuf).
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtelConfig {
    /// The collector's OTLP/HTTP endpoint, e.g. http://otel-collector:4318
    /// (spans go to `<endpoint>/v1/traces`). Unset: no export.
    pub endpoint: Option<String>,
    /// `service.name` of the exported spans.
    pub service_name: String,
}

impl Default for OtelConfig {
    fn default() -> Self {
        Self {
            endpoint: None,
            service_name: "graph-gateway".to_string(),
        }
    }
}

/// Checks `[otel]`.
pub(super) fn validate(otel: &OtelConfig, bad: &mut dyn FnMut(&str, String)) {
    if let Some(endpoint) = &otel.endpoint {
        match url::Url::parse(endpoint) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => bad(
                "otel.endpoint",
                "must be an http(s) URL, e.g. http://otel-collector:4318".to_string(),
            ),
        }
    }
    if otel.service_name.trim().is_empty() {
        bad("otel.service_name", "must not be empty".to_string());
    }
}
