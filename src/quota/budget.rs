//! One key's budget: the arithmetic both engines run. The in-process engine
//! runs this Rust; the shared engine runs the same steps in Lua inside Redis
//! (`redis/*.lua`), so N replicas act as one client. Times are milliseconds
//! on the engine's clock (tokio time locally, Redis `TIME` when shared).
//!
//! A key's admission has three layers:
//!
//! 1. **Holds.** After a throttling error or a usage header saying "blocked
//!    for N", nothing goes until the hold ends; then exactly one probe call
//!    goes, and the rest wait until its answer shows the key is clear.
//! 2. **The cap.** Two estimates of the usage must leave room for the call:
//!    the gateway's own sliding window of granted points (exact, kept for
//!    `window + margin`) against `target_fraction` of its budget, and Meta's
//!    last reported percentage (decaying linearly to zero over the window,
//!    or over the `reset_time_duration` the report named plus
//!    [`RESET_MARGIN_MS`], Meta's seconds being rounded down, plus the points
//!    granted since) against `target_fraction` — or against
//!    `ceiling` when the report is higher than the gateway's own accounting
//!    explains (someone else uses the key, or the configured budget is
//!    wrong).
//! 3. **Pacing.** GCRA whose emission interval adapts to the usage: zero
//!    (full speed) below `1 - slowdown_band` of the limit, then growing
//!    linearly to the sustainable interval `window / limit` at the limit.
//!    A key that keeps calls of more than one caller waiting (contended)
//!    is always paced at the sustainable interval: capacity then trickles
//!    out one grant at a time through the fair queue instead of in bursts
//!    that go to whoever happens to be first. A key only one caller waits
//!    for is paced by its usage alone, so a bulk operation bursts again
//!    when its last burst ages out, as the window allows.

use std::collections::VecDeque;

use super::snapshot::ReportedUsage;

/// Float slack for comparisons of sums of points.
const EPS: f64 = 1e-9;

/// A window keeps about this many entries (see [`KeyState::grant`]).
pub(crate) const GRAIN: f64 = 1000.0;

/// A key's budget.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Limits {
    /// Points (or calls) per window; the development tier's for ad accounts.
    pub(crate) budget: f64,
    /// The standard tier's budget (ad accounts); else `budget`.
    pub(crate) budget_standard: f64,
    /// The standard tier applies until a header names the tier.
    pub(crate) standard_default: bool,
    /// The window, milliseconds.
    pub(crate) window_ms: f64,
    /// The most one call costs (the burst tolerance of the pacing).
    pub(crate) max_cost: f64,
}

/// How budgets are used; the same for every key.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Pacing {
    /// Share of the budget used when the gateway's accounting is trusted.
    pub(crate) target: f64,
    /// Share of the budget (as reported) when it is not.
    pub(crate) ceiling: f64,
    /// Slow-down band below the limit.
    pub(crate) band: f64,
    /// How much the report may exceed the own accounting and still be
    /// trusted (share of the budget).
    pub(crate) tolerance: f64,
    /// Extra time a granted call stays in the window, ms.
    pub(crate) margin_ms: f64,
    /// After this long without an answer, a new probe may go, ms.
    pub(crate) probe_timeout_ms: f64,
    /// The share of each budget this engine may use: 1, or
    /// `local_fraction / replicas` in the local fallback.
    pub(crate) scale: f64,
}

/// Why a call waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WaitReason {
    /// The key is held.
    Hold,
    /// The one probe after a hold is out.
    Probe,
    /// The budget is used up for now.
    Budget,
    /// Pacing.
    Pace,
    /// Another caller comes first in the fair order kept across replicas
    /// (the shared engine only): the key is not blocked for that caller.
    Behind,
}

/// The outcome of checking one key.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Check {
    /// The call may go; `tat` is the new GCRA time, `probe` marks the one
    /// call after a hold.
    Grant {
        /// New theoretical arrival time.
        tat: f64,
        /// This call is the hold's probe.
        probe: bool,
    },
    /// Not before `ms` from now.
    Wait {
        /// Milliseconds to wait.
        ms: f64,
        /// The sustainable interval per point, for queue estimates.
        interval_ms: f64,
        /// Why.
        reason: WaitReason,
    },
}

