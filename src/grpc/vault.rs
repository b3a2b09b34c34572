//! VaultService: the vault's admin API (proto/graphgateway/v1/vault.proto).
//! Only callers with `admin = true` may call it (the auth layer refuses the
//! others before they get here, and each handler checks again). Token values
//! come in with PutToken and never go out; every call leaves an audit record
//! with its outcome, naming tokens, never their values.

use std::fmt;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use crate::audit::AuditRecord;
use crate::engine::token_health;
use crate::engine::Engine;
use crate::error::{FieldViolation, GatewayError};
use crate::grpc::GatewayService;
use crate::proto::{
    CheckTokenRequest, CheckTokenResponse, DeleteTokenRequest, DeleteTokenResponse,
    ListTokensRequest, ListTokensResponse, PutTokenRequest, PutTokenResponse, RotateKeyRequest,
    RotateKeyResponse, TokenHealthState, VaultToken, VaultTokenKind,
};
use crate::secret::Secret;
use crate::vault::health::{self, Check, HealthState};
use crate::vault::{TokenEntry, TokenKind, Vault};

type Reply<T> = Result<tonic::Response<T>, tonic::Status>;

/// Tokens listed per page unless asked otherwise.
const DEFAULT_PAGE_SIZE: usize = 100;
/// Most tokens per page.
const MAX_PAGE_SIZE: usize = 1000;

/// Never prints the token value (the generated Debug is skipped, build.rs).
impl fmt::Debug for PutTokenRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PutTokenRequest")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("business_ids", &self.business_ids)
            .field("asset_ids", &self.asset_ids)
            .field("value", &"<redacted>")
            .field("expire_time", &self.expire_time)
            .field("check", &self.check)
            .field("request_id", &self.request_id)
            .finish()
    }
}

/// VaultService.PutToken.
pub(crate) async fn put_token(
    svc: &GatewayService,
    request: tonic::Request<PutTokenRequest>,
) -> Reply<PutTokenResponse> {
    let mut ctx = crate::grpc::request_context(&request);
    let req = request.into_inner();
    if !req.request_id.is_empty() {
        ctx.request_id.clone_from(&req.request_id);
    }
    let engine = svc.engine();
    let mut rec = AuditRecord::new(&ctx, "PutToken");
    rec.objects.insert("token".into(), req.name.clone());
    rec.changes
        .insert("businesses".into(), req.business_ids.clone());
    if !req.asset_ids.is_empty() {
        rec.changes.insert("assets".into(), req.asset_ids.clone());
    }
    let result = async {
        engine.security().require_admin(&ctx)?;
        let entry = entry_of(&req)?;
        let name = entry.name.clone();
        let mut verdict = None;
        if req.check {
            let (result, _) = engine
                .graph()
                .debug_token(&entry.secret, std::time::Duration::from_secs(10))
                .await;
            match health::interpret(result, health::now_secs()) {
                Check::Conclusive(h) if h.state == HealthState::Valid => verdict = Some(h),
                Check::Conclusive(h) => {
                    return Err(GatewayError::TokenInvalid(format!(
                        "Graph's debug_token says token {name} is invalid ({}): it was not stored",
                        h.detail
                    )))
                }
                Check::Inconclusive(why) => return Err(GatewayError::Unavailable(why)),
            }
        }
        engine.vault().put(entry).await?;
        if let Some(h) = verdict {
            engine.vault().set_health(&name, h);
        }
        engine
            .security()
            .publish_vault_health(engine.vault().as_ref())
            .await;
        Ok(PutTokenResponse {
            token: token_of(engine.vault().as_ref(), &name),
        })
    }
    .await;
    finish(engine, rec, result)
}

/// VaultService.DeleteToken.
pub(crate) async fn delete_token(
    svc: &GatewayService,
    request: tonic::Request<DeleteTokenRequest>,
) -> Reply<DeleteTokenResponse> {
    let mut ctx = crate::grpc::request_context(&request);
    let req = request.into_inner();
    if !req.request_id.is_empty() {
        ctx.request_id.clone_from(&req.request_id);
    }
    let engine = svc.engine();
    let mut rec = AuditRecord::new(&ctx, "DeleteToken");
    rec.objects.insert("token".into(), req.name.clone());
    let result = async {
        engine.security().require_admin(&ctx)?;
        if req.name.is_empty() {
            return Err(GatewayError::invalid("name", "is required"));
        }
        let deleted = engine.vault().remove(&req.name).await?;
        engine
            .security()
            .publish_vault_health(engine.vault().as_ref())
            .await;
        Ok(DeleteTokenResponse { deleted })
    }
    .await;
    finish(engine, rec, result)
}

