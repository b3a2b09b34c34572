//! Token health checks: asks Graph's `debug_token` about vault tokens
//! (at start, every `vault.check_interval_secs`, and for
//! VaultService.CheckToken) and records the verdicts in the vault
//! (`vault::health`).

use std::sync::Arc;
use std::time::Duration;

use super::Engine;
use crate::vault::health::{interpret, now_secs, record, Check, HealthState};
use crate::vault::TokenEntry;

/// How long one debug_token call may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// Asks Graph about one token and records the verdict in the vault.
pub async fn check(engine: &Engine, entry: &TokenEntry) -> Check {
    let started = tokio::time::Instant::now();
    let (result, _usage) = engine
        .graph()
        .debug_token(&entry.secret, CHECK_TIMEOUT)
        .await;
    crate::metrics::upstream_call("/debug_token", result.as_ref().map(drop), started.elapsed());
    let check = interpret(result, now_secs());
    record(engine.vault().as_ref(), &entry.name, &check);
    check
}

/// Checks every token (or the one named), then publishes the vault's health.
/// Returns each checked token's name and outcome.
pub async fn check_all(engine: &Engine, only: Option<&str>) -> Vec<(String, Check)> {
    let mut out = Vec::new();
    for entry in engine.vault().entries() {
        if only.is_some_and(|name| name != entry.name) {
            continue;
        }
        let c = check(engine, &entry).await;
        out.push((entry.name.clone(), c));
    }
    engine
        .security()
        .publish_vault_health(engine.vault().as_ref())
        .await;
    out
}

/// Checks every token now and then every `interval`, until the engine is
/// dropped or the task is aborted.
pub fn spawn(engine: &Arc<Engine>, interval: Duration) -> tokio::task::JoinHandle<()> {
    let weak = Arc::downgrade(engine);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval.max(Duration::from_secs(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(engine) = weak.upgrade() else {
                return;
            };
            let results = check_all(&engine, None).await;
            let invalid = results
                .iter()
                .filter(
                    |(_, c)| matches!(c, Check::Conclusive(h) if h.state == HealthState::Invalid),
                )
                .count();
            tracing::info!(target: "vault", checked = results.len(), invalid, "vault tokens checked with debug_token");
        }
    })
}
