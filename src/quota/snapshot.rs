//! The quota numbers, in one place: what QuotaService shows and what the
//! metrics endpoint (a later issue) exports. Both read a [`QuotaSnapshot`].

use std::time::{Duration, SystemTime};

use super::QuotaKey;

/// Where budgets live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// In this process (no Redis configured).
    Local,
    /// In Redis, shared by every replica.
    Shared,
    /// Redis is configured but unreachable: conservative local limits.
    Degraded,
}

/// Meta's last usage report of a key.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReportedUsage {
    /// X-App-Usage / X-Business-Use-Case-Usage `call_count`, percent.
    pub call_count: Option<f64>,
    /// `total_cputime`, percent.
    pub total_cputime: Option<f64>,
    /// `total_time`, percent.
    pub total_time: Option<f64>,
    /// X-Ad-Account-Usage `acc_id_util_pct`.
    pub acc_id_util_pct: Option<f64>,
    /// X-Ad-Account-Usage `reset_time_duration`, seconds.
    pub reset_time_duration_secs: Option<f64>,
    /// X-Business-Use-Case-Usage `estimated_time_to_regain_access`, minutes.
    pub estimated_time_to_regain_access_mins: Option<f64>,
    /// X-Ad-Account-Usage `ads_api_access_tier`.
    pub ads_api_access_tier: Option<String>,
    /// When the report came.
    pub at: Option<SystemTime>,
}

/// A caller waiting for a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Waiting {
    /// The caller identity ("" when unknown).
    pub caller: String,
    /// Its calls waiting.
    pub calls: u32,
}

/// One key, now.
#[derive(Clone, Debug)]
pub struct KeyStatus {
    /// The key.
    pub key: QuotaKey,
    /// Meta's last report.
    pub reported: ReportedUsage,
    /// The usage percentage that paces (the largest of the report's).
    pub reported_pct: Option<f64>,
    /// Meta's budget of the key, points or calls per window.
    pub budget: f64,
    /// The window.
    pub window: Duration,
    /// The share of the budget this engine uses (1 shared or local; less in
    /// the degraded fallback).
    pub scale: f64,
    /// Points granted in the current window (this engine's accounting).
    pub used: f64,
    /// Points that may still go now without waiting for the window.
    pub left: f64,
    /// Calls are being slowed (false: full speed).
    pub paced: bool,
    /// The current pacing rate when paced, points per second.
    pub rate_per_second: f64,
    /// Held until then (no calls).
    pub hold_until: Option<SystemTime>,
    /// A hold ended and its one probe call is out.
    pub probing: bool,
    /// Meta's report exceeds what the gateway's accounting explains, so the
    /// ceiling applies.
    pub ceiling_applies: bool,
    /// Callers waiting for the key in this replica.
    pub waiting: Vec<Waiting>,
    /// The share of Meta's budget the reported usage is kept under,
    /// percent: the target, or the ceiling while it applies.
    pub limit_pct: f64,
    /// Meta's reported usage now as the engine paces it (the last report
    /// decayed, plus the points granted since), percent; 0 without a live
    /// report.
    pub usage_pct: f64,
}

/// Every key the engine knows, and its mode.
#[derive(Clone, Debug)]
pub struct QuotaSnapshot {
    /// Where budgets live.
    pub mode: Mode,
    /// Replicas sharing the budgets (configured).
    pub replicas: u32,
    /// Keys, sorted.
    pub keys: Vec<KeyStatus>,
}

/// One metric sample.
#[derive(Clone, Debug, PartialEq)]
pub struct Metric {
    /// Prometheus name.
    pub name: &'static str,
    /// Help text.
    pub help: &'static str,
    /// Labels.
    pub labels: Vec<(&'static str, String)>,
    /// Value.
    pub value: f64,
}

// === impl Mode ===

impl Mode {
    /// "local", "shared", "degraded".
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Local => "local",
            Mode::Shared => "shared",
            Mode::Degraded => "degraded",
        }
    }
}

// === impl KeyStatus ===

impl KeyStatus {
    /// Calls waiting for the key.
    pub fn waiting_calls(&self) -> u32 {
        self.waiting.iter().map(|w| w.calls).sum()
    }
}

// === impl QuotaSnapshot ===

impl QuotaSnapshot {
    /// The same numbers as metrics samples.
    pub fn metrics(&self) -> Vec<Metric> {
        let mut out = Vec::new();
        for mode in [Mode::Local, Mode::Shared, Mode::Degraded] {
            out.push(Metric {
                name: "graph_gateway_quota_mode",
                help: "1 for the quota engine's current mode.",
                labels: vec![("mode", mode.as_str().to_string())],
                value: f64::from(u8::from(self.mode == mode)),
            });
        }
        for k in &self.keys {
            let labels = || {
                let (kind, id, use_case) = labels_of(&k.key);
                vec![("kind", kind), ("id", id), ("use_case", use_case)]
            };
            let mut push = |name, help, value| {
                out.push(Metric {
                    name,
                    help,
                    labels: labels(),
                    value,
                })
            };
            if let Some(pct) = k.reported_pct {
                push(
                    "graph_gateway_quota_reported_usage_percent",
                    "Usage Meta reported in its last header, percent.",
                    pct,
                );
            }
            push(
                "graph_gateway_quota_usage_percent",
                "Meta's reported usage now as the gateway paces it (last report decayed, plus what went since), percent.",
                k.usage_pct,
            );
            push(
                "graph_gateway_quota_limit_percent",
                "Share of Meta's budget the reported usage is kept under (target, or ceiling while it applies), percent.",
                k.limit_pct,
            );
            push(
                "graph_gateway_quota_budget",
                "Budget of the key per window, points or calls.",
                k.budget * k.scale,
            );
            push(
                "graph_gateway_quota_used",
                "Points or calls granted in the current window.",
                k.used,
            );
            push(
                "graph_gateway_quota_left",
                "Points or calls that may still go in the current window.",
                k.left,
            );
            push(
                "graph_gateway_quota_rate_per_second",
                "Pacing rate when paced, points per second (0: full speed).",
                if k.paced { k.rate_per_second } else { 0.0 },
            );
            push(
                "graph_gateway_quota_hold_seconds",
                "Seconds until the key's hold ends (0: not held).",
                k.hold_until
                    .and_then(|t| t.duration_since(SystemTime::now()).ok())
                    .map_or(0.0, |d| d.as_secs_f64()),
            );
            push(
                "graph_gateway_quota_waiting_calls",
                "Calls waiting for the key in this replica.",
                f64::from(k.waiting_calls()),
            );
        }
        out
    }
}

/// (kind, id, use case) labels of a key.
pub fn labels_of(key: &QuotaKey) -> (String, String, String) {
    match key {
        QuotaKey::App => ("app".into(), String::new(), String::new()),
        QuotaKey::BusinessUseCase { business, use_case } => (
            "business_use_case".into(),
            business.clone(),
            use_case.clone(),
        ),
        QuotaKey::AdAccount { id } => ("ad_account".into(), id.clone(), String::new()),
    }
}
