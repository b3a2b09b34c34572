//! Graph batch requests (`POST /` with `batch=`, up to 50 calls): several
//! planned mutations of one route in one round trip, for bulk operations.
//! Each call in a batch is still one call everywhere else: planned and
//! checked by policy on its own ([`Engine::prepare`]), given its own quota
//! permit ([`Engine::admit`]), audited, and invalidating what it changes.
//! Graph runs the calls of a batch independently and answers each with its
//! own status and body; the usage headers come with the batch's answer.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use prost_reflect::DynamicMessage;
use tokio::time::Instant;

use super::{CallContext, Engine, Plan};
use crate::error::GatewayError;
use crate::graph::{GraphError, GraphRequest, HttpMethod};
use crate::quota::QuotaKeys;
use crate::routes::Route;
use crate::vault::TokenEntry;

/// Graph's limit of calls per batch request.
pub const MAX_BATCH: usize = 50;

/// One step, checked and with its token; nothing sent.
#[derive(Clone, Debug)]
pub struct Prepared {
    /// The call.
    pub plan: Plan,
    /// The vault token that serves it.
    pub token: Arc<TokenEntry>,
}

/// What became of one call of a batch.
#[derive(Debug)]
pub enum Sent {
    /// Graph answered it: the encoded response, or its final error.
    Done(Result<Bytes, GatewayError>),
    /// Not applied, and worth sending again later (throttled, transient,
    /// not run, or the batch never reached Graph).
    NotApplied(GatewayError),
    /// Graph may have applied it; its answer was lost.
    InDoubt(GatewayError),
}

impl Engine {
    /// Validates `msg`, checks the caller's policy and picks the token,
    /// as a call of `route` would; nothing is sent.
    pub async fn prepare(
        &self,
        route: &Route,
        ctx: &CallContext,
        msg: &DynamicMessage,
    ) -> Result<Prepared, GatewayError> {
        let plan = super::request::plan(&self.table, route, msg)?;
        let (plan, token) = self
            .resolve(route, ctx, msg, Cow::Owned(plan), None)
            .await?;
        Ok(Prepared {
            plan: plan.into_owned(),
            token,
        })
    }

    /// Validates `msg` and checks the caller's policy, as a call of `route`
    /// would; no token is chosen and nothing is sent (bulk operations check
    /// every step before they start).
    pub async fn check_step(
        &self,
        route: &Route,
        ctx: &CallContext,
        msg: &DynamicMessage,
    ) -> Result<(), GatewayError> {
        let mut plan = super::request::plan(&self.table, route, msg)?;
        if plan.business.is_none() {
            if let Some(asset) = &plan.asset {
                plan.business = self.owners.get(asset).await.map(|b| b.to_string());
            }
        }
        self.security.authorize(ctx, route, &plan, msg)
    }

    /// Takes quota permits for `items`, in order: the first may wait until
    /// `deadline`, each next one only as long as `gather` (a batch is sent
    /// with what the quota allows now). Returns how many got one.
    pub async fn admit(
        &self,
        route: &Route,
        ctx: &CallContext,
        items: &[Prepared],
        deadline: Instant,
        gather: Duration,
    ) -> Result<usize, GatewayError> {
        for (i, item) in items.iter().enumerate() {
            let keys = quota_keys(route, ctx, item);
            let until = if i == 0 {
                deadline
            } else {
                Instant::now() + gather
            };
            let waited = Instant::now();
            let acquired = tokio::select! {
                a = self.quota.acquire(&keys, Some(until)) => a,
                () = ctx.cancel.cancelled() => return Ok(i),
            };
            crate::metrics::quota_wait(waited.elapsed(), acquired.is_ok());
            match acquired {
                Ok(()) => {}
                Err(e) if i == 0 => return Err(e),
                Err(_) => return Ok(i),
            }
        }
        Ok(items.len())
    }

