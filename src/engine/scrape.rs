//! What a metrics scrape reads from the engine (`metrics::ScrapeSource`):
//! the quota snapshot and vault token health.

use std::time::{SystemTime, UNIX_EPOCH};

use super::Engine;
use crate::metrics::{Gauges, ScrapeSource};
use crate::vault::Vault;

#[async_trait::async_trait]
impl ScrapeSource for Engine {
    async fn push_gauges(&self, gauges: &mut Gauges) {
        // Quota: the same numbers QuotaService shows, read from its snapshot.
        for m in self.quota().snapshot().await.metrics() {
            gauges.push(m.name, m.help, m.labels, m.value);
        }
        token_gauges(self.vault().as_ref(), gauges);
    }
}

/// Vault tokens, by name: expiry and health state.
fn token_gauges(vault: &dyn Vault, gauges: &mut Gauges) {
    let mut entries = vault.entries();
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    for entry in &entries {
        let health = vault.status(&entry.name).map(|s| s.health);
        let expires_at = health
            .as_ref()
            .and_then(|h| h.expires_at)
            .or(entry.expires_at);
        let token = || vec![("token", entry.name.clone())];
        if let Some(at) = expires_at {
            gauges.push(
                "graph_gateway_vault_token_expiry_timestamp_seconds",
                "When the vault token expires (debug_token, else the vault's record), seconds since the epoch.",
                token(),
                at as f64,
            );
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            gauges.push(
                "graph_gateway_vault_token_expires_in_seconds",
                "Seconds until the vault token expires (negative: expired).",
                token(),
                at as f64 - now as f64,
            );
        }
        let state = health.as_ref().map(|h| h.state).unwrap_or_default();
        for s in [
            crate::vault::HealthState::Unknown,
            crate::vault::HealthState::Valid,
            crate::vault::HealthState::Invalid,
        ] {
            gauges.push(
                "graph_gateway_vault_token_state",
                "1 for the vault token's health per Graph's debug_token: unknown, valid or invalid.",
                vec![("token", entry.name.clone()), ("state", s.as_str().to_string())],
                f64::from(u8::from(state == s)),
            );
        }
        if let Some(at) = health.and_then(|h| h.checked_at) {
            gauges.push(
                "graph_gateway_vault_token_checked_timestamp_seconds",
                "When Graph last answered debug_token about the vault token, seconds since the epoch.",
                token(),
                at as f64,
            );
        }
    }
}
