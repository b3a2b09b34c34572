//! The fair scheduler in front of the budgets: a call that cannot go at once
//! waits in one queue, ordered by priority (interactive before batch), then
//! by weighted fair queuing among callers in points (start-time fair
//! queuing on the call's most specific key: a waiter's tag is its start
//! `max(V, caller's last finish)`, the caller's finish becomes
//! `start + cost / weight`, and `V` follows the start tags served). Each
//! caller's tags advance by the points it is granted over its weight, so
//! shares hold in points, not in calls; and since a call is ordered by
//! where it starts, not where it ends, a 3-point write is not put behind
//! 1-point reads that arrive after it (ordered by finish tags, a write sat
//! behind every read queued within its next 3 / weight of virtual time, and
//! under over-demand was refused by its deadline while reads went).
//!
//! A batch caller's call also leaves `quota.batch_reserve` of each budget
//! to interactive ones (the batch callers' own points stay under
//! `1 - reserve` of the limit), so an interactive call arriving after a
//! batch job's burst finds room at once instead of waiting for the window
//! to turn, while interactive and batch calls together still reach the
//! limit.
//!
//! A driver task grants waiters in that order; once a waiter is blocked on a
//! key (it does not fit yet), later waiters needing that key do not overtake
//! it. Different keys are independent. A waiter whose estimated turn falls
//! after its deadline fails at once with RESOURCE_EXHAUSTED and a retry
//! delay.
//!
//! The queue is per replica. With budgets shared through Redis, the order
//! across replicas is Redis's: each permit names its caller and the callers
//! of this replica's other waiters on the key ([`Turn`]), and the permit
//! script keeps the same start-time fair queuing over every replica's
//! waiting callers (src/quota/redis/common.lua). A call it puts behind
//! another replica's caller ([`WaitReason::Behind`]) does not block the key
//! here: this replica's waiters of other callers may still go.

use std::cmp::Ordering as CmpOrdering;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::Clock as _;
use governor::nanos::Nanos;
use governor::{Quota as Rate, RateLimiter};
use parking_lot::Mutex;
use tokio::sync::{oneshot, Notify};
use tokio::time::Instant;

use super::backend::{Backend, Turn, Verdict};
use super::budget::WaitReason;
use super::key::{self, Demand};
use super::snapshot::{QuotaSnapshot, Waiting};
use super::{Params, QuotaKey, QuotaKeys, TokioClock};
use crate::config::Priority;
use crate::error::GatewayError;
use crate::graph::{GraphError, Usage};

type Keyed = RateLimiter<
    String,
    governor::state::keyed::DefaultKeyedStateStore<String>,
    TokioClock,
    governor::middleware::NoOpMiddleware<Nanos>,
>;

/// The adaptive quota: smoothing caps, the fair queue, and a budget backend
/// (in-process or Redis).
pub struct AdaptiveQuota {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Arc<dyn Backend>,
    params: Arc<Params>,
    replicas: u32,
    per_token: Keyed,
    per_business: Keyed,
    clock: TokioClock,
    queue: Mutex<Queue>,
    wake: Notify,
}

#[derive(Default)]
struct Queue {
    waiters: BTreeMap<Order, Waiter>,
    /// Virtual time per key: the start tag last served.
    virtual_time: HashMap<QuotaKey, f64>,
    /// Last finish tag per (key, caller).
    finish: HashMap<(QuotaKey, Arc<str>), f64>,
    seq: u64,
    driving: bool,
    /// Keys known to be blocked until then (saves backend round trips);
    /// cleared by every answer. The flag: found by a batch call, so it may
    /// be the batch callers' part that is used up (see [`Blocked`]).
    blocked: HashMap<Blocked, (Instant, Duration)>,
    /// Keys that keep waiters waiting: calls needing them queue (no fast
    /// path).
    contended: HashSet<QuotaKey>,
    /// Contended keys whose waiters came from more than one caller in the
    /// last round: paced at their sustainable rate, so that capacity
    /// trickles out one grant at a time in the queue's fair order rather
    /// than in bursts that go to whoever is first. A key only one caller
    /// waits for (a bulk operation alone) goes as fast as its usage
    /// allows: when a burst ages out of its window, the next one can go;
    /// unless an interactive call used the key within its window (see
    /// `interactive_at`).
    shared: HashSet<QuotaKey>,
    /// When an interactive call last got each key. A batch burst would
    /// leave interactive callers arriving later in the window only the
    /// batch reserve, so while they use a key, batch work on it is paced
    /// as if they waited too.
    interactive_at: HashMap<QuotaKey, Instant>,
}