    /// Sends `items` (calls of `route` that share one token, each with its
    /// quota permit) as one Graph batch request, and settles each: its
    /// response transcoded, audit, cache invalidation.
    pub async fn send_batch(
        &self,
        route: &Route,
        ctx: &CallContext,
        items: &[Prepared],
    ) -> Vec<Sent> {
        let Some(first) = items.first() else {
            return Vec::new();
        };
        let token = &first.token;
        if items.iter().any(|i| i.token.name != token.name) {
            let e = GatewayError::Internal("a batch mixes tokens".into());
            return items.iter().map(|_| Sent::NotApplied(e.clone())).collect();
        }
        let request = match batch_request(items) {
            Ok(r) => r,
            Err(e) => return items.iter().map(|_| Sent::NotApplied(e.clone())).collect(),
        };
        let permit = match self.reliability.breaker.admit() {
            Ok(p) => p,
            Err(r) => {
                let e: GatewayError = r.into();
                return items.iter().map(|_| Sent::NotApplied(e.clone())).collect();
            }
        };
        let started = Instant::now();
        let (result, usage) = self
            .graph
            .call(&request, &token.secret, self.max_upstream)
            .await;
        crate::metrics::upstream_call("/ (batch)", result.as_ref().map(drop), started.elapsed());
        let keys = quota_keys(route, ctx, first);
        self.quota.observe(
            &keys,
            &usage,
            match &result {
                Err(GatewayError::Graph(g)) => Some(g),
                _ => None,
            },
        );
        permit.record(crate::retry::health_of(&result));
        let answers = match result {
            Ok(body) => match parse_answers(&body, items.len()) {
                Ok(a) => a,
                Err(e) => return items.iter().map(|_| Sent::InDoubt(e.clone())).collect(),
            },
            // The batch was refused as a whole: none of it ran.
            Err(GatewayError::Graph(g)) => {
                let e = GatewayError::Graph(g);
                return items.iter().map(|_| Sent::NotApplied(e.clone())).collect();
            }
            Err(e @ GatewayError::NotSent(_)) => {
                return items.iter().map(|_| Sent::NotApplied(e.clone())).collect()
            }
            Err(e) => return items.iter().map(|_| Sent::InDoubt(e.clone())).collect(),
        };
        let mut out = Vec::with_capacity(items.len());
        for (item, answer) in items.iter().zip(answers) {
            let sent = match answer {
                // Graph did not run it (a batch may stop early).
                None => Sent::NotApplied(GatewayError::Unavailable(
                    "Graph did not run this call of the batch".into(),
                )),
                Some((status, body)) => self.settle_answer(route, ctx, item, status, body),
            };
            out.push(sent);
        }
        out
    }

    /// One call's answer in a batch.
    fn settle_answer(
        &self,
        route: &Route,
        ctx: &CallContext,
        item: &Prepared,
        status: u16,
        body: Bytes,
    ) -> Sent {
        if let Some(g) = GraphError::parse(&body, status) {
            let g = self.graph.scrub(g, &item.token.secret);
            let keys = quota_keys(route, ctx, item);
            self.quota
                .observe(&keys, &crate::graph::Usage::default(), Some(&g));
            if g.is_throttling() || g.is_transient() || status >= 500 {
                return Sent::NotApplied(GatewayError::Graph(g));
            }
            let result = Err(GatewayError::Graph(g));
            self.audit_step(route, ctx, item, &result);
            return Sent::Done(result);
        }
        if !(200..300).contains(&status) {
            return Sent::InDoubt(GatewayError::Malformed(format!(
                "a batch call answered HTTP {status} without a Graph error"
            )));
        }
        let result = self.plans.transcode(route, &body).map(|t| t.bytes);
        self.audit_step(route, ctx, item, &result);
        match result {
            Ok(bytes) => Sent::Done(Ok(bytes)),
            // Applied, but the answer is unreadable.
            Err(e) => Sent::InDoubt(e),
        }
    }

    fn audit_step(
        &self,
        route: &Route,
        ctx: &CallContext,
        item: &Prepared,
        result: &Result<Bytes, GatewayError>,
    ) {
        self.security.audit().mutation(
            ctx,
            route,
            &item.plan,
            Some(&item.token.name),
            result.as_ref().map(drop),
        );
    }

