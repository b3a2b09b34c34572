//! Prometheus metrics, in one place: the families the request path updates
//! (RPCs, upstream Graph calls, the cache, quota waits), the numbers read at
//! scrape time from where they already live (the quota engine's
//! [`QuotaSnapshot`](crate::quota::QuotaSnapshot), the vault's token health,
//! readiness), and the HTTP listener (`[metrics] listen`) serving
//! `/metrics`, `/livez` and `/readyz`.
//!
//! Registered families get their help text's final period from the
//! encoder; scrape-time gauges carry their own.
//!
//! Every label is bounded: RPC methods the gateway declares (anything else is
//! `other`), route templates as written in the proto (never the ids filled
//! in), gRPC and Graph error codes, token NAMES (never values), and the
//! quota keys' business and ad account ids, which come from the vault's
//! configured businesses and assets. No label ever carries a secret.
//!
//! The request path calls [`rpc_layer`], [`upstream_call`], [`cache_lookup`]
//! and [`quota_wait`]; they update process-wide families (one process, one
//! gateway). [`render`] adds the per-engine numbers at scrape time.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric as _};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::error::GatewayError;

/// The content type of `/metrics` (OpenMetrics text, which Prometheus reads).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    method: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RpcLabels {
    method: &'static str,
    code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamLabels {
    route: String,
    result: &'static str,
    graph_code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// The families the request path updates.
struct Families {
    rpc_duration: HistogramFamily<MethodLabels>,
    rpcs: Family<RpcLabels, Counter>,
    upstream_calls: Family<UpstreamLabels, Counter>,
    upstream_duration: HistogramFamily<RouteLabels>,
    cache: Family<ResultLabels, Counter>,
    quota_wait: HistogramFamily<ResultLabels>,
}

fn latency_histogram() -> Histogram {
    // 1 ms to about 33 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

static FAMILIES: LazyLock<Families> = LazyLock::new(|| Families {
    rpc_duration: Family::new_with_constructor(latency_histogram),
    rpcs: Family::default(),
    upstream_calls: Family::default(),
    upstream_duration: Family::new_with_constructor(latency_histogram),
    cache: Family::default(),
    quota_wait: Family::new_with_constructor(latency_histogram),
});

/// Every RPC path the server answers, so only those become labels.
static KNOWN_METHODS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    let mut out: HashSet<&'static str> = [
        "/grpc.health.v1.Health/Check",
        "/grpc.health.v1.Health/Watch",
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
    ]
    .into_iter()
    .collect();
    if let Ok(pool) = prost_reflect::DescriptorPool::decode(crate::proto::FILE_DESCRIPTOR_SET) {
        for service in pool.services() {
            for method in service.methods() {
                // Leaked once: a fixed set, built at first use.
                let path: &'static str =
                    Box::leak(format!("/{}/{}", service.full_name(), method.name()).into());
                out.insert(path);
            }
        }
    }
    out
});

/// The label of an RPC path: itself when the gateway serves it, else
/// `other` (so unknown paths cannot grow the label set).
fn method_label(path: &str) -> &'static str {
    KNOWN_METHODS.get(path).copied().unwrap_or("other")
}

pub use crate::error::status::code_name;

/// Records one finished RPC.
pub fn rpc_finished(path: &str, code: tonic::Code, elapsed: Duration) {
    rpc_finished_as(method_label(path), code, elapsed);
}

/// [`rpc_finished`] with the method's label already worked out.
fn rpc_finished_as(method: &'static str, code: tonic::Code, elapsed: Duration) {
    FAMILIES
        .rpc_duration
        .get_or_create(&MethodLabels { method })
        .observe(elapsed.as_secs_f64());
    FAMILIES
        .rpcs
        .get_or_create(&RpcLabels {
            method,
            code: code_name(code),
        })
        .inc();
}

/// Records one upstream Graph call (one attempt) of `route` (the path
/// template as declared, e.g. `/{business_id}/owned_pages`).
pub fn upstream_call(route: &str, result: Result<(), &GatewayError>, elapsed: Duration) {
    let (result, graph_code) = match result {
        Ok(()) => ("ok", String::new()),
        Err(GatewayError::Graph(g)) => ("graph_error", g.code.to_string()),
        Err(e) => (e.kind(), String::new()),
    };
    FAMILIES
        .upstream_calls
        .get_or_create(&UpstreamLabels {
            route: route.to_string(),
            result,
            graph_code,
        })
        .inc();
    FAMILIES
        .upstream_duration
        .get_or_create(&RouteLabels {
            route: route.to_string(),
        })
        .observe(elapsed.as_secs_f64());
}