/// The derived pacing numbers of a key at one instant.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pace {
    /// Meta's budget of the key (tier applied).
    pub(crate) full: f64,
    /// This engine's cap on its own window, points.
    pub(crate) cap: f64,
    /// The limit on the reported usage (fraction of `full`).
    pub(crate) limit_frac: f64,
    /// Reported usage now (fraction of `full`), 0 without a live report.
    pub(crate) rep_frac: f64,
    /// Slow-down factor: 0 full speed .. 1 sustainable rate.
    pub(crate) slow: f64,
    /// Sustainable interval per point, ms.
    pub(crate) interval_ms: f64,
}

/// One key's state.
#[derive(Clone, Debug, Default)]
pub(crate) struct KeyState {
    /// GCRA theoretical arrival time.
    pub(crate) tat: f64,
    /// Granted (time, points), oldest first.
    log: VecDeque<(f64, f64)>,
    /// Sum of `log` (or, for a state read from Redis, the stored sum).
    pub(crate) used: f64,
    /// The batch callers' part of `log` (time, points), oldest first.
    batch_log: VecDeque<(f64, f64)>,
    /// Sum of `batch_log`.
    pub(crate) batch_used: f64,
    /// Points granted since the last report.
    pub(crate) since: f64,
    /// Nothing goes before this.
    pub(crate) hold_until: f64,
    /// A hold happened and no answer has cleared it yet.
    pub(crate) held: bool,
    /// When the hold's probe went out.
    pub(crate) probe_at: Option<f64>,
    /// Last reported percentage, when it came, and how long it takes to
    /// decay to zero (ms).
    pub(crate) report: Option<(f64, f64, f64)>,
    /// The last report's details.
    pub(crate) detail: ReportedUsage,
    /// The report is explained by the own accounting (false: the ceiling
    /// applies).
    pub(crate) untrusted: bool,
    /// The tier a header named: Some(true) standard.
    pub(crate) standard: Option<bool>,
    /// Last grant or event.
    pub(crate) last_use: f64,
}

// === impl Limits ===

impl Limits {
    /// A budget without tiers.
    pub(crate) fn flat(budget: f64, window_ms: f64, max_cost: f64) -> Self {
        Self {
            budget,
            budget_standard: budget,
            standard_default: false,
            window_ms,
            max_cost,
        }
    }
}

// === impl KeyState ===

impl KeyState {
    /// Meta's budget of the key, with the tier a header named.
    pub(crate) fn budget(&self, lim: &Limits) -> f64 {
        if self.standard.unwrap_or(lim.standard_default) {
            lim.budget_standard
        } else {
            lim.budget
        }
    }

    /// Drops grants older than `window + margin`.
    pub(crate) fn prune(&mut self, now: f64, lim: &Limits, p: &Pacing) {
        let cutoff = now - lim.window_ms - p.margin_ms;
        self.used -= expire(&mut self.log, cutoff);
        self.batch_used -= expire(&mut self.batch_log, cutoff);
        if self.batch_log.is_empty() || self.batch_used < EPS {
            self.batch_used = 0.0;
            self.batch_log.clear();
        }
        if self.log.is_empty() || self.used < EPS {
            self.used = self.used.max(0.0);
            if self.log.is_empty() {
                self.used = 0.0;
            }
        }
    }

    /// The pacing numbers now.
    pub(crate) fn pace(&self, now: f64, lim: &Limits, p: &Pacing) -> Pace {
        let full = self.budget(lim).max(EPS);
        let cap = (p.target * full * p.scale).max(EPS);
        let limit_frac = if self.untrusted { p.ceiling } else { p.target };
        let rep_frac = match self.report {
            Some((pct, at, horizon)) if now < at + horizon => {
                pct / 100.0 * (1.0 - (now - at) / horizon) + self.since / full
            }
            _ => 0.0,
        };
        let x = (self.used / cap).max(rep_frac / limit_frac);
        let slow = if p.band <= 0.0 {
            if x >= 1.0 {
                1.0
            } else {
                0.0
            }
        } else {
            ((x - (1.0 - p.band)) / p.band).clamp(0.0, 1.0)
        };
        let sustainable = cap.min(limit_frac * full).max(EPS);
        Pace {
            full,
            cap,
            limit_frac,
            rep_frac,
            slow,
            interval_ms: lim.window_ms / sustainable,
        }
    }

