//! The servers the benchmark runs in child processes:
//! - `echo`: a bare tonic server answering every unary call on the gateway's
//!   method path with the same pre-encoded response bytes (P1's baseline);
//! - `upstream`: a fixed-response HTTP server answering a Graph-shaped list,
//!   with a call counter and an adjustable delay (P2, P3, P4);
//! - `gateway-lib`: the gateway built from the library with the quota engine
//!   on (as configured) or off (a no-op quota), for P4.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use futures::future::BoxFuture;
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;

use super::load::RawCodec;

// === echo ===

/// The echo server: one pre-encoded response for every call.
#[derive(Clone)]
struct Echo {
    response: Bytes,
}

/// The unary handler behind [`Echo`].
struct EchoCall(Bytes);

impl tonic::server::UnaryService<Bytes> for EchoCall {
    type Response = Bytes;
    type Future = std::future::Ready<Result<tonic::Response<Bytes>, tonic::Status>>;

    fn call(&mut self, _request: tonic::Request<Bytes>) -> Self::Future {
        std::future::ready(Ok(tonic::Response::new(self.0.clone())))
    }
}

impl<B> tonic::codegen::Service<http::Request<B>> for Echo
where
    B: tonic::codegen::Body + Send + 'static,
    B::Error: Into<tonic::codegen::StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let response = self.response.clone();
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(RawCodec);
            Ok(grpc.unary(EchoCall(response), req).await)
        })
    }
}

impl tonic::server::NamedService for Echo {
    // The gateway's service name, so the echo answers on the same method
    // path (same HTTP/2 header sizes as the gateway's calls).
    const NAME: &'static str = "graphgateway.v1.PageService";
}

/// Serves the echo until killed; the response is the content of `payload`.
pub async fn echo(listen: SocketAddr, payload: &Path) -> anyhow::Result<()> {
    let response = Bytes::from(
        std::fs::read(payload).with_context(|| format!("reading {}", payload.display()))?,
    );
    let listener = TcpListener::bind(listen).await?;
    // The same server set-up as src/grpc/server.rs: a bound listener with
    // TCP_NODELAY on accepted connections, the same HTTP/2 keepalive.
    tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .add_service(Echo { response })
        .serve_with_incoming(TcpIncoming::from(listener).with_nodelay(Some(true)))
        .await?;
    Ok(())
}

// === fixed-response upstream ===

/// Pages in the upstream's answer.
pub const UPSTREAM_PAGES: usize = 25;

/// A Graph-shaped `owned_pages` answer with `n` pages.
pub fn graph_pages_json(n: usize) -> String {
    let data: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            serde_json::json!({
                "id": format!("{}", 3_000_000_001u64 + i as u64),
                "name": format!("Acme Page {i}"),
                "access_status": "CONFIRMED",
                "access_type": "OWNER",
                "permitted_tasks": ["MANAGE", "CREATE_CONTENT", "MODERATE", "ADVERTISE", "ANALYZE"],
                "business": {"id": "1000000001", "name": "Acme Corp"},
            })
        })
        .collect();
    serde_json::json!({
        "data": data,
        "paging": {"cursors": {"before": "QVFIUjBlZAz", "after": "QVFIUjBlZAzz"}},
    })
    .to_string()
}

/// The business ids whose `owned_pages` answer has another size: business
/// `SIZED_BASE + n` answers `n` pages (the growth scenario, P6).
pub const SIZED_BASE: u64 = 9_000_000;
/// The sizes P6 measures.
pub const SIZES: [usize; 4] = [1, 25, 100, 1000];

/// The upstream's shared state.
struct Upstream {
    /// The answer by size: `SIZES`, else [`UPSTREAM_PAGES`].
    sized: Vec<(usize, Bytes)>,
    body: Bytes,
    calls: AtomicU64,
    delay_ms: AtomicU64,
}

