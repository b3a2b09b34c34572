//! The gRPC server: gateway services, reflection v1 and v1alpha, health with
//! "liveness", "readiness" and each service's name, graceful shutdown.

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
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
}

/// Serves until `shutdown` resolves; then readiness turns NOT_SERVING and
/// in-flight RPCs finish before the server returns.
pub async fn serve(
    engine: Arc<Engine>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let (reporter, health) = tonic_health::server::health_reporter();
    for name in SERVICE_NAMES
        .iter()
        .copied()
        .chain([LIVENESS, READINESS, ""])
    {
        reporter
            .set_service_status(name, ServingStatus::Serving)
            .await;
    }
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
    let drain = async move {
        shutdown.await;
        tracing::info!("shutting down: readiness NOT_SERVING, draining in-flight RPCs");
        reporter
            .set_service_status(READINESS, ServingStatus::NotServing)
            .await;
        reporter
            .set_service_status("", ServingStatus::NotServing)
            .await;
    };
    tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(std::time::Duration::from_secs(30)))
        .add_routes(routes)
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), drain)
        .await?;
    Ok(())
}
