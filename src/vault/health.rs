//! Token health: what Graph's `debug_token` says of each vault token
//! (validity, expiry, scopes). Tokens are checked at start and every
//! `vault.check_interval_secs` (see `engine::token_health::spawn`, which
//! calls Graph; this module keeps the verdicts), and on demand by
//! VaultService.CheckToken. A token known to be invalid is no longer
//! selected; a business whose every token is invalid fails fast with
//! FAILED_PRECONDITION (`TOKEN_INVALID`) instead of a Graph round trip.
//!
//! The token never travels in a URL: `debug_token` is sent as a POST with
//! `method=get`, the token as the bearer and as `input_token` in the form
//! body ([`crate::graph::GraphClient::debug_token`]).
//!
//! Health is published to the gRPC health service: `vault` is NOT_SERVING
//! when the vault has tokens and none of them is usable, `vault/<business>`
//! when every token serving that business is invalid. `readiness` does not
//! follow it: an administrator must still reach VaultService to replace the
//! token.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tonic_health::ServingStatus;

use super::{TokenEntry, Vault};
use crate::error::GatewayError;

/// What is known of a token's validity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HealthState {
    /// Not checked yet (or the value changed since).
    #[default]
    Unknown,
    /// Graph says the token is valid.
    Valid,
    /// Graph says the token is invalid or expired: it is no longer used.
    Invalid,
}

/// The last conclusive debug_token answer about a token.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenHealth {
    /// Valid, invalid, or not known.
    pub state: HealthState,
    /// When Graph last answered about it, seconds since the epoch.
    pub checked_at: Option<u64>,
    /// When the token expires, per Graph (None: never, or not known).
    pub expires_at: Option<u64>,
    /// The permissions the token carries.
    pub scopes: Vec<String>,
    /// Graph's reason when invalid, or the last check's failure. Never the
    /// token.
    pub detail: String,
}

/// A token's health and when it was last selected for a call.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenStatus {
    /// The last health check's verdict.
    pub health: TokenHealth,
    /// When the gateway last picked the token for a call, seconds since the
    /// epoch (this replica).
    pub last_used: Option<u64>,
}

/// One check's outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Check {
    /// Graph said whether the token is valid.
    Conclusive(TokenHealth),
    /// Graph could not be asked (unreachable, throttled, ...): the previous
    /// verdict stands.
    Inconclusive(String),
}

// === impl HealthState ===

impl HealthState {
    /// "unknown", "valid" or "invalid".
    pub fn as_str(self) -> &'static str {
        match self {
            HealthState::Unknown => "unknown",
            HealthState::Valid => "valid",
            HealthState::Invalid => "invalid",
        }
    }
}

/// Seconds since the epoch.
pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Reads a debug_token answer (or error).
pub fn interpret(result: Result<Bytes, GatewayError>, now: u64) -> Check {
    let body = match result {
        Ok(body) => body,
        Err(GatewayError::Graph(g)) if matches!(g.code, 190 | 102 | 463 | 467) => {
            let sub = g
                .subcode
                .map(|s| format!(", subcode {s}"))
                .unwrap_or_default();
            return Check::Conclusive(TokenHealth {
                state: HealthState::Invalid,
                checked_at: Some(now),
                detail: format!("Graph code {}{sub}: {}", g.code, g.message),
                ..TokenHealth::default()
            });
        }
        Err(e) => return Check::Inconclusive(format!("debug_token failed: {e}")),
    };
    let json: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => return Check::Inconclusive("debug_token answered invalid JSON".to_string()),
    };
    let Some(data) = json.get("data").filter(|d| d.is_object()) else {
        return Check::Inconclusive("debug_token answered without data".to_string());
    };
    let valid = data
        .get("is_valid")
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false);
    let expires_at = data
        .get("expires_at")
        .and_then(serde_json::Value::as_u64)
        .filter(|t| *t > 0);
    let scopes = data
        .get("scopes")
        .and_then(serde_json::Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let expired = expires_at.is_some_and(|t| t <= now);
    let detail = if valid && !expired {
        String::new()
    } else if expired {
        format!("expired at {}", expires_at.unwrap_or_default())
    } else {
        data.get("error")
            .and_then(|e| e.get("message"))
            .and_then(serde_json::Value::as_str)
            .map_or_else(
                || "debug_token: is_valid is false".to_string(),
                // Graph's text: scrubbed of the token it may echo.
                |m| crate::secret::scrub(m, &[]),
            )
    };
    Check::Conclusive(TokenHealth {
        state: if valid && !expired {
            HealthState::Valid
        } else {
            HealthState::Invalid
        },
        checked_at: Some(now),
        expires_at,
        scopes,
        detail,
    })
}

