//! Fault injection: the sandbox misbehaves like a flaky upstream, per route
//! and rate, from a seeded random generator (the same seed and the same
//! order of requests give the same faults).
//!
//! ```
//! use std::time::Duration;
//! use graph_gateway::sandbox::{FaultConfig, FaultKind, FaultRule, Sandbox};
//!
//! let sandbox = Sandbox::demo().with_faults(FaultConfig::seeded(7, vec![
//!     FaultRule::new(FaultKind::Http503, 0.1).method("GET"),
//!     FaultRule::new(FaultKind::Slow(Duration::from_millis(200)), 0.05).path("owned_pages"),
//!     FaultRule::new(FaultKind::LostResponse, 0.3).method("POST"),
//! ]));
//! ```
//!
//! Each request draws one number; the rules that match it (method and path)
//! share the unit interval in order, so the rates of the matching rules add
//! up to the request's fault rate.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};

/// What goes wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// HTTP 500 with Graph's "unknown error" (code 1, transient); nothing is
    /// applied.
    Http500,
    /// HTTP 503 with an HTML body, as a proxy answers; nothing is applied.
    Http503,
    /// The answer comes this much later (the call is then handled normally).
    Slow(Duration),
    /// The connection breaks before the body: nothing is applied.
    Reset,
    /// The call is handled, then its JSON body is cut in half.
    Truncated,
    /// The call is handled, then answered with HTML instead of JSON.
    Malformed,
    /// The call is handled, then answered with a body of this many bytes
    /// (streamed, no length announced) that never becomes valid JSON.
    Huge(usize),
    /// The call is handled (a mutation is applied), then its answer is lost:
    /// HTTP 500 or a broken connection.
    LostResponse,
}

/// One rule: which requests, how often, what fault.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultRule {
    /// HTTP method (`GET`, `POST`, `DELETE`); None: any.
    pub method: Option<String>,
    /// A substring of the path (after the version counts too); empty: any.
    pub path_contains: String,
    /// Share of the matching requests, 0..=1.
    pub rate: f64,
    /// The fault.
    pub kind: FaultKind,
}

/// The sandbox's faults.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FaultConfig {
    /// Seed of the random generator.
    pub seed: u64,
    /// The rules, in order.
    pub rules: Vec<FaultRule>,
}

/// The live fault injector of a sandbox.
pub(crate) struct Faults {
    rules: Vec<FaultRule>,
    rng: Mutex<StdRng>,
    injected: Mutex<BTreeMap<&'static str, u64>>,
}

// === impl FaultKind ===

impl FaultKind {
    /// A short name, for counters.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Http500 => "http_500",
            Self::Http503 => "http_503",
            Self::Slow(_) => "slow",
            Self::Reset => "reset",
            Self::Truncated => "truncated",
            Self::Malformed => "malformed",
            Self::Huge(_) => "huge",
            Self::LostResponse => "lost_response",
        }
    }

    /// True for faults that happen before the call is handled (nothing is
    /// applied).
    pub(crate) fn before_handling(&self) -> bool {
        matches!(self, Self::Http500 | Self::Http503 | Self::Reset)
    }
}

// === impl FaultRule ===

impl FaultRule {
    /// `kind` on a share `rate` of every request.
    pub fn new(kind: FaultKind, rate: f64) -> Self {
        Self {
            method: None,
            path_contains: String::new(),
            rate,
            kind,
        }
    }

    /// Only for this HTTP method.
    pub fn method(mut self, method: &str) -> Self {
        self.method = Some(method.to_ascii_uppercase());
        self
    }

    /// Only for paths containing `part`.
    pub fn path(mut self, part: &str) -> Self {
        self.path_contains = part.to_string();
        self
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && path.contains(&self.path_contains)
    }
}

// === impl FaultConfig ===

impl FaultConfig {
    /// These rules with this seed.
    pub fn seeded(seed: u64, rules: Vec<FaultRule>) -> Self {
        Self { seed, rules }
    }
}

// === impl Faults ===

impl Faults {
    pub(crate) fn new(cfg: FaultConfig) -> Self {
        Self {
            rules: cfg.rules,
            rng: Mutex::new(StdRng::seed_from_u64(cfg.seed)),
            injected: Mutex::new(BTreeMap::new()),
        }
    }

    /// The fault for this request, if any.
    pub(crate) fn pick(&self, method: &str, path: &str) -> Option<FaultKind> {
        let roll: f64 = self.rng.lock().gen();
        let mut edge = 0.0;
        for rule in self.rules.iter().filter(|r| r.matches(method, path)) {
            edge += rule.rate.clamp(0.0, 1.0);
            if roll < edge {
                *self.injected.lock().entry(rule.kind.label()).or_default() += 1;
                return Some(rule.kind.clone());
            }
        }
        None
    }

    /// Faults injected so far, by kind.
    pub(crate) fn injected(&self) -> BTreeMap<&'static str, u64> {
        self.injected.lock().clone()
    }

    fn coin(&self) -> bool {
        self.rng.lock().gen()
    }
}

/// The answer of a fault that strikes before the call is handled.
pub(crate) fn before(kind: &FaultKind) -> Response {
    match kind {
        FaultKind::Http500 => json(
            StatusCode::INTERNAL_SERVER_ERROR,
            r#"{"error":{"message":"An unknown error occurred","type":"OAuthException","code":1,"is_transient":true,"fbtrace_id":"FaultInjected"}}"#,
        ),
        FaultKind::Http503 => html(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable"),
        _ => reset(),
    }
}

/// Spoils the answer of a call that was handled.
pub(crate) async fn after(faults: &Faults, kind: &FaultKind, response: Response) -> Response {
    match kind {
        FaultKind::Truncated => {
            let (mut parts, body) = response.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX)
                .await
                .unwrap_or_default();
            let cut = bytes.slice(..bytes.len() / 2);
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(parts, Body::from(cut))
        }
        FaultKind::Malformed => html(StatusCode::OK, "Bad Gateway"),
        FaultKind::Huge(n) => huge(*n),
        FaultKind::LostResponse if faults.coin() => reset(),
        FaultKind::LostResponse => json(
            StatusCode::INTERNAL_SERVER_ERROR,
            r#"{"error":{"message":"An unexpected error has occurred. Please retry your request later.","type":"OAuthException","code":2,"is_transient":true,"fbtrace_id":"FaultInjected"}}"#,
        ),
        _ => response,
    }
}

fn json(status: StatusCode, body: &'static str) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn html(status: StatusCode, title: &str) -> Response {
    let mut r = Response::new(Body::from(format!(
        "<!DOCTYPE html><html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>"
    )));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    r
}

/// A 200 whose body breaks at once: the client sees the connection fail
/// mid-answer.
fn reset() -> Response {
    let stream = futures::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "fault injected: connection reset",
        ))
    });
    let mut r = Response::new(Body::from_stream(stream));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// `n` bytes in 64 KiB chunks: `{"data":[` and then spaces, never closed.
fn huge(n: usize) -> Response {
    const CHUNK: usize = 64 * 1024;
    let head = Bytes::from_static(br#"{"data":["#);
    let pad = Bytes::from(vec![b' '; CHUNK]);
    let mut left = n.saturating_sub(head.len());
    let mut chunks = vec![head];
    // The chunks share one buffer: the sandbox's memory stays small.
    while left > 0 {
        let take = left.min(CHUNK);
        chunks.push(pad.slice(..take));
        left -= take;
    }
    let stream = futures::stream::iter(chunks.into_iter().map(Ok::<Bytes, std::io::Error>));
    let mut r = Response::new(Body::from_stream(stream));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}
