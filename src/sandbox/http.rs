//! The axum handler: every request is a Graph call. It records the request
//! for the test hooks (after the pause gate), authenticates the token and
//! `appsecret_proof`, runs the operation, and answers JSON with Graph's
//! usage headers.

use std::sync::atomic::Ordering;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use super::ops::{self, Call, Scope, Verb};
use super::usage::{self, UsageHeaders};
use super::wire::{self, GraphError, PageRequest, Params};
use super::{Inner, RecordedRequest, Sandbox};

/// The version answered in `facebook-api-version` for unversioned paths:
/// the version of Meta's spec the sandbox follows.
const DEFAULT_VERSION: &str = "v26.0";

/// A parsed incoming request.
struct Incoming {
    method: Method,
    version: Option<String>,
    segments: Vec<String>,
    query: Vec<(String, String)>,
    form: Vec<(String, String)>,
    authorization: Option<String>,
    base_url: String,
}

/// What a call answers.
struct Outcome {
    result: Result<Value, GraphError>,
    usage: UsageHeaders,
}

/// The fallback handler of [`Sandbox::router`].
pub(crate) async fn handle(
    State(sandbox): State<Sandbox>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let inner = &sandbox.inner;
    inner.hooks.arrivals.fetch_add(1, Ordering::SeqCst);
    let mut paused = inner.hooks.paused.subscribe();
    // Err only if the sender is gone, which cannot happen while `inner` lives.
    let _ = paused.wait_for(|p| !*p).await;

    let incoming = parse(&method, &uri, &headers, &body);
    record(inner, &incoming, &uri, &headers);
    let faults = inner.faults.read().clone();
    let fault = faults
        .as_ref()
        .and_then(|f| f.pick(method.as_str(), uri.path()));
    match &fault {
        Some(kind) if kind.before_handling() => return super::faults::before(kind),
        Some(super::FaultKind::Slow(delay)) => tokio::time::sleep(*delay).await,
        _ => {}
    }
    // A batch request (`POST /` with `batch=`): each call handled as if it
    // came alone, answered together.
    let batch = (incoming.method == Method::POST && incoming.segments.is_empty())
        .then(|| {
            incoming
                .query
                .iter()
                .chain(incoming.form.iter())
                .find(|(k, _)| k == "batch")
                .map(|(_, v)| v.clone())
        })
        .flatten();
    let outcome = match batch {
        Some(batch) => process_batch(inner, &incoming, &headers, &batch),
        None => process(inner, &incoming),
    };
    let version = incoming
        .version
        .clone()
        .unwrap_or_else(|| DEFAULT_VERSION.to_string());
    let trace = wire::fbtrace_id();
    let (status, body) = match &outcome.result {
        Ok(value) => (StatusCode::OK, value.clone()),
        Err(err) => (err.status(), error_body(err, &trace)),
    };
    tracing::debug!(
        method = %incoming.method,
        path = %uri.path(),
        status = status.as_u16(),
        "sandbox call"
    );
    let mut response = (status, axum::Json(body)).into_response();
    let out = response.headers_mut();
    put(out, "x-fb-trace-id", &trace);
    put(out, "facebook-api-version", &version);
    put(out, "x-app-usage", &outcome.usage.app);
    if let Some(v) = &outcome.usage.business {
        put(out, "x-business-use-case-usage", v);
    }
    if let Some(v) = &outcome.usage.ad_account {
        put(out, "x-ad-account-usage", v);
    }
    if let Err(err) = &outcome.result {
        if err.code == 190 {
            let value = format!(
                "OAuth \"Facebook Platform\" \"invalid_token\" \"{}\"",
                err.message.replace('"', "'")
            );
            put(out, "www-authenticate", &value);
        }
    }
    match (&faults, &fault) {
        (Some(f), Some(kind)) => super::faults::after(f, kind, response).await,
        _ => response,
    }
}

/// Graph's error body; throttling errors are transient.
fn error_body(err: &GraphError, trace: &str) -> Value {
    let mut body = err.body(trace);
    if usage::is_throttle(err) {
        if let Some(error) = body.get_mut("error").and_then(Value::as_object_mut) {
            error.insert("is_transient".into(), Value::Bool(true));
        }
    }
    body
}

fn put(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(HeaderName::from_static(name), value);
    }
}

fn parse(method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Incoming {
    let query: Vec<(String, String)> = uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let form = wire::body_pairs(content_type, body);
    let mut segments: Vec<String> = uri
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let version = match segments.first() {
        Some(first) if is_version(first) => Some(segments.remove(0)),
        _ => None,
    };
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| uri.authority().map(|a| a.to_string()))
        .unwrap_or_else(|| "localhost".to_string());
    Incoming {
        method: method.clone(),
        version,
        segments,
        query,
        form,
        authorization,
        base_url: format!("http://{host}{}", uri.path()),
    }
}