/// A blocked key, and whether a batch call found it so. A batch call can
/// wait where an interactive one would fit (the batch reserve), so such a
/// block holds back only batch calls; one an interactive call found holds
/// back every call.
type Blocked = (QuotaKey, bool);

/// The blocks that hold back a call of this priority on `key`.
fn blocks_for(key: &QuotaKey, priority: Priority) -> impl Iterator<Item = Blocked> + '_ {
    [false]
        .into_iter()
        .chain((priority == Priority::Batch).then_some(true))
        .map(move |batch| (key.clone(), batch))
}

/// Whether a use of `key` at `at` is still within its window at `now`.
fn used_within_window(key: &QuotaKey, at: Instant, params: &Params, now: Instant) -> bool {
    let window = Duration::from_secs_f64(key.limits(params).window_ms.max(0.0) / 1000.0);
    now.saturating_duration_since(at) < window
}

/// Past this many keys, the record of interactive use forgets what is
/// older than each key's window.
const INTERACTIVE_KEYS: usize = 1024;

impl Queue {
    /// Notes that an interactive call got these keys now.
    fn interactive_granted(&mut self, demands: &[Demand], params: &Params, now: Instant) {
        for d in demands {
            self.interactive_at.insert(d.key.clone(), now);
        }
        if self.interactive_at.len() > INTERACTIVE_KEYS {
            self.forget_interactive(params, now);
        }
    }

    /// Forgets interactive use older than the key's window.
    fn forget_interactive(&mut self, params: &Params, now: Instant) {
        self.interactive_at
            .retain(|k, at| used_within_window(k, *at, params, now));
    }

    /// Keys to pace at their sustainable rate: contended ones that several
    /// callers wait for, or that an interactive call used within their
    /// window. (Only contended ones: the call's other keys, the app's say,
    /// are not what holds it up, and pacing them at their own sustainable
    /// rate would slow every call down to it.)
    fn paced(&self, params: &Params, now: Instant) -> HashSet<QuotaKey> {
        let mut keys = self.shared.clone();
        keys.extend(
            self.contended
                .iter()
                .filter(|k| {
                    self.interactive_at
                        .get(*k)
                        .is_some_and(|at| used_within_window(k, *at, params, now))
                })
                .cloned(),
        );
        keys
    }
}

/// Queue order: priority, start tag, arrival.
#[derive(Clone, Copy, Debug)]
struct Order {
    priority: Priority,
    start: f64,
    seq: u64,
}

struct Waiter {
    demands: Arc<[Demand]>,
    caller: Arc<str>,
    /// What queuing it added to its caller's finish tag (`cost / weight`).
    charge: f64,
    deadline: Instant,
    tx: oneshot::Sender<Result<(), GatewayError>>,
}

impl PartialEq for Order {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == CmpOrdering::Equal
    }
}

impl Eq for Order {}

impl PartialOrd for Order {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

impl Ord for Order {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        self.priority
            .cmp(&other.priority)
            .then(self.start.total_cmp(&other.start))
            .then(self.seq.cmp(&other.seq))
    }
}

/// The shortest wait the driver sleeps.
const MIN_WAIT: Duration = Duration::from_millis(1);

/// When a caller sets no deadline (the engine always sets one).
const NO_DEADLINE: Duration = Duration::from_secs(3600);

// === impl AdaptiveQuota ===

impl AdaptiveQuota {
    /// The scheduler over `backend`, with smoothing caps of `per_token` and
    /// `per_business` calls a second (each with `burst`).
    pub(crate) fn new(
        backend: Arc<dyn Backend>,
        params: Arc<Params>,
        replicas: u32,
        caps: (u32, u32, u32),
    ) -> Self {
        let clock = TokioClock::default();
        let (per_token, per_business, burst) = caps;
        let rate = |n: u32| {
            let n = NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN);
            Rate::per_second(n)
                .allow_burst(NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN))
        };
        Self {
            inner: Arc::new(Inner {
                backend,
                params,
                replicas,
                per_token: RateLimiter::dashmap_with_clock(rate(per_token), clock.clone()),
                per_business: RateLimiter::dashmap_with_clock(rate(per_business), clock.clone()),
                clock,
                queue: Mutex::new(Queue::default()),
                wake: Notify::new(),
            }),
        }
    }
}