    /// May a call costing `cost` go now? Prunes the window; changes nothing
    /// else (see [`KeyState::grant`]). `reserve`: share of the limit a
    /// batch caller's call leaves to interactive ones (the batch callers'
    /// own points stay under `1 - reserve` of it; 0: an interactive call).
    /// `contended`: calls of more than one caller wait for the key.
    pub(crate) fn check(
        &mut self,
        now: f64,
        cost: f64,
        reserve: f64,
        contended: bool,
        lim: &Limits,
        p: &Pacing,
    ) -> Check {
        self.prune(now, lim, p);
        let pc = self.pace(now, lim, p);
        let wait = |ms: f64, reason| Check::Wait {
            ms,
            interval_ms: pc.interval_ms,
            reason,
        };
        if now < self.hold_until {
            return wait(self.hold_until - now, WaitReason::Hold);
        }
        let probe = self.held;
        if self.held {
            if let Some(at) = self.probe_at {
                let left = at + p.probe_timeout_ms - now;
                if left > 0.0 {
                    return wait(left.min(PROBE_POLL_MS), WaitReason::Probe);
                }
            }
        }
        let mut ms: f64 = 0.0;
        // The own window: wait until enough of it ages out.
        if self.used > 0.0 && self.used + cost > pc.cap + EPS {
            let need = self.used + cost - pc.cap;
            ms = ms.max(ages_out(&self.log, need, lim, p) - now);
        }
        // A batch call: the batch callers' points stay under their part,
        // so interactive calls find the rest free even after a batch burst.
        let batch_cap = pc.cap * (1.0 - reserve.clamp(0.0, 1.0));
        if reserve > 0.0 && self.batch_used > 0.0 && self.batch_used + cost > batch_cap + EPS {
            let need = self.batch_used + cost - batch_cap;
            ms = ms.max(ages_out(&self.batch_log, need, lim, p) - now);
        }
        // Meta's report: wait until it has decayed enough.
        if let Some((pct, at, horizon)) = self.report {
            if now < at + horizon {
                let over = pc.rep_frac + cost / pc.full - pc.limit_frac;
                if over > EPS {
                    let gone = at + horizon - now;
                    let rate = pct / 100.0 / horizon;
                    ms = ms.max(if rate > 0.0 {
                        (over / rate).min(gone)
                    } else {
                        gone
                    });
                }
            }
        }
        if ms > 0.0 {
            return wait(ms, WaitReason::Budget);
        }
        // Pacing (GCRA, burst of one most expensive call).
        let tat = self.tat.max(now);
        let tau = pc.interval_ms * lim.max_cost;
        if tat - now > tau + EPS {
            return wait(tat - now - tau, WaitReason::Pace);
        }
        let slow = if contended { 1.0 } else { pc.slow };
        Check::Grant {
            tat: tat + pc.interval_ms * slow * cost,
            probe,
        }
    }

    /// Records a granted call.
    pub(crate) fn grant(&mut self, now: f64, cost: f64, tat: f64, probe: bool, lim: &Limits) {
        self.add(now, cost, lim);
        self.tat = tat;
        if probe {
            self.probe_at = Some(now);
        }
    }

    /// Records that a granted call (see [`KeyState::grant`]) was a batch
    /// caller's: its points count against the batch callers' part too.
    pub(crate) fn grant_batch(&mut self, now: f64, cost: f64, lim: &Limits) {
        append(&mut self.batch_log, now, cost, lim);
        self.batch_used += cost;
    }

    /// Adds points granted elsewhere (carried over) to the window.
    pub(crate) fn carry(&mut self, now: f64, points: f64, lim: &Limits) {
        if points > 0.0 {
            self.add(now, points, lim);
        }
    }

    /// Spends points now. Spends within `window / GRAIN` of the last one
    /// join its entry, which then counts from now (a little longer than
    /// each spend: conservative), so a window holds about `GRAIN` entries
    /// whatever the budget.
    fn add(&mut self, now: f64, points: f64, lim: &Limits) {
        append(&mut self.log, now, points, lim);
        self.used += points;
        self.since += points;
        self.last_use = now;
    }

