//! The governed pass-through (GraphPassthroughService.CallGraph, issue 16):
//! one Graph call to any edge, through the same pipeline as a typed RPC:
//! validation (`crate::routes::passthrough`) → the caller's policy (a grant
//! must list the call's method and template) → the business's vault token →
//! for GET, the read cache when asked → for POST and DELETE, the request_id
//! (AIP-155) and an audit record → quota, retries and the circuit breaker
//! ([`Engine::attempt_call`], shared with typed RPCs) → Graph → the answer
//! screened for tokens.
//!
//! Screening: Graph's paging URLs (`paging.next`, `paging.previous`, at any
//! depth) are removed, since Graph writes the token into them. Any other value
//! that carries a token refuses the whole answer (PERMISSION_DENIED, reason
//! `TOKEN_IN_RESPONSE`; the error names the JSON paths, never a value): a
//! string under a key ending in "token" (`access_token`, `page_token`, …),
//! a string holding `access_token=`, or a string holding a vault token or
//! another secret the process knows. Token values are redacted before
//! anything is kept (the cache holds no refused answer; the idempotency
//! store keeps a write's answer redacted, so a repeat is refused again
//! rather than sent twice).

use std::sync::Arc;

use bytes::Bytes;

use super::{CallContext, Engine, Upstream};
use crate::auth::{PassthroughTarget, PASSTHROUGH_OPERATION};
use crate::cache::CacheKey;
use crate::error::GatewayError;
use crate::idempotency::Settled;
use crate::quota::QuotaKeys;
use crate::routes::passthrough::{self, is_token_name, PassthroughPlan};
use crate::secret::{Secret, REDACTED};
use crate::vault::{TokenEntry, TokenQuery};

/// Paths of token fields a refusal names at most.
const MAX_NAMED_FIELDS: usize = 5;

/// Graph's answer to a pass-through call.
#[derive(Clone, Debug)]
pub struct PassthroughAnswer {
    /// Graph's JSON, screened.
    pub body: Bytes,
    /// "GET /1000000001/owned_pages".
    pub graph_call: String,
    /// Served from the read cache.
    pub cached: bool,
}

impl Engine {
    /// Runs one pass-through call (see the module docs).
    pub async fn passthrough(
        &self,
        ctx: &CallContext,
        req: &crate::proto::CallGraphRequest,
    ) -> Result<PassthroughAnswer, GatewayError> {
        let plan = passthrough::plan(&self.table, req)?;
        self.security.authorize_passthrough(
            ctx,
            &PassthroughTarget {
                method: plan.graph.method.as_str(),
                template: &plan.template,
                business: &plan.business,
                ids: plan.ids.iter().map(String::as_str).collect(),
            },
        )?;
        let token = self.vault.select(&TokenQuery {
            business: Some(&plan.business),
            asset: None,
            kind: None,
        })?;
        let graph_call = plan.graph_call();
        let (body, cached) = if plan.is_read() {
            self.passthrough_read(ctx, &plan, &token).await?
        } else {
            let result = self.passthrough_write(ctx, &plan, &token).await;
            self.audit_write(ctx, &plan, &token, result.as_ref().map(drop));
            let body = result?;
            self.cache.invalidate(&plan.invalidates).await;
            (body, false)
        };
        let found = token_fields(&body);
        if !found.is_empty() {
            return Err(token_refusal(&plan, &found));
        }
        Ok(PassthroughAnswer {
            body,
            graph_call,
            cached,
        })
    }

    /// A GET: through the read cache when the caller asks for it. A
    /// token-bearing answer fails inside the fetch, so it is never cached.
    async fn passthrough_read(
        &self,
        ctx: &CallContext,
        plan: &PassthroughPlan,
        token: &Arc<TokenEntry>,
    ) -> Result<(Bytes, bool), GatewayError> {
        let fetch = async {
            let body = self
                .passthrough_send(ctx, plan, token)
                .await
                .map_err(GatewayError::from)?;
            let found = token_fields(&body);
            if found.is_empty() {
                Ok(body)
            } else {
                Err(token_refusal(plan, &found))
            }
        };
        if !plan.cache {
            return fetch.await.map(|b| (b, false));
        }
        let params = plan
            .graph
            .params
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        let key = CacheKey {
            token: Arc::from(token.name.as_str()),
            operation: Arc::from(PASSTHROUGH_OPERATION),
            path: Arc::from(plan.graph.path.as_str()),
            params: Arc::from(params.as_str()),
            generation: self.cache.generation(&plan.graph.path),
        };
        let (body, served) = self.cache.get_or_fetch(key, Box::pin(fetch)).await?;
        tracing::debug!(cache = served.label(), "pass-through read served");
        Ok((body, served == crate::cache::Served::Hit))
    }

