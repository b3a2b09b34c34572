//! Overload protection and the gateway's own refusals.
//!
//! - [`Gate`]: a concurrency limit on gateway RPCs with load shedding. When
//!   `server.max_concurrent_rpcs` RPCs are in flight, the next one is refused
//!   at once with RESOURCE_EXHAUSTED (reason `OVERLOADED`, RetryInfo): no
//!   queue, so no pile-up. On shutdown the gate turns new RPCs away with
//!   UNAVAILABLE (`SHUTTING_DOWN`) and reports when the last in-flight one is
//!   done. Health and reflection always pass.
//! - [`Breaker`]: a circuit breaker towards Graph. It opens after
//!   `breaker.failures` consecutive failed attempts (transport errors, HTTP
//!   5xx, Graph codes 1/2/transient, malformed answers), refuses calls fast
//!   with UNAVAILABLE (`GRAPH_CIRCUIT_OPEN`, RetryInfo) for
//!   `breaker.cool_down_ms`, then lets ONE probe through: its success closes
//!   the circuit, its failure opens it for another cool-down.
//! - [`Refusal`]: every error the gateway raises on its own account (those
//!   two, a reused request_id, a mutation whose outcome is unknown, a caller
//!   that went away), mapped to a status in `error::status`.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::error::GatewayError;

pub use crate::error::{Refusal, RefusalReason};

// --- circuit breaker -------------------------------------------------------

/// What an attempt tells the breaker about Graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    /// Graph answered (a Graph error that is the caller's problem counts:
    /// Graph is up).
    Up,
    /// Graph failed: unreachable, 5xx, transient, malformed.
    Down,
    /// Says nothing about Graph's health (throttling, caller deadlines).
    Unknown,
}

/// The circuit breaker towards Graph.
pub struct Breaker {
    /// Consecutive failures that open the circuit; 0 disables the breaker.
    threshold: u32,
    cool_down: Duration,
    state: Mutex<BreakerState>,
    opened: AtomicU64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BreakerState {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probing: bool },
}

/// The right to make one attempt; report how it went with
/// [`BreakerPermit::record`]. Dropped unrecorded, it counts as
/// [`Health::Unknown`] (a probe's slot is freed for another probe).
pub struct BreakerPermit<'a> {
    breaker: &'a Breaker,
    probe: bool,
    recorded: bool,
}

/// What the breaker shows (tests, logs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CircuitState {
    /// Calls flow.
    Closed,
    /// Calls are refused.
    Open,
    /// One probe may go (or is out).
    HalfOpen,
}

// === impl Breaker ===

impl Breaker {
    /// A breaker opening after `failures` consecutive failures (0: never)
    /// for `cool_down`.
    pub fn new(failures: u32, cool_down: Duration) -> Self {
        Self {
            threshold: failures,
            cool_down,
            state: Mutex::new(BreakerState::Closed { failures: 0 }),
            opened: AtomicU64::new(0),
        }
    }

    /// A permit for one attempt, or the refusal while the circuit is open.
    pub fn admit(&self) -> Result<BreakerPermit<'_>, Refusal> {
        if self.threshold == 0 {
            return Ok(self.permit(false));
        }
        let mut state = self.state.lock();
        match *state {
            BreakerState::Closed { .. } => Ok(self.permit(false)),
            BreakerState::Open { until } => {
                let now = Instant::now();
                if now < until {
                    Err(self.refusal(until - now))
                } else {
                    *state = BreakerState::HalfOpen { probing: true };
                    Ok(self.permit(true))
                }
            }
            BreakerState::HalfOpen { probing: true } => Err(self.refusal(self.cool_down)),
            BreakerState::HalfOpen { probing: false } => {
                *state = BreakerState::HalfOpen { probing: true };
                Ok(self.permit(true))
            }
        }
    }

    /// True while calls are refused (no permit needed to ask).
    pub fn is_open(&self) -> bool {
        matches!(self.state(), CircuitState::Open)
    }

    /// The current state.
    pub fn state(&self) -> CircuitState {
        match *self.state.lock() {
            BreakerState::Closed { .. } => CircuitState::Closed,
            BreakerState::Open { until } if Instant::now() < until => CircuitState::Open,
            BreakerState::Open { .. } | BreakerState::HalfOpen { .. } => CircuitState::HalfOpen,
        }
    }

    /// How many times the circuit opened.
    pub fn times_opened(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }

    fn permit(&self, probe: bool) -> BreakerPermit<'_> {
        BreakerPermit {
            breaker: self,
            probe,
            recorded: false,
        }
    }

    fn refusal(&self, after: Duration) -> Refusal {
        Refusal::new(
            RefusalReason::CircuitOpen,
            format!(
                "Graph API circuit open after {} consecutive failures; calls are refused for up to {} ms while Graph recovers",
                self.threshold,
                self.cool_down.as_millis()
            ),
        )
        .retry_after(after.max(Duration::from_millis(1)))
    }

    fn record(&self, probe: bool, health: Health) {
        if self.threshold == 0 {
            return;
        }
        let mut state = self.state.lock();
        let open = |state: &mut BreakerState| {
            *state = BreakerState::Open {
                until: Instant::now() + self.cool_down,
            };
            self.opened.fetch_add(1, Ordering::Relaxed);
        };
        match (*state, probe, health) {
            // Only the probe decides a half-open circuit.
            (BreakerState::HalfOpen { .. }, true, Health::Up) => {
                *state = BreakerState::Closed { failures: 0 };
                tracing::info!("Graph circuit closed: the probe succeeded");
            }
            (BreakerState::HalfOpen { .. }, true, Health::Down) => {
                open(&mut state);
                tracing::warn!("Graph circuit open again: the probe failed");
            }
            (BreakerState::HalfOpen { .. }, true, Health::Unknown) => {
                *state = BreakerState::HalfOpen { probing: false };
            }
            (BreakerState::Closed { .. }, _, Health::Up) => {
                *state = BreakerState::Closed { failures: 0 };
            }
            (BreakerState::Closed { failures }, _, Health::Down) => {
                let failures = failures + 1;
                if failures >= self.threshold {
                    open(&mut state);
                    tracing::warn!(
                        failures,
                        cool_down_ms = self.cool_down.as_millis() as u64,
                        "Graph circuit open: refusing calls until a probe succeeds"
                    );
                } else {
                    *state = BreakerState::Closed { failures };
                }
            }
            // Late answers of calls admitted before the circuit opened, and
            // answers that say nothing, change nothing.
            _ => {}
        }
    }
}

