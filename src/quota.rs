//! The quota engine as the pipeline sees it: a call waits for a permit up to
//! its deadline, else fails with RESOURCE_EXHAUSTED and a retry delay; every
//! Graph answer's usage headers and throttling errors are reported back.
//!
//! One engine, two homes for its budgets:
//! - in process (no `redis.url`): [`backend::LocalBudgets`] on tokio time;
//! - in Redis (`redis.url`): the same arithmetic in Lua scripts, so every
//!   replica shares one budget per key, with a conservative local fallback
//!   while Redis is unreachable.
//!
//! Keys ([`QuotaKey`]): the app (X-App-Usage), a business use case
//! (X-Business-Use-Case-Usage) and an ad account (X-Ad-Account-Usage). A call
//! counts against the app, plus its business use case when the route counts
//! against a business (the route's `use_case`), plus the ad account it
//! addresses (reads 1 point, writes 3). Per key, `budget.rs` holds the key
//! after throttling (one probe when the hold ends), caps the usage at
//! `target_fraction` of the budget (or `ceiling` of Meta's report when the
//! gateway's own accounting does not explain it) and paces smoothly towards
//! the cap. `fair.rs` orders waiting calls by priority and weighted fair
//! queuing among callers, in points. [`QuotaSnapshot`] carries the numbers shown by
//! QuotaService and exported as metrics.

mod backend;
mod budget;
mod fair;
mod key;
mod shared;
mod snapshot;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::Clock;
use governor::nanos::Nanos;
use tokio::time::Instant;

use crate::config::{CallerConfig, Priority, QuotaConfig, RedisConfig};
use crate::error::GatewayError;
use crate::graph::{GraphError, Usage};
use crate::routes::QuotaClass;

pub use fair::AdaptiveQuota;
pub use key::QuotaKey;
pub use snapshot::{labels_of, KeyStatus, Metric, Mode, QuotaSnapshot, ReportedUsage, Waiting};

/// What a call counts against.
#[derive(Clone, Debug)]
pub struct QuotaKeys<'a> {
    /// The vault token's name.
    pub token: &'a str,
    /// The business the call acts for.
    pub business: Option<&'a str>,
    /// The ad account the call addresses (digits).
    pub ad_account: Option<&'a str>,
    /// The limit the route counts against.
    pub class: QuotaClass,
    /// The route's business use case (X-Business-Use-Case-Usage `type`).
    pub use_case: &'a str,
    /// Writes cost more where Meta counts them so.
    pub write: bool,
    /// The internal caller, when known.
    pub caller: Option<&'a str>,
}

/// The quota engine.
#[async_trait::async_trait]
pub trait Quota: Send + Sync + 'static {
    /// Waits for a permit until `deadline`; fails fast when the wait would
    /// pass it.
    async fn acquire(
        &self,
        keys: &QuotaKeys<'_>,
        deadline: Option<Instant>,
    ) -> Result<(), GatewayError>;
    /// Learns from one Graph answer (usage headers, throttling errors).
    fn observe(&self, keys: &QuotaKeys<'_>, usage: &Usage, error: Option<&GraphError>);
    /// Every key's numbers and the engine's mode (QuotaService, metrics).
    async fn snapshot(&self) -> QuotaSnapshot;
}

/// Builds the engine the configuration asks for: shared through Redis when
/// `redis.url` is set (connecting lazily), else in process. Must run inside
/// a tokio runtime.
pub fn from_config(quota: &QuotaConfig, redis: &RedisConfig) -> anyhow::Result<Arc<dyn Quota>> {
    let params = Arc::new(Params::from_config(quota));
    // The error names what is wrong, never the URL (it may hold a password).
    let link = crate::redis_link::RedisLink::from_config(redis).map_err(anyhow::Error::msg)?;
    let backend: Arc<dyn backend::Backend> = match link {
        Some(link) => {
            let engine = shared::RedisBudgets::new(
                link,
                &redis.key_prefix,
                Duration::from_millis(redis.timeout_ms),
                Duration::from_millis(redis.probe_interval_ms),
                params.clone(),
            );
            tracing::info!(
                replicas = quota.replicas,
                "quota: budgets shared through Redis"
            );
            engine
        }
        None => Arc::new(backend::LocalBackend(backend::LocalBudgets::new(
            params.pacing(1.0),
        ))),
    };
    Ok(Arc::new(AdaptiveQuota::new(
        backend,
        params,
        quota.replicas,
        (
            quota.per_token_per_sec,
            quota.per_business_per_sec,
            quota.burst,
        ),
    )))
}

