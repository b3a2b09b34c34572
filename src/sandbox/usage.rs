//! Meta's rate-limit scoring model and Graph's usage headers.
//!
//! Three limits apply to every admitted call, checked in this order (the
//! first one that refuses decides the error, and a refused call spends
//! nothing):
//!
//! - **App** (`X-App-Usage`): calls in a sliding `app_window` against
//!   `app_calls`; over budget → code 4, app blocked for `app_block`.
//! - **Ad account score** (`X-Ad-Account-Usage`, `act_` paths): a read costs
//!   `read_points`, a write (POST/DELETE) `write_points`; each point counts
//!   for `decay_window` after it was spent. A call that would push the score
//!   above `max_points` gets code 17 subcode 2446079 and blocks the account
//!   for `block_duration`. With [`Decay::Reset`] the score instead returns
//!   to 0 all at once `decay_window` after its first point.
//! - **Business use case** (`X-Business-Use-Case-Usage`, business-scoped
//!   calls): calls per (business, use case) in a sliding `buc_window`
//!   against the use case's budget; over budget → the use case's 800xx
//!   code, that business's use case blocked for `buc_block`.
//!
//! `reset_time_duration` is the time until the score is back to 0 (or the
//! block ends, if later) in whole seconds, rounded down as Meta rounds it:
//! a client that waits exactly that long is up to a second early.
//!
//! Time is tokio's [`Instant`] (so paused-clock tests work) plus the offset
//! that [`super::Sandbox::advance_clock`] adds. Sliding windows keep one
//! entry per `window / 1000` of time, so an entry may count up to that much
//! longer than its window (never shorter).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;

use super::ops::{Scope, Verb};
use super::wire::GraphError;
use super::world::World;

/// Graph's code for the ad account score limit.
const AD_ACCOUNT_CODE: u32 = 17;
/// Graph's subcode of code 17 for the ad account score limit.
const AD_ACCOUNT_SUBCODE: u32 = 2_446_079;
/// Graph's code for the app limit.
const APP_CODE: u32 = 4;

/// The Marketing API access tier named in `X-Ad-Account-Usage`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AccessTier {
    /// `development_access`.
    Development,
    /// `standard_access`.
    Standard,
}

// === impl AccessTier ===

impl AccessTier {
    /// The header's spelling (`development_access`, `standard_access`).
    pub fn as_str(self) -> &'static str {
        match self {
            AccessTier::Development => "development_access",
            AccessTier::Standard => "standard_access",
        }
    }
}

/// A business use case type of `X-Business-Use-Case-Usage`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UseCase {
    /// Ad accounts (`act_` nodes, `*_ad_accounts` edges).
    AdsManagement,
    /// Pages and page agencies.
    Pages,
    /// Instagram accounts.
    Instagram,
    /// Product catalogs.
    CatalogManagement,
    /// Custom audiences and audience sharing.
    CustomAudience,
    /// Everything else business-scoped: asset groups, apps, pixels,
    /// on-behalf-of requests, people.
    BusinessManagement,
}

// === impl UseCase ===

impl UseCase {
    /// Every use case.
    pub const ALL: [UseCase; 6] = [
        UseCase::AdsManagement,
        UseCase::Pages,
        UseCase::Instagram,
        UseCase::CatalogManagement,
        UseCase::CustomAudience,
        UseCase::BusinessManagement,
    ];

    /// The header's `type`.
    pub fn as_str(self) -> &'static str {
        match self {
            UseCase::AdsManagement => "ads_management",
            UseCase::Pages => "pages",
            UseCase::Instagram => "instagram",
            UseCase::CatalogManagement => "catalog_management",
            UseCase::CustomAudience => "custom_audience",
            UseCase::BusinessManagement => "business_management",
        }
    }

    /// The error code Graph answers when this use case is throttled.
    pub fn throttle_code(self) -> u32 {
        match self {
            UseCase::AdsManagement => 80_004,
            UseCase::Pages => 80_001,
            UseCase::Instagram => 80_002,
            UseCase::CatalogManagement => 80_009,
            UseCase::CustomAudience => 80_003,
            UseCase::BusinessManagement => 80_000,
        }
    }

    /// The throttling error's message.
    fn throttle_message(self) -> String {
        let what = match self {
            UseCase::AdsManagement => "to this ad-account",
            UseCase::Pages => "to this Page account",
            UseCase::Instagram => "to this Instagram account",
            UseCase::CatalogManagement => "to this Catalog account",
            UseCase::CustomAudience => "for this custom audience account",
            UseCase::BusinessManagement => "for this business",
        };
        format!(
            "(#{}) There have been too many calls {what}. Wait a bit and try again.",
            self.throttle_code()
        )
    }

    /// The use case a `Scope::use_case` names (unknown names count as
    /// business management).
    fn from_type(name: &str) -> Self {
        UseCase::ALL
            .into_iter()
            .find(|u| u.as_str() == name)
            .unwrap_or(UseCase::BusinessManagement)
    }
}