// === impl BreakerPermit ===

impl BreakerPermit<'_> {
    /// Reports the attempt's outcome.
    pub fn record(mut self, health: Health) {
        self.recorded = true;
        self.breaker.record(self.probe, health);
    }
}

impl Drop for BreakerPermit<'_> {
    fn drop(&mut self) {
        if !self.recorded {
            self.breaker.record(self.probe, Health::Unknown);
        }
    }
}

// --- concurrency gate --------------------------------------------------------

/// The concurrency limit and drain state of the gRPC server.
pub struct Gate {
    /// None: no limit.
    permits: Option<Arc<Semaphore>>,
    max: usize,
    draining: AtomicBool,
    in_flight: AtomicUsize,
    idle: Notify,
    shed: AtomicU64,
}

/// One admitted RPC; dropping it ends the RPC for the gate.
pub struct GatePass {
    gate: Arc<Gate>,
    _permit: Option<OwnedSemaphorePermit>,
}

/// How long a shed caller is told to wait.
const SHED_RETRY_AFTER: Duration = Duration::from_millis(250);

// === impl Gate ===

impl Gate {
    /// A gate admitting at most `max` RPCs at once (0: no limit).
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            permits: (max > 0).then(|| Arc::new(Semaphore::new(max))),
            max,
            draining: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            idle: Notify::new(),
            shed: AtomicU64::new(0),
        })
    }

    /// Admits one RPC or refuses it at once.
    pub fn enter(self: &Arc<Self>) -> Result<GatePass, Refusal> {
        if self.draining.load(Ordering::SeqCst) {
            return Err(Refusal::new(
                RefusalReason::ShuttingDown,
                "the gateway is shutting down and takes no new calls; retry on another replica",
            )
            .retry_after(Duration::from_millis(100)));
        }
        let permit = match &self.permits {
            Some(sem) => match sem.clone().try_acquire_owned() {
                Ok(p) => Some(p),
                Err(_) => {
                    self.shed.fetch_add(1, Ordering::Relaxed);
                    return Err(Refusal::new(
                        RefusalReason::Overloaded,
                        format!(
                            "the gateway is at its limit of {} concurrent calls; retry shortly",
                            self.max
                        ),
                    )
                    .retry_after(SHED_RETRY_AFTER)
                    .with("max_concurrent_rpcs", self.max.to_string()));
                }
            },
            None => None,
        };
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        Ok(GatePass {
            gate: self.clone(),
            _permit: permit,
        })
    }

    /// From now on new RPCs are refused (in-flight ones go on).
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// True once draining started.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// RPCs in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// RPCs refused for the concurrency limit so far.
    pub fn shed_count(&self) -> u64 {
        self.shed.load(Ordering::Relaxed)
    }

    /// Resolves when no RPC is in flight.
    pub async fn idle(&self) {
        loop {
            let notified = self.idle.notified();
            if self.in_flight() == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for GatePass {
    fn drop(&mut self) {
        if self.gate.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.gate.idle.notify_waiters();
        }
    }
}

/// The gate as a tonic (tower) layer.
#[derive(Clone)]
pub struct GateLayer {
    gate: Arc<Gate>,
}

/// The gate around a service.
#[derive(Clone)]
pub struct GateService<S> {
    inner: S,
    gate: Arc<Gate>,
}

// === impl GateLayer ===

impl GateLayer {
    /// A layer admitting RPCs through `gate`.
    pub fn new(gate: Arc<Gate>) -> Self {
        Self { gate }
    }
}

impl<S> tower_layer::Layer<S> for GateLayer {
    type Service = GateService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GateService {
            inner,
            gate: self.gate.clone(),
        }
    }
}

/// Health and reflection are never limited nor refused: probes must see the
/// gateway's state, above all while it drains.
fn exempt(path: &str) -> bool {
    path.starts_with("/grpc.health.") || path.starts_with("/grpc.reflection.")
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S, B, RB> tonic::codegen::Service<http::Request<B>> for GateService<S>
where
    S: tonic::codegen::Service<http::Request<B>, Response = http::Response<RB>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    RB: Default + Send + 'static,
{
    type Response = http::Response<RB>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        if exempt(req.uri().path()) {
            return Box::pin(self.inner.call(req));
        }
        match self.gate.enter() {
            Ok(pass) => {
                let fut = self.inner.call(req);
                Box::pin(async move {
                    let out = fut.await;
                    drop(pass);
                    out
                })
            }
            Err(refusal) => {
                tracing::debug!(
                    path = req.uri().path(),
                    reason = refusal.reason.label(),
                    "rpc refused"
                );
                let status = crate::error::status::to_status(&GatewayError::Refused(refusal));
                Box::pin(std::future::ready(Ok(status.into_http::<RB>())))
            }
        }
    }
}

#[cfg(test)]
mod tests;
