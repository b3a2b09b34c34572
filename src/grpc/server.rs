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
/// readiness turns NOT_SERVING, Health/Watch streams end, new RPCs are
/// refused (UNAVAILABLE, `SHUTTING_DOWN`) while health probes are still
/// answered, and in-flight RPCs finish, for at most `drain_timeout`; the
/// server returns as soon as they have.
pub async fn serve_with(
    engine: Arc<Engine>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    options: ServeOptions,
) -> Result<(), ServeError> {
    let gate = crate::overload::Gate::new(options.max_concurrent_rpcs);
    let (reporter, _) = tonic_health::server::health_reporter();
    // Health/Watch streams end when the drain starts (`DrainingHealth`).
    let (draining_tx, draining_rx) = tokio::sync::watch::channel(false);
    let health = tonic_health::pb::health_server::HealthServer::new(DrainingHealth {
        inner: Arc::new(tonic_health::server::HealthService::from_health_reporter(
            reporter.clone(),
        )),
        draining: draining_rx,
    });
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
    for name in SERVICE_NAMES.iter().copied().chain([
        LIVENESS,
        READINESS,
        "google.longrunning.Operations",
        "",
    ]) {
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
    // Bulk operations: this replica takes up those no replica runs (after
    // a restart, or when one died) and stops its own on the drain.
    let supervisor = svc.bulk().supervise();
    let bulk = svc.bulk().clone();
    let routes = add_services(tonic::service::RoutesBuilder::default(), &svc)
        .add_service(
            crate::proto::google::longrunning::operations_server::OperationsServer::new(
                svc.clone(),
            ),
        )
        .add_service(health)
        .add_service(v1)
        .add_service(v1alpha)
        .clone()
        .routes();
    let drain_gate = gate.clone();
    let drain_timeout = options.drain_timeout;
    let (timed_out_tx, timed_out_rx) = tokio::sync::oneshot::channel::<()>();
    // The transport keeps accepting connections while in-flight RPCs
    // finish: health probes see NOT_SERVING (not a refused connection) and
    // new RPCs are refused by the gate with SHUTTING_DOWN. The listener
    // closes once the gate is idle, or at the drain timeout.
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
        draining_tx.send_replace(true);
        // Runners stop at a step boundary and give their leases up, so the
        // next replica continues at once.
        bulk.stop(drain_timeout).await;
        supervisor.abort();
        let idle = tokio::time::timeout(drain_timeout, drain_gate.idle())
            .await
            .is_ok();
        let left = drain_gate.in_flight();
        if idle || left == 0 {
            tracing::info!("drained: every in-flight RPC finished");
        } else {
            tracing::warn!(
                in_flight = left,
                drain_timeout_ms = drain_timeout.as_millis() as u64,
                "drain timeout: exiting with RPCs still in flight"
            );
            let _ = timed_out_tx.send(());
        }
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
    // After a drain timeout the transport would wait for the RPCs still in
    // flight: return at once instead.
    let timed_out = async move {
        if timed_out_rx.await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        served = server => served?,
        () = timed_out => {}
    }
    Ok(())
}

/// grpc.health.v1 whose Watch streams end, after a last status, once the
/// drain starts: an open stream must not hold the process until the drain
/// timeout. Checks are answered throughout.
struct DrainingHealth {
    inner: Arc<tonic_health::server::HealthService>,
    draining: tokio::sync::watch::Receiver<bool>,
}

type HealthStream = std::pin::Pin<
    Box<
        dyn futures::Stream<Item = Result<tonic_health::pb::HealthCheckResponse, tonic::Status>>
            + Send,
    >,
>;

#[tonic::async_trait]
impl tonic_health::pb::health_server::Health for DrainingHealth {
    async fn check(
        &self,
        request: tonic::Request<tonic_health::pb::HealthCheckRequest>,
    ) -> Result<tonic::Response<tonic_health::pb::HealthCheckResponse>, tonic::Status> {
        self.inner.check(request).await
    }

    type WatchStream = HealthStream;

    async fn watch(
        &self,
        request: tonic::Request<tonic_health::pb::HealthCheckRequest>,
    ) -> Result<tonic::Response<Self::WatchStream>, tonic::Status> {
        use futures::StreamExt as _;
        let service = request.get_ref().service.clone();
        let updates = self.inner.watch(request).await?.into_inner();
        let mut draining = self.draining.clone();
        let drained = async move {
            let _ = draining.wait_for(|d| *d).await;
        };
        let inner = self.inner.clone();
        let last = futures::stream::once(async move {
            inner
                .check(tonic::Request::new(tonic_health::pb::HealthCheckRequest {
                    service,
                }))
                .await
                .map(tonic::Response::into_inner)
        });
        let stream: HealthStream = Box::pin(updates.take_until(drained).chain(last));
        Ok(tonic::Response::new(stream))
    }
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
