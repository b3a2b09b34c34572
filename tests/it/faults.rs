//! The fault-injection suite (issue 6): the gateway in front of a sandbox
//! that fails on purpose (HTTP 500/503, resets, truncated, malformed and huge
//! bodies, slow answers, mutations applied whose answer is lost), all on
//! 127.0.0.1, every test bounded.
//!
//! - `reads`: with 20% of reads failing upstream, >= 99.9% succeed.
//! - `mutations`: lost answers + callers retrying with their request_id: no
//!   duplicated mutation in the sandbox, every caller gets the real outcome;
//!   request_id reuse, concurrent duplicates, detached mutations.
//! - `bodies`: malformed, truncated and huge bodies: UNAVAILABLE with
//!   ErrorInfo, no panic, bounded memory.
//! - `overload`: load shedding, the circuit breaker, deadlines.
//! - `shutdown`: readiness first, drain, bounded drain; SIGTERM on the real
//!   binary under steady load.

mod bodies;
mod mutations;
mod overload;
mod reads;
mod shutdown;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use graph_gateway::config::Config;
use graph_gateway::engine::Engine;
use graph_gateway::grpc::server::ServeOptions;
use graph_gateway::sandbox::{FaultConfig, Sandbox, ScoringConfig};
use graph_gateway::vault::MemoryVault;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

pub const ACME: &str = "1000000001";
pub const INITECH: &str = "1000000003";

/// "Quota off": the sandbox's rate limits only report here (headers only),
/// so the suite measures retries, not pacing.
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

/// A gateway in front of a faulty sandbox, on loopback.
pub struct FaultGateway {
    pub addr: SocketAddr,
    pub sandbox: Sandbox,
    pub engine: Arc<Engine>,
    stop_gateway: Option<oneshot::Sender<()>>,
    stop_sandbox: Option<oneshot::Sender<()>>,
    pub served: Option<JoinHandle<Result<(), graph_gateway::grpc::server::ServeError>>>,
}

/// The gateway's configuration for the suite: no cache (every read goes
/// upstream), everything else as given.
pub fn config() -> Config {
    let mut cfg = Config::default();
    cfg.cache.ttl_secs = 0;
    cfg
}

impl FaultGateway {
    pub async fn start(cfg: Config, faults: Option<FaultConfig>, opts: ServeOptions) -> Self {
        crate::harness::trace_init();
        let sandbox = Sandbox::demo().with_scoring(ScoringConfig::standard().headers_only());
        sandbox.set_faults(faults);
        let sl = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", sl.local_addr().unwrap());
        let (stop_sb, sb_rx) = oneshot::channel::<()>();
        // TCP_NODELAY: the sandbox writes headers and body apart; without it
        // every answer can wait for a delayed ACK (40 ms).
        use axum::serve::ListenerExt as _;
        let sl = sl.tap_io(|io| {
            let _ = io.set_nodelay(true);
        });
        let router = sandbox.router();
        tokio::spawn(async move {
            axum::serve(sl, router)
                .with_graceful_shutdown(async move {
                    let _ = sb_rx.await;
                })
                .await
        });
        let table = Arc::new(graph_gateway::engine::routes::RouteTable::embedded().unwrap());
        let graph = graph_gateway::graph::GraphClient::new(
            &url,
            &cfg.graph.api_version,
            None,
            cfg.graph.pool_max_idle_per_host,
        )
        .unwrap();
        let cache = Arc::new(graph_gateway::cache::LocalCache::new(
            Duration::from_secs(cfg.cache.ttl_secs),
            cfg.cache.max_entries,
        ));
        let quota = Arc::new(NoQuota(graph_gateway::quota::local(&cfg.quota)));
        let engine = Arc::new(
            Engine::new(
                table,
                graph,
                Arc::new(MemoryVault::new(sandbox.demo_tokens())),
                quota,
                cache,
                Duration::from_millis(cfg.graph.timeout_ms),
            )
            .with_reliability(Arc::new(graph_gateway::retry::Reliability::local(&cfg))),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop_gw, gw_rx) = oneshot::channel::<()>();
        let served = tokio::spawn(graph_gateway::grpc::server::serve_with(
            engine.clone(),
            listener,
            async move {
                let _ = gw_rx.await;
            },
            opts,
        ));
        Self {
            addr,
            sandbox,
            engine,
            stop_gateway: Some(stop_gw),
            stop_sandbox: Some(stop_sb),
            served: Some(served),
        }
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    /// Starts the gateway's shutdown (readiness, drain).
    pub fn shutdown(&mut self) {
        if let Some(s) = self.stop_gateway.take() {
            let _ = s.send(());
        }
    }
}

impl Drop for FaultGateway {
    fn drop(&mut self) {
        self.shutdown();
        if let Some(s) = self.stop_sandbox.take() {
            let _ = s.send(());
        }
    }
}

/// A runtime whose threads log nothing (the suite's log capture is global
/// and at trace level; high-volume tests would spend their time in it).
pub fn quiet_runtime() -> tokio::runtime::Runtime {
    fn quiet() {
        let guard = tracing::dispatcher::set_default(&tracing::Dispatch::none());
        // Kept for the thread's life.
        std::mem::forget(guard);
    }
    quiet();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .on_thread_start(quiet)
        .build()
        .unwrap()
}

/// The ErrorInfo reason of a status.
pub fn reason(st: &tonic::Status) -> String {
    use tonic_types::StatusExt as _;
    st.get_error_details()
        .error_info()
        .map(|i| i.reason.clone())
        .unwrap_or_default()
}

/// A request with a timeout.
pub fn timed<T>(msg: T, timeout: Duration) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    r.set_timeout(timeout);
    r
}