#[async_trait::async_trait]
impl super::Quota for AdaptiveQuota {
    async fn acquire(
        &self,
        keys: &QuotaKeys<'_>,
        deadline: Option<Instant>,
    ) -> Result<(), GatewayError> {
        let inner = &self.inner;
        inner
            .smooth(&inner.per_token, keys.token, "token", deadline)
            .await?;
        if let Some(b) = keys.business {
            inner
                .smooth(&inner.per_business, b, "business", deadline)
                .await?;
        }
        let deadline = deadline.unwrap_or_else(|| Instant::now() + NO_DEADLINE);
        let caller: Arc<str> = Arc::from(keys.caller.unwrap_or_default());
        let (priority, weight) = inner.params.caller(&caller);
        let mut demands = key::demands(keys, &inner.params);
        if priority == Priority::Batch {
            // Batch work leaves the top of every budget to interactive
            // callers, so they find room even right after a batch burst.
            for d in &mut demands {
                d.reserve = inner.params.batch_reserve;
            }
        }
        let demands: Arc<[Demand]> = demands.into();

        // Fast path: nobody waits for these keys, so nobody is overtaken.
        let fast = {
            let q = inner.queue.lock();
            q.waiters.is_empty() || !demands.iter().any(|d| q.contended.contains(&d.key))
        };
        if fast {
            let uncontended = vec![false; demands.len()];
            let turn = Turn {
                caller: caller.clone(),
                batch: priority == Priority::Batch,
                weight,
                waiting: Vec::new(),
            };
            match inner
                .backend
                .try_acquire(&demands, &uncontended, &turn)
                .await
            {
                // (Interactive use is noted only for calls that queued:
                // a key nobody waits for needs no pacing, and the hot path
                // stays as it was.)
                Verdict::Granted => return Ok(()),
                Verdict::Wait(blocked) => {
                    let now = Instant::now();
                    let mut q = inner.queue.lock();
                    let mut worst: Option<(Instant, &QuotaKey)> = None;
                    for b in &blocked {
                        let Some(d) = demands.get(b.index) else {
                            continue;
                        };
                        q.contended.insert(d.key.clone());
                        if b.reason == WaitReason::Behind {
                            // Another replica's caller comes first: the key
                            // is not blocked for this replica's others.
                            if now + b.wait >= deadline {
                                return Err(throttled(&d.key, b.wait));
                            }
                            continue;
                        }
                        let ready = now + b.wait;
                        q.blocked.insert(
                            (d.key.clone(), priority == Priority::Batch),
                            (ready, b.interval),
                        );
                        if worst.is_none_or(|(w, _)| ready > w) {
                            worst = Some((ready, &d.key));
                        }
                    }
                    if let Some((ready, key)) = worst {
                        if ready > deadline {
                            return Err(throttled(key, ready - now));
                        }
                    }
                }
            }
        }

        let (tx, rx) = oneshot::channel();
        {
            let mut q = inner.queue.lock();
            let primary = demands.last().map(|d| (d.key.clone(), d.cost));
            let mut charge = 0.0;
            let start = match primary {
                Some((key, cost)) => {
                    let v = q.virtual_time.get(&key).copied().unwrap_or(0.0);
                    let last = q
                        .finish
                        .get(&(key.clone(), caller.clone()))
                        .copied()
                        .unwrap_or(0.0);
                    charge = cost / f64::from(weight.max(1));
                    let start = v.max(last);
                    q.finish.insert((key, caller.clone()), start + charge);
                    start
                }
                None => 0.0,
            };
            q.seq += 1;
            let order = Order {
                priority,
                start,
                seq: q.seq,
            };
            q.waiters.insert(
                order,
                Waiter {
                    demands,
                    caller,
                    charge,
                    deadline,
                    tx,
                },
            );
            if !q.driving {
                q.driving = true;
                tokio::spawn(drive(self.inner.clone()));
            }
        }
        inner.wake.notify_one();
        rx.await
            .unwrap_or_else(|_| Err(GatewayError::Internal("quota scheduler stopped".into())))
    }

    fn observe(&self, keys: &QuotaKeys<'_>, usage: &Usage, error: Option<&GraphError>) {
        let events = key::events(keys, usage, error, &self.inner.params);
        if events.is_empty() {
            return;
        }
        self.inner.backend.observe(events);
        let mut q = self.inner.queue.lock();
        q.blocked.clear();
        let waiting = !q.waiters.is_empty();
        drop(q);
        if waiting {
            self.inner.wake.notify_one();
        }
    }

