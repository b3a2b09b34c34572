//! Rate-limit accounting and Graph's usage headers.
//!
//! Today's model is deliberately simple: calls are counted in a fixed window
//! per app, per (business, use case) and per ad account, and each header's
//! percentages are `calls in window / budget * 100` (cpu and time mirror the
//! call count). Everything rate-limit related lives here, so Meta's scoring
//! model (points per read/write, decay, block durations, throttling errors
//! code 4/17/32/613/80000–80014) can replace [`UsageMeter::admit`] and
//! [`UsageMeter::record`] without touching the router.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;

use super::ops::Scope;
use super::wire::GraphError;

/// Budgets of the usage model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageConfig {
    /// Length of the accounting window.
    pub window: Duration,
    /// Calls per window that make the app's usage 100%.
    pub app_calls: u64,
    /// Calls per window that make one business use case's usage 100%.
    pub business_calls: u64,
    /// Calls per window that make one ad account's usage 100%.
    pub ad_account_calls: u64,
}

impl Default for UsageConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(3600),
            app_calls: 200,
            business_calls: 200,
            ad_account_calls: 200,
        }
    }
}

/// Graph's usage headers of one answer (JSON values).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct UsageHeaders {
    /// `X-App-Usage`.
    pub(crate) app: String,
    /// `X-Business-Use-Case-Usage`, for business-scoped calls.
    pub(crate) business: Option<String>,
    /// `X-Ad-Account-Usage`, for `act_` paths.
    pub(crate) ad_account: Option<String>,
}

/// Counts calls and renders the usage headers.
#[derive(Debug)]
pub(crate) struct UsageMeter {
    config: UsageConfig,
    window_start: Instant,
    app: u64,
    business: HashMap<(String, &'static str), u64>,
    ad_account: HashMap<String, u64>,
}

// === impl UsageMeter ===

impl UsageMeter {
    pub(crate) fn new(config: UsageConfig) -> Self {
        Self {
            config,
            window_start: Instant::now(),
            app: 0,
            business: HashMap::new(),
            ad_account: HashMap::new(),
        }
    }

    /// Replaces the budgets (and starts a new window).
    pub(crate) fn configure(&mut self, config: UsageConfig) {
        *self = Self::new(config);
    }

    /// Whether a call may run. The simple model never throttles; Meta's
    /// model answers code 4 / 17 / 80004 here once usage passes 100%.
    pub(crate) fn admit(&mut self, _scope: &Scope) -> Result<(), GraphError> {
        Ok(())
    }

    /// Counts one call and returns the headers of its answer.
    pub(crate) fn record(&mut self, scope: &Scope) -> UsageHeaders {
        let now = Instant::now();
        if now.duration_since(self.window_start) >= self.config.window {
            self.window_start = now;
            self.app = 0;
            self.business.clear();
            self.ad_account.clear();
        }
        self.app += 1;
        let pct = |calls: u64, budget: u64| calls.saturating_mul(100) / budget.max(1);
        let app_pct = pct(self.app, self.config.app_calls);
        let app = json!({
            "call_count": app_pct,
            "total_cputime": app_pct,
            "total_time": app_pct,
        })
        .to_string();
        let business = scope.business.as_ref().map(|biz| {
            let calls = self
                .business
                .entry((biz.clone(), scope.use_case))
                .or_default();
            *calls += 1;
            let p = pct(*calls, self.config.business_calls);
            json!({
                biz.clone(): [{
                    "type": scope.use_case,
                    "call_count": p,
                    "total_cputime": p,
                    "total_time": p,
                    "estimated_time_to_regain_access": 0,
                }]
            })
            .to_string()
        });
        let ad_account = scope.ad_account.as_ref().map(|acc| {
            let calls = self.ad_account.entry(acc.clone()).or_default();
            *calls += 1;
            json!({
                "acc_id_util_pct": pct(*calls, self.config.ad_account_calls),
                "reset_time_duration": 0,
                "ads_api_access_tier": "development_access",
            })
            .to_string()
        });
        UsageHeaders {
            app,
            business,
            ad_account,
        }
    }
}
