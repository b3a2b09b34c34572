//! What a call counts against, and what one Graph answer says about it:
//! the mapping from [`QuotaKeys`] to budget keys with their costs, and from
//! usage headers and throttling errors to per-key events.

use std::fmt;

use super::budget::{Limits, RESET_MARGIN_MS};
use super::{Params, QuotaKeys};
use crate::graph::{GraphError, Usage};
use crate::routes::QuotaClass;

use super::snapshot::ReportedUsage;

/// One of Meta's rate limits.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum QuotaKey {
    /// The app's platform limit (X-App-Usage).
    App,
    /// One business's budget for one use case (X-Business-Use-Case-Usage).
    BusinessUseCase {
        /// The business object id.
        business: String,
        /// The use case, e.g. "ads_management", "pages".
        use_case: String,
    },
    /// One ad account's score (X-Ad-Account-Usage).
    AdAccount {
        /// The ad account id (digits).
        id: String,
    },
}

/// What one call needs of one key.
#[derive(Clone, Debug)]
pub(crate) struct Demand {
    /// The key.
    pub(crate) key: QuotaKey,
    /// Points (ad accounts) or calls.
    pub(crate) cost: f64,
    /// The key's budget.
    pub(crate) limits: Limits,
    /// A batch caller's call: the share of the limit the batch callers'
    /// own points leave to interactive ones (`quota.batch_reserve`); 0 for
    /// interactive calls.
    pub(crate) reserve: f64,
}

/// What one Graph answer says about one key.
#[derive(Clone, Debug)]
pub(crate) struct Event {
    /// The key.
    pub(crate) key: QuotaKey,
    /// Its budget.
    pub(crate) limits: Limits,
    /// The usage Meta reported: the percentage that paces, and the details.
    pub(crate) report: Option<(f64, ReportedUsage)>,
    /// Hold the key this long, milliseconds.
    pub(crate) hold_ms: Option<f64>,
    /// The call got an answer that does not throttle this key (clears a
    /// hold whose probe went out).
    pub(crate) answered: bool,
    /// Points used elsewhere to add to the key's window (carried over from
    /// the local fallback when Redis is back).
    pub(crate) carry: f64,
}

// === impl QuotaKey ===

impl QuotaKey {
    /// The usage header the key is reported in.
    pub fn class(&self) -> QuotaClass {
        match self {
            QuotaKey::App => QuotaClass::App,
            QuotaKey::BusinessUseCase { .. } => QuotaClass::BusinessUseCase,
            QuotaKey::AdAccount { .. } => QuotaClass::AdAccount,
        }
    }

    /// A stable id, also the Redis key suffix: `app`, `buc/<business>/<use
    /// case>`, `ad/<id>`.
    pub fn id(&self) -> String {
        match self {
            QuotaKey::App => "app".to_string(),
            QuotaKey::BusinessUseCase { business, use_case } => {
                format!("buc/{business}/{use_case}")
            }
            QuotaKey::AdAccount { id } => format!("ad/{id}"),
        }
    }

    /// Parses [`QuotaKey::id`].
    pub fn from_id(id: &str) -> Option<Self> {
        let mut parts = id.split('/');
        let key = match (parts.next()?, parts.next(), parts.next()) {
            ("app", None, None) => QuotaKey::App,
            ("buc", Some(b), Some(u)) if !b.is_empty() && !u.is_empty() => {
                QuotaKey::BusinessUseCase {
                    business: b.to_string(),
                    use_case: u.to_string(),
                }
            }
            ("ad", Some(a), None) if !a.is_empty() => QuotaKey::AdAccount { id: a.to_string() },
            _ => return None,
        };
        parts.next().is_none().then_some(key)
    }

    /// The key's budget under `params`.
    pub(crate) fn limits(&self, params: &Params) -> Limits {
        match self {
            QuotaKey::App => Limits::flat(params.app_calls, params.app_window_ms, 1.0),
            QuotaKey::BusinessUseCase { use_case, .. } => {
                let calls = params
                    .use_case_calls
                    .get(use_case)
                    .copied()
                    .unwrap_or(params.business_use_case_calls);
                let mut lim = Limits::flat(calls, params.business_use_case_window_ms, 1.0);
                // Meta sizes ads_management by the app's access tier: the
                // tier X-Ad-Account-Usage names ([`events`]) or the
                // configured one.
                if use_case == ADS_MANAGEMENT {
                    lim.budget_standard = params.ads_management_calls_standard;
                    lim.standard_default = params.ad_account_standard;
                }
                lim
            }
            QuotaKey::AdAccount { .. } => Limits {
                budget: params.ad_account_points_development,
                budget_standard: params.ad_account_points_standard,
                standard_default: params.ad_account_standard,
                window_ms: params.ad_account_window_ms,
                max_cost: params
                    .ad_account_read_points
                    .max(params.ad_account_write_points),
            },
        }
    }
}

