//! The gRPC server: gateway services, reflection v1 and v1alpha, health with
//! "liveness", "readiness" and each service's name, graceful shutdown.

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;

use super::{add_services, GatewayService, SERVICE_NAMES};
use crate::engine::Engine;

/// Health service name that reports the process is alive.
pub const LIVENESS: &str = "liveness";
/// Health service name that reports the gateway takes traffic.
pub const READINESS: &str = "readiness";

/// Why the server stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Reflection could not be built from the descriptor set.
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The transport failed.
    #[error("transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// The plaintext health listener could not be used.
    #[error("health listener: {0}")]
    Health(std::io::Error),
    /// The metrics listener could not be used.
    #[error("metrics listener: {0}")]
    Metrics(std::io::Error),
}

/// Overload and shutdown behaviour of the server (`[server]`).
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// RPCs served at once; more are refused at once (0: no limit).
    pub max_concurrent_rpcs: usize,
    /// How long in-flight RPCs may take to finish after `shutdown`.
    pub drain_timeout: std::time::Duration,
    /// TLS on the gRPC port (`[tls]`, src/auth/tls.rs); None: plaintext.
    pub tls: Option<tonic::transport::ServerTlsConfig>,
    /// A bound listener serving only grpc.health.v1, in plaintext
    /// (`[health] listen`), for probes that cannot speak TLS.
    pub health_listener: Option<Arc<std::net::TcpListener>>,
    /// A bound listener serving `/metrics`, `/livez` and `/readyz` over
    /// HTTP (`[metrics] listen`, src/metrics.rs).
    pub metrics_listener: Option<Arc<std::net::TcpListener>>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        let cfg = crate::config::ServerConfig::default();
        Self::from(&cfg)
    }
}

impl From<&crate::config::ServerConfig> for ServeOptions {
    fn from(cfg: &crate::config::ServerConfig) -> Self {
        Self {
            max_concurrent_rpcs: cfg.max_concurrent_rpcs,
            drain_timeout: std::time::Duration::from_millis(cfg.drain_timeout_ms),
            tls: None,
            health_listener: None,
            metrics_listener: None,
        }
    }
}

/// Serves until `shutdown` resolves; then readiness turns NOT_SERVING and
/// in-flight RPCs finish before the server returns. Default [`ServeOptions`].
pub async fn serve(
    engine: Arc<Engine>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    serve_with(engine, listener, shutdown, ServeOptions::default()).await
}