/// Records how the cache served one read: `result` is "hit", "miss" or
/// "coalesced" (`cache::Served::label`).
pub fn cache_lookup(result: &'static str) {
    FAMILIES.cache.get_or_create(&ResultLabels { result }).inc();
}

/// Records how long a call waited for a quota permit, and whether it got
/// one (`granted`) or was refused (throttled, deadline).
pub fn quota_wait(elapsed: Duration, granted: bool) {
    let result = if granted { "granted" } else { "refused" };
    FAMILIES
        .quota_wait
        .get_or_create(&ResultLabels { result })
        .observe(elapsed.as_secs_f64());
}

/// What a scrape reads besides the request-path families: the engine's
/// quota snapshot and vault token health (the engine implements it, so this
/// module knows nothing of the pipeline).
#[async_trait::async_trait]
pub trait ScrapeSource: Send + Sync {
    /// Adds this source's gauges, read at scrape time.
    async fn push_gauges(&self, gauges: &mut Gauges);
}

/// The metrics text for a scrape: the request-path families plus the
/// `source`'s gauges (quota snapshot, vault token health), and `ready`.
pub async fn render(source: &dyn ScrapeSource, ready: bool) -> String {
    let mut gauges = Gauges::default();
    gauges.push(
        "graph_gateway_ready",
        "1 while the gateway takes traffic (the readiness health status is SERVING).",
        vec![],
        f64::from(u8::from(ready)),
    );
    // Quota and vault token health, read from the engine.
    source.push_gauges(&mut gauges).await;

    let mut registry = Registry::default();
    let f = &*FAMILIES;
    registry.register(
        "graph_gateway_rpc_duration_seconds",
        "Time to answer an RPC, by method",
        f.rpc_duration.clone(),
    );
    registry.register(
        "graph_gateway_rpcs",
        "RPCs answered, by method and gRPC code",
        f.rpcs.clone(),
    );
    registry.register(
        "graph_gateway_upstream_calls",
        "Graph calls (each attempt), by route template, result and Graph error code",
        f.upstream_calls.clone(),
    );
    registry.register(
        "graph_gateway_upstream_duration_seconds",
        "Time of one Graph call, by route template",
        f.upstream_duration.clone(),
    );
    registry.register(
        "graph_gateway_cache_lookups",
        "Reads served by the cache: hit, miss (one upstream call) or coalesced (shared another's call)",
        f.cache.clone(),
    );
    registry.register(
        "graph_gateway_quota_wait_seconds",
        "Time a call waited for a quota permit, by result (granted or refused)",
        f.quota_wait.clone(),
    );
    registry.register_collector(Box::new(gauges));
    let mut out = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &registry) {
        tracing::warn!(error = %e, "encoding metrics");
    }
    out
}

/// Gauges read at scrape time, grouped by name.
#[derive(Debug, Default)]
pub struct Gauges {
    families: Vec<GaugeFamily>,
}

/// A sample's labels.
pub type Labels = Vec<(&'static str, String)>;

#[derive(Debug)]
struct GaugeFamily {
    name: &'static str,
    help: &'static str,
    samples: Vec<(Labels, f64)>,
}

impl Gauges {
    /// One sample of the gauge `name`.
    pub fn push(&mut self, name: &'static str, help: &'static str, labels: Labels, value: f64) {
        match self.families.iter_mut().find(|f| f.name == name) {
            Some(f) => f.samples.push((labels, value)),
            None => self.families.push(GaugeFamily {
                name,
                help,
                samples: vec![(labels, value)],
            }),
        }
    }
}

impl Collector for Gauges {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for family in &self.families {
            let mut metric =
                encoder.encode_descriptor(family.name, family.help, None, MetricType::Gauge)?;
            // A single sample without labels is written bare, not `name{}`.
            if let [(labels, value)] = family.samples.as_slice() {
                if labels.is_empty() {
                    ConstGauge::new(*value).encode(metric)?;
                    continue;
                }
            }
            for (labels, value) in &family.samples {
                ConstGauge::new(*value).encode(metric.encode_family(labels)?)?;
            }
        }
        Ok(())
    }
}

