//! The quota engine's configuration: `[quota]` (budgets, pacing, fairness)
//! and `[redis]` (the shared engine). Read how the numbers interact in
//! BENCHMARKS.md ("Quota") and `src/quota.rs`.

use std::collections::BTreeMap;

use crate::secret::Secret;

/// The quota engine.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuotaConfig {
    /// Per-replica smoothing cap: calls per second per token.
    pub per_token_per_sec: u32,
    /// Per-replica smoothing cap: calls per second per business.
    pub per_business_per_sec: u32,
    /// Burst of each smoothing cap.
    pub burst: u32,
    /// Share of a key's budget the gateway uses when its own accounting
    /// explains Meta's reported usage.
    pub target_fraction: f64,
    /// Share of a key's budget (as Meta reports it) the gateway stays under
    /// when its own accounting does not explain the reported usage.
    pub ceiling: f64,
    /// Share of each budget batch-priority callers leave to interactive
    /// ones: the batch callers' own points in a key's window stay under
    /// `(1 - batch_reserve)` of its limit (interactive calls may use all of
    /// it), so interactive calls find room even right after a batch job's
    /// burst, and together the two still use the whole limit.
    pub batch_reserve: f64,
    /// Below `(1 - slowdown_band)` of the limit calls go at full speed; from
    /// there they slow down linearly to the sustainable rate at the limit.
    pub slowdown_band: f64,
    /// How far (fraction of the budget) Meta's reported usage may exceed the
    /// gateway's own accounting before the ceiling applies.
    pub model_tolerance: f64,
    /// A call stays in the gateway's sliding window this much longer than
    /// the window itself (covers the time to reach Meta), milliseconds.
    pub window_margin_ms: u64,
    /// How long a key is held after a throttling error or a full usage
    /// header that gives no time, seconds.
    pub default_hold_secs: u64,
    /// When the one probe call after a hold gets no answer for this long,
    /// another probe may go, seconds.
    pub probe_timeout_secs: u64,
    /// The app's budget (X-App-Usage): calls per `app_window_secs`.
    pub app_calls: u64,
    /// Window of the app budget, seconds.
    pub app_window_secs: u64,
    /// Budget of a business use case not listed in `use_case_calls`: calls
    /// per `business_use_case_window_secs`.
    pub business_use_case_calls: u64,
    /// Window of the business use case budgets, seconds.
    pub business_use_case_window_secs: u64,
    /// Budgets per business use case (X-Business-Use-Case-Usage `type`).
    pub use_case_calls: UseCaseCalls,
    /// The ads_management business use case's budget on the standard tier
    /// (`use_case_calls` holds the development tier's): it applies once
    /// Meta's X-Ad-Account-Usage names the standard tier, or from the start
    /// when `ad_account_tier` is "standard".
    pub ads_management_calls_standard: u64,
    /// The ad account access tier assumed until Meta's header names one:
    /// "development" or "standard".
    pub ad_account_tier: String,
    /// Ad account score budget on the development tier, points per window.
    pub ad_account_points_development: u64,
    /// Ad account score budget on the standard tier, points per window.
    pub ad_account_points_standard: u64,
    /// The ad account score's decay window, seconds.
    pub ad_account_window_secs: u64,
    /// Points of one read in the ad account score.
    pub ad_account_read_points: u32,
    /// Points of one write in the ad account score.
    pub ad_account_write_points: u32,
    /// Weights and priorities of internal callers (by caller identity).
    pub callers: Callers,
    /// Gateway replicas sharing the budgets (splits the local fallback).
    pub replicas: u32,
    /// Share of the shared budget all replicas together use while Redis is
    /// unreachable (each replica takes `local_fraction / replicas`).
    pub local_fraction: f64,
}

/// The modes `redis.mode` accepts (`redis_link::MODES`).
pub const REDIS_MODES: [&str; 3] = ["standalone", "cluster", "sentinel"];

/// The shared quota engine's Redis.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisConfig {
    /// `redis://[:password@]host:port[/db]`. Unset: the in-process engine.
    pub url: Option<Secret>,
    /// Prefix of every Redis key the gateway writes.
    pub key_prefix: String,
    /// Connect and response timeout of one Redis command, milliseconds.
    pub timeout_ms: u64,
    /// While Redis is unreachable, how often it is tried again, milliseconds.
    pub probe_interval_ms: u64,
    /// `standalone`, `cluster` (Redis Cluster; `url` and `nodes` are seeds)
    /// or `sentinel` (`url`'s host and `nodes` are Sentinels).
    pub mode: String,
    /// More cluster seed nodes or Sentinels, `host:port` (`url`'s scheme,
    /// user and password apply).
    pub nodes: Vec<String>,
    /// The master name Sentinels are asked for (`mode = "sentinel"`).
    pub sentinel_master: String,
    /// PEM file of the CA that signed the Redis servers' certificates
    /// (`rediss://`); unset: the system's roots.
    pub tls_ca_file: Option<std::path::PathBuf>,
    /// Replicas that must hold an idempotency claim or outcome (Redis
    /// `WAIT`) before it counts: a failover to an asynchronous replica then
    /// cannot lose it. 0: the master's word is enough.
    pub wait_replicas: u32,
}

