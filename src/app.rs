//! Wiring: builds the pipeline from the configuration and runs the server,
//! starting the embedded Graph sandbox when no upstream is configured.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;

use crate::cache::LocalCache;
use crate::config::{Config, EnvSource};
use crate::engine::Engine;
use crate::graph::GraphClient;
use crate::routes::RouteTable;
use crate::sandbox::Sandbox;
use crate::vault::{MemoryVault, Vault};

/// Builds the pipeline against `base_url` with `vault`.
pub fn build_engine(cfg: &Config, base_url: &str, vault: Arc<dyn Vault>) -> anyhow::Result<Engine> {
    let table = Arc::new(RouteTable::embedded().context("reading route declarations")?);
    let graph = GraphClient::new(
        base_url,
        &cfg.graph.api_version,
        cfg.graph.app_secret.clone(),
        cfg.graph.pool_max_idle_per_host,
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let quota = crate::quota::from_config(&cfg.quota, &cfg.redis)?;
    let cache = Arc::new(LocalCache::new(
        Duration::from_secs(cfg.cache.ttl_secs),
        cfg.cache.max_entries,
    ));
    Ok(Engine::new(
        table,
        graph,
        vault,
        quota,
        cache,
        Duration::from_millis(cfg.graph.timeout_ms),
    )
    .with_reliability(Arc::new(crate::retry::Reliability::from_config(cfg)?))
    .with_operations(
        crate::operations::from_config(&cfg.redis)?,
        cfg.bulk.clone(),
    )
    .with_security(Arc::new(
        crate::auth::Security::from_config(cfg).map_err(|e| anyhow::anyhow!("{e}"))?,
    )))
}

/// Runs `graph-gateway serve` until `shutdown` resolves.
pub async fn serve(
    cfg: Config,
    env: &dyn EnvSource,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let listener = TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("binding {}", cfg.listen))?;
    let local = listener.local_addr()?;
    let (sandbox_stop, sandbox_stopped) = tokio::sync::oneshot::channel::<()>();
    let (base_url, vault): (String, Arc<dyn Vault>) = match &cfg.graph.base_url {
        Some(url) => (
            url.clone(),
            crate::vault::open(&cfg.vault, &cfg.redis, env)
                .await
                .context("opening the vault")?,
        ),
        None => {
            let sandbox = Sandbox::demo();
            let tokens = sandbox.demo_tokens();
            let sl = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
            let addr = sl.local_addr()?;
            tokio::spawn(sandbox.serve(sl, async move {
                let _ = sandbox_stopped.await;
            }));
            tracing::info!(%addr, "no graph.base_url configured: serving against the embedded Graph sandbox");
            (format!("http://{addr}"), Arc::new(MemoryVault::new(tokens)))
        }
    };
    let engine = Arc::new(build_engine(&cfg, &base_url, vault)?);
    tracing::info!(listen = %local, upstream = %base_url, version = %cfg.graph.api_version, "graph-gateway serving");
    if cfg.graph.base_url.is_none() {
        eprintln!(
            "\ngraph-gateway is serving on {local} against its embedded Graph sandbox.\nTry:\n  buf curl --protocol grpc --http2-prior-knowledge --list-methods http://{local}\n  buf curl --protocol grpc --http2-prior-knowledge -d '{{\"business_id\":\"1000000001\"}}' http://{local}/graphgateway.v1.PageService/ListOwnedPages\n  grpcurl -plaintext -d '{{\"business_id\":\"1000000001\"}}' {local} graphgateway.v1.PageService/ListOwnedPages\n"
        );
    }
    // Caller authentication, TLS and the plaintext health port (src/auth.rs).
    let tls = crate::auth::tls::server_config(&cfg.tls).map_err(|e| anyhow::anyhow!("{e}"))?;
    if cfg.auth.enforced() && tls.is_none() {
        tracing::warn!(target: "auth", "caller keys travel in plaintext: set [tls] cert_file and key_file");
    }
    let health_listener = match cfg.health.listen {
        Some(addr) => Some(Arc::new(
            std::net::TcpListener::bind(addr)
                .with_context(|| format!("binding health.listen {addr}"))?,
        )),
        None => None,
    };
    let metrics_listener = match cfg.metrics.listen {
        Some(addr) => {
            let l = std::net::TcpListener::bind(addr)
                .with_context(|| format!("binding metrics.listen {addr}"))?;
            tracing::info!(listen = %l.local_addr()?, "metrics: /metrics, /livez, /readyz");
            Some(Arc::new(l))
        }
        None => None,
    };
    let token_checks = match engine.security().token_check_interval() {
        d if d.is_zero() => None,
        d => Some(crate::engine::token_health::spawn(&engine, d)),
    };
    crate::grpc::server::serve_with(
        engine,
        listener,
        shutdown,
        crate::grpc::server::ServeOptions {
            tls,
            health_listener,
            metrics_listener,
            ..crate::grpc::server::ServeOptions::from(&cfg.server)
        },
    )
    .await?;
    if let Some(checks) = token_checks {
        checks.abort();
    }
    let _ = sandbox_stop.send(());
    Ok(())
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