/// Records a verdict, logging changes (target `vault`).
pub fn record(vault: &dyn Vault, name: &str, check: &Check) {
    let before = vault.status(name).map(|s| s.health).unwrap_or_default();
    match check {
        Check::Conclusive(health) => {
            if health.state != before.state {
                let state = health.state.as_str();
                if health.state == HealthState::Invalid {
                    tracing::warn!(target: "vault", token = %name, state, detail = %health.detail, "vault token is invalid: calls it would serve fail fast");
                } else {
                    tracing::info!(target: "vault", token = %name, state, expires_at = ?health.expires_at, scopes = health.scopes.len(), "vault token health");
                }
            }
            vault.set_health(name, health.clone());
        }
        Check::Inconclusive(why) => {
            tracing::warn!(target: "vault", token = %name, reason = %why, "vault token check inconclusive; previous verdict kept");
            vault.set_health(
                name,
                TokenHealth {
                    detail: why.clone(),
                    ..before
                },
            );
        }
    }
}

/// Health service statuses of the vault: `vault` and `vault/<business>`.
pub fn statuses(vault: &dyn Vault) -> Vec<(String, ServingStatus)> {
    let entries = vault.entries();
    let usable = |e: &Arc<TokenEntry>| {
        vault
            .status(&e.name)
            .is_none_or(|s| s.health.state != HealthState::Invalid)
    };
    let mut by_business: BTreeMap<&str, bool> = BTreeMap::new();
    for e in &entries {
        let ok = usable(e);
        for b in &e.businesses {
            *by_business.entry(b.as_str()).or_insert(false) |= ok;
        }
    }
    let any = entries.iter().any(usable);
    let serving = |ok: bool| {
        if ok {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        }
    };
    let mut out = vec![("vault".to_string(), serving(any || entries.is_empty()))];
    out.extend(
        by_business
            .into_iter()
            .map(|(b, ok)| (format!("vault/{b}"), serving(ok))),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::GraphError;

    #[test]
    fn valid_answer_carries_expiry_and_scopes() {
        let body = br#"{"data":{"app_id":"1","is_valid":true,"expires_at":0,"scopes":["ads_management","business_management"]}}"#;
        let Check::Conclusive(h) = interpret(Ok(Bytes::from_static(body)), 100) else {
            panic!("conclusive")
        };
        assert_eq!(h.state, HealthState::Valid);
        assert_eq!(h.expires_at, None);
        assert_eq!(h.scopes, ["ads_management", "business_management"]);
        assert_eq!(h.checked_at, Some(100));
    }

    #[test]
    fn invalid_or_expired_answers_are_invalid() {
        let body =
            br#"{"data":{"is_valid":false,"error":{"code":190,"message":"Session has expired"}}}"#;
        let Check::Conclusive(h) = interpret(Ok(Bytes::from_static(body)), 100) else {
            panic!("conclusive")
        };
        assert_eq!(h.state, HealthState::Invalid);
        assert_eq!(h.detail, "Session has expired");
        let body = br#"{"data":{"is_valid":true,"expires_at":50}}"#;
        let Check::Conclusive(h) = interpret(Ok(Bytes::from_static(body)), 100) else {
            panic!("conclusive")
        };
        assert_eq!(h.state, HealthState::Invalid);
    }

    #[test]
    fn token_errors_are_conclusive_other_errors_are_not() {
        let g = |code| GraphError {
            code,
            subcode: Some(463),
            error_type: "OAuthException".into(),
            message: "expired".into(),
            is_transient: false,
            fbtrace_id: None,
            http_status: 400,
        };
        assert!(matches!(
            interpret(Err(GatewayError::Graph(g(190))), 1),
            Check::Conclusive(TokenHealth {
                state: HealthState::Invalid,
                ..
            })
        ));
        assert!(matches!(
            interpret(Err(GatewayError::Graph(g(4))), 1),
            Check::Inconclusive(_)
        ));
        assert!(matches!(
            interpret(Err(GatewayError::Unavailable("down".into())), 1),
            Check::Inconclusive(_)
        ));
    }
}