/// Budgets per business use case, e.g. `ads_management = 300`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct UseCaseCalls(pub BTreeMap<String, u64>);

/// Internal callers by identity.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct Callers(pub BTreeMap<String, CallerConfig>);

/// One internal caller's share of a contended key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CallerConfig {
    /// Relative share (weighted fair queuing); at least 1.
    pub weight: u32,
    /// Interactive callers are served before batch callers.
    pub priority: Priority,
}

/// Who is served first on a contended key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// Served first.
    #[default]
    Interactive,
    /// Served when no interactive call waits.
    Batch,
}

impl Default for QuotaConfig {
    fn default() -> Self {
        Self {
            per_token_per_sec: 50,
            per_business_per_sec: 50,
            burst: 100,
            target_fraction: 0.97,
            ceiling: 0.75,
            batch_reserve: 0.1,
            slowdown_band: 0.25,
            model_tolerance: 0.05,
            window_margin_ms: 500,
            default_hold_secs: 60,
            probe_timeout_secs: 30,
            app_calls: 20_000,
            app_window_secs: 3600,
            business_use_case_calls: 300,
            business_use_case_window_secs: 3600,
            use_case_calls: UseCaseCalls::default_budgets(),
            ads_management_calls_standard: 100_000,
            ad_account_tier: "development".to_string(),
            ad_account_points_development: 60,
            ad_account_points_standard: 9000,
            ad_account_window_secs: 300,
            ad_account_read_points: 1,
            ad_account_write_points: 3,
            callers: Callers::default(),
            replicas: 1,
            local_fraction: 0.5,
        }
    }
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            url: None,
            key_prefix: "graph-gateway".to_string(),
            timeout_ms: 250,
            probe_interval_ms: 1000,
            mode: "standalone".to_string(),
            nodes: Vec::new(),
            sentinel_master: String::new(),
            wait_replicas: 0,
            tls_ca_file: None,
        }
    }
}

impl Default for CallerConfig {
    fn default() -> Self {
        Self {
            weight: 1,
            priority: Priority::Interactive,
        }
    }
}

// === impl UseCaseCalls ===

impl UseCaseCalls {
    /// Meta's published floors per hour for an app on the development tier
    /// (the parts that grow with active ads, audiences or users are not
    /// known here; Meta's reported usage corrects them).
    pub fn default_budgets() -> Self {
        Self(
            [
                ("ads_management", 300),
                ("custom_audience", 5000),
                ("catalog_management", 20_000),
                ("pages", 4800),
                ("instagram", 4800),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        )
    }

    /// Parses `name=calls,name=calls`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut map = BTreeMap::new();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (name, calls) = item
                .split_once('=')
                .ok_or_else(|| format!("expected use_case=calls, got {item:?}"))?;
            let calls: u64 = calls
                .trim()
                .parse()
                .map_err(|_| format!("calls of {:?} must be an integer", name.trim()))?;
            map.insert(name.trim().to_string(), calls);
        }
        Ok(Self(map))
    }

    /// `name=calls,name=calls`.
    pub fn show(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    }
}

// === impl Callers ===

