//! Where budgets live: the seam between the fair scheduler and the budget
//! state. [`LocalBudgets`] keeps them in this process; the shared engine
//! (`redis.rs`) keeps them in Redis and falls back to a [`LocalBudgets`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;
use tokio::time::Instant;

use super::budget::{Check, KeyState, Limits, Pacing, WaitReason};
use super::key::{Demand, Event};
use super::snapshot::{KeyStatus, Mode};
use super::QuotaKey;

/// One key that keeps a call waiting.
#[derive(Clone, Debug)]
pub(crate) struct Blocked {
    /// Index into the call's demands.
    pub(crate) index: usize,
    /// How long.
    pub(crate) wait: Duration,
    /// The key's sustainable interval per point (for queue estimates).
    pub(crate) interval: Duration,
    /// Why.
    pub(crate) reason: WaitReason,
}

/// The answer to "may this call go now?".
#[derive(Clone, Debug)]
pub(crate) enum Verdict {
    /// It went: every key was charged.
    Granted,
    /// Nothing was charged; these keys block it.
    Wait(Vec<Blocked>),
}

/// Who asks: what the shared engine needs to keep one fair order among
/// the callers of every replica (the in-process engine has the queue's).
#[derive(Clone, Debug, Default)]
pub(crate) struct Turn {
    /// The call's caller.
    pub(crate) caller: Arc<str>,
    /// Its priority is batch.
    pub(crate) batch: bool,
    /// Its weight.
    pub(crate) weight: u32,
    /// The callers of this replica's other waiting calls on the call's most
    /// specific key (each once, with its batch flag).
    pub(crate) waiting: Vec<(Arc<str>, bool)>,
}

/// Budget state, local or shared.
#[async_trait::async_trait]
pub(crate) trait Backend: Send + Sync + 'static {
    /// Charges every key of the call, or none. `contended[i]`: calls of
    /// more than one caller wait for demand i's key (it is paced at its
    /// sustainable rate). `turn`: who asks, and who else waits here.
    async fn try_acquire(&self, demands: &[Demand], contended: &[bool], turn: &Turn) -> Verdict;
    /// Applies what an answer said (may complete later).
    fn observe(&self, events: Vec<Event>);
    /// The mode and every key's numbers (without waiting callers).
    async fn status(&self) -> (Mode, Vec<KeyStatus>);
}

/// Milliseconds as a duration (negative and NaN as zero).
pub(crate) fn ms(ms: f64) -> Duration {
    Duration::from_secs_f64((ms / 1000.0).max(0.0))
}

/// Budgets in this process, on tokio time (tests pause it).
pub(crate) struct LocalBudgets {
    epoch: Instant,
    wall_epoch: SystemTime,
    pacing: Pacing,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    keys: HashMap<QuotaKey, (KeyState, Limits)>,
    ops: u64,
}

/// Forget idle keys every this many operations.
const SWEEP_EVERY: u64 = 4096;

// === impl LocalBudgets ===

