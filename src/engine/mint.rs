//! Routes that mint a token (`(graph).mints_token`, e.g. SU05 `POST
//! /{system_user_id}/access_tokens`): Graph's answer carries a new access
//! token, which goes straight into the vault. The caller gets the vault
//! entry's name and businesses, never the value: the value is never cached
//! or logged, and a request_id keeps only that answer. The call itself goes through
//! the same pipeline as any mutation (policy before, then quota, retries of
//! calls never sent, the circuit breaker, appsecret_proof) and leaves an
//! audit record naming the new token.

use std::sync::Arc;

use bytes::Bytes;
use prost::Message as _;

use super::{CallContext, Engine, Upstream};
use crate::error::GatewayError;
use crate::idempotency::Settled;
use crate::quota::QuotaKeys;
use crate::retry::Failure;
use crate::routes::request::Plan;
use crate::routes::Route;
use crate::secret::Secret;
use crate::vault::{TokenEntry, TokenKind};

/// The vault name of a system user's minted token.
pub fn minted_token_name(system_user_id: &str) -> String {
    format!("system-user-{system_user_id}")
}

impl Engine {
    /// Runs a minting route with `token` (the business's) and keeps the new
    /// token in the vault as `system-user-{id}` (replacing an earlier one
    /// of that name). It serves the business's calls only when the request
    /// set `serve_business`.
    pub(super) async fn mint_token(
        &self,
        route: &Route,
        ctx: &CallContext,
        plan: &Plan,
        token: &Arc<TokenEntry>,
    ) -> Result<Bytes, GatewayError> {
        let business = plan.business.clone().unwrap_or_default();
        let subject = plan
            .graph
            .path
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or_default()
            .to_string();
        let name = minted_token_name(&subject);
        let mut rec = crate::audit::AuditRecord::new(ctx, route.operation_id.clone());
        if rec.rpc.is_empty() {
            rec.rpc = route.full_method.clone();
        }
        rec.business = Some(business.clone()).filter(|b| !b.is_empty());
        rec.graph_call = format!("{} {}", route.http.as_str(), plan.graph.path);
        rec.objects.insert("system_user_id".into(), subject.clone());
        rec.changes.insert("minted".into(), vec![name.clone()]);
        rec.token = Some(token.name.clone());
        let once = |prior: Option<crate::idempotency::Record>| async move {
            // An earlier attempt with this request_id reached Graph and its
            // answer was lost: a token may have been minted that the vault
            // never got. Never sent again blindly.
            if prior.is_some() {
                return Settled::InDoubt {
                    error: GatewayError::Unavailable(
                        "an earlier call with this request_id reached Graph and its answer was \
                         lost: the token it may have minted never reached the vault; send a new \
                         request_id to mint one"
                            .to_string(),
                    ),
                    snapshot: None,
                };
            }
            match self
                .mint_once(route, ctx, plan, token, &business, &name)
                .await
            {
                Ok(bytes) => Settled::Final(Ok(bytes)),
                Err(f) => super::mutation::classify(f),
            }
        };
        let result = match plan.request_id.as_deref() {
            // The store keeps the answer: the entry's name and businesses,
            // never the token.
            Some(request_id) => {
                let key =
                    crate::idempotency::key(ctx.caller.as_deref(), &route.operation_id, request_id);
                let fp = crate::idempotency::fingerprint(&route.operation_id, &plan.graph);
                self.reliability
                    .idempotency
                    .run(&key, &fp, self.deadline(ctx), once)
                    .await
            }
            None => match once(None).await {
                Settled::Final(r) => r,
                Settled::InDoubt { error, .. } => {
                    Err(crate::idempotency::outcome_unknown(&error, false))
                }
                Settled::NotApplied(e) => Err(e),
            },
        };
        self.security
            .record(&rec.outcome(result.as_ref().map(drop)));
        result
    }

    /// One mint: the Graph call, then the vault; the encoded answer.
    async fn mint_once(
        &self,
        route: &Route,
        ctx: &CallContext,
        plan: &Plan,
        token: &Arc<TokenEntry>,
        business: &str,
        name: &str,
    ) -> Result<Bytes, Failure> {
        let secret = self.mint_call(route, ctx, plan, token, business).await?;
        let entry = TokenEntry {
            name: name.to_string(),
            kind: TokenKind::SystemUser,
            businesses: if plan.serve_business && !business.is_empty() {
                vec![business.to_string()]
            } else {
                Vec::new()
            },
            assets: Vec::new(),
            secret,
            expires_at: None,
        };
        let answer = crate::proto::CreateSystemUserTokenResponse {
            token_name: entry.name.clone(),
            business_ids: entry.businesses.clone(),
        };
        // Minted but not kept: the call took effect, the caller must know.
        self.vault
            .put(entry)
            .await
            .map_err(|e| Failure::sent(e.into()))?;
        Ok(Bytes::from(answer.encode_to_vec()))
    }

    /// The Graph call: quota, retries (only of calls never sent), the
    /// breaker; the answer's `access_token` as a [`Secret`].
    async fn mint_call(
        &self,
        route: &Route,
        ctx: &CallContext,
        plan: &Plan,
        token: &Arc<TokenEntry>,
        business: &str,
    ) -> Result<Secret, Failure> {
        let keys = QuotaKeys {
            token: &token.name,
            business: Some(business).filter(|b| !b.is_empty()),
            ad_account: None,
            class: route.quota_class,
            use_case: &route.use_case,
            write: true,
            caller: ctx.caller.as_deref(),
        };
        let class = crate::retry::CallClass::Mutation;
        let call = Upstream {
            req: &plan.graph,
            label: &route.template.raw,
            op: &route.operation_id,
            token,
            keys: &keys,
            class,
            deadline: self.deadline(ctx),
        };
        self.reliability
            .retry
            .run(class, call.deadline, |attempt| {
                self.attempt_call(ctx, &call, attempt, |body| access_token(&body, route))
            })
            .await
    }
}

/// The `access_token` of Graph's answer. The error never quotes the body.
fn access_token(body: &[u8], route: &Route) -> Result<Secret, GatewayError> {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("access_token")
                .and_then(serde_json::Value::as_str)
                .filter(|s| !s.is_empty())
                .map(Secret::new)
        })
        .ok_or_else(|| {
            GatewayError::Malformed(format!(
                "{} {} answered no access_token",
                route.http.as_str(),
                route.template.raw
            ))
        })
}
