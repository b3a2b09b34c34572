//! Reliability configuration: `[retry]` (retries of upstream calls and their
//! budget), `[breaker]` (the circuit towards Graph), `[idempotency]` (stored
//! outcomes of mutations by request_id) and `[server]` (concurrency limit and
//! drain). See README.md ("Reliability") and `src/retry.rs`,
//! `src/overload.rs`, `src/idempotency.rs`.

/// Retries of upstream calls.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Attempts per upstream call, the first included (1: no retries).
    pub max_attempts: u32,
    /// Backoff before the first retry (full jitter: a random wait between 0
    /// and this, doubling per retry), milliseconds.
    pub base_ms: u64,
    /// Largest backoff, milliseconds.
    pub max_ms: u64,
    /// Retries allowed per call, on average (0.2: at most 20% extra load).
    pub budget_ratio: f64,
    /// Retries allowed per second whatever the traffic (the budget's floor).
    pub budget_min_per_sec: u32,
    /// Upper bound of one read attempt, so a hung answer is retried within
    /// the caller's deadline; 0: the whole deadline. Milliseconds.
    pub attempt_timeout_ms: u64,
}

/// The circuit breaker towards Graph.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerConfig {
    /// Consecutive failed attempts that open the circuit; 0 disables it.
    pub failures: u32,
    /// How long an open circuit refuses calls before one probe goes,
    /// milliseconds.
    pub cool_down_ms: u64,
}

/// Stored outcomes of mutations, by request_id (AIP-155).
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdempotencyConfig {
    /// How long an outcome is kept for its request_id, seconds.
    pub ttl_secs: u64,
    /// Most outcomes kept in process (without Redis).
    pub max_entries: u64,
}

/// Bulk operations (BulkService, google.longrunning.Operations).
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BulkConfig {
    /// Send up to `batch_size` steps in one Graph batch request.
    pub batch: bool,
    /// Steps per Graph batch request (1 to 50, Graph's limit).
    pub batch_size: usize,
    /// How long a replica's claim on a running operation lasts without
    /// renewal, milliseconds (a replica that died is replaced after it).
    pub lease_ms: u64,
    /// How often each replica looks for operations nobody runs, ms.
    pub scan_interval_ms: u64,
    /// How long a finished operation stays readable, seconds.
    pub keep_secs: u64,
}

impl Default for BulkConfig {
    fn default() -> Self {
        Self {
            batch: true,
            batch_size: 50,
            lease_ms: 15_000,
            scan_interval_ms: 5_000,
            keep_secs: 7 * 24 * 3600,
        }
    }
}

/// The gRPC server's overload and shutdown behaviour.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// RPCs served at once; more are refused at once with RESOURCE_EXHAUSTED
    /// (0: no limit).
    pub max_concurrent_rpcs: usize,
    /// On SIGTERM, how long in-flight RPCs may take to finish, milliseconds.
    pub drain_timeout_ms: u64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_ms: 25,
            max_ms: 1_000,
            budget_ratio: 0.2,
            budget_min_per_sec: 10,
            attempt_timeout_ms: 10_000,
        }
    }
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failures: 20,
            cool_down_ms: 5_000,
        }
    }
}

impl Default for IdempotencyConfig {
    fn default() -> Self {
        Self {
            ttl_secs: 24 * 3600,
            max_entries: 1_000_000,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_concurrent_rpcs: 1_024,
            drain_timeout_ms: 25_000,
        }
    }
}

/// Checks of the reliability keys; one message per bad key.
pub(super) fn validate(
    retry: &RetryConfig,
    breaker: &BreakerConfig,
    idempotency: &IdempotencyConfig,
    bulk: &BulkConfig,
    server: &ServerConfig,
    bad: &mut dyn FnMut(&str, String),
) {
    if retry.max_attempts == 0 {
        bad(
            "retry.max_attempts",
            "must be at least 1 (1: no retries)".to_string(),
        );
    }
    if retry.max_ms < retry.base_ms {
        bad(
            "retry.max_ms",
            format!("must not be below retry.base_ms ({})", retry.base_ms),
        );
    }
    if !(0.0..=10.0).contains(&retry.budget_ratio) || retry.budget_ratio.is_nan() {
        bad(
            "retry.budget_ratio",
            format!("must be between 0 and 10, got {}", retry.budget_ratio),
        );
    }
    if breaker.failures > 0 && breaker.cool_down_ms == 0 {
        bad(
            "breaker.cool_down_ms",
            "must be greater than 0 while the breaker is on".to_string(),
        );
    }
    if !(1..=50).contains(&bulk.batch_size) {
        bad(
            "bulk.batch_size",
            format!(
                "must be between 1 and 50 (Graph's batch limit), got {}",
                bulk.batch_size
            ),
        );
    }
    if bulk.lease_ms < 1_000 {
        bad("bulk.lease_ms", "must be at least 1000".to_string());
    }
    if bulk.scan_interval_ms == 0 {
        bad(
            "bulk.scan_interval_ms",
            "must be greater than 0".to_string(),
        );
    }
    if bulk.keep_secs == 0 {
        bad("bulk.keep_secs", "must be greater than 0".to_string());
    }
    if idempotency.ttl_secs == 0 {
        bad("idempotency.ttl_secs", "must be greater than 0".to_string());
    }
    if idempotency.max_entries == 0 {
        bad(
            "idempotency.max_entries",
            "must be greater than 0".to_string(),
        );
    }
    if server.drain_timeout_ms == 0 {
        bad(
            "server.drain_timeout_ms",
            "must be greater than 0".to_string(),
        );
    }
}