impl LocalBudgets {
    /// Empty budgets paced by `pacing`.
    pub(crate) fn new(pacing: Pacing) -> Self {
        Self {
            epoch: Instant::now(),
            wall_epoch: SystemTime::now(),
            pacing,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn now(&self) -> f64 {
        Instant::now().duration_since(self.epoch).as_secs_f64() * 1000.0
    }

    fn wall(&self, t: f64) -> SystemTime {
        self.wall_epoch + ms(t)
    }

    /// Charges every key or none.
    pub(crate) fn try_acquire(&self, demands: &[Demand], contended: &[bool]) -> Verdict {
        let now = self.now();
        let mut inner = self.inner.lock();
        inner.sweep(now, &self.pacing);
        let mut grants = Vec::with_capacity(demands.len());
        let mut blocked = Vec::new();
        for (index, d) in demands.iter().enumerate() {
            let (state, lim) = inner
                .keys
                .entry(d.key.clone())
                .or_insert_with(|| (KeyState::default(), d.limits));
            *lim = d.limits;
            let busy = contended.get(index).copied().unwrap_or(false);
            match state.check(now, d.cost, d.reserve, busy, &d.limits, &self.pacing) {
                Check::Grant { tat, probe } => grants.push((index, tat, probe)),
                Check::Wait {
                    ms: wait,
                    interval_ms,
                    reason,
                } => blocked.push(Blocked {
                    index,
                    // Sub-millisecond waits round up (tokio's timer
                    // resolution; Redis answers whole milliseconds too).
                    wait: ms(wait.max(1.0).ceil()),
                    interval: ms(interval_ms),
                    reason,
                }),
            }
        }
        if !blocked.is_empty() {
            return Verdict::Wait(blocked);
        }
        for (index, tat, probe) in grants {
            let d = &demands[index];
            if let Some((state, _)) = inner.keys.get_mut(&d.key) {
                state.grant(now, d.cost, tat, probe, &d.limits);
                if d.reserve > 0.0 {
                    state.grant_batch(now, d.cost, &d.limits);
                }
            }
        }
        Verdict::Granted
    }

    /// Applies events.
    pub(crate) fn apply(&self, events: &[Event]) {
        let now = self.now();
        let mut inner = self.inner.lock();
        for e in events {
            let (state, lim) = inner
                .keys
                .entry(e.key.clone())
                .or_insert_with(|| (KeyState::default(), e.limits));
            *lim = e.limits;
            state.carry(now, e.carry, &e.limits);
            if let Some((pct, detail)) = &e.report {
                let blocked = e.hold_ms.is_some();
                state.report(now, *pct, detail.clone(), blocked, &e.limits, &self.pacing);
            }
            match e.hold_ms {
                Some(ms) => state.hold(now, ms),
                None if e.answered => state.answered(now),
                None => {}
            }
        }
    }

    /// Every key's numbers.
    pub(crate) fn status(&self) -> Vec<KeyStatus> {
        let now = self.now();
        let mut inner = self.inner.lock();
        let mut out = Vec::with_capacity(inner.keys.len());
        for (key, (state, lim)) in inner.keys.iter_mut() {
            state.prune(now, lim, &self.pacing);
            out.push(key_status(key, state, lim, &self.pacing, now, |t| {
                self.wall(t)
            }));
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out
    }

    /// Points still in this engine's windows, as events that add them to
    /// another engine's (when Redis is back).
    pub(crate) fn carry_over(&self) -> Vec<Event> {
        let now = self.now();
        let mut inner = self.inner.lock();
        let mut out = Vec::new();
        for (key, (state, lim)) in inner.keys.iter_mut() {
            state.prune(now, lim, &self.pacing);
            if state.used > 0.0 {
                out.push(Event {
                    key: key.clone(),
                    limits: *lim,
                    report: None,
                    hold_ms: None,
                    answered: false,
                    carry: state.used,
                });
            }
        }
        out
    }
}

impl Inner {
    fn sweep(&mut self, now: f64, pacing: &Pacing) {
        self.ops += 1;
        if self.ops % SWEEP_EVERY == 0 {
            self.keys
                .retain(|_, (state, lim)| !state.idle(now, lim, pacing));
        }
    }
}

/// A key's numbers from its state.
pub(crate) fn key_status(
    key: &QuotaKey,
    state: &KeyState,
    lim: &Limits,
    pacing: &Pacing,
    now: f64,
    wall: impl Fn(f64) -> SystemTime,
) -> KeyStatus {
    let pc = state.pace(now, lim, pacing);
    let left_model = pc.cap - state.used;
    let left_reported = (pc.limit_frac - pc.rep_frac) * pc.full;
    // The ceiling limits the reported usage while the report lasts.
    let ceiling_applies = state.untrusted
        && state
            .report
            .is_some_and(|(_, at, horizon)| now < at + horizon);
    let mut reported = state.detail.clone();
    reported.at = state.report.map(|(_, at, _)| wall(at));
    KeyStatus {
        key: key.clone(),
        reported,
        reported_pct: state.report.map(|(pct, _, _)| pct),
        budget: pc.full,
        window: ms(lim.window_ms),
        scale: pacing.scale,
        used: state.used,
        left: left_model.min(left_reported).max(0.0),
        paced: pc.slow > 0.0,
        rate_per_second: if pc.slow > 0.0 {
            1000.0 / (pc.interval_ms * pc.slow)
        } else {
            0.0
        },
        hold_until: (state.hold_until > now).then(|| wall(state.hold_until)),
        probing: state.held && state.probe_at.is_some(),
        ceiling_applies,
        waiting: Vec::new(),
        limit_pct: if ceiling_applies {
            pacing.ceiling
        } else {
            pacing.target
        } * 100.0,
        usage_pct: pc.rep_frac * 100.0,
    }
}

/// The in-process engine as a backend.
pub(crate) struct LocalBackend(pub(crate) LocalBudgets);

#[async_trait::async_trait]
impl Backend for LocalBackend {
    async fn try_acquire(&self, demands: &[Demand], contended: &[bool], _: &Turn) -> Verdict {
        // One process, one queue: its order is the fair one.
        self.0.try_acquire(demands, contended)
    }

    fn observe(&self, events: Vec<Event>) {
        self.0.apply(&events);
    }

    async fn status(&self) -> (Mode, Vec<KeyStatus>) {
        (Mode::Local, self.0.status())
    }
}