/// How the ad account score forgets the points spent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Decay {
    /// Each point counts for `decay_window` after it was spent (a sliding
    /// window; the default).
    #[default]
    Sliding,
    /// The score returns to 0 `decay_window` after the first point it
    /// counts ("the time it takes to reset the current rate limiting to
    /// 0"); the next point opens a new window. `reset_time_duration` then
    /// names a time that is rarely a whole second away.
    Reset,
}

/// The numbers of the scoring model (see the module docs). `Default` is
/// [`ScoringConfig::standard`], so the demo sandbox never throttles ordinary
/// test traffic; [`ScoringConfig::development`] has Meta's development-tier
/// numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScoringConfig {
    /// Refuse calls over a limit. When false, headers only: every call is
    /// admitted and counted, nothing is ever blocked.
    pub enforce: bool,
    /// The tier named in `X-Ad-Account-Usage`.
    pub tier: AccessTier,
    /// Ad account score: points of a read (GET).
    pub read_points: u64,
    /// Ad account score: points of a write (POST, DELETE).
    pub write_points: u64,
    /// Ad account score: the maximum (100%).
    pub max_points: u64,
    /// Ad account score: how long a spent point counts.
    pub decay_window: Duration,
    /// Ad account score: sliding window or reset.
    pub decay: Decay,
    /// Ad account score: how long an account stays blocked once over.
    pub block_duration: Duration,
    /// Business use case: calls per `buc_window` (100%), for use cases
    /// without an entry in `buc_calls_by_use_case`.
    pub buc_calls: u64,
    /// Business use case: budgets of particular use cases.
    pub buc_calls_by_use_case: BTreeMap<UseCase, u64>,
    /// Business use case: the sliding window of `buc_calls`.
    pub buc_window: Duration,
    /// Business use case: how long a throttled use case stays blocked.
    pub buc_block: Duration,
    /// App: calls per `app_window` (100%).
    pub app_calls: u64,
    /// App: the sliding window of `app_calls`.
    pub app_window: Duration,
    /// App: how long the app stays blocked once over.
    pub app_block: Duration,
}

// === impl ScoringConfig ===

impl ScoringConfig {
    /// Meta's development tier: 60 points decaying over 300 s, blocked
    /// 300 s; 300 calls per business use case per hour, blocked 300 s;
    /// 10 000 app calls per hour, blocked 300 s.
    pub fn development() -> Self {
        Self {
            enforce: true,
            tier: AccessTier::Development,
            read_points: 1,
            write_points: 3,
            max_points: 60,
            decay_window: Duration::from_secs(300),
            decay: Decay::Sliding,
            block_duration: Duration::from_secs(300),
            buc_calls: 300,
            buc_calls_by_use_case: BTreeMap::new(),
            buc_window: Duration::from_secs(3600),
            buc_block: Duration::from_secs(300),
            app_calls: 10_000,
            app_window: Duration::from_secs(3600),
            app_block: Duration::from_secs(300),
        }
    }

    /// Meta's standard tier (the demo sandbox's default): 9000 points
    /// decaying over 300 s, blocked 60 s; 100 000 calls per business use
    /// case per hour; the app as in [`ScoringConfig::development`].
    pub fn standard() -> Self {
        Self {
            tier: AccessTier::Standard,
            max_points: 9000,
            block_duration: Duration::from_secs(60),
            buc_calls: 100_000,
            ..Self::development()
        }
    }

    /// The same numbers, headers only: nothing is ever refused.
    pub fn headers_only(self) -> Self {
        Self {
            enforce: false,
            ..self
        }
    }

