//! The quota engine as the pipeline sees it: a call waits for a permit up to
//! its deadline, else fails with RESOURCE_EXHAUSTED and a retry delay; every
//! Graph answer's usage headers are reported back. The embedded engine is
//! governor (GCRA) keyed per token and per business; the adaptive,
//! Redis-shared engine of a later release implements the same trait.

use std::num::NonZeroU32;
use std::sync::Arc;

use governor::clock::Clock;
use governor::nanos::Nanos;
use governor::{Quota as Rate, RateLimiter};
use tokio::time::Instant;

use crate::engine::routes::QuotaClass;
use crate::error::GatewayError;
use crate::graph::{GraphError, Usage};

/// What a call counts against.
#[derive(Clone, Debug)]
pub struct QuotaKeys<'a> {
    /// The vault token's name.
    pub token: &'a str,
    /// The business the call acts for.
    pub business: Option<&'a str>,
    /// The ad account the call addresses (digits).
    pub ad_account: Option<&'a str>,
    /// The limit the route counts against.
    pub class: QuotaClass,
    /// Writes cost more where Meta counts them so.
    pub write: bool,
    /// The internal caller, when known.
    pub caller: Option<&'a str>,
}

/// The quota engine.
#[async_trait::async_trait]
pub trait Quota: Send + Sync + 'static {
    /// Waits for a permit until `deadline`; fails fast when the wait would
    /// pass it.
    async fn acquire(
        &self,
        keys: &QuotaKeys<'_>,
        deadline: Option<Instant>,
    ) -> Result<(), GatewayError>;
    /// Learns from one Graph answer (usage headers, throttling errors).
    fn observe(&self, keys: &QuotaKeys<'_>, usage: &Usage, error: Option<&GraphError>);
}

/// governor's clock on tokio time, so tests run on a paused clock.
#[derive(Clone, Debug)]
pub struct TokioClock {
    start: Instant,
}

impl Default for TokioClock {
    fn default() -> Self {
        Self {
            start: Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        Nanos::from(Instant::now().saturating_duration_since(self.start))
    }
}

type Keyed = RateLimiter<
    String,
    governor::state::keyed::DefaultKeyedStateStore<String>,
    TokioClock,
    governor::middleware::NoOpMiddleware<Nanos>,
>;

/// The embedded engine: per-token and per-business GCRA limiters.
pub struct LocalQuota {
    per_token: Arc<Keyed>,
    per_business: Arc<Keyed>,
    clock: TokioClock,
}

// === impl LocalQuota ===

impl LocalQuota {
    /// Limits of `per_token` and `per_business` calls a second, each with
    /// `burst`.
    pub fn new(per_token: u32, per_business: u32, burst: u32) -> Self {
        let clock = TokioClock::default();
        let rate = |n: u32| {
            let n = NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN);
            Rate::per_second(n)
                .allow_burst(NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN))
        };
        Self {
            per_token: Arc::new(RateLimiter::dashmap_with_clock(
                rate(per_token),
                clock.clone(),
            )),
            per_business: Arc::new(RateLimiter::dashmap_with_clock(
                rate(per_business),
                clock.clone(),
            )),
            clock,
        }
    }

    async fn wait(
        &self,
        limiter: &Keyed,
        key: &str,
        label: &str,
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
                            key: label.to_string(),
                            retry_after: wait,
                        });
                    }
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
}

#[async_trait::async_trait]
impl Quota for LocalQuota {
    async fn acquire(
        &self,
        keys: &QuotaKeys<'_>,
        deadline: Option<Instant>,
    ) -> Result<(), GatewayError> {
        self.wait(
            &self.per_token,
            keys.token,
            &format!("token {}", keys.token),
            deadline,
        )
        .await?;
        if let Some(b) = keys.business {
            self.wait(&self.per_business, b, &format!("business {b}"), deadline)
                .await?;
        }
        Ok(())
    }

    fn observe(&self, _keys: &QuotaKeys<'_>, _usage: &Usage, _error: Option<&GraphError>) {
        // The embedded engine paces by configured rates only; adaptive pacing
        // from usage headers is the shared engine's job.
    }
}

#[cfg(test)]
mod tests;
