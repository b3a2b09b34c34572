use std::time::Duration;

use bytes::Bytes;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{GraphError, GraphRequest, HttpMethod, Usage};
use crate::error::GatewayError;
use crate::secret::Secret;

/// Bodies larger than this are refused, so a broken upstream cannot exhaust
/// memory.
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// A successful Graph answer.
#[derive(Clone, Debug)]
pub struct GraphResponse {
    /// The JSON body.
    pub body: Bytes,
    /// The usage headers.
    pub usage: Usage,
}

/// The outcome of a Graph call that reached Graph: its usage headers are
/// known either way, so the quota engine learns from errors too.
pub type GraphOutcome = (Result<Bytes, GatewayError>, Usage);

/// A pooled Graph API client.
#[derive(Clone)]
pub struct GraphClient {
    http: reqwest::Client,
    /// Base URL with the version, e.g. "https://graph.facebook.com/v26.0".
    base: String,
    app_secret: Option<Secret>,
}

// === impl GraphClient ===

impl GraphClient {
    /// A client for `base_url` (e.g. https://graph.facebook.com) and
    /// `api_version` (e.g. v26.0).
    pub fn new(
        base_url: &str,
        api_version: &str,
        app_secret: Option<Secret>,
        pool_max_idle_per_host: usize,
    ) -> Result<Self, GatewayError> {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(pool_max_idle_per_host)
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("graph-gateway/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| GatewayError::Internal(format!("building HTTP client: {e}")))?;
        if let Some(s) = &app_secret {
            crate::secret::remember(s);
        }
        Ok(Self {
            http,
            base: format!("{}/{}", base_url.trim_end_matches('/'), api_version),
            app_secret,
        })
    }

    /// The versioned base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `appsecret_proof`: hex HMAC-SHA256 of the token keyed by the app secret.
    pub fn appsecret_proof(app_secret: &Secret, token: &Secret) -> String {
        // HMAC accepts keys of any length, so this cannot fail.
        match Hmac::<Sha256>::new_from_slice(app_secret.expose().as_bytes()) {
            Ok(mut mac) => {
                mac.update(token.expose().as_bytes());
                hex::encode(mac.finalize().into_bytes())
            }
            Err(_) => String::new(),
        }
    }

    /// Graph's error without the token it was called with, the app secret,
    /// or anything token-shaped: Graph's text enters the gateway here.
    pub fn scrub(&self, err: GraphError, token: &Secret) -> GraphError {
        match &self.app_secret {
            Some(app) => err.scrubbed(&[token, app]),
            None => err.scrubbed(&[token]),
        }
    }

    /// Sends one call. The token goes in the Authorization header only.
    /// `timeout` bounds the whole exchange.
    pub async fn call(
        &self,
        req: &GraphRequest,
        token: &Secret,
        timeout: Duration,
    ) -> GraphOutcome {
        crate::secret::remember(token);
        let url = format!("{}{}", self.base, req.path);
        let mut params: Vec<(&str, &str)> = req
            .params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let proof = self
            .app_secret
            .as_ref()
            .map(|s| Self::appsecret_proof(s, token));
        if let Some(p) = &proof {
            params.push(("appsecret_proof", p));
        }
        let builder = match req.method {
            HttpMethod::Get => self.http.get(&url).query(&params),
            HttpMethod::Delete => self.http.delete(&url).query(&params),
            HttpMethod::Post => self.http.post(&url).form(&params),
        };
        // The caller's trace continues at Graph (W3C traceparent).
        let builder = crate::telemetry::trace_headers()
            .into_iter()
            .fold(builder, |b, (k, v)| b.header(k, v));
        let sent = builder
            .header(
                http::header::AUTHORIZATION,
                format!("Bearer {}", token.expose()),
            )
            .timeout(timeout)
            .send()
            .await;
        let resp = match sent {
            Ok(r) => r,
            // No connection: the request never left, so even a mutation may
            // be sent again (checked before timeouts: a connect timeout is
            // both).
            Err(e) if e.is_connect() => {
                return (
                    Err(GatewayError::NotSent(e.without_url().to_string())),
                    Usage::default(),
                )
            }
            Err(e) if e.is_timeout() => {
                return (Err(GatewayError::DeadlineExceeded), Usage::default())
            }
            // reqwest errors carry the URL; ours never holds a secret, but
            // strip it anyway so nothing upstream-specific leaks.
            Err(e) => {
                return (
                    Err(GatewayError::Unavailable(e.without_url().to_string())),
                    Usage::default(),
                )
            }
        };
        let status = resp.status().as_u16();
        let usage = Usage::from_headers(resp.headers());
        let body = match read_capped(resp).await {
            Ok(b) => b,
            Err(e) => return (Err(e), usage),
        };
        if let Some(err) = GraphError::parse(&body, status) {
            return (Err(GatewayError::Graph(self.scrub(err, token))), usage);
        }
        if !(200..300).contains(&status) {
            let e = if status >= 500 {
                GatewayError::Unavailable(format!("Graph answered HTTP {status}"))
            } else {
                GatewayError::Malformed(format!("HTTP {status} without a Graph error object"))
            };
            return (Err(e), usage);
        }
        (Ok(body), usage)
    }

    /// Graph's `GET /debug_token` about `token` itself (vault token health,
    /// src/vault/health.rs). The token must never be in a URL, so the call
    /// is a POST with `method=get`, which Graph honours: the token is the
    /// bearer and `input_token` in the form body.
    pub async fn debug_token(&self, token: &Secret, timeout: Duration) -> GraphOutcome {
        crate::secret::remember(token);
        let url = format!("{}/debug_token", self.base);
        let proof = self
            .app_secret
            .as_ref()
            .map(|s| Self::appsecret_proof(s, token));
        let mut form = vec![("method", "get"), ("input_token", token.expose())];
        if let Some(p) = &proof {
            form.push(("appsecret_proof", p));
        }
        let sent = self
            .http
            .post(&url)
            .form(&form)
            .header(
                http::header::AUTHORIZATION,
                format!("Bearer {}", token.expose()),
            )
            .timeout(timeout)
            .send()
            .await;
        let resp = match sent {
            Ok(r) => r,
            Err(e) if e.is_timeout() => {
                return (Err(GatewayError::DeadlineExceeded), Usage::default())
            }
            Err(e) => {
                return (
                    Err(GatewayError::Unavailable(e.without_url().to_string())),
                    Usage::default(),
                )
            }
        };
        let status = resp.status().as_u16();
        let usage = Usage::from_headers(resp.headers());
        let body = match read_capped(resp).await {
            Ok(b) => b,
            Err(e) => return (Err(e), usage),
        };
        match GraphError::parse(&body, status) {
            Some(err) => (Err(GatewayError::Graph(self.scrub(err, token))), usage),
            None if (200..300).contains(&status) => (Ok(body), usage),
            None => (
                Err(GatewayError::Unavailable(format!(
                    "debug_token answered HTTP {status}"
                ))),
                usage,
            ),
        }
    }
}

async fn read_capped(mut resp: reqwest::Response) -> Result<Bytes, GatewayError> {
    if resp
        .content_length()
        .is_some_and(|n| n as usize > MAX_BODY_BYTES)
    {
        return Err(GatewayError::Malformed(format!(
            "body larger than {MAX_BODY_BYTES} bytes"
        )));
    }
    let mut buf = bytes::BytesMut::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if buf.len() + chunk.len() > MAX_BODY_BYTES {
                    return Err(GatewayError::Malformed(format!(
                        "body larger than {MAX_BODY_BYTES} bytes"
                    )));
                }
                buf.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(buf.freeze()),
            Err(e) if e.is_timeout() => return Err(GatewayError::DeadlineExceeded),
            Err(e) => return Err(GatewayError::Unavailable(e.without_url().to_string())),
        }
    }
}
