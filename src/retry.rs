//! Retries of upstream calls: exponential backoff with full jitter, bounded
//! by the caller's deadline and by a retry budget.
//!
//! What is retried:
//! - reads: connection errors, timeouts of one attempt, HTTP 5xx, Graph codes
//!   1 and 2 and `is_transient`, malformed answers;
//! - mutations: only when Graph never received them (the connection could
//!   not be made). A mutation that was sent and whose answer was lost is
//!   never sent again by the gateway on its own: see `crate::idempotency`.
//!
//! Throttling (Graph's rate-limit codes, the quota engine's refusals) is not
//! retried here: the quota engine paces and holds the key instead.
//!
//! The budget (as Finagle's and Linkerd's): every call deposits
//! `budget_ratio` of a retry, every retry withdraws one, and
//! `budget_min_per_sec` retries per second are always allowed; so when Graph
//! fails hard, retries add at most ~`budget_ratio` to the load.
//!
//! Also here: [`Cancel`], how the gRPC layer tells a detached call that its
//! caller went away, and [`Reliability`], the bundle the engine holds
//! (retries, circuit breaker, idempotency store).

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use rand::Rng as _;
use tokio::time::Instant;

use crate::config::{Config, RetryConfig};
use crate::error::GatewayError;
use crate::idempotency::Idempotency;
use crate::overload::{Breaker, Health};

/// Reads and mutations are retried differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallClass {
    /// GET: safe to send again.
    Read,
    /// POST / DELETE: sent again only when Graph never received it.
    Mutation,
}

/// A failed attempt, and whether the request may have reached Graph.
#[derive(Clone, Debug)]
pub struct Failure {
    /// What went wrong.
    pub error: GatewayError,
    /// False when the request certainly never reached Graph.
    pub sent: bool,
}

/// The retry policy (one per engine).
pub struct RetryPolicy {
    max_attempts: u32,
    base: Duration,
    max: Duration,
    attempt_timeout: Option<Duration>,
    budget: RetryBudget,
}

/// The retry budget: a token bucket filled by calls, drained by retries.
pub struct RetryBudget {
    ratio: f64,
    min_per_sec: f64,
    cap: f64,
    state: Mutex<BudgetState>,
    retries: AtomicU64,
    refused: AtomicU64,
}

struct BudgetState {
    balance: f64,
    last: Instant,
}

/// Counters of the retry policy (tests, logs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetryStats {
    /// Retries sent.
    pub retries: u64,
    /// Retries the budget refused.
    pub refused_by_budget: u64,
}

// === impl Failure ===

impl Failure {
    /// The request never reached Graph.
    pub fn not_sent(error: GatewayError) -> Self {
        Self { error, sent: false }
    }

    /// The request may have reached Graph (a GraphClient error that proves
    /// otherwise, [`GatewayError::NotSent`], is classified as not sent).
    pub fn sent(error: GatewayError) -> Self {
        let sent = !matches!(error, GatewayError::NotSent(_));
        Self { error, sent }
    }
}

impl From<Failure> for GatewayError {
    fn from(f: Failure) -> Self {
        f.error
    }
}

/// True when a failed attempt of `class` is worth another attempt.
/// `deadline_left` tells an attempt's own timeout from the caller's.
pub fn retryable(class: CallClass, failure: &Failure, deadline_left: bool) -> bool {
    match &failure.error {
        GatewayError::NotSent(_) => true,
        _ if class == CallClass::Mutation => false,
        _ if !failure.sent => false,
        GatewayError::Unavailable(_) | GatewayError::Malformed(_) => true,
        GatewayError::Graph(g) => !g.is_throttling() && (g.is_transient() || g.http_status >= 500),
        // The attempt's own timeout, with the caller still waiting.
        GatewayError::DeadlineExceeded => deadline_left,
        _ => false,
    }
}

