//! The shared engine: budgets, holds and the latest usage reports live in
//! Redis, so N replicas act as one client. One Lua script per permit charges
//! every key of a call atomically (one round trip); answers are written by a
//! background task that merges whatever queued up into one script call.
//!
//! When Redis cannot be reached the engine switches to conservative local
//! limits (`local_fraction / replicas` of each budget, against a mirror that
//! has seen every answer), probes Redis every `probe_interval_ms`, and
//! returns to shared mode when it answers, carrying the points granted
//! meanwhile into the shared windows. Both switches are logged; QuotaService
//! shows the mode.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;

use super::backend::{key_status, ms, Backend, Blocked, LocalBudgets, Turn, Verdict};
use super::budget::{KeyState, Limits, Pacing, WaitReason};
use super::key::{Demand, Event};
use super::snapshot::{KeyStatus, Mode, ReportedUsage};
use super::{Params, QuotaKey};
use crate::redis_link::{RedisConn, RedisLink};

const COMMON: &str = include_str!("redis/common.lua");
const PERMIT: &str = include_str!("redis/permit.lua");
const OBSERVE: &str = include_str!("redis/observe.lua");
const STATUS: &str = include_str!("redis/status.lua");

/// Most events merged into one observe call.
const MAX_BATCH: usize = 256;

/// The shared engine.
pub(crate) struct RedisBudgets {
    link: RedisLink,
    conn: tokio::sync::Mutex<Option<RedisConn>>,
    prefix: String,
    timeout: Duration,
    probe_interval: Duration,
    params: Arc<Params>,
    shared: Pacing,
    /// Conservative local limits while Redis is unreachable; sees every
    /// answer in both modes.
    fallback: LocalBudgets,
    degraded: AtomicBool,
    probing: AtomicBool,
    writes: mpsc::UnboundedSender<Vec<Event>>,
    /// This replica's name in the waiting sets (random per process).
    replica: String,
    permit: redis::Script,
    observe: redis::Script,
    status: redis::Script,
    this: Weak<RedisBudgets>,
}

/// Redis could not be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SharedError {
    /// Redis said no, or the connection failed.
    #[error("{0}")]
    Redis(#[from] redis::RedisError),
    /// No answer in time.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// An answer the scripts never give.
    #[error("unexpected answer: {0}")]
    Answer(String),
}

// === impl RedisBudgets ===

impl RedisBudgets {
    /// Connects lazily; starts in shared mode (the first failure switches to
    /// the fallback). Must run inside a tokio runtime.
    pub(crate) fn new(
        link: RedisLink,
        prefix: &str,
        timeout: Duration,
        probe_interval: Duration,
        params: Arc<Params>,
    ) -> Arc<Self> {
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = params.pacing(1.0);
        let fallback = LocalBudgets::new(params.pacing(params.local_share()));
        let this = Arc::new_cyclic(|this| Self {
            link,
            conn: tokio::sync::Mutex::new(None),
            prefix: prefix.to_string(),
            timeout,
            probe_interval,
            params,
            shared,
            fallback,
            degraded: AtomicBool::new(false),
            probing: AtomicBool::new(false),
            writes: tx,
            replica: format!("{:016x}", rand::random::<u64>()),
            permit: redis::Script::new(&format!("{COMMON}\n{PERMIT}")),
            observe: redis::Script::new(&format!("{COMMON}\n{OBSERVE}")),
            status: redis::Script::new(&format!("{COMMON}\n{STATUS}")),
            this: this.clone(),
        });
        tokio::spawn(writer(Arc::downgrade(&this), rx));
        this
    }

    fn hash_key(&self, id: &str) -> String {
        format!("{{{}}}:q:{id}", self.prefix)
    }

    fn log_key(&self, id: &str) -> String {
        format!("{{{}}}:q:{id}:log", self.prefix)
    }

    /// The batch callers' part of a key's log (`quota.batch_reserve`).
    fn batch_log_key(&self, id: &str) -> String {
        format!("{{{}}}:q:{id}:batch", self.prefix)
    }

    /// Who waits for a key, on every replica (the fair order across them).
    fn waiting_key(&self, id: &str) -> String {
        format!("{{{}}}:q:{id}:wait", self.prefix)
    }

    fn registry_key(&self) -> String {
        format!("{{{}}}:q:keys", self.prefix)
    }

    async fn connect(&self) -> Result<RedisConn, SharedError> {
        let mut conn = self.link.connect().await?;
        // Loading the scripts is the health check: it also saves the
        // NOSCRIPT round trip of the first permit.
        for s in [&self.permit, &self.observe, &self.status] {
            tokio::time::timeout(self.timeout, s.prepare_invoke().load_async(&mut conn))
                .await
                .map_err(|_| SharedError::Timeout(self.timeout))??;
        }
        Ok(conn)
    }

