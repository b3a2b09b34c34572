//! Builder-style fakes for integration tests: the sandbox and the gateway on
//! 127.0.0.1:0, a recording upstream, and captured logs.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

use graph_gateway::config::Config;
use graph_gateway::engine::Engine;
use graph_gateway::sandbox::Sandbox;
use graph_gateway::secret::Secret;
use graph_gateway::vault::{MemoryVault, TokenEntry, TokenKind, Vault};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::transport::Channel;

/// Everything the gateway logged during this test binary's run.
pub fn logs() -> String {
    let buf = LOGS.get_or_init(Default::default);
    String::from_utf8_lossy(&buf.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
}

static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Captures every log line at trace level for this crate (and debug for the
/// HTTP stack), so tests can search them for secrets.
pub fn trace_init() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        let buf = LOGS.get_or_init(Default::default).clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter("graph_gateway=trace,reqwest=debug,hyper=debug,tonic=debug,info")
            .with_writer(move || Capture(buf.clone()))
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .try_init();
    });
}

/// A gateway (and, usually, its sandbox) on loopback.
pub struct TestGateway {
    /// The gateway's gRPC address.
    pub addr: SocketAddr,
    /// The sandbox behind it, when it has one.
    pub sandbox: Option<Sandbox>,
    /// The engine, for cache statistics.
    pub engine: Arc<Engine>,
    /// The metrics listener's address, when `cfg.metrics.listen` was set.
    pub metrics_addr: Option<SocketAddr>,
    stop: Vec<oneshot::Sender<()>>,
}

impl TestGateway {
    /// The demo sandbox behind a gateway with default configuration.
    pub async fn sandbox() -> Self {
        Self::sandbox_with(Config::default()).await
    }

    /// The demo sandbox behind a gateway with `cfg`.
    pub async fn sandbox_with(cfg: Config) -> Self {
        trace_init();
        let sandbox = Sandbox::demo();
        let tokens = sandbox.demo_tokens();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(sandbox.clone().serve(listener, async move {
            let _ = rx.await;
        }));
        let mut gw = Self::upstream(&url, Arc::new(MemoryVault::new(tokens)), cfg).await;
        gw.sandbox = Some(sandbox);
        gw.stop.push(tx);
        gw
    }

    /// A gateway in front of any upstream.
    pub async fn upstream(url: &str, vault: Arc<dyn Vault>, cfg: Config) -> Self {
        trace_init();
        let engine = Arc::new(graph_gateway::app::build_engine(&cfg, url, vault).unwrap());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let metrics = cfg
            .metrics
            .listen
            .map(|a| Arc::new(std::net::TcpListener::bind(a).unwrap()));
        let metrics_addr = metrics.as_ref().map(|l| l.local_addr().unwrap());
        tokio::spawn(graph_gateway::grpc::server::serve_with(
            engine.clone(),
            listener,
            async move {
                let _ = rx.await;
            },
            graph_gateway::grpc::server::ServeOptions {
                metrics_listener: metrics,
                ..Default::default()
            },
        ));
        Self {
            addr,
            sandbox: None,
            engine,
            metrics_addr,
            stop: vec![tx],
        }
    }

    /// A client channel.
    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    /// The sandbox (panics when there is none).
    pub fn sb(&self) -> &Sandbox {
        self.sandbox.as_ref().expect("this gateway has a sandbox")
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        for s in self.stop.drain(..) {
            let _ = s.send(());
        }
    }
}

/// One token serving `business`, with a value tests can search logs for.
pub fn token(name: &str, business: &str, value: &str) -> TokenEntry {
    TokenEntry {
        name: name.to_string(),
        kind: TokenKind::SystemUser,
        businesses: vec![business.to_string()],
        assets: vec![],
        secret: Secret::new(value),
        expires_at: None,
    }
}

/// What a recording upstream saw of one request.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub uri: String,
    pub headers: http::HeaderMap,
    pub body: String,
}

/// An upstream that records every request and answers each with the next
/// canned (status, headers, body), repeating the last one.
#[derive(Clone)]
pub struct Recorder {
    pub url: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

/// One canned answer: HTTP status, extra headers, body.
pub type Answer = (u16, Vec<(&'static str, String)>, String);

impl Recorder {
    pub async fn start(answers: Vec<Answer>) -> Self {
        let seen: Arc<Mutex<Vec<Seen>>> = Default::default();
        let answers = Arc::new(answers);
        let s2 = seen.clone();
        let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
            let seen = s2.clone();
            let answers = answers.clone();
            async move {
                let (parts, body) = req.into_parts();
                let body = axum::body::to_bytes(body, 1 << 20)
                    .await
                    .unwrap_or_default();
                let n = {
                    let mut s = seen.lock().unwrap();
                    s.push(Seen {
                        method: parts.method.to_string(),
                        uri: parts.uri.to_string(),
                        headers: parts.headers.clone(),
                        body: String::from_utf8_lossy(&body).into_owned(),
                    });
                    s.len() - 1
                };
                let (status, headers, body) = answers[n.min(answers.len() - 1)].clone();
                let mut resp = axum::response::Response::builder()
                    .status(status)
                    .header("content-type", "application/json");
                for (k, v) in headers {
                    resp = resp.header(k, v);
                }
                resp.body(axum::body::Body::from(body)).unwrap()
            }
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, seen }
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// A Graph error body.
pub fn graph_error(code: i64, subcode: Option<i64>, message: &str) -> String {
    let mut e = serde_json::json!({"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "TraceAbc123"});
    if let Some(s) = subcode {
        e["error_subcode"] = s.into();
    }
    serde_json::json!({ "error": e }).to_string()
}