    /// Learns Meta's reported usage (percent of the key's budget).
    /// `blocked`: the same answer holds the key (a throttling error, or a
    /// full score with a reset time). Meta then reports the block (100%),
    /// not points someone else spent, so it says nothing about whether the
    /// gateway's accounting explains the usage: the ceiling flag stays as
    /// it was. (Read as usage, a block after the gateway's own points had
    /// aged out looked like 100% used by others: the ceiling applied, and
    /// QuotaService showed 100% with the 75% ceiling applying.)
    pub(crate) fn report(
        &mut self,
        now: f64,
        pct: f64,
        detail: ReportedUsage,
        blocked: bool,
        lim: &Limits,
        p: &Pacing,
    ) {
        if let Some(tier) = detail.ads_api_access_tier.as_deref() {
            if let Some(standard) = tier_is_standard(tier) {
                self.standard = Some(standard);
            }
        }
        self.prune(now, lim, p);
        let full = self.budget(lim).max(EPS);
        if !blocked {
            self.untrusted = pct / 100.0 > self.used / full + p.tolerance + EPS;
        }
        // The report decays to zero over the time Meta names and the
        // margin (0 s: less than a second left), else over the window.
        let horizon = detail.reset_time_duration_secs.map_or(lim.window_ms, |s| {
            (s.max(0.0) * 1000.0 + RESET_MARGIN_MS).min(lim.window_ms)
        });
        self.report = Some((pct, now, horizon));
        self.since = 0.0;
        self.detail = detail;
        self.last_use = now;
    }

    /// Holds the key for `ms`; the next call after it is the probe.
    pub(crate) fn hold(&mut self, now: f64, ms: f64) {
        self.hold_until = self.hold_until.max(now + ms);
        self.held = true;
        self.probe_at = None;
        self.last_use = now;
    }

    /// An answer that does not throttle the key: clears a hold whose probe
    /// went out.
    pub(crate) fn answered(&mut self, now: f64) {
        if self.held && now >= self.hold_until && self.probe_at.is_some() {
            self.held = false;
            self.probe_at = None;
        }
    }

    /// Idle long enough to forget.
    pub(crate) fn idle(&self, now: f64, lim: &Limits, p: &Pacing) -> bool {
        !self.held
            && now >= self.hold_until
            && now - self.last_use > 2.0 * lim.window_ms + p.margin_ms
    }
}

/// Spends `points` now in `log`: within `window / GRAIN` of the last entry
/// they join it, which then counts from now.
fn append(log: &mut VecDeque<(f64, f64)>, now: f64, points: f64, lim: &Limits) {
    let grain = lim.window_ms / GRAIN;
    match log.back_mut() {
        Some((t, sum)) if now - *t <= grain => {
            *t = now;
            *sum += points;
        }
        _ => log.push_back((now, points)),
    }
}

/// Drops `log`'s entries spent at or before `cutoff`; returns their points.
fn expire(log: &mut VecDeque<(f64, f64)>, cutoff: f64) -> f64 {
    let mut freed = 0.0;
    while let Some(&(t, c)) = log.front() {
        if t > cutoff {
            break;
        }
        freed += c;
        log.pop_front();
    }
    freed
}

/// When enough of `log`'s oldest entries to free `need` points age out.
fn ages_out(log: &VecDeque<(f64, f64)>, need: f64, lim: &Limits, p: &Pacing) -> f64 {
    let mut freed = 0.0;
    let mut at = 0.0;
    for &(t, c) in log {
        freed += c;
        at = t + lim.window_ms + p.margin_ms;
        if freed >= need - EPS {
            break;
        }
    }
    at
}

/// Added to times taken from `reset_time_duration` (holds, and the time a
/// report takes to decay): Meta gives whole seconds, rounded down, so a
/// probe sent after exactly the reported time can arrive while the account
/// is still blocked. A report of 0 s means less than a second is left.
pub(crate) const RESET_MARGIN_MS: f64 = 1_000.0;

/// While a probe is out, waiters look again this often (another replica's
/// probe answer clears the key without telling this one).
pub(crate) const PROBE_POLL_MS: f64 = 500.0;

/// "standard_access" -> Some(true), "development_access" -> Some(false).
pub(crate) fn tier_is_standard(tier: &str) -> Option<bool> {
    if tier.contains("standard") {
        Some(true)
    } else if tier.contains("development") {
        Some(false)
    } else {
        None
    }
}