    async fn conn(&self) -> Result<RedisConn, SharedError> {
        let mut guard = self.conn.lock().await;
        if let Some(c) = guard.as_ref() {
            return Ok(c.clone());
        }
        let c = self.connect().await?;
        *guard = Some(c.clone());
        Ok(c)
    }

    async fn invoke<T: redis::FromRedisValue>(
        &self,
        inv: redis::ScriptInvocation<'_>,
    ) -> Result<T, SharedError> {
        let mut conn = self.conn().await?;
        tokio::time::timeout(self.timeout, inv.invoke_async(&mut conn))
            .await
            .map_err(|_| SharedError::Timeout(self.timeout))?
            .map_err(SharedError::from)
    }

    /// One permit, all keys at once.
    async fn shared_permit(
        &self,
        demands: &[Demand],
        contended: &[bool],
        turn: &Turn,
    ) -> Result<Verdict, SharedError> {
        if demands.is_empty() {
            return Ok(Verdict::Granted);
        }
        let p = &self.shared;
        let mut inv = self.permit.prepare_invoke();
        inv.arg(demands.len())
            .arg(p.target)
            .arg(p.ceiling)
            .arg(p.band)
            .arg(p.margin_ms)
            .arg(p.probe_timeout_ms)
            .arg(super::budget::PROBE_POLL_MS)
            .arg(p.scale);
        for (i, d) in demands.iter().enumerate() {
            let id = d.key.id();
            inv.key(self.hash_key(&id))
                .key(self.log_key(&id))
                .key(self.batch_log_key(&id));
            inv.arg(&id).arg(d.cost);
            limit_args(&mut inv, &d.limits);
            inv.arg(d.limits.max_cost)
                .arg(u8::from(contended.get(i).copied().unwrap_or(false)))
                .arg(d.reserve);
        }
        inv.key(self.registry_key());
        let primary = demands.last().map(|d| d.key.id()).unwrap_or_default();
        inv.key(self.waiting_key(&primary));
        inv.arg(&*turn.caller)
            .arg(u8::from(turn.batch))
            .arg(turn.weight)
            .arg(&self.replica)
            .arg(turn.waiting.len());
        for (caller, batch) in &turn.waiting {
            inv.arg(&**caller).arg(u8::from(*batch));
        }
        let answer: Vec<i64> = self.invoke(inv).await?;
        match answer.first() {
            Some(1) => Ok(Verdict::Granted),
            Some(0) => {
                let mut blocked = Vec::new();
                for chunk in answer.get(2..).unwrap_or_default().chunks(4) {
                    let [index, wait, interval_us, reason] = chunk else {
                        return Err(SharedError::Answer(format!("{answer:?}")));
                    };
                    let index = usize::try_from(*index - 1)
                        .map_err(|_| SharedError::Answer(format!("{answer:?}")))?;
                    blocked.push(Blocked {
                        index,
                        wait: Duration::from_millis((*wait).max(0).unsigned_abs()),
                        interval: Duration::from_micros((*interval_us).max(0).unsigned_abs()),
                        reason: match reason {
                            1 => WaitReason::Hold,
                            2 => WaitReason::Probe,
                            3 => WaitReason::Budget,
                            5 => WaitReason::Behind,
                            _ => WaitReason::Pace,
                        },
                    });
                }
                Ok(Verdict::Wait(blocked))
            }
            _ => Err(SharedError::Answer(format!("{answer:?}"))),
        }
    }