    /// Invalidates what applied calls changed (after a batch).
    pub async fn invalidate_applied(&self, items: &[&Prepared]) {
        let mut paths: Vec<String> = items
            .iter()
            .flat_map(|i| i.plan.invalidates.iter().cloned())
            .collect();
        paths.sort();
        paths.dedup();
        if !paths.is_empty() {
            self.cache.invalidate(&paths).await;
        }
    }
}

fn quota_keys<'a>(route: &'a Route, ctx: &'a CallContext, item: &'a Prepared) -> QuotaKeys<'a> {
    QuotaKeys {
        token: &item.token.name,
        business: item.plan.business.as_deref(),
        ad_account: item.plan.ad_account.as_deref(),
        class: route.quota_class,
        use_case: &route.use_case,
        write: !route.is_read(),
        caller: ctx.caller.as_deref(),
    }
}

/// `POST /` with `batch=[{method, relative_url, body}]`: paths relative to
/// the version, parameters in the URL for GET/DELETE and as a form body for
/// POST. The token is the batch's (Authorization header), never in a call.
fn batch_request(items: &[Prepared]) -> Result<GraphRequest, GatewayError> {
    let calls: Vec<serde_json::Value> = items
        .iter()
        .map(|i| {
            let g = &i.plan.graph;
            let encoded = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(g.params.iter())
                .finish();
            let path = g.path.trim_start_matches('/');
            match g.method {
                HttpMethod::Post => serde_json::json!({
                    "method": "POST",
                    "relative_url": path,
                    "body": encoded,
                }),
                m => serde_json::json!({
                    "method": m.as_str(),
                    "relative_url": if encoded.is_empty() { path.to_string() } else { format!("{path}?{encoded}") },
                }),
            }
        })
        .collect();
    let batch = serde_json::to_string(&calls)
        .map_err(|e| GatewayError::Internal(format!("encoding a batch: {e}")))?;
    Ok(GraphRequest {
        method: HttpMethod::Post,
        path: "/".to_string(),
        params: vec![
            ("batch".to_string(), batch),
            ("include_headers".to_string(), "false".to_string()),
        ],
    })
}

/// Graph's answer to a batch: one element per call, `null` for a call not
/// run, else `{"code": 200, "body": "<JSON text>"}`.
fn parse_answers(body: &[u8], n: usize) -> Result<Vec<Option<(u16, Bytes)>>, GatewayError> {
    let malformed = |what: &str| GatewayError::Malformed(format!("batch answer: {what}"));
    let v: Vec<serde_json::Value> =
        serde_json::from_slice(body).map_err(|_| malformed("not a JSON array"))?;
    if v.len() != n {
        return Err(malformed(&format!("{} answers for {n} calls", v.len())));
    }
    v.into_iter()
        .map(|a| match a {
            serde_json::Value::Null => Ok(None),
            serde_json::Value::Object(o) => {
                let code = o
                    .get("code")
                    .and_then(serde_json::Value::as_u64)
                    .and_then(|c| u16::try_from(c).ok())
                    .ok_or_else(|| malformed("a call without a code"))?;
                let body = match o.get("body") {
                    Some(serde_json::Value::String(s)) => Bytes::from(s.clone()),
                    Some(serde_json::Value::Null) | None => Bytes::from_static(b"{}"),
                    Some(other) => Bytes::from(other.to_string()),
                };
                Ok(Some((code, body)))
            }
            _ => Err(malformed("a call answered neither null nor an object")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_per_call() {
        let body = br#"[{"code":200,"body":"{\"success\":true}"},null,{"code":400,"body":"{\"error\":{\"code\":100,\"message\":\"x\"}}"}]"#;
        let a = parse_answers(body, 3).expect("parsed");
        assert_eq!(a[0].as_ref().map(|x| x.0), Some(200));
        assert!(a[1].is_none());
        let (code, err) = a[2].clone().expect("third");
        assert_eq!(code, 400);
        assert_eq!(GraphError::parse(&err, code).map(|g| g.code), Some(100));
        assert!(parse_answers(body, 2).is_err());
        assert!(parse_answers(b"{\"id\":\"1\"}", 1).is_err());
    }
}