impl fmt::Display for QuotaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QuotaKey::App => f.write_str("app"),
            QuotaKey::BusinessUseCase { business, use_case } => {
                write!(f, "business {business} {use_case}")
            }
            QuotaKey::AdAccount { id } => write!(f, "ad account act_{id}"),
        }
    }
}

/// The business use case Meta sizes by the app's access tier.
const ADS_MANAGEMENT: &str = "ads_management";

/// The keys a call counts against: the app always; its business use case
/// when the route counts against a business and the business is known; the
/// ad account when the call addresses one. Ad account points depend on
/// reads and writes; the other keys count calls.
pub(crate) fn demands(keys: &QuotaKeys<'_>, params: &Params) -> Vec<Demand> {
    let mut out = Vec::with_capacity(3);
    let mut push = |key: QuotaKey, cost: f64| {
        let limits = key.limits(params);
        out.push(Demand {
            key,
            cost,
            limits,
            reserve: 0.0,
        });
    };
    push(QuotaKey::App, 1.0);
    if keys.class != QuotaClass::App {
        if let Some(business) = keys.business.filter(|b| !b.is_empty()) {
            push(
                QuotaKey::BusinessUseCase {
                    business: business.to_string(),
                    use_case: keys.use_case.to_string(),
                },
                1.0,
            );
        }
    }
    if let Some(id) = keys.ad_account.filter(|a| !a.is_empty()) {
        let cost = if keys.write {
            params.ad_account_write_points
        } else {
            params.ad_account_read_points
        };
        push(
            QuotaKey::AdAccount {
                id: id.trim_start_matches("act_").to_string(),
            },
            cost,
        );
    }
    out
}

/// The use case a business-use-case throttling code (80000-80014) names.
fn use_case_of_code(code: i64) -> Option<&'static str> {
    Some(match code {
        80_000 => "ads_insights",
        80_001 => "pages",
        80_002 => "instagram",
        80_003 => "custom_audience",
        80_004 => "ads_management",
        80_005 => "leadgen",
        80_006 => "messenger",
        80_008 => "whatsapp_business_management",
        80_009 | 80_014 => "catalog_management",
        _ => return None,
    })
}

/// How long to hold an ad account that `X-Ad-Account-Usage` reports blocked
/// (or whose call was throttled) for `reset_secs`: the reported time plus
/// [`RESET_MARGIN_MS`]. A report of 0 means less than a second is left (it
/// was rounded down), so the hold is the margin alone: a probe that came
/// back throttled because it was early is held again for what is left, not
/// for a new full block (the default hold).
fn reset_hold_ms(reset_secs: f64) -> f64 {
    reset_secs.max(0.0) * 1000.0 + RESET_MARGIN_MS
}

/// Subcodes Meta uses for the ad account score.
const AD_ACCOUNT_SUBCODES: [i64; 2] = [2_446_079, 1_487_742];