impl Callers {
    /// Parses `name=weight[:priority],...`, e.g. `ui=4,reports=1:batch`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut map = BTreeMap::new();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (name, rest) = item
                .split_once('=')
                .ok_or_else(|| format!("expected caller=weight[:priority], got {item:?}"))?;
            let (weight, priority) = match rest.split_once(':') {
                Some((w, p)) => (w, Some(p)),
                None => (rest, None),
            };
            let weight: u32 = weight
                .trim()
                .parse()
                .map_err(|_| format!("weight of {:?} must be an integer", name.trim()))?;
            let priority = match priority.map(str::trim) {
                None | Some("interactive") => Priority::Interactive,
                Some("batch") => Priority::Batch,
                Some(other) => {
                    return Err(format!(
                        "priority of {:?} must be interactive or batch, got {other:?}",
                        name.trim()
                    ))
                }
            };
            map.insert(name.trim().to_string(), CallerConfig { weight, priority });
        }
        Ok(Self(map))
    }

    /// `name=weight:priority,...`.
    pub fn show(&self) -> String {
        self.0
            .iter()
            .map(|(k, c)| {
                let p = match c.priority {
                    Priority::Interactive => "interactive",
                    Priority::Batch => "batch",
                };
                format!("{k}={}:{p}", c.weight)
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Checks of the quota and Redis keys; one message per bad key.
pub(super) fn validate(
    quota: &QuotaConfig,
    redis: &RedisConfig,
    bad: &mut dyn FnMut(&str, String),
) {
    for (key, rate) in [
        ("quota.per_token_per_sec", quota.per_token_per_sec),
        ("quota.per_business_per_sec", quota.per_business_per_sec),
        ("quota.burst", quota.burst),
        ("quota.ad_account_read_points", quota.ad_account_read_points),
        (
            "quota.ad_account_write_points",
            quota.ad_account_write_points,
        ),
        ("quota.replicas", quota.replicas),
    ] {
        if rate == 0 {
            bad(key, "must be greater than 0".to_string());
        }
    }
    for (key, n) in [
        ("quota.app_calls", quota.app_calls),
        ("quota.app_window_secs", quota.app_window_secs),
        (
            "quota.business_use_case_calls",
            quota.business_use_case_calls,
        ),
        (
            "quota.business_use_case_window_secs",
            quota.business_use_case_window_secs,
        ),
        (
            "quota.ad_account_points_development",
            quota.ad_account_points_development,
        ),
        (
            "quota.ad_account_points_standard",
            quota.ad_account_points_standard,
        ),
        ("quota.ad_account_window_secs", quota.ad_account_window_secs),
        ("quota.default_hold_secs", quota.default_hold_secs),
        ("quota.probe_timeout_secs", quota.probe_timeout_secs),
        ("redis.timeout_ms", redis.timeout_ms),
        ("redis.probe_interval_ms", redis.probe_interval_ms),
    ] {
        if n == 0 {
            bad(key, "must be greater than 0".to_string());
        }
    }
    for (key, f) in [
        ("quota.target_fraction", quota.target_fraction),
        ("quota.ceiling", quota.ceiling),
        ("quota.local_fraction", quota.local_fraction),
    ] {
        if !(f > 0.0 && f <= 1.0) {
            bad(key, format!("must be in (0, 1], got {f}"));
        }
    }
    if quota.ceiling > quota.target_fraction {
        bad(
            "quota.ceiling",
            format!(
                "must not exceed quota.target_fraction ({}), got {}",
                quota.target_fraction, quota.ceiling
            ),
        );
    }
    if !(0.0..1.0).contains(&quota.batch_reserve) {
        bad(
            "quota.batch_reserve",
            format!("must be in [0, 1), got {}", quota.batch_reserve),
        );
    }
    if !(0.0..1.0).contains(&quota.slowdown_band) {
        bad(
            "quota.slowdown_band",
            format!("must be in [0, 1), got {}", quota.slowdown_band),
        );
    }
    if !(0.0..=1.0).contains(&quota.model_tolerance) {
        bad(
            "quota.model_tolerance",
            format!("must be in [0, 1], got {}", quota.model_tolerance),
        );
    }
    let tier = &quota.ad_account_tier;
    if tier != "development" && tier != "standard" {
        bad(
            "quota.ad_account_tier",
            format!("must be \"development\" or \"standard\", got {tier:?}"),
        );
    }
    for (name, calls) in &quota.use_case_calls.0 {
        if *calls == 0 {
            bad(
                "quota.use_case_calls",
                format!("{name}: must be greater than 0"),
            );
        }
    }
    for (name, c) in &quota.callers.0 {
        if c.weight == 0 {
            bad(
                "quota.callers",
                format!("{name}: weight must be greater than 0"),
            );
        }
    }
    if let Some(url) = &redis.url {
        if let Err(why) = check_redis_url(url) {
            bad("redis.url", why);
        }
    }
    if redis.key_prefix.is_empty() {
        bad("redis.key_prefix", "must not be empty".to_string());
    }
    if !REDIS_MODES.contains(&redis.mode.as_str()) {
        bad(
            "redis.mode",
            format!("must be one of {:?}, got {:?}", REDIS_MODES, redis.mode),
        );
    }
    if redis.wait_replicas > 0 && redis.mode == "cluster" {
        bad(
            "redis.wait_replicas",
            "is for standalone and sentinel modes (a cluster's WAIT goes to one node of many)"
                .to_string(),
        );
    }
    if redis.mode == "sentinel" && redis.sentinel_master.is_empty() {
        bad(
            "redis.sentinel_master",
            "redis.mode = \"sentinel\" needs the master's name".to_string(),
        );
    }
    for n in &redis.nodes {
        let ok = n
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
        if !ok {
            bad("redis.nodes", format!("{n:?} is not host:port"));
        }
    }
}

/// Never quotes the URL: it may hold a password.
fn check_redis_url(url: &Secret) -> Result<(), String> {
    let parsed = url::Url::parse(url.expose()).map_err(|e| format!("not a URL: {e}"))?;
    match parsed.scheme() {
        "redis" | "rediss" | "redis+unix" | "unix" => Ok(()),
        other => Err(format!(
            "must be a redis:// or rediss:// URL, got scheme {other:?}"
        )),
    }
}