/// VaultService.ListTokens.
pub(crate) async fn list_tokens(
    svc: &GatewayService,
    request: tonic::Request<ListTokensRequest>,
) -> Reply<ListTokensResponse> {
    let ctx = crate::grpc::request_context(&request);
    let req = request.into_inner();
    let engine = svc.engine();
    let mut rec = AuditRecord::new(&ctx, "ListTokens");
    if !req.business_id.is_empty() {
        rec.business = Some(req.business_id.clone());
    }
    let result = async {
        engine.security().require_admin(&ctx)?;
        let size = match req.page_size {
            0 => DEFAULT_PAGE_SIZE,
            n if n < 0 || n as usize > MAX_PAGE_SIZE => {
                return Err(GatewayError::invalid(
                    "page_size",
                    format!("must be between 0 and {MAX_PAGE_SIZE}"),
                ))
            }
            n => n as usize,
        };
        let after = match req.page_token.as_str() {
            "" => None,
            t => Some(
                URL_SAFE_NO_PAD
                    .decode(t)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| GatewayError::invalid("page_token", "is not a page token"))?,
            ),
        };
        let vault = engine.vault();
        let mut matching = vault
            .entries()
            .into_iter()
            .filter(|e| req.business_id.is_empty() || e.businesses.contains(&req.business_id))
            .filter(|e| after.as_deref().is_none_or(|a| e.name.as_str() > a))
            .collect::<Vec<_>>();
        matching.sort_by(|a, b| a.name.cmp(&b.name));
        let more = matching.len() > size;
        matching.truncate(size);
        let next_page_token = match (more, matching.last()) {
            (true, Some(last)) => URL_SAFE_NO_PAD.encode(last.name.as_bytes()),
            _ => String::new(),
        };
        Ok(ListTokensResponse {
            tokens: matching
                .iter()
                .map(|e| message_of(vault.as_ref(), e))
                .collect(),
            next_page_token,
            backend: vault.backend().to_string(),
        })
    }
    .await;
    finish(engine, rec, result)
}

/// VaultService.RotateKey.
pub(crate) async fn rotate_key(
    svc: &GatewayService,
    request: tonic::Request<RotateKeyRequest>,
) -> Reply<RotateKeyResponse> {
    let mut ctx = crate::grpc::request_context(&request);
    let req = request.into_inner();
    if !req.request_id.is_empty() {
        ctx.request_id.clone_from(&req.request_id);
    }
    let engine = svc.engine();
    let mut rec = AuditRecord::new(&ctx, "RotateKey");
    let result = async {
        engine.security().require_admin(&ctx)?;
        let rotation = engine.vault().rotate_key().await?;
        Ok(RotateKeyResponse {
            key_id: rotation.key_id.unwrap_or_default(),
            rewritten: i32::try_from(rotation.rewritten).unwrap_or(i32::MAX),
            total: i32::try_from(rotation.total).unwrap_or(i32::MAX),
            backend: engine.vault().backend().to_string(),
        })
    }
    .await;
    if let Ok(r) = &result {
        rec.objects.insert("key_id".into(), r.key_id.clone());
        rec.changes
            .insert("rewritten".into(), vec![r.rewritten.to_string()]);
    }
    finish(engine, rec, result)
}

/// VaultService.CheckToken.
pub(crate) async fn check_token(
    svc: &GatewayService,
    request: tonic::Request<CheckTokenRequest>,
) -> Reply<CheckTokenResponse> {
    let ctx = crate::grpc::request_context(&request);
    let req = request.into_inner();
    let engine = svc.engine();
    let mut rec = AuditRecord::new(&ctx, "CheckToken");
    if !req.name.is_empty() {
        rec.objects.insert("token".into(), req.name.clone());
    }
    let result = async {
        engine.security().require_admin(&ctx)?;
        let only = (!req.name.is_empty()).then_some(req.name.as_str());
        if let Some(name) = only {
            if !engine.vault().entries().iter().any(|e| e.name == name) {
                return Err(GatewayError::invalid(
                    "name",
                    "no vault token has this name",
                ));
            }
        }
        let checked = token_health::check_all(engine, only).await;
        Ok(CheckTokenResponse {
            tokens: checked
                .iter()
                .filter_map(|(name, _)| token_of(engine.vault().as_ref(), name))
                .collect(),
        })
    }
    .await;
    finish(engine, rec, result)
}