    /// Writes events (one script call).
    async fn shared_observe(&self, events: &[Event]) -> Result<(), SharedError> {
        if events.is_empty() {
            return Ok(());
        }
        let mut inv = self.observe.prepare_invoke();
        inv.arg(events.len())
            .arg(self.shared.tolerance)
            .arg(self.shared.margin_ms)
            .arg(super::budget::RESET_MARGIN_MS);
        for e in events {
            let id = e.key.id();
            inv.key(self.hash_key(&id)).key(self.log_key(&id));
            inv.arg(&id);
            limit_args(&mut inv, &e.limits);
            let opt = |v: Option<f64>| v.map(|x| x.to_string()).unwrap_or_default();
            match &e.report {
                Some((pct, d)) => {
                    inv.arg(1)
                        .arg(*pct)
                        .arg(opt(d.call_count))
                        .arg(opt(d.total_cputime))
                        .arg(opt(d.total_time))
                        .arg(opt(d.acc_id_util_pct))
                        .arg(opt(d.reset_time_duration_secs))
                        .arg(opt(d.estimated_time_to_regain_access_mins))
                        .arg(
                            match d
                                .ads_api_access_tier
                                .as_deref()
                                .and_then(super::budget::tier_is_standard)
                            {
                                Some(true) => "1",
                                Some(false) => "0",
                                None => "",
                            },
                        );
                }
                None => {
                    inv.arg(0)
                        .arg(0)
                        .arg("")
                        .arg("")
                        .arg("")
                        .arg("")
                        .arg("")
                        .arg("")
                        .arg("");
                }
            }
            inv.arg(e.hold_ms.unwrap_or(-1.0))
                .arg(u8::from(e.answered))
                .arg(e.carry);
        }
        inv.key(self.registry_key());
        let _now: i64 = self.invoke(inv).await?;
        Ok(())
    }

    async fn shared_status(&self) -> Result<Vec<KeyStatus>, SharedError> {
        let mut conn = self.conn().await?;
        let horizon = self.params.longest_window_ms() * 2.0 + self.shared.margin_ms;
        let now_s = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0);
        let ids: Vec<String> = tokio::time::timeout(
            self.timeout,
            redis::cmd("ZRANGEBYSCORE")
                .arg(self.registry_key())
                .arg(now_s - horizon - 60_000.0)
                .arg("+inf")
                .query_async(&mut conn),
        )
        .await
        .map_err(|_| SharedError::Timeout(self.timeout))??;
        let keys: Vec<(QuotaKey, String)> = ids
            .into_iter()
            .filter_map(|id| QuotaKey::from_id(&id).map(|k| (k, id)))
            .collect();
        let mut inv = self.status.prepare_invoke();
        inv.arg(keys.len()).arg(self.shared.margin_ms);
        for (key, id) in &keys {
            inv.key(self.hash_key(id)).key(self.log_key(id));
            inv.arg(id).arg(key.limits(&self.params).window_ms);
        }
        let answer: Vec<redis::Value> = self.invoke(inv).await?;
        let mut rows = answer.into_iter();
        let now: f64 = rows
            .next()
            .and_then(|v| redis::from_redis_value::<String>(v).ok())
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| SharedError::Answer("status without time".into()))?;
        let wall = |t: f64| SystemTime::UNIX_EPOCH + ms(t);
        let mut out = Vec::new();
        for row in rows {
            let row: Vec<String> = redis::from_redis_value(row)
                .map_err(|e| SharedError::Answer(format!("status row: {e}")))?;
            let Some((id, fields)) = row.split_first() else {
                continue;
            };
            let Some(key) = QuotaKey::from_id(id) else {
                continue;
            };
            let lim = key.limits(&self.params);
            let state = state_from_fields(fields, lim.window_ms);
            out.push(key_status(&key, &state, &lim, &self.shared, now, wall));
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// Switches to the fallback (once) and starts probing.
    fn degrade(&self, err: &SharedError) {
        if !self.degraded.swap(true, Ordering::AcqRel) {
            tracing::warn!(
                error = %err,
                share = self.params.local_share(),
                "quota: Redis unreachable; serving on conservative local limits (mode degraded)"
            );
        }
        if !self.probing.swap(true, Ordering::AcqRel) {
            if let Some(this) = self.this.upgrade() {
                tokio::spawn(probe(Arc::downgrade(&this), self.probe_interval));
            }
        }
    }
}

/// budget, budget_standard, standard_default, window.
fn limit_args(inv: &mut redis::ScriptInvocation<'_>, lim: &Limits) {
    inv.arg(lim.budget)
        .arg(lim.budget_standard)
        .arg(u8::from(lim.standard_default))
        .arg(lim.window_ms);
}