/// What an attempt's outcome says about Graph's health (for the breaker).
pub fn health_of<T>(result: &Result<T, GatewayError>) -> Health {
    match result {
        Ok(_) => Health::Up,
        Err(
            GatewayError::NotSent(_) | GatewayError::Unavailable(_) | GatewayError::Malformed(_),
        ) => Health::Down,
        Err(GatewayError::Graph(g)) if g.is_throttling() => Health::Unknown,
        Err(GatewayError::Graph(g)) if g.is_transient() || g.http_status >= 500 => Health::Down,
        Err(GatewayError::Graph(_)) => Health::Up,
        Err(_) => Health::Unknown,
    }
}

// === impl RetryPolicy ===

impl RetryPolicy {
    /// The policy of `[retry]`.
    pub fn new(cfg: &RetryConfig) -> Self {
        Self {
            max_attempts: cfg.max_attempts.max(1),
            base: Duration::from_millis(cfg.base_ms),
            max: Duration::from_millis(cfg.max_ms.max(cfg.base_ms)),
            attempt_timeout: (cfg.attempt_timeout_ms > 0)
                .then(|| Duration::from_millis(cfg.attempt_timeout_ms)),
            budget: RetryBudget::new(cfg.budget_ratio, cfg.budget_min_per_sec),
        }
    }

    /// The timeout of one attempt: reads stop at `retry.attempt_timeout_ms`
    /// (so a hung answer can be retried) and at the caller's deadline;
    /// mutations may run to `max_upstream` past the caller's deadline, so
    /// that a mutation Graph received completes and its outcome is kept.
    pub fn attempt_timeout(
        &self,
        class: CallClass,
        deadline: Instant,
        max_upstream: Duration,
    ) -> Duration {
        match class {
            CallClass::Read => {
                let left = deadline.saturating_duration_since(Instant::now());
                let t = left.min(max_upstream);
                self.attempt_timeout.map_or(t, |a| t.min(a))
            }
            CallClass::Mutation => max_upstream,
        }
    }

    /// The wait before retry number `retry` (1-based): full jitter, a
    /// uniform draw in [0, min(max, base * 2^(retry-1))].
    pub fn backoff(&self, retry: u32) -> Duration {
        let exp = self.base.saturating_mul(
            1u32.checked_shl(retry.saturating_sub(1))
                .unwrap_or(u32::MAX),
        );
        let cap = exp.min(self.max);
        let ms = u64::try_from(cap.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(rand::thread_rng().gen_range(0..=ms))
    }

    /// Runs `attempt` (given the attempt number, from 1) until it succeeds,
    /// fails for good, the attempts or the budget run out, or the next wait
    /// would pass `deadline`. Returns the last failure.
    pub async fn run<T, F, Fut>(
        &self,
        class: CallClass,
        deadline: Instant,
        mut attempt: F,
    ) -> Result<T, Failure>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        self.budget.deposit();
        let mut n = 1;
        loop {
            let failure = match attempt(n).await {
                Ok(v) => return Ok(v),
                Err(f) => f,
            };
            let deadline_left = Instant::now() < deadline;
            if n >= self.max_attempts || !retryable(class, &failure, deadline_left) {
                return Err(failure);
            }
            let wait = self.backoff(n);
            if Instant::now() + wait >= deadline {
                tracing::debug!(attempt = n, "no retry: the caller's deadline comes first");
                return Err(failure);
            }
            if !self.budget.withdraw() {
                tracing::debug!(attempt = n, error = %failure.error, "no retry: retry budget exhausted");
                return Err(failure);
            }
            tracing::debug!(attempt = n, wait_ms = wait.as_millis() as u64, error = %failure.error, "retrying");
            tokio::time::sleep(wait).await;
            n += 1;
        }
    }

    /// Counters.
    pub fn stats(&self) -> RetryStats {
        RetryStats {
            retries: self.budget.retries.load(Ordering::Relaxed),
            refused_by_budget: self.budget.refused.load(Ordering::Relaxed),
        }
    }
}

// === impl RetryBudget ===

