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