fn percent_decode(segment: &str) -> String {
    url::form_urlencoded::parse(format!("x={segment}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| segment.to_string())
}

/// `vNN.N`.
fn is_version(segment: &str) -> bool {
    let Some(rest) = segment.strip_prefix('v') else {
        return false;
    };
    let Some((major, minor)) = rest.split_once('.') else {
        return false;
    };
    !major.is_empty()
        && !minor.is_empty()
        && major.chars().all(|c| c.is_ascii_digit())
        && minor.chars().all(|c| c.is_ascii_digit())
}

fn record(inner: &Inner, incoming: &Incoming, uri: &Uri, headers: &HeaderMap) {
    let hooks = &inner.hooks;
    hooks.handled.fetch_add(1, Ordering::SeqCst);
    let key = format!("/{}", incoming.segments.join("/"));
    *hooks.by_path.lock().entry(key).or_default() += 1;
    let recorded = RecordedRequest {
        method: incoming.method.to_string(),
        path: uri.path().to_string(),
        version: incoming.version.clone(),
        query: incoming.query.clone(),
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        form: incoming.form.clone(),
    };
    *hooks.last.lock() = Some(recorded);
}

/// Graph's limit of calls per batch request.
const MAX_BATCH: usize = 50;

/// `POST /` with `batch=[{"method", "relative_url", "body"}]`: every call
/// is checked (token, appsecret_proof, rate limits) and recorded as if it
/// came alone, with the batch's token unless its body names its own. The
/// answer is an array with one `{"code", "body"}` per call (the body as JSON
/// text; `headers` too unless `include_headers=false`); the usage headers
/// are those after the last call. Dependencies between calls (`name`,
/// JSONPath references) are not supported: such a call answers code 100.
fn process_batch(inner: &Inner, outer: &Incoming, headers: &HeaderMap, batch: &str) -> Outcome {
    let fail = |message: &str, code: u32| Outcome {
        result: Err(GraphError::new(code, message)),
        usage: inner.usage.lock().record(&Scope::default()),
    };
    // The batch itself needs a valid token (and proof) before anything runs.
    let params = Params::from_pairs(outer.query.iter().chain(outer.form.iter()).cloned());
    let Some(token) = bearer(outer.authorization.as_deref())
        .or_else(|| params.get("access_token").map(str::to_string))
    else {
        return Outcome {
            result: Err(GraphError::invalid_token()),
            usage: inner.usage.lock().record(&Scope::default()),
        };
    };
    if !inner.world.lock().tokens.contains_key(&token) {
        return fail(
            "Invalid OAuth access token - Cannot parse access token",
            190,
        );
    }
    if let Err(e) = check_proof(inner, &token, &params) {
        return Outcome {
            result: Err(e),
            usage: inner.usage.lock().record(&Scope::default()),
        };
    }
    let Ok(calls) = serde_json::from_str::<Vec<Value>>(batch) else {
        return fail("(#100) The parameter batch must be a JSON array", 100);
    };
    if calls.is_empty() {
        return fail("(#100) The batch must contain at least one request", 100);
    }
    if calls.len() > MAX_BATCH {
        return fail(
            "(#1) Too many requests in batch message. Maximum batch size is 50",
            1,
        );
    }
    let with_headers = params.get("include_headers") != Some("false");
    let mut answers = Vec::with_capacity(calls.len());
    let mut usage = None;
    for call in &calls {
        let (incoming, uri) = match batch_call(outer, call) {
            Ok(c) => c,
            Err(e) => {
                answers.push(batch_answer(
                    400,
                    &error_body(&e, &wire::fbtrace_id()),
                    with_headers,
                ));
                continue;
            }
        };
        inner.hooks.arrivals.fetch_add(1, Ordering::SeqCst);
        record(inner, &incoming, &uri, headers);
        let outcome = process(inner, &incoming);
        let (status, body) = match &outcome.result {
            Ok(value) => (200, value.clone()),
            Err(err) => (err.status().as_u16(), error_body(err, &wire::fbtrace_id())),
        };
        answers.push(batch_answer(status, &body, with_headers));
        usage = Some(outcome.usage);
    }
    Outcome {
        result: Ok(Value::Array(answers)),
        usage: usage.unwrap_or_else(|| inner.usage.lock().record(&Scope::default())),
    }
}

/// One call of a batch as a request of its own.
fn batch_call(outer: &Incoming, call: &Value) -> Result<(Incoming, Uri), GraphError> {
    let bad = |m: &str| GraphError::new(100, m);
    let method = call
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or("GET")
        .to_ascii_uppercase();
    let method = Method::from_bytes(method.as_bytes())
        .map_err(|_| bad("(#100) Unsupported method in a batch call"))?;
    if call.get("name").is_some() || call.get("depends_on").is_some() {
        return Err(bad(
            "(#100) Dependencies between batch calls are not supported by the sandbox",
        ));
    }
    let relative = call
        .get("relative_url")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("(#100) Missing relative_url in a batch call"))?;
    let version = outer
        .version
        .clone()
        .unwrap_or_else(|| DEFAULT_VERSION.to_string());
    let uri: Uri = format!("/{}", relative.trim_start_matches('/'))
        .parse()
        .map_err(|_| bad("(#100) Invalid relative_url in a batch call"))?;
    let mut headers = HeaderMap::new();
    if let Some(a) = &outer.authorization {
        if let Ok(v) = HeaderValue::from_str(a) {
            headers.insert(header::AUTHORIZATION, v);
        }
    }
    let body = call.get("body").and_then(Value::as_str).unwrap_or_default();
    if !body.is_empty() {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
    }
    let mut incoming = parse(&method, &uri, &headers, body.as_bytes());
    if incoming.version.is_none() {
        incoming.version = Some(version);
    }
    incoming.base_url = outer.base_url.clone();
    // The batch's own parameters (appsecret_proof) apply to every call.
    for (k, v) in outer.query.iter().chain(outer.form.iter()) {
        if k == "appsecret_proof" && !incoming.form.iter().any(|(n, _)| n == k) {
            incoming.form.push((k.clone(), v.clone()));
        }
    }
    Ok((incoming, uri))
}

fn batch_answer(status: u16, body: &Value, with_headers: bool) -> Value {
    let mut answer = serde_json::json!({
        "code": status,
        "body": body.to_string(),
    });
    if with_headers {
        answer["headers"] = serde_json::json!([
            {"name": "Content-Type", "value": "application/json; charset=UTF-8"},
        ]);
    }
    answer
}

fn process(inner: &Inner, incoming: &Incoming) -> Outcome {
    let mut scope = Scope::default();
    let result = run(inner, incoming, &mut scope);
    let usage = inner.usage.lock().record(&scope);
    Outcome { result, usage }
}

fn run(inner: &Inner, incoming: &Incoming, scope: &mut Scope) -> Result<Value, GraphError> {
    let params = Params::from_pairs(
        incoming
            .query
            .iter()
            .chain(incoming.form.iter())
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    let verb = verb(&incoming.method, &params, &incoming.segments)?;
    let token = bearer(incoming.authorization.as_deref())
        .or_else(|| params.get("access_token").map(str::to_string))
        .ok_or_else(GraphError::invalid_token)?;

    let mut world = inner.world.lock();
    let record = world
        .tokens
        .get(&token)
        .ok_or_else(GraphError::invalid_token)?;
    if record.expired {
        return Err(GraphError::expired_token());
    }
    let actor = record.user.clone();
    let token_page = record.page.clone();
    check_proof(inner, &token, &params)?;

    let fields = params.get("fields").map(wire::parse_fields).transpose()?;
    let link_query = incoming
        .query
        .iter()
        .filter(|(k, _)| !wire::NOT_ECHOED.contains(&k.as_str()))
        .cloned()
        .collect();
    let paging = PageRequest::parse(&params, incoming.base_url.clone(), link_query)?;
    let mut call = Call {
        verb,
        actor,
        token_page,
        params,
        fields,
        paging,
        spec_fields: None,
    };
    *scope = ops::scope(&world, &call, &incoming.segments);
    usage::classify(&world, scope, &incoming.segments);
    inner.usage.lock().admit(scope, call.verb)?;
    ops::dispatch(&mut world, &mut call, &incoming.segments)
}

/// The Graph method: the HTTP method, or the `method` parameter Graph
/// honours on GET/POST (`method=delete`).
fn verb(method: &Method, params: &Params, segments: &[String]) -> Result<Verb, GraphError> {
    let overridden = params
        .get("method")
        .filter(|_| *method == Method::GET || *method == Method::POST)
        .map(str::to_ascii_uppercase);
    match overridden.as_deref().unwrap_or(method.as_str()) {
        "GET" => Ok(Verb::Get),
        "POST" => Ok(Verb::Post),
        "DELETE" => Ok(Verb::Delete),
        other => Err(GraphError::unknown_object(
            other,
            segments.first().map(String::as_str).unwrap_or_default(),
        )),
    }
}

/// The token of an `Authorization: Bearer <token>` (or `OAuth <token>`).
fn bearer(header: Option<&str>) -> Option<String> {
    let (scheme, token) = header?.trim().split_once(' ')?;
    let scheme = scheme.to_ascii_lowercase();
    (scheme == "bearer" || scheme == "oauth")
        .then(|| token.trim().to_string())
        .filter(|t| !t.is_empty())
}

/// Checks `appsecret_proof` when the sandbox has an app secret.
fn check_proof(inner: &Inner, token: &str, params: &Params) -> Result<(), GraphError> {
    let secret = inner.app_secret.read();
    let Some(secret) = secret.as_ref() else {
        return Ok(());
    };
    let proof = params
        .get("appsecret_proof")
        .ok_or_else(GraphError::missing_proof)?;
    let proof = hex::decode(proof).map_err(|_| GraphError::bad_proof())?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
        .map_err(|_| GraphError::bad_proof())?;
    mac.update(token.as_bytes());
    mac.verify_slice(&proof)
        .map_err(|_| GraphError::bad_proof())
}
