//! How every part of the gateway (quota, vault, idempotency, audit) reaches
//! Redis, as `[redis]` says:
//!
//! - `mode = "standalone"` (default): the server `url` names;
//! - `mode = "cluster"`: Redis Cluster, `url` and `nodes` are seed nodes
//!   (every key the gateway writes carries the hash tag
//!   `{<redis.key_prefix>}`, so each Lua script's keys are in one slot);
//! - `mode = "sentinel"`: `url`'s host and `nodes` are Sentinels, asked for
//!   the master of `sentinel_master`; `url`'s user, password and db are the
//!   master's (Sentinels are asked without credentials).
//!
//! `rediss://` turns TLS on (rustls; `tls_ca_file` names the CA that signed
//! the servers' certificates, else the system's roots). An ACL user and
//! password go in the URL: `rediss://user:password@host:6380/0`. No error
//! or log line ever quotes the URL.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, ConnectionAddr, IntoConnectionInfo, Pipeline, RedisFuture, Value};

use crate::config::RedisConfig;
use crate::secret::Secret;

/// A way to connect to the configured Redis (cheap to clone).
#[derive(Clone)]
pub struct RedisLink {
    kind: Kind,
    timeout: Duration,
}

#[derive(Clone)]
enum Kind {
    Single(redis::Client),
    Cluster(redis::cluster::ClusterClient),
    Sentinel(Arc<tokio::sync::Mutex<redis::sentinel::SentinelClient>>),
}

/// One (multiplexed) connection: to a server, or to the whole cluster.
#[derive(Clone)]
pub enum RedisConn {
    /// A standalone server or the Sentinel-named master.
    Single(MultiplexedConnection),
    /// Redis Cluster: commands go to the node owning their keys' slot.
    Cluster(ClusterConnection),
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(cmd, offset, count),
            Self::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }
}

/// The modes `redis.mode` accepts.
pub use crate::config::REDIS_MODES as MODES;

impl RedisLink {
    /// The link `[redis]` describes, None when `redis.url` is unset. The
    /// error names what is wrong, never the URL.
    pub fn from_config(cfg: &RedisConfig) -> Result<Option<Self>, String> {
        cfg.url.as_ref().map(|url| Self::new(cfg, url)).transpose()
    }