/// Rebuilds a key's state from its Redis hash (window as its sum).
fn state_from_fields(fields: &[String], window_ms: f64) -> KeyState {
    let mut s = KeyState::default();
    let mut detail = ReportedUsage::default();
    let mut pct = None;
    let mut at = 0.0;
    let mut probe = None;
    let mut horizon = None;
    let num = |v: &str| v.parse::<f64>().ok();
    for kv in fields.chunks(2) {
        let [k, v] = kv else { continue };
        match k.as_str() {
            "tat" => s.tat = num(v).unwrap_or(0.0),
            "used" => s.used = num(v).unwrap_or(0.0),
            "since" => s.since = num(v).unwrap_or(0.0),
            "hold" => s.hold_until = num(v).unwrap_or(0.0),
            "held" => s.held = v == "1",
            "probe" => probe = num(v),
            "rpct" => pct = num(v),
            "rat" => at = num(v).unwrap_or(0.0),
            "rhz" => horizon = num(v),
            "untr" => s.untrusted = v == "1",
            "std" => {
                s.standard = match v.as_str() {
                    "1" => Some(true),
                    "0" => Some(false),
                    _ => None,
                }
            }
            "last" => s.last_use = num(v).unwrap_or(0.0),
            "d_cc" => detail.call_count = num(v),
            "d_cpu" => detail.total_cputime = num(v),
            "d_tt" => detail.total_time = num(v),
            "d_acc" => detail.acc_id_util_pct = num(v),
            "d_reset" => detail.reset_time_duration_secs = num(v),
            "d_regain" => detail.estimated_time_to_regain_access_mins = num(v),
            "d_tier" => {
                detail.ads_api_access_tier = match v.as_str() {
                    "1" => Some("standard_access".to_string()),
                    "0" => Some("development_access".to_string()),
                    _ => None,
                }
            }
            _ => {}
        }
    }
    s.report = pct.map(|p| (p, at, horizon.unwrap_or(window_ms)));
    s.probe_at = probe;
    s.detail = detail;
    s
}

/// Writes queued events, merging whatever is waiting into one call.
async fn writer(this: Weak<RedisBudgets>, mut rx: mpsc::UnboundedReceiver<Vec<Event>>) {
    while let Some(mut events) = rx.recv().await {
        while events.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(more) => events.extend(more),
                Err(_) => break,
            }
        }
        let Some(this) = this.upgrade() else { return };
        if this.degraded.load(Ordering::Acquire) {
            // The mirror has them; Redis gets the reports again with the
            // next answers.
            continue;
        }
        if let Err(e) = this.shared_observe(&merge(events)).await {
            this.degrade(&e);
        }
    }
}

/// One event per key: the latest report, the longest hold, answers and
/// carried points combined.
fn merge(events: Vec<Event>) -> Vec<Event> {
    let mut out: Vec<Event> = Vec::with_capacity(events.len());
    for e in events {
        match out.iter_mut().find(|o| o.key == e.key) {
            Some(o) => {
                if e.report.is_some() {
                    o.report = e.report;
                }
                o.hold_ms = match (o.hold_ms, e.hold_ms) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
                o.answered = (o.answered || e.answered) && o.hold_ms.is_none();
                o.carry += e.carry;
            }
            None => out.push(e),
        }
    }
    out
}

/// While degraded: tries Redis every `interval`; when it answers, carries
/// the fallback's points over and switches back to shared mode.
async fn probe(this: Weak<RedisBudgets>, interval: Duration) {
    loop {
        tokio::time::sleep(interval).await;
        let Some(this) = this.upgrade() else { return };
        let conn = match this.connect().await {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(error = %e, "quota: Redis still unreachable");
                continue;
            }
        };
        *this.conn.lock().await = Some(conn);
        let carried = this.fallback.carry_over();
        if let Err(e) = this.shared_observe(&carried).await {
            tracing::debug!(error = %e, "quota: Redis answered the probe but not the carry-over");
            *this.conn.lock().await = None;
            continue;
        }
        this.degraded.store(false, Ordering::Release);
        this.probing.store(false, Ordering::Release);
        tracing::info!(
            keys = carried.len(),
            "quota: Redis reachable again; budgets are shared (mode shared)"
        );
        return;
    }
}

#[async_trait::async_trait]
impl Backend for RedisBudgets {
    async fn try_acquire(&self, demands: &[Demand], contended: &[bool], turn: &Turn) -> Verdict {
        if !self.degraded.load(Ordering::Acquire) {
            match self.shared_permit(demands, contended, turn).await {
                Ok(v) => return v,
                Err(e) => {
                    *self.conn.lock().await = None;
                    self.degrade(&e);
                }
            }
        }
        self.fallback.try_acquire(demands, contended)
    }

    fn observe(&self, events: Vec<Event>) {
        self.fallback.apply(&events);
        if !self.degraded.load(Ordering::Acquire) {
            let _ = self.writes.send(events);
        }
    }

    async fn status(&self) -> (Mode, Vec<KeyStatus>) {
        if !self.degraded.load(Ordering::Acquire) {
            match self.shared_status().await {
                Ok(keys) => return (Mode::Shared, keys),
                Err(e) => {
                    *self.conn.lock().await = None;
                    self.degrade(&e);
                }
            }
        }
        (Mode::Degraded, self.fallback.status())
    }
}