    async fn snapshot(&self) -> QuotaSnapshot {
        let (mode, mut keys) = self.inner.backend.status().await;
        let mut waiting: HashMap<QuotaKey, HashMap<Arc<str>, u32>> = HashMap::new();
        {
            let q = self.inner.queue.lock();
            for w in q.waiters.values() {
                for d in w.demands.iter() {
                    *waiting
                        .entry(d.key.clone())
                        .or_default()
                        .entry(w.caller.clone())
                        .or_default() += 1;
                }
            }
        }
        for k in &mut keys {
            if let Some(callers) = waiting.remove(&k.key) {
                let mut list: Vec<Waiting> = callers
                    .into_iter()
                    .map(|(caller, calls)| Waiting {
                        caller: caller.to_string(),
                        calls,
                    })
                    .collect();
                list.sort_by(|a, b| a.caller.cmp(&b.caller));
                k.waiting = list;
            }
        }
        QuotaSnapshot {
            mode,
            replicas: self.inner.replicas,
            keys,
        }
    }
}

impl Inner {
    /// Who asks (`caller`), and the callers of this replica's other waiting
    /// calls on the same most specific key (`queued`: calls per caller,
    /// this one included).
    fn turn(&self, caller: &Arc<str>, queued: Option<&HashMap<Arc<str>, u32>>) -> Turn {
        let (priority, weight) = self.params.caller(caller);
        let waiting = queued
            .into_iter()
            .flatten()
            .filter(|(c, n)| **n > u32::from(*c == caller))
            .map(|(c, _)| (c.clone(), self.params.caller(c).0 == Priority::Batch))
            .collect();
        Turn {
            caller: caller.clone(),
            batch: priority == Priority::Batch,
            weight,
            waiting,
        }
    }