/// Serves the fixed-response upstream until killed.
/// `GET /__stats` answers `{"calls": n}`; `POST /__delay/<ms>` sets the delay
/// of every later answer; anything else is a Graph call answered with the
/// fixed list and Graph's usage headers.
pub async fn upstream(listen: SocketAddr) -> anyhow::Result<()> {
    let state = Arc::new(Upstream {
        body: Bytes::from(graph_pages_json(UPSTREAM_PAGES)),
        sized: SIZES
            .iter()
            .map(|&n| (n, Bytes::from(graph_pages_json(n))))
            .collect(),
        calls: AtomicU64::new(0),
        delay_ms: AtomicU64::new(0),
    });
    let stats = state.clone();
    let control = state.clone();
    let app = axum::Router::new()
        .route(
            "/__stats",
            axum::routing::get(move || {
                let s = stats.clone();
                async move {
                    format!(
                        "{{\"calls\":{},\"delay_ms\":{}}}",
                        s.calls.load(Ordering::SeqCst),
                        s.delay_ms.load(Ordering::SeqCst)
                    )
                }
            }),
        )
        .route(
            "/__delay/{ms}",
            axum::routing::post(move |axum::extract::Path(ms): axum::extract::Path<u64>| {
                let s = control.clone();
                async move {
                    s.delay_ms.store(ms, Ordering::SeqCst);
                    "ok"
                }
            }),
        )
        .fallback(move |uri: http::Uri| {
            let s = state.clone();
            async move {
                // "/v26.0/{business}/owned_pages": a sized business answers
                // its size.
                let body = uri
                    .path()
                    .split('/')
                    .nth(2)
                    .and_then(|b| b.parse::<u64>().ok())
                    .and_then(|b| b.checked_sub(SIZED_BASE))
                    .and_then(|n| s.sized.iter().find(|(k, _)| *k as u64 == n))
                    .map_or_else(|| s.body.clone(), |(_, b)| b.clone());
                s.calls.fetch_add(1, Ordering::SeqCst);
                let delay = s.delay_ms.load(Ordering::SeqCst);
                if delay > 0 {
                    tokio::time::sleep(Duration::from_millis(delay)).await;
                }
                (
                    [
                        (
                            http::header::CONTENT_TYPE,
                            "application/json; charset=UTF-8",
                        ),
                        (
                            http::header::HeaderName::from_static("x-app-usage"),
                            "{\"call_count\":1,\"total_cputime\":1,\"total_time\":1}",
                        ),
                    ],
                    body,
                )
            }
        });
    let listener = TcpListener::bind(listen).await?;
    axum::serve(listener, app).await?;
    Ok(())
}

// === the gateway from the library (P4) ===

/// "Quota off": never waits, learns nothing; introspection still answers
/// from the configured engine (which never sees a call).
struct NoQuota(Arc<dyn graph_gateway::quota::Quota>);

#[async_trait::async_trait]
impl graph_gateway::quota::Quota for NoQuota {
    async fn acquire(
        &self,
        _keys: &graph_gateway::quota::QuotaKeys<'_>,
        _deadline: Option<tokio::time::Instant>,
    ) -> Result<(), graph_gateway::error::GatewayError> {
        Ok(())
    }

    fn observe(
        &self,
        _keys: &graph_gateway::quota::QuotaKeys<'_>,
        _usage: &graph_gateway::graph::Usage,
        _error: Option<&graph_gateway::graph::GraphError>,
    ) {
    }

    async fn snapshot(&self) -> graph_gateway::quota::QuotaSnapshot {
        self.0.snapshot().await
    }
}

/// The bench token (also written to the seed file of the binary's runs).
pub fn bench_token() -> graph_gateway::vault::TokenEntry {
    graph_gateway::vault::TokenEntry {
        name: "bench".to_string(),
        kind: graph_gateway::vault::TokenKind::SystemUser,
        businesses: vec!["1000000001".to_string()],
        assets: vec![],
        secret: graph_gateway::secret::Secret::new("EAAB-bench-not-a-real-token"),
        expires_at: None,
    }
}

/// Serves the gateway built from the library with `config` (which names the
/// upstream), with the quota engine as configured (`quota_on`) or a no-op
/// quota, until killed.
pub async fn gateway_lib(config: &Path, quota_on: bool) -> anyhow::Result<()> {
    use graph_gateway::config::{Config, ProcessEnv};
    let cfg = Config::load(Some(config), &ProcessEnv)?;
    graph_gateway::telemetry::init(&cfg.log.format, &cfg.log.filter);
    let base = cfg
        .graph
        .base_url
        .clone()
        .context("the P4 config names graph.base_url")?;
    let vault: Arc<dyn graph_gateway::vault::Vault> =
        Arc::new(graph_gateway::vault::MemoryVault::new(vec![bench_token()]));
    let engine = if quota_on {
        graph_gateway::app::build_engine(&cfg, &base, vault)?
    } else {
        let table = Arc::new(graph_gateway::engine::routes::RouteTable::embedded()?);
        let graph = graph_gateway::graph::GraphClient::new(
            &base,
            &cfg.graph.api_version,
            cfg.graph.app_secret.clone(),
            cfg.graph.pool_max_idle_per_host,
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        let cache = Arc::new(graph_gateway::cache::LocalCache::new(
            Duration::from_secs(cfg.cache.ttl_secs),
            cfg.cache.max_entries,
        ));
        graph_gateway::engine::Engine::new(
            table,
            graph,
            vault,
            Arc::new(NoQuota(graph_gateway::quota::from_config(
                &cfg.quota, &cfg.redis,
            )?)),
            cache,
            Duration::from_millis(cfg.graph.timeout_ms),
        )
    };
    let listener = TcpListener::bind(cfg.listen).await?;
    graph_gateway::grpc::server::serve(Arc::new(engine), listener, std::future::pending::<()>())
        .await?;
    Ok(())
}