/// Serves with a concurrency limit (RPCs beyond it are refused at once with
/// RESOURCE_EXHAUSTED) until `shutdown` resolves; then, in this order:
/// readiness turns NOT_SERVING, new RPCs are refused (UNAVAILABLE,
/// `SHUTTING_DOWN`), the listener closes, and in-flight RPCs finish, for at
/// most `drain_timeout`, before the server returns.
pub async fn serve_with(
    engine: Arc<Engine>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    options: ServeOptions,
) -> Result<(), ServeError> {
    let gate = crate::overload::Gate::new(options.max_concurrent_rpcs);
    let (draining_tx, draining_rx) = tokio::sync::oneshot::channel::<()>();
    let (reporter, health) = tonic_health::server::health_reporter();
    // Token health (`vault`, `vault/<business>`) is published here too.
    engine.security().attach_health(reporter.clone());
    let _health_only = match &options.health_listener {
        Some(l) => Some(serve_health_only(l, health.clone())?),
        None => None,
    };
    // `/readyz` follows the `readiness` health status.
    let (ready_tx, ready_rx) = tokio::sync::watch::channel(false);
    let _metrics = match &options.metrics_listener {
        Some(l) => Some(serve_metrics(l, engine.clone(), ready_rx)?),
        None => None,
    };
    for name in SERVICE_NAMES
        .iter()
        .copied()
        .chain([LIVENESS, READINESS, ""])
    {
        reporter
            .set_service_status(name, ServingStatus::Serving)
            .await;
    }
    ready_tx.send_replace(true);
    engine
        .security()
        .publish_vault_health(engine.vault().as_ref())
        .await;
    let v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;
    let svc = GatewayService::new(engine);
    let routes = add_services(tonic::service::RoutesBuilder::default(), &svc)
        .add_service(health)
        .add_service(v1)
        .add_service(v1alpha)
        .clone()
        .routes();
    let drain_gate = gate.clone();
    let drain = async move {
        shutdown.await;
        tracing::info!(
            in_flight = drain_gate.in_flight(),
            "shutting down: readiness NOT_SERVING, refusing new RPCs, draining in-flight RPCs"
        );
        reporter
            .set_service_status(READINESS, ServingStatus::NotServing)
            .await;
        ready_tx.send_replace(false);
        reporter
            .set_service_status("", ServingStatus::NotServing)
            .await;
        drain_gate.start_draining();
        let _ = draining_tx.send(());
    };
    let auth = crate::auth::AuthLayer::new(svc.engine().security().clone());
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = options.tls.clone() {
        builder = builder.tls_config(tls)?;
    }
    let server = builder
        .http2_keepalive_interval(Some(std::time::Duration::from_secs(30)))
        // Every RPC is counted and timed, refused ones included (src/metrics.rs).
        .layer(crate::metrics::rpc_layer())
        // Callers authenticate before anything else runs.
        .layer(auth)
        .layer(crate::overload::GateLayer::new(gate.clone()))
        .add_routes(routes)
        // TCP_NODELAY on every accepted connection: without it a response
        // written in two parts (message, then trailers) waits for the
        // client's delayed ACK, up to 40 ms per call (BENCHMARKS.md, P2).
        .serve_with_incoming_shutdown(TcpIncoming::from(listener).with_nodelay(Some(true)), drain);
    // The transport returns once every connection closed; the drain timeout
    // bounds that wait.
    let drain_timeout = options.drain_timeout;
    let deadline = async move {
        if draining_rx.await.is_err() {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(drain_timeout).await;
    };
    tokio::select! {
        served = server => served?,
        () = deadline => {
            tracing::warn!(
                in_flight = gate.in_flight(),
                drain_timeout_ms = drain_timeout.as_millis() as u64,
                "drain timeout: exiting with RPCs still in flight"
            );
            return Ok(());
        }
    }
    tracing::info!("drained: every in-flight RPC finished");
    Ok(())
}

/// Aborts the task when dropped (the health-only server stops with the
/// gRPC server).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Serves `/metrics`, `/livez` and `/readyz` on `listener` (src/metrics.rs).
fn serve_metrics(
    listener: &std::net::TcpListener,
    engine: Arc<Engine>,
    ready: tokio::sync::watch::Receiver<bool>,
) -> Result<AbortOnDrop, ServeError> {
    let listener = listener.try_clone().map_err(ServeError::Metrics)?;
    listener
        .set_nonblocking(true)
        .map_err(ServeError::Metrics)?;
    let listener = TcpListener::from_std(listener).map_err(ServeError::Metrics)?;
    Ok(AbortOnDrop(crate::metrics::spawn_server(
        listener, engine, ready,
    )))
}

/// Serves only grpc.health.v1, in plaintext, on `listener`.
fn serve_health_only(
    listener: &std::net::TcpListener,
    health: tonic_health::pb::health_server::HealthServer<
        impl tonic_health::pb::health_server::Health,
    >,
) -> Result<AbortOnDrop, ServeError> {
    let listener = listener.try_clone().map_err(ServeError::Health)?;
    listener.set_nonblocking(true).map_err(ServeError::Health)?;
    let listener = TcpListener::from_std(listener).map_err(ServeError::Health)?;
    let routes = tonic::service::RoutesBuilder::default()
        .add_service(health)
        .clone()
        .routes();
    Ok(AbortOnDrop(tokio::spawn(async move {
        if let Err(e) = tonic::transport::Server::builder()
            .add_routes(routes)
            .serve_with_incoming(TcpIncoming::from(listener))
            .await
        {
            tracing::error!(error = %e, "health listener stopped");
        }
    })))
}