    /// A POST or DELETE: once per request_id (required by validation). A
    /// lost answer cannot be settled by looking (the gateway does not know
    /// the edge): it is in doubt (UNAVAILABLE, `MUTATION_OUTCOME_UNKNOWN`), and a repeat
    /// with the same request_id is answered the same until the store's
    /// record expires, never sent again.
    async fn passthrough_write(
        &self,
        ctx: &CallContext,
        plan: &PassthroughPlan,
        token: &Arc<TokenEntry>,
    ) -> Result<Bytes, GatewayError> {
        let request_id = plan.request_id.as_deref().unwrap_or_default();
        let operation = format!("{PASSTHROUGH_OPERATION} {}", plan.template);
        let key = crate::idempotency::key(ctx.caller.as_deref(), &operation, request_id);
        let fp = crate::idempotency::fingerprint(&operation, &plan.graph);
        let deadline = self.deadline(ctx);
        self.reliability
            .idempotency
            .run(&key, &fp, deadline, |prior| async move {
                // An earlier attempt reached Graph and its answer was lost:
                // the gateway does not know this edge well enough to look,
                // so it never sends it again.
                if prior.is_some() {
                    return Settled::InDoubt {
                        error: GatewayError::Unavailable(format!(
                            "an earlier call with this request_id reached Graph and its answer \
                             was lost; the pass-through cannot tell whether {} took effect: read \
                             the edge, and send a new request_id if it did not",
                            plan.graph_call()
                        )),
                        snapshot: None,
                    };
                }
                match self.passthrough_send(ctx, plan, token).await {
                    Ok(body) => Settled::Final(Ok(body)),
                    Err(f) => super::mutation::classify(f),
                }
            })
            .await
    }

    /// The upstream part: quota, retries and the breaker as for typed RPCs
    /// ([`Engine::attempt_call`]); the answer is JSON, screened.
    async fn passthrough_send(
        &self,
        ctx: &CallContext,
        plan: &PassthroughPlan,
        token: &Arc<TokenEntry>,
    ) -> Result<Bytes, crate::retry::Failure> {
        let keys = QuotaKeys {
            token: &token.name,
            business: Some(&plan.business),
            ad_account: plan.ad_account.as_deref(),
            class: plan.quota_class,
            use_case: &plan.use_case,
            write: !plan.is_read(),
            caller: ctx.caller.as_deref(),
        };
        let class = if plan.is_read() {
            crate::retry::CallClass::Read
        } else {
            crate::retry::CallClass::Mutation
        };
        let call = Upstream {
            req: &plan.graph,
            label: &plan.template,
            op: PASSTHROUGH_OPERATION,
            token,
            keys: &keys,
            class,
            deadline: self.deadline(ctx),
        };
        self.reliability
            .retry
            .run(class, call.deadline, |attempt| {
                self.attempt_call(ctx, &call, attempt, |body| screen(&body, &token.secret))
            })
            .await
    }

    /// The audit record of a write (or a failed one): ids, parameter names,
    /// the token's name; never a parameter's value unless it is a Graph id.
    fn audit_write(
        &self,
        ctx: &CallContext,
        plan: &PassthroughPlan,
        token: &TokenEntry,
        result: Result<(), &GatewayError>,
    ) {
        let mut rec = crate::audit::AuditRecord::new(ctx, PASSTHROUGH_OPERATION);
        rec.business = Some(plan.business.clone());
        rec.graph_call = plan.graph_call();
        rec.token = Some(token.name.clone());
        for (i, id) in plan.ids.iter().enumerate() {
            rec.objects.insert(format!("path[{i}]"), id.clone());
        }
        let mut names = Vec::new();
        for (name, value) in &plan.graph.params {
            if !value.is_empty() && value.len() <= 32 && value.bytes().all(|b| b.is_ascii_digit()) {
                rec.objects.insert(name.clone(), value.clone());
            } else {
                names.push(name.clone());
            }
        }
        if !names.is_empty() {
            rec.changes.insert("params".to_string(), names);
        }
        rec.objects
            .insert("path_template".to_string(), plan.template.clone());
        self.security.record(&rec.outcome(result));
    }
}

/// Graph's answer with its paging URLs removed and every token value
/// redacted (see the module docs); not JSON: a malformed answer.
pub(crate) fn screen(body: &[u8], token: &Secret) -> Result<Bytes, GatewayError> {
    let mut json: serde_json::Value = serde_json::from_slice(body)
        .map_err(|_| GatewayError::Malformed("the pass-through's answer is not JSON".into()))?;
    // Paging URLs and token keys first; then one look at the whole answer
    // (unescaped): only one that still holds a secret somewhere has each of
    // its strings looked at.
    redact(&mut json, token, false);
    let text = json.to_string();
    if text.contains("access_token=") || crate::secret::holds_known(&text, &[token]) {
        redact(&mut json, token, true);
    }
    serde_json::to_vec(&json)
        .map(Bytes::from)
        .map_err(|e| GatewayError::Internal(format!("re-encoding a pass-through answer: {e}")))
}