/// Audits the call and answers it.
fn finish<T>(engine: &Arc<Engine>, rec: AuditRecord, result: Result<T, GatewayError>) -> Reply<T> {
    engine
        .security()
        .record(&rec.outcome(result.as_ref().map(drop)));
    result
        .map(tonic::Response::new)
        .map_err(|e| crate::grpc::status::to_status(&e))
}

/// The entry a PutToken request describes; every mistake at once, none
/// quoting the value.
fn entry_of(req: &PutTokenRequest) -> Result<TokenEntry, GatewayError> {
    let mut v = Vec::new();
    let mut bad = |field: &str, why: &str| {
        v.push(FieldViolation {
            field: field.to_string(),
            description: why.to_string(),
        })
    };
    let name_ok = !req.name.is_empty()
        && req.name.len() <= 128
        && req
            .name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !name_ok {
        bad(
            "name",
            "is required: 1-128 letters, digits, '.', '_' or '-'",
        );
    }
    let kind = match VaultTokenKind::try_from(req.kind) {
        Ok(VaultTokenKind::SystemUser) => Some(TokenKind::SystemUser),
        Ok(VaultTokenKind::User) => Some(TokenKind::User),
        Ok(VaultTokenKind::Page) => Some(TokenKind::Page),
        _ => {
            bad("kind", "is required: SYSTEM_USER, USER or PAGE");
            None
        }
    };
    if req.value.is_empty() || req.value.len() > 4096 {
        bad("value", "is required (at most 4096 bytes)");
    } else if req
        .value
        .bytes()
        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        bad("value", "must not contain whitespace or control characters");
    }
    let digits = |s: &str| !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_digit());
    for (i, b) in req.business_ids.iter().enumerate() {
        if !digits(b) {
            bad(&format!("business_ids[{i}]"), "must be a Graph id (digits)");
        }
    }
    for (i, a) in req.asset_ids.iter().enumerate() {
        if !digits(a) {
            bad(&format!("asset_ids[{i}]"), "must be a Graph id (digits)");
        }
    }
    if req.business_ids.is_empty() && req.asset_ids.is_empty() {
        bad(
            "business_ids",
            "give the businesses (or assets) the token serves",
        );
    }
    let expires_at = match &req.expire_time {
        Some(t) if t.seconds <= 0 => {
            bad("expire_time", "must be after 1970");
            None
        }
        Some(t) => u64::try_from(t.seconds).ok(),
        None => None,
    };
    match kind {
        Some(kind) if v.is_empty() => Ok(TokenEntry {
            name: req.name.clone(),
            kind,
            businesses: req.business_ids.clone(),
            assets: req.asset_ids.clone(),
            secret: Secret::new(req.value.as_str()),
            expires_at,
        }),
        _ => Err(GatewayError::InvalidArgument(v)),
    }
}

fn token_of(vault: &dyn Vault, name: &str) -> Option<VaultToken> {
    vault
        .entries()
        .iter()
        .find(|e| e.name == name)
        .map(|e| message_of(vault, e))
}

/// A token's metadata and health: never its value.
fn message_of(vault: &dyn Vault, e: &TokenEntry) -> VaultToken {
    let status = vault.status(&e.name).unwrap_or_default();
    let h = &status.health;
    VaultToken {
        name: e.name.clone(),
        kind: match e.kind {
            TokenKind::SystemUser => VaultTokenKind::SystemUser,
            TokenKind::User => VaultTokenKind::User,
            TokenKind::Page => VaultTokenKind::Page,
        } as i32,
        business_ids: e.businesses.clone(),
        asset_ids: e.assets.clone(),
        expire_time: e.expires_at.map(timestamp),
        last_use_time: status.last_used.map(timestamp),
        health: Some(crate::proto::TokenHealth {
            state: match h.state {
                HealthState::Unknown => TokenHealthState::Unspecified,
                HealthState::Valid => TokenHealthState::Valid,
                HealthState::Invalid => TokenHealthState::Invalid,
            } as i32,
            check_time: h.checked_at.map(timestamp),
            expire_time: h.expires_at.map(timestamp),
            scopes: h.scopes.clone(),
            detail: h.detail.clone(),
        }),
    }
}

fn timestamp(secs: u64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: i64::try_from(secs).unwrap_or(i64::MAX),
        nanos: 0,
    }
}