    /// The link to `url` with the rest of `[redis]`.
    pub fn new(cfg: &RedisConfig, url: &Secret) -> Result<Self, String> {
        let timeout = Duration::from_millis(cfg.timeout_ms.max(1));
        let parsed =
            url::Url::parse(url.expose()).map_err(|_| "redis.url is not a URL".to_string())?;
        let tls = parsed.scheme() == "rediss";
        let certs =
            match &cfg.tls_ca_file {
                // The CA matters only to TLS.
                Some(path) if tls => Some(redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(std::fs::read(path).map_err(|e| {
                        format!("redis.tls_ca_file {}: {}", path.display(), e.kind())
                    })?),
                }),
                _ => None,
            };
        let bad = |e: redis::RedisError| format!("redis.url: {:?}", e.kind());
        // The URL with another node's host and port (same scheme,
        // credentials and db).
        let node_url = |node: &str| -> Result<url::Url, String> {
            let (host, port) = node
                .rsplit_once(':')
                .and_then(|(h, p)| Some((h, p.parse::<u16>().ok()?)))
                .ok_or_else(|| format!("redis.nodes: {node:?} is not host:port"))?;
            let mut u = parsed.clone();
            u.set_host(Some(host))
                .map_err(|_| format!("redis.nodes: {node:?} is not host:port"))?;
            u.set_port(Some(port))
                .map_err(|_| format!("redis.nodes: {node:?} is not host:port"))?;
            Ok(u)
        };
        let kind = match cfg.mode.as_str() {
            "standalone" => {
                let info = url.expose().into_connection_info().map_err(bad)?;
                let client = match certs {
                    Some(c) => redis::Client::build_with_tls(info, c).map_err(bad)?,
                    None => redis::Client::open(info).map_err(bad)?,
                };
                Kind::Single(client)
            }
            "cluster" => {
                let mut seeds = vec![url.expose().into_connection_info().map_err(bad)?];
                for n in &cfg.nodes {
                    seeds.push(node_url(n)?.as_str().into_connection_info().map_err(bad)?);
                }
                let mut b = redis::cluster::ClusterClientBuilder::new(seeds)
                    .connection_timeout(timeout)
                    .response_timeout(timeout)
                    .retries(1);
                if tls {
                    b = b.tls(redis::TlsMode::Secure);
                }
                if let Some(c) = certs {
                    b = b.certs(c);
                }
                Kind::Cluster(b.build().map_err(bad)?)
            }
            "sentinel" => {
                if cfg.sentinel_master.is_empty() {
                    return Err("redis.mode = \"sentinel\" needs redis.sentinel_master".into());
                }
                let info = url.expose().into_connection_info().map_err(bad)?;
                let addr = |u: &url::Url| -> Result<ConnectionAddr, String> {
                    let host = u.host_str().unwrap_or("127.0.0.1").to_string();
                    let port = u.port().unwrap_or(26379);
                    Ok(if tls {
                        ConnectionAddr::TcpTls {
                            host,
                            port,
                            insecure: false,
                            tls_params: None,
                        }
                    } else {
                        ConnectionAddr::Tcp(host, port)
                    })
                };
                let mut sentinels = vec![addr(&parsed)?];
                for n in &cfg.nodes {
                    sentinels.push(addr(&node_url(n)?)?);
                }
                let settings = info.redis_settings();
                let mut b = redis::sentinel::SentinelClientBuilder::new(
                    sentinels,
                    &cfg.sentinel_master,
                    redis::sentinel::SentinelServerType::Master,
                )
                .map_err(bad)?
                .set_client_to_redis_db(settings.db());
                if let Some(u) = settings.username() {
                    b = b.set_client_to_redis_username(u);
                }
                if let Some(p) = settings.password() {
                    b = b.set_client_to_redis_password(p);
                }
                if tls {
                    b = b
                        .set_client_to_redis_tls_mode(redis::TlsMode::Secure)
                        .set_client_to_sentinel_tls_mode(redis::TlsMode::Secure);
                }
                if let Some(c) = certs {
                    b = b
                        .set_client_to_redis_certificates(c.clone())
                        .set_client_to_sentinel_certificates(c);
                }
                Kind::Sentinel(Arc::new(tokio::sync::Mutex::new(b.build().map_err(bad)?)))
            }
            other => {
                return Err(format!(
                    "redis.mode must be one of {MODES:?}, got {other:?}"
                ))
            }
        };
        Ok(Self { kind, timeout })
    }

    /// Whether this is Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self.kind, Kind::Cluster(_))
    }

    /// A new connection (bounded by `redis.timeout_ms` at every step).
    pub async fn connect(&self) -> redis::RedisResult<RedisConn> {
        let cfg = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout));
        let timed_out = || redis::RedisError::from((redis::ErrorKind::Io, "no connection in time"));
        let work = async {
            match &self.kind {
                Kind::Single(c) => c
                    .get_multiplexed_async_connection_with_config(&cfg)
                    .await
                    .map(RedisConn::Single),
                Kind::Cluster(c) => c.get_async_connection().await.map(RedisConn::Cluster),
                Kind::Sentinel(s) => s
                    .lock()
                    .await
                    .get_async_connection_with_config(&cfg)
                    .await
                    .map(RedisConn::Single),
            }
        };
        // A cluster connects to every master, a Sentinel asks first: allow
        // a few steps.
        tokio::time::timeout(self.timeout * 4, work)
            .await
            .map_err(|_| timed_out())?
    }
}