/// True for a string that carries a token whatever its key (looked at only
/// when the whole answer is `suspicious`).
fn carries_token(s: &str, token: &Secret, suspicious: bool) -> bool {
    suspicious && (s.contains("access_token=") || crate::secret::holds_known(s, &[token]))
}

fn redact(v: &mut serde_json::Value, token: &Secret, suspicious: bool) {
    match v {
        serde_json::Value::Object(map) => {
            if let Some(serde_json::Value::Object(paging)) = map.get_mut("paging") {
                paging.remove("next");
                paging.remove("previous");
            }
            for (k, child) in map.iter_mut() {
                match child {
                    serde_json::Value::String(s)
                        if !s.is_empty()
                            && (is_token_name(k) || carries_token(s, token, suspicious)) =>
                    {
                        *s = REDACTED.to_string();
                    }
                    other => redact(other, token, suspicious),
                }
            }
        }
        serde_json::Value::Array(items) => {
            items.iter_mut().for_each(|i| redact(i, token, suspicious))
        }
        serde_json::Value::String(s) if carries_token(s, token, suspicious) => {
            *s = REDACTED.to_string()
        }
        _ => {}
    }
}

/// The JSON paths of every value that carried a token in a screened answer:
/// a non-empty string under a token key, or a redacted string.
pub(crate) fn token_fields(body: &[u8]) -> Vec<String> {
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    walk(&json, String::new(), &mut out);
    out
}

fn walk(v: &serde_json::Value, at: String, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, child) in map {
                let path = if at.is_empty() {
                    k.clone()
                } else {
                    format!("{at}.{k}")
                };
                match child {
                    serde_json::Value::String(s)
                        if !s.is_empty() && (is_token_name(k) || s.contains(REDACTED)) =>
                    {
                        out.push(path)
                    }
                    other => walk(other, path, out),
                }
            }
        }
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(item, format!("{at}[{i}]"), out);
            }
        }
        serde_json::Value::String(s) if s.contains(REDACTED) => out.push(at),
        _ => {}
    }
}

/// The refusal of a token-bearing answer: the paths, never a value.
fn token_refusal(plan: &PassthroughPlan, found: &[String]) -> GatewayError {
    let mut named: Vec<String> = found
        .iter()
        .take(MAX_NAMED_FIELDS)
        .map(|p| crate::secret::scrub(p, &[]))
        .collect();
    if found.len() > MAX_NAMED_FIELDS {
        named.push(format!("and {} more", found.len() - MAX_NAMED_FIELDS));
    }
    let named = named.join(", ");
    let done = if plan.is_read() {
        String::new()
    } else {
        " The change itself was made: a repeat with the same request_id gets this answer again."
            .to_string()
    };
    GatewayError::PermissionDenied {
        reason: "TOKEN_IN_RESPONSE",
        message: format!(
            "Graph's answer to {} carries a token ({named}): the pass-through never returns \
             tokens; leave token fields out of `fields`, or use a typed RPC.{done}",
            plan.graph_call()
        ),
        metadata: vec![
            ("graph_call".to_string(), plan.graph_call()),
            ("fields".to_string(), named),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_urls_go_and_tokens_are_found_by_key_and_by_value() {
        let token = Secret::new("EAAtoken-value-for-screening-0001");
        let body = serde_json::json!({
            "data": [
                {"id": "1", "name": "a", "access_token": "EAAsomething-else-entirely-12345"},
                {"id": "2", "note": "see https://x/?access_token=abc"},
                {"id": "3", "echo": "EAAtoken-value-for-screening-0001"},
                {"id": "4", "tokenized": "fine", "page_token": ""}
            ],
            "paging": {"cursors": {"before": "b", "after": "a"}, "next": "https://graph/?access_token=EAA"}
        });
        let out = screen(body.to_string().as_bytes(), &token).unwrap();
        let text = String::from_utf8(out.to_vec()).unwrap();
        assert!(!text.contains("EAA"), "{text}");
        assert!(!text.contains("\"next\""), "{text}");
        assert!(text.contains("\"after\":\"a\""), "{text}");
        assert_eq!(
            token_fields(&out),
            vec!["data[0].access_token", "data[1].note", "data[2].echo"]
        );
    }

    #[test]
    fn policy_checks_the_service_the_proto_declares() {
        assert!(crate::proto::SERVICE_NAMES.contains(&crate::auth::PASSTHROUGH_SERVICE));
    }

    #[test]
    fn an_answer_without_tokens_passes_unchanged_in_meaning() {
        let token = Secret::new("EAAtoken-value-for-screening-0002");
        let body = br#"{"data":[{"id":"1","name":"WABA"}],"paging":{"cursors":{"after":"x"}}}"#;
        let out = screen(body, &token).unwrap();
        assert!(token_fields(&out).is_empty());
        let a: serde_json::Value = serde_json::from_slice(body).unwrap();
        let b: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(a, b);
        assert!(screen(b"true", &token).is_ok());
        assert!(matches!(
            screen(b"<html>", &token),
            Err(GatewayError::Malformed(_))
        ));
    }
}