    /// The call budget of one business use case.
    pub fn buc_budget(&self, use_case: UseCase) -> u64 {
        self.buc_calls_by_use_case
            .get(&use_case)
            .copied()
            .unwrap_or(self.buc_calls)
    }
}

impl Default for ScoringConfig {
    fn default() -> Self {
        Self::standard()
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

/// Sets the scope's use case from the path, refining what routing found:
/// asset groups, apps, pixels, on-behalf-of requests and business edges
/// that are not about ad accounts are business management.
pub(crate) fn classify(world: &World, scope: &mut Scope, segments: &[String]) {
    let node = segments.first().map(String::as_str).unwrap_or_default();
    let edge = segments.get(1).map(String::as_str).unwrap_or_default();
    let named = UseCase::from_type(scope.use_case);
    let about_ad_accounts = edge.contains("ad_account") || edge.contains("adaccount");
    let group = world.groups.contains_key(node);
    let generic =
        named == UseCase::AdsManagement && scope.ad_account.is_none() && !about_ad_accounts;
    let use_case = if group || generic {
        UseCase::BusinessManagement
    } else {
        named
    };
    scope.use_case = use_case.as_str();
}

/// Whether Graph marks this error transient (the throttling errors).
pub(crate) fn is_throttle(err: &GraphError) -> bool {
    match err.code {
        APP_CODE => err.message.starts_with("(#4) Application request limit"),
        AD_ACCOUNT_CODE => err.subcode == Some(AD_ACCOUNT_SUBCODE),
        code => UseCase::ALL.into_iter().any(|u| u.throttle_code() == code),
    }
}

/// Amounts spent, each counting for a window after it was spent.
#[derive(Debug, Default)]
struct Log {
    /// (last spend in the entry, amount), oldest first.
    entries: VecDeque<(Instant, u64)>,
    total: u64,
}

// === impl Log ===

impl Log {
    /// Forgets what no longer counts.
    fn prune(&mut self, now: Instant, window: Duration) {
        while let Some(&(at, amount)) = self.entries.front() {
            if now.saturating_duration_since(at) < window {
                break;
            }
            self.total = self.total.saturating_sub(amount);
            self.entries.pop_front();
        }
    }

    /// Spends `amount` now. Spends close to the last one join its entry
    /// (which then counts from now), so a log holds about 1000 entries.
    fn add(&mut self, now: Instant, amount: u64, window: Duration) {
        let grain = window / 1000;
        match self.entries.back_mut() {
            Some((at, sum)) if now.saturating_duration_since(*at) <= grain => {
                *at = now;
                *sum = sum.saturating_add(amount);
            }
            _ => self.entries.push_back((now, amount)),
        }
        self.total = self.total.saturating_add(amount);
    }

    /// Spends `amount` now in a window that opened with its first spend
    /// and counts from then ([`Decay::Reset`]): one entry, which ages out
    /// whole.
    fn add_to_open(&mut self, now: Instant, amount: u64) {
        match self.entries.back_mut() {
            Some((_, sum)) => *sum = sum.saturating_add(amount),
            None => self.entries.push_back((now, amount)),
        }
        self.total = self.total.saturating_add(amount);
    }

    /// Time until everything spent stops counting.
    fn clears_in(&self, now: Instant, window: Duration) -> Duration {
        self.entries
            .back()
            .map(|&(at, _)| window.saturating_sub(now.saturating_duration_since(at)))
            .unwrap_or_default()
    }
}

/// A block: everything is refused for `length` from `since`.
#[derive(Clone, Copy, Debug)]
struct Block {
    since: Instant,
    length: Duration,
}

// === impl Block ===

impl Block {
    fn remaining(self, now: Instant) -> Duration {
        self.length
            .saturating_sub(now.saturating_duration_since(self.since))
    }
}

/// A call budget with its block (app, business use case).
#[derive(Debug, Default)]
struct Budget {
    calls: Log,
    block: Option<Block>,
}

// === impl Budget ===

impl Budget {
    /// Prunes, then answers whether a call may be admitted now; going over
    /// `limit` starts a block of `block`. Always true when not enforcing.
    fn admits(
        &mut self,
        now: Instant,
        window: Duration,
        limit: u64,
        block: Duration,
        enforce: bool,
    ) -> bool {
        self.calls.prune(now, window);
        if !enforce {
            return true;
        }
        if self.blocked_for(now) > Duration::ZERO {
            return false;
        }
        if self.calls.total.saturating_add(1) > limit {
            self.block = Some(Block {
                since: now,
                length: block,
            });
            return false;
        }
        true
    }

    fn blocked_for(&self, now: Instant) -> Duration {
        self.block.map(|b| b.remaining(now)).unwrap_or_default()
    }

    /// `call_count`-style percentage (integer, floor).
    fn pct(&self, limit: u64) -> u64 {
        self.calls.total.saturating_mul(100) / limit.max(1)
    }
}

/// One ad account's score.
#[derive(Debug, Default)]
struct Account {
    points: Log,
    /// Points admitted since the start (test hook).
    spent: u64,
    block: Option<Block>,
}

// === impl Account ===

impl Account {
    fn blocked_for(&self, now: Instant) -> Duration {
        self.block.map(|b| b.remaining(now)).unwrap_or_default()
    }
}

/// The scoring model's state: admits calls and renders the usage headers.
#[derive(Debug)]
pub(crate) struct UsageMeter {
    config: ScoringConfig,
    /// Added to tokio's clock (test hook `advance_clock`).
    offset: Duration,
    app: Budget,
    business: HashMap<(String, UseCase), Budget>,
    accounts: HashMap<String, Account>,
    admitted: u64,
    throttled: u64,
}

// === impl UsageMeter ===

impl UsageMeter {
    pub(crate) fn new(config: ScoringConfig) -> Self {
        Self {
            config,
            offset: Duration::ZERO,
            app: Budget::default(),
            business: HashMap::new(),
            accounts: HashMap::new(),
            admitted: 0,
            throttled: 0,
        }
    }

    /// Replaces the numbers and forgets all usage (the clock offset stays).
    pub(crate) fn configure(&mut self, config: ScoringConfig) {
        let offset = self.offset;
        *self = Self::new(config);
        self.offset = offset;
    }

    /// Moves the meter's clock forward.
    pub(crate) fn advance(&mut self, by: Duration) {
        self.offset = self.offset.saturating_add(by);
    }

    fn now(&self) -> Instant {
        let real = Instant::now();
        real.checked_add(self.offset).unwrap_or(real)
    }

    /// Admits the call and spends its cost, or refuses it with Graph's
    /// throttling error (spending nothing).
    pub(crate) fn admit(&mut self, scope: &Scope, verb: Verb) -> Result<(), GraphError> {
        let refusal = self.check(scope, verb);
        if refusal.is_some() {
            self.throttled += 1;
        }
        refusal.map_or(Ok(()), Err)
    }

    fn check(&mut self, scope: &Scope, verb: Verb) -> Option<GraphError> {
        let now = self.now();
        let cfg = &self.config;
        let enforce = cfg.enforce;
        let use_case = UseCase::from_type(scope.use_case);
        let cost = match verb {
            Verb::Get => cfg.read_points,
            Verb::Post | Verb::Delete => cfg.write_points,
        };

        let app_ok = self
            .app
            .admits(now, cfg.app_window, cfg.app_calls, cfg.app_block, enforce);
        if !app_ok {
            return Some(GraphError::new(
                APP_CODE,
                "(#4) Application request limit reached",
            ));
        }

        if let Some(acc) = &scope.ad_account {
            let account = self.accounts.entry(acc.clone()).or_default();
            account.points.prune(now, cfg.decay_window);
            if enforce {
                let blocked = account.blocked_for(now) > Duration::ZERO;
                let over = account.points.total.saturating_add(cost) > cfg.max_points;
                if blocked || over {
                    if !blocked {
                        account.block = Some(Block {
                            since: now,
                            length: cfg.block_duration,
                        });
                    }
                    return Some(
                        GraphError::new(AD_ACCOUNT_CODE, "(#17) User request limit reached")
                            .with_subcode(AD_ACCOUNT_SUBCODE),
                    );
                }
            }
        }

        if let Some(biz) = &scope.business {
            let budget = self.business.entry((biz.clone(), use_case)).or_default();
            let ok = budget.admits(
                now,
                cfg.buc_window,
                cfg.buc_budget(use_case),
                cfg.buc_block,
                enforce,
            );
            if !ok {
                return Some(GraphError::new(
                    use_case.throttle_code(),
                    use_case.throttle_message(),
                ));
            }
        }

        // Admitted: spend everywhere.
        self.app.calls.add(now, 1, cfg.app_window);
        if let Some(acc) = &scope.ad_account {
            if let Some(account) = self.accounts.get_mut(acc) {
                match cfg.decay {
                    Decay::Sliding => account.points.add(now, cost, cfg.decay_window),
                    Decay::Reset => account.points.add_to_open(now, cost),
                }
                account.spent = account.spent.saturating_add(cost);
            }
        }
        if let Some(biz) = &scope.business {
            if let Some(budget) = self.business.get_mut(&(biz.clone(), use_case)) {
                budget.calls.add(now, 1, cfg.buc_window);
            }
        }
        self.admitted += 1;
        None
    }

    /// The headers of the call's answer (admitted, refused or failed).
    pub(crate) fn record(&mut self, scope: &Scope) -> UsageHeaders {
        let now = self.now();
        let cfg = &self.config;
        self.app.calls.prune(now, cfg.app_window);
        let app_pct = self.app.pct(cfg.app_calls);
        let app = json!({
            "call_count": app_pct,
            "total_cputime": app_pct,
            "total_time": app_pct,
        })
        .to_string();

        let business = scope.business.as_ref().map(|biz| {
            let use_case = UseCase::from_type(scope.use_case);
            let (pct, regain) = match self.business.get_mut(&(biz.clone(), use_case)) {
                Some(budget) => {
                    budget.calls.prune(now, cfg.buc_window);
                    (
                        budget.pct(cfg.buc_budget(use_case)),
                        ceil_minutes(budget.blocked_for(now)),
                    )
                }
                None => (0, 0),
            };
            json!({
                biz.clone(): [{
                    "type": use_case.as_str(),
                    "call_count": pct,
                    "total_cputime": pct,
                    "total_time": pct,
                    "estimated_time_to_regain_access": regain,
                }]
            })
            .to_string()
        });

        let ad_account = scope.ad_account.as_ref().map(|acc| {
            let (util, reset) = match self.accounts.get_mut(acc) {
                Some(account) => {
                    account.points.prune(now, cfg.decay_window);
                    let reset = account
                        .points
                        .clears_in(now, cfg.decay_window)
                        .max(account.blocked_for(now));
                    (
                        util_pct(account.points.total, cfg.max_points),
                        reset.as_secs(),
                    )
                }
                None => (0.0, 0),
            };
            json!({
                "acc_id_util_pct": util,
                "reset_time_duration": reset,
                "ads_api_access_tier": cfg.tier.as_str(),
            })
            .to_string()
        });

        UsageHeaders {
            app,
            business,
            ad_account,
        }
    }

    // --- test hooks -------------------------------------------------------

    pub(crate) fn throttled_count(&self) -> u64 {
        self.throttled
    }

    pub(crate) fn calls_admitted(&self) -> u64 {
        self.admitted
    }

    pub(crate) fn points_spent(&self, ad_account: &str) -> u64 {
        self.accounts
            .get(account_key(ad_account))
            .map(|a| a.spent)
            .unwrap_or_default()
    }

    pub(crate) fn score(&mut self, ad_account: &str) -> f64 {
        let now = self.now();
        let window = self.config.decay_window;
        let max = self.config.max_points;
        self.accounts
            .get_mut(account_key(ad_account))
            .map(|a| {
                a.points.prune(now, window);
                util_pct(a.points.total, max)
            })
            .unwrap_or_default()
    }
}

/// An ad account as the meter keys it: `act_N` or `N` → `N`.
fn account_key(ad_account: &str) -> &str {
    ad_account.strip_prefix("act_").unwrap_or(ad_account)
}

/// `points / max × 100`, rounded to 2 decimals.
fn util_pct(points: u64, max: u64) -> f64 {
    // Scores are far below 2^53, so the conversions are exact.
    #[allow(clippy::cast_precision_loss)]
    let pct = points as f64 * 100.0 / max.max(1) as f64;
    (pct * 100.0).round() / 100.0
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

fn ceil_minutes(d: Duration) -> u64 {
    ceil_secs(d).div_ceil(60)
}