// === the listener ===

/// Serves `/metrics`, `/livez` and `/readyz` on `listener` until the task
/// is aborted. `/readyz` answers 200 while `ready` holds true, else 503.
pub fn spawn_server(
    listener: TcpListener,
    source: Arc<dyn ScrapeSource>,
    ready: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    use axum::http::{header, StatusCode};
    use axum::response::IntoResponse as _;
    use axum::routing::get;

    let metrics_ready = ready.clone();
    let app = axum::Router::new()
        .route(
            "/metrics",
            get(move || {
                let source = source.clone();
                let ready = *metrics_ready.borrow();
                async move {
                    (
                        [(header::CONTENT_TYPE, CONTENT_TYPE)],
                        render(source.as_ref(), ready).await,
                    )
                        .into_response()
                }
            }),
        )
        .route("/livez", get(|| async { "ok\n" }))
        .route(
            "/readyz",
            get(move || {
                let ready = *ready.borrow();
                async move {
                    if ready {
                        (StatusCode::OK, "ok\n")
                    } else {
                        (StatusCode::SERVICE_UNAVAILABLE, "not ready: draining\n")
                    }
                }
            }),
        );
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "metrics listener stopped");
        }
    })
}

// === the RPC layer ===

/// A tower layer recording every RPC's latency and gRPC code, and running it
/// inside a span parented to the caller's W3C trace context (when
/// OpenTelemetry export is on, see [`crate::telemetry`]).
pub fn rpc_layer() -> RpcLayer {
    RpcLayer
}

/// See [`rpc_layer`].
#[derive(Clone, Copy, Debug, Default)]
pub struct RpcLayer;

/// See [`rpc_layer`].
#[derive(Clone, Debug)]
pub struct RpcService<S> {
    inner: S,
}

impl<S> tower_layer::Layer<S> for RpcLayer {
    type Service = RpcService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcService { inner }
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S, B, RB> tonic::codegen::Service<http::Request<B>> for RpcService<S>
where
    S: tonic::codegen::Service<http::Request<B>, Response = http::Response<RB>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    RB: Send + 'static,
{
    type Response = http::Response<RB>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        use tracing::Instrument as _;
        const GRPC_STATUS: http::HeaderName = http::HeaderName::from_static("grpc-status");

        // The label, not the path: nothing is allocated per RPC.
        let method = method_label(req.uri().path());
        let span = crate::telemetry::rpc_span(req.uri().path(), req.headers());
        let fut = {
            let _entered = span.enter();
            self.inner.call(req)
        };
        Box::pin(
            async move {
                let started = tokio::time::Instant::now();
                let result = fut.await;
                // Every gateway RPC is unary: an error travels in the
                // headers (trailers-only), success as OK in the trailers.
                let code = match &result {
                    Ok(resp) => resp
                        .headers()
                        .get(GRPC_STATUS)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<i32>().ok())
                        .map_or(tonic::Code::Ok, tonic::Code::from),
                    Err(_) => tonic::Code::Unknown,
                };
                rpc_finished_as(method, code, started.elapsed());
                result
            }
            .instrument(span),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_paths_share_one_label() {
        assert_eq!(
            method_label("/grpc.health.v1.Health/Check"),
            "/grpc.health.v1.Health/Check"
        );
        assert_eq!(method_label("/graphgateway.v1.PageService/Nope1"), "other");
        assert_eq!(method_label("/x/y"), "other");
        assert!(KNOWN_METHODS.len() > 10);
    }

    #[test]
    fn gauges_group_by_name() {
        let mut g = Gauges::default();
        g.push("a", "A", vec![("k", "1".into())], 1.0);
        g.push("b", "B", vec![], 2.0);
        g.push("a", "A", vec![("k", "2".into())], 3.0);
        let mut registry = Registry::default();
        registry.register_collector(Box::new(g));
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
        assert_eq!(
            out,
            "# HELP a A\n# TYPE a gauge\na{k=\"1\"} 1.0\na{k=\"2\"} 3.0\n# HELP b B\n# TYPE b gauge\nb 2.0\n# EOF\n"
        );
    }
}