impl RetryBudget {
    /// `ratio` retries per call, at least `min_per_sec` per second.
    pub fn new(ratio: f64, min_per_sec: u32) -> Self {
        let min_per_sec = f64::from(min_per_sec);
        // About ten seconds' worth of the floor may be banked (Finagle's
        // deposits live ten seconds), so a calm period cannot save up a
        // storm.
        let cap = (10.0 * min_per_sec).max(10.0);
        Self {
            ratio: ratio.max(0.0),
            min_per_sec,
            cap,
            state: Mutex::new(BudgetState {
                balance: min_per_sec.min(cap),
                last: Instant::now(),
            }),
            retries: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }

    /// One call: adds `ratio` of a retry.
    pub fn deposit(&self) {
        let mut s = self.state.lock();
        s.balance = (s.balance + self.ratio).min(self.cap);
    }

    /// One retry: true when the budget allows it.
    pub fn withdraw(&self) -> bool {
        let mut s = self.state.lock();
        let now = Instant::now();
        let refill = now.saturating_duration_since(s.last).as_secs_f64() * self.min_per_sec;
        s.last = now;
        s.balance = (s.balance + refill).min(self.cap);
        if s.balance >= 1.0 {
            s.balance -= 1.0;
            self.retries.fetch_add(1, Ordering::Relaxed);
            true
        } else {
            self.refused.fetch_add(1, Ordering::Relaxed);
            false
        }
    }
}

pub use crate::context::{Cancel, CancelOnDrop};

/// Runs a call detached from its caller: the call goes on when the caller
/// goes away (its [`Cancel`] fires, so a mutation not yet sent is abandoned
/// while one already sent completes and its outcome is kept), and the
/// caller waits no longer than its deadline.
pub async fn detached<T, F, Fut>(
    ctx: crate::context::CallContext,
    call: F,
) -> Result<T, GatewayError>
where
    F: FnOnce(crate::context::CallContext) -> Fut,
    Fut: Future<Output = Result<T, GatewayError>> + Send + 'static,
    T: Send + 'static,
{
    use tracing::Instrument as _;
    let deadline = ctx.deadline;
    let (cancel, guard) = Cancel::new();
    let ctx = crate::context::CallContext { cancel, ..ctx };
    // The RPC's span and log fields go with it.
    let task = tokio::spawn(crate::telemetry::in_current_rpc(call(ctx)).in_current_span());
    let joined = match deadline {
        Some(d) => match tokio::time::timeout_at(d, task).await {
            Ok(joined) => joined,
            // `guard` fires as it drops: the call learns its caller is gone.
            Err(_) => return Err(GatewayError::DeadlineExceeded),
        },
        None => task.await,
    };
    guard.disarm();
    joined.map_err(|e| GatewayError::Internal(format!("detached call: {e}")))?
}

// --- the bundle --------------------------------------------------------------

/// What the engine holds for reliability: retries, the circuit breaker
/// towards Graph, and the idempotency store of mutations.
pub struct Reliability {
    /// Retries and their budget.
    pub retry: RetryPolicy,
    /// The circuit breaker towards Graph.
    pub breaker: Breaker,
    /// Outcomes of mutations by request_id.
    pub idempotency: Idempotency,
}

// === impl Reliability ===

impl Reliability {
    /// From `[retry]`, `[breaker]`, `[idempotency]` and `[redis]` (the store
    /// lives in Redis when `redis.url` is set). Needs a tokio runtime when
    /// Redis is configured.
    pub fn from_config(cfg: &Config) -> anyhow::Result<Self> {
        Ok(Self {
            retry: RetryPolicy::new(&cfg.retry),
            breaker: Breaker::new(
                cfg.breaker.failures,
                Duration::from_millis(cfg.breaker.cool_down_ms),
            ),
            idempotency: Idempotency::from_config(&cfg.idempotency, &cfg.redis)?,
        })
    }

    /// The defaults, with the in-process idempotency store.
    pub fn local(cfg: &Config) -> Self {
        Self {
            retry: RetryPolicy::new(&cfg.retry),
            breaker: Breaker::new(
                cfg.breaker.failures,
                Duration::from_millis(cfg.breaker.cool_down_ms),
            ),
            idempotency: Idempotency::local(&cfg.idempotency),
        }
    }
}

impl Default for Reliability {
    fn default() -> Self {
        Self::local(&Config::default())
    }
}

#[cfg(test)]
mod tests;