/// Every key one Graph answer says something about.
pub(crate) fn events(
    keys: &QuotaKeys<'_>,
    usage: &Usage,
    error: Option<&GraphError>,
    params: &Params,
) -> Vec<Event> {
    let call = demands(keys, params);
    let mut out: Vec<Event> = Vec::new();
    let default_hold = params.default_hold_ms;
    let event = |out: &mut Vec<Event>, key: &QuotaKey| -> usize {
        if let Some(i) = out.iter().position(|e| &e.key == key) {
            return i;
        }
        out.push(Event {
            key: key.clone(),
            limits: key.limits(params),
            report: None,
            hold_ms: None,
            answered: false,
            carry: 0.0,
        });
        out.len() - 1
    };
    let hold = |e: &mut Event, ms: f64| {
        e.hold_ms = Some(e.hold_ms.map_or(ms, |h| h.max(ms)));
    };

    // What the headers say.
    if let Some(app) = &usage.app {
        let pct = app.call_count.max(app.total_cputime).max(app.total_time);
        let i = event(&mut out, &QuotaKey::App);
        out[i].report = Some((
            pct,
            ReportedUsage {
                call_count: Some(app.call_count),
                total_cputime: Some(app.total_cputime),
                total_time: Some(app.total_time),
                ..ReportedUsage::default()
            },
        ));
        if pct >= 100.0 {
            hold(&mut out[i], default_hold);
        }
    }
    for b in &usage.business_use_case {
        if b.business_id.is_empty() || b.use_case.is_empty() {
            continue;
        }
        let key = QuotaKey::BusinessUseCase {
            business: b.business_id.clone(),
            use_case: b.use_case.clone(),
        };
        let pct = b.call_count.max(b.total_cputime).max(b.total_time);
        let i = event(&mut out, &key);
        out[i].report = Some((
            pct,
            ReportedUsage {
                call_count: Some(b.call_count),
                total_cputime: Some(b.total_cputime),
                total_time: Some(b.total_time),
                estimated_time_to_regain_access_mins: Some(b.estimated_time_to_regain_access),
                ..ReportedUsage::default()
            },
        ));
        if b.estimated_time_to_regain_access > 0.0 {
            hold(&mut out[i], b.estimated_time_to_regain_access * 60_000.0);
        } else if pct >= 100.0 {
            hold(&mut out[i], default_hold);
        }
    }
    let ad_key = call
        .iter()
        .find(|d| matches!(d.key, QuotaKey::AdAccount { .. }))
        .map(|d| d.key.clone());
    if let (Some(a), Some(key)) = (&usage.ad_account, &ad_key) {
        let i = event(&mut out, key);
        out[i].report = Some((
            a.acc_id_util_pct,
            ReportedUsage {
                acc_id_util_pct: Some(a.acc_id_util_pct),
                reset_time_duration_secs: Some(a.reset_time_duration),
                ads_api_access_tier: a.ads_api_access_tier.clone(),
                ..ReportedUsage::default()
            },
        ));
        if a.acc_id_util_pct >= 100.0 {
            hold(&mut out[i], reset_hold_ms(a.reset_time_duration));
        }
        // The tier is the app's: it sizes the call's ads_management budget
        // too (learned with that key's own report).
        if let Some(tier) = &a.ads_api_access_tier {
            for e in out.iter_mut() {
                if matches!(&e.key, QuotaKey::BusinessUseCase { use_case, .. } if use_case == ADS_MANAGEMENT)
                {
                    if let Some((_, detail)) = e.report.as_mut() {
                        detail.ads_api_access_tier = Some(tier.clone());
                    }
                }
            }
        }
    }

    // What a throttling error says: hold the keys it names, for as long as
    // the same answer's headers say (else the default).
    if let Some(err) = error.filter(|e| e.is_throttling()) {
        let buc_key = call
            .iter()
            .find(|d| matches!(d.key, QuotaKey::BusinessUseCase { .. }))
            .map(|d| d.key.clone());
        let most_specific = ad_key
            .clone()
            .or_else(|| buc_key.clone())
            .unwrap_or(QuotaKey::App);
        let ad_subcode = err
            .subcode
            .is_some_and(|s| AD_ACCOUNT_SUBCODES.contains(&s));
        let mut targets: Vec<QuotaKey> = Vec::new();
        match err.code {
            4 => targets.push(QuotaKey::App),
            // 17 is the user / ad account request limit; 613 with an ad
            // account subcode is the ad account score.
            17 => targets.push(ad_key.clone().unwrap_or(QuotaKey::App)),
            613 if ad_subcode => targets.push(ad_key.clone().unwrap_or(QuotaKey::App)),
            32 => targets.push(match keys.business.filter(|b| !b.is_empty()) {
                Some(b) => QuotaKey::BusinessUseCase {
                    business: b.to_string(),
                    use_case: "pages".to_string(),
                },
                None => QuotaKey::App,
            }),
            80_000..=80_014 => match (&buc_key, keys.business.filter(|b| !b.is_empty())) {
                (Some(own), Some(b)) => {
                    targets.push(own.clone());
                    if let Some(uc) = use_case_of_code(err.code) {
                        targets.push(QuotaKey::BusinessUseCase {
                            business: b.to_string(),
                            use_case: uc.to_string(),
                        });
                    }
                }
                (_, Some(b)) => targets.push(QuotaKey::BusinessUseCase {
                    business: b.to_string(),
                    use_case: use_case_of_code(err.code)
                        .unwrap_or(keys.use_case)
                        .to_string(),
                }),
                _ => targets.push(QuotaKey::App),
            },
            _ => targets.push(most_specific),
        }
        for key in targets {
            let i = event(&mut out, &key);
            if out[i].hold_ms.is_none() {
                let from_headers = match &key {
                    // Whenever the header came (even with 0: less than a
                    // second left), never the default.
                    QuotaKey::AdAccount { .. } => usage
                        .ad_account
                        .as_ref()
                        .map(|a| reset_hold_ms(a.reset_time_duration)),
                    QuotaKey::BusinessUseCase { business, use_case } => usage
                        .business_use_case
                        .iter()
                        .find(|b| &b.business_id == business && &b.use_case == use_case)
                        .map(|b| b.estimated_time_to_regain_access * 60_000.0),
                    QuotaKey::App => None,
                };
                hold(
                    &mut out[i],
                    from_headers.filter(|ms| *ms > 0.0).unwrap_or(default_hold),
                );
            }
        }
    }

    // Any Graph answer (headers or an error object) that does not hold a
    // key of the call tells that the key is clear.
    let answered = !usage.is_empty() || error.is_some();
    if answered {
        for d in &call {
            let i = event(&mut out, &d.key);
            if out[i].hold_ms.is_none() {
                out[i].answered = true;
            }
        }
    }
    out
}