/// The in-process engine with `quota`'s settings (tests, tools).
pub fn local(quota: &QuotaConfig) -> Arc<AdaptiveQuota> {
    let params = Arc::new(Params::from_config(quota));
    let backend = Arc::new(backend::LocalBackend(backend::LocalBudgets::new(
        params.pacing(1.0),
    )));
    Arc::new(AdaptiveQuota::new(
        backend,
        params,
        quota.replicas,
        (
            quota.per_token_per_sec,
            quota.per_business_per_sec,
            quota.burst,
        ),
    ))
}

/// The configuration in the units the engine computes with.
#[derive(Debug)]
pub(crate) struct Params {
    pub(crate) target: f64,
    pub(crate) ceiling: f64,
    pub(crate) band: f64,
    /// Share of each budget batch callers leave to interactive ones.
    pub(crate) batch_reserve: f64,
    pub(crate) tolerance: f64,
    pub(crate) margin_ms: f64,
    pub(crate) default_hold_ms: f64,
    pub(crate) probe_timeout_ms: f64,
    pub(crate) app_calls: f64,
    pub(crate) app_window_ms: f64,
    pub(crate) business_use_case_calls: f64,
    pub(crate) business_use_case_window_ms: f64,
    pub(crate) use_case_calls: HashMap<String, f64>,
    /// ads_management's budget on the standard tier.
    pub(crate) ads_management_calls_standard: f64,
    pub(crate) ad_account_points_development: f64,
    pub(crate) ad_account_points_standard: f64,
    pub(crate) ad_account_standard: bool,
    pub(crate) ad_account_window_ms: f64,
    pub(crate) ad_account_read_points: f64,
    pub(crate) ad_account_write_points: f64,
    pub(crate) replicas: u32,
    pub(crate) local_fraction: f64,
    pub(crate) callers: HashMap<String, CallerConfig>,
}

// === impl Params ===

impl Params {
    pub(crate) fn from_config(c: &QuotaConfig) -> Self {
        let secs = |s: u64| s as f64 * 1000.0;
        Self {
            target: c.target_fraction,
            ceiling: c.ceiling,
            band: c.slowdown_band,
            batch_reserve: c.batch_reserve,
            tolerance: c.model_tolerance,
            margin_ms: c.window_margin_ms as f64,
            default_hold_ms: secs(c.default_hold_secs),
            probe_timeout_ms: secs(c.probe_timeout_secs),
            app_calls: c.app_calls as f64,
            app_window_ms: secs(c.app_window_secs),
            business_use_case_calls: c.business_use_case_calls as f64,
            business_use_case_window_ms: secs(c.business_use_case_window_secs),
            use_case_calls: c
                .use_case_calls
                .0
                .iter()
                .map(|(k, v)| (k.clone(), *v as f64))
                .collect(),
            ads_management_calls_standard: c.ads_management_calls_standard as f64,
            ad_account_points_development: c.ad_account_points_development as f64,
            ad_account_points_standard: c.ad_account_points_standard as f64,
            ad_account_standard: c.ad_account_tier == "standard",
            ad_account_window_ms: secs(c.ad_account_window_secs),
            ad_account_read_points: f64::from(c.ad_account_read_points),
            ad_account_write_points: f64::from(c.ad_account_write_points),
            replicas: c.replicas.max(1),
            local_fraction: c.local_fraction,
            callers: c.callers.0.clone().into_iter().collect(),
        }
    }

    /// The pacing of an engine using `scale` of each budget.
    pub(crate) fn pacing(&self, scale: f64) -> budget::Pacing {
        budget::Pacing {
            target: self.target,
            ceiling: self.ceiling,
            band: self.band,
            tolerance: self.tolerance,
            margin_ms: self.margin_ms,
            probe_timeout_ms: self.probe_timeout_ms,
            scale,
        }
    }

    /// Each replica's share of a budget while Redis is unreachable.
    pub(crate) fn local_share(&self) -> f64 {
        self.local_fraction / f64::from(self.replicas.max(1))
    }

    /// The longest window of any key.
    pub(crate) fn longest_window_ms(&self) -> f64 {
        self.app_window_ms
            .max(self.business_use_case_window_ms)
            .max(self.ad_account_window_ms)
    }

    /// A caller's priority and weight.
    pub(crate) fn caller(&self, name: &str) -> (Priority, u32) {
        self.callers
            .get(name)
            .map_or((Priority::Interactive, 1), |c| (c.priority, c.weight))
    }
}

/// governor's clock on tokio time, so tests run on a paused clock.
#[derive(Clone, Debug)]
pub struct TokioClock {
    start: Instant,
}

impl Default for TokioClock {
    fn default() -> Self {
        Self {
            start: Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        Nanos::from(Instant::now().saturating_duration_since(self.start))
    }
}

#[cfg(test)]
mod tests;