    /// The per-replica smoothing caps (governor).
    async fn smooth(
        &self,
        limiter: &Keyed,
        key: &str,
        what: &str,
        deadline: Option<Instant>,
    ) -> Result<(), GatewayError> {
        let key = key.to_string();
        loop {
            match limiter.check_key(&key) {
                Ok(()) => return Ok(()),
                Err(not_until) => {
                    let wait = not_until.wait_time_from(self.clock.now());
                    let ready = Instant::now() + wait;
                    if deadline.is_some_and(|d| ready > d) {
                        return Err(GatewayError::Throttled {
                            key: format!("{what} {key}"),
                            retry_after: wait,
                        });
                    }
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// Removes a waiter and answers it; a waiter leaving without a permit
    /// gives its charge back (see [`Queue::refund`]).
    fn finish(&self, order: &Order, result: Result<(), GatewayError>) -> bool {
        let w = {
            let mut q = self.queue.lock();
            let w = q.waiters.remove(order);
            if let (Some(w), Err(_)) = (&w, &result) {
                q.refund(w);
            }
            w
        };
        match w {
            Some(w) => w.tx.send(result).is_ok(),
            None => false,
        }
    }
}

impl Queue {
    /// A waiter left without a permit (refused, timed out, cancelled): its
    /// caller's finish tag on the key goes back by its charge, never below
    /// the key's virtual time. Without this, a caller's refused calls would
    /// count as service: under over-demand the caller whose tags grow
    /// fastest per call (the lowest weight) would fall ever further behind
    /// and be starved instead of getting its weighted share.
    fn refund(&mut self, w: &Waiter) {
        let Some(primary) = w.demands.last() else {
            return;
        };
        let v = self.virtual_time.get(&primary.key).copied().unwrap_or(0.0);
        if let Some(f) = self
            .finish
            .get_mut(&(primary.key.clone(), w.caller.clone()))
        {
            *f = (*f - w.charge).max(v);
        }
    }
}

fn throttled(key: &QuotaKey, retry_after: Duration) -> GatewayError {
    GatewayError::Throttled {
        key: key.to_string(),
        retry_after: retry_after.max(Duration::from_millis(1)),
    }
}

/// One waiter as the driver sees it in a round: its place, demands,
/// caller, deadline, and whether its caller has gone.
type RoundEntry = (Order, Arc<[Demand]>, Arc<str>, Instant, bool);

/// Notes that `caller` waits for `key` this round (the flag: another
/// caller does too).
fn note_waiter(
    waiting: &mut HashMap<QuotaKey, (Arc<str>, bool)>,
    key: &QuotaKey,
    caller: &Arc<str>,
) {
    match waiting.get_mut(key) {
        Some((first, many)) => *many |= first != caller,
        None => {
            waiting.insert(key.clone(), (caller.clone(), false));
        }
    }
}

/// Grants waiters in order until the queue is empty.
async fn drive(inner: Arc<Inner>) {
    loop {
        let (round, shared): (Vec<RoundEntry>, HashSet<QuotaKey>) = {
            let mut q = inner.queue.lock();
            if q.waiters.is_empty() {
                q.driving = false;
                q.contended.clear();
                q.shared.clear();
                return;
            }
            let round = q
                .waiters
                .iter()
                .map(|(o, w)| {
                    (
                        *o,
                        w.demands.clone(),
                        w.caller.clone(),
                        w.deadline,
                        w.tx.is_closed(),
                    )
                })
                .collect();
            (round, q.paced(&inner.params, Instant::now()))
        };
        // Key -> (the first caller waiting for it, and whether another one
        // is).
        let mut waiting: HashMap<QuotaKey, (Arc<str>, bool)> = HashMap::new();
        for (_, demands, caller, _, closed) in &round {
            if !closed {
                for d in demands.iter() {
                    note_waiter(&mut waiting, &d.key, caller);
                }
            }
        }
        let now = Instant::now();
        // Key -> (ready, interval, cost queued ahead in this round).
        let mut blocked: HashMap<Blocked, (Instant, Duration, f64)> = {
            let q = inner.queue.lock();
            q.blocked
                .iter()
                .filter(|(_, (until, _))| *until > now)
                .map(|(k, (until, interval))| (k.clone(), (*until, *interval, 0.0)))
                .collect()
        };
        // This round's waiting calls per most specific key and caller (the
        // shared engine keeps one fair order on it across replicas); not
        // those held up by another of their keys, which do not compete
        // for it now.
        let mut queued: HashMap<QuotaKey, HashMap<Arc<str>, u32>> = HashMap::new();
        for (order, demands, caller, _, closed) in &round {
            let Some((d, others)) = demands.split_last() else {
                continue;
            };
            let elsewhere = others
                .iter()
                .any(|o| blocks_for(&o.key, order.priority).any(|b| blocked.contains_key(&b)));
            if !*closed && !elsewhere {
                *queued
                    .entry(d.key.clone())
                    .or_default()
                    .entry(caller.clone())
                    .or_default() += 1;
            }
        }
        // (Key, caller) that another replica's caller comes before: the
        // caller's later calls on the key wait for the next round.
        let mut behind: HashSet<(QuotaKey, Arc<str>)> = HashSet::new();
        let mut next: Option<Instant> = None;
        for (order, demands, caller, deadline, closed) in round {
            if closed {
                // The caller went away: it must not use up a permit.
                let mut q = inner.queue.lock();
                if let Some(w) = q.waiters.remove(&order) {
                    q.refund(&w);
                }
                continue;
            }
            let now = Instant::now();
            // Behind a blocked key: estimate the turn, keep the place.
            let mut est: Option<(Instant, &QuotaKey)> = None;
            for d in demands.iter() {
                for b in blocks_for(&d.key, order.priority) {
                    if let Some((ready, interval, ahead)) = blocked.get(&b) {
                        let turn = *ready + interval.mul_f64(*ahead);
                        if est.is_none_or(|(e, _)| turn > e) {
                            est = Some((turn, &d.key));
                        }
                    }
                }
            }
            if now >= deadline {
                let (turn, key) =
                    est.map_or((now + Duration::from_secs(1), None), |(t, k)| (t, Some(k)));
                let err = match key.or_else(|| demands.last().map(|d| &d.key)) {
                    Some(k) => throttled(k, turn.saturating_duration_since(now)),
                    None => GatewayError::DeadlineExceeded,
                };
                inner.finish(&order, Err(err));
                continue;
            }
            if let Some((turn, key)) = est {
                if turn > deadline {
                    inner.finish(&order, Err(throttled(key, turn - now)));
                    continue;
                }
                for d in demands.iter() {
                    for b in blocks_for(&d.key, order.priority) {
                        if let Some((_, _, ahead)) = blocked.get_mut(&b) {
                            *ahead += d.cost;
                        }
                    }
                }
                next = Some(next.map_or(deadline, |n| n.min(deadline)));
                continue;
            }
            let primary = demands.last().map(|d| d.key.clone());
            if let Some(k) = &primary {
                if behind.contains(&(k.clone(), caller.clone())) {
                    continue;
                }
            }
            let flags: Vec<bool> = demands.iter().map(|d| shared.contains(&d.key)).collect();
            let turn = inner.turn(&caller, primary.as_ref().and_then(|k| queued.get(k)));
            match inner.backend.try_acquire(&demands, &flags, &turn).await {
                Verdict::Granted => {
                    if let Some(n) = primary
                        .as_ref()
                        .and_then(|k| queued.get_mut(k))
                        .and_then(|m| m.get_mut(&caller))
                    {
                        *n = n.saturating_sub(1);
                    }
                    if !inner.finish(&order, Ok(())) {
                        // Granted to a caller that just left: the permit is
                        // spent; nothing to give back.
                        tracing::debug!("quota: permit granted to a cancelled call");
                    }
                    if let Some(primary) = demands.last() {
                        let mut q = inner.queue.lock();
                        if order.priority == Priority::Interactive {
                            q.interactive_granted(&demands, &inner.params, Instant::now());
                        }
                        let v = q.virtual_time.entry(primary.key.clone()).or_default();
                        *v = v.max(order.start);
                    }
                }
                Verdict::Wait(list) if list.iter().all(|b| b.reason == WaitReason::Behind) => {
                    // Not blocked: this replica's waiters of other callers
                    // may go; this caller tries again shortly, unless that
                    // would be past its deadline.
                    let now = Instant::now();
                    for b in &list {
                        let Some(d) = demands.get(b.index) else {
                            continue;
                        };
                        behind.insert((d.key.clone(), caller.clone()));
                        let ready = now + b.wait;
                        if ready >= deadline {
                            inner.finish(&order, Err(throttled(&d.key, b.wait)));
                            break;
                        }
                        next = Some(next.map_or(ready, |n| n.min(ready)));
                    }
                }
                Verdict::Wait(list) => {
                    let now = Instant::now();
                    let mut worst: Option<(Instant, &QuotaKey)> = None;
                    for b in list.iter().filter(|b| b.reason != WaitReason::Behind) {
                        let Some(d) = demands.get(b.index) else {
                            continue;
                        };
                        let ready = now + b.wait;
                        blocked.insert(
                            (d.key.clone(), order.priority == Priority::Batch),
                            (ready, b.interval, d.cost),
                        );
                        next = Some(next.map_or(ready, |n| n.min(ready)));
                        if worst.is_none_or(|(w, _)| ready > w) {
                            worst = Some((ready, &d.key));
                        }
                    }
                    if let Some((ready, key)) = worst {
                        if ready > deadline {
                            tracing::debug!(
                                key = %key,
                                reasons = ?list.iter().map(|b| b.reason).collect::<Vec<_>>(),
                                "quota: wait would pass the deadline"
                            );
                            inner.finish(&order, Err(throttled(key, ready - now)));
                        }
                    }
                }
            }
        }
        {
            let mut q = inner.queue.lock();
            for (k, (ready, interval, _)) in &blocked {
                q.blocked.insert(k.clone(), (*ready, *interval));
                next = Some(next.map_or(*ready, |n| n.min(*ready)));
            }
            if q.waiters.is_empty() {
                q.driving = false;
                q.contended.clear();
                q.shared.clear();
                return;
            }
            // Keys that blocked someone this round stay contended; keys
            // whose waiters all went are free again.
            q.contended = blocked
                .keys()
                .map(|(k, _)| k.clone())
                .chain(behind.into_iter().map(|(k, _)| k))
                .collect();
            q.shared = waiting
                .into_iter()
                .filter(|(k, (_, many))| *many && q.contended.contains(k))
                .map(|(k, _)| k)
                .collect();
            for w in q.waiters.values() {
                next = Some(next.map_or(w.deadline, |n| n.min(w.deadline)));
            }
        }
        // Never spin: a round that found nothing to do waits at least a
        // millisecond (tokio's timer resolution).
        let soonest = Instant::now() + MIN_WAIT;
        let until = next.map_or(Instant::now() + Duration::from_millis(100), |n| {
            n.max(soonest)
        });
        tokio::select! {
            () = tokio::time::sleep_until(until) => {}
            () = inner.wake.notified() => {}
        }
    }
}
