//! The state of long-running bulk operations (issue 16, item 3): what each
//! operation is (its [`Spec`]), where each of its steps stands
//! ([`Step`]), its counters, a cancel flag, and a lease saying which replica
//! runs it.
//!
//! In process ([`LocalStore`]) without Redis: an operation then ends with
//! its process. With `redis.url` ([`RedisStore`]): every replica sees every
//! operation; the one holding an operation's lease runs it, renews the lease
//! while it does, and gives it up when it stops; an operation whose lease
//! lapsed (its replica died) is taken over by another replica.
//!
//! Exactly once: a step is marked [`Step::Sent`] before its Graph call
//! leaves and gets its outcome after. A step found `Sent` without an outcome
//! (its replica stopped mid-call) is in doubt: the runner settles it by
//! reading Graph's state before it would send it again (src/grpc/bulk.rs).

mod local;
mod redis;

use std::collections::HashMap;
use std::time::Duration;

pub use local::LocalStore;
pub use redis::RedisStore;

/// Targets one operation may have.
pub const MAX_TARGETS: usize = 10_000;

/// What a bulk operation does, fixed at its start.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Spec {
    /// "operations/bulk-<32 hex>".
    pub name: String,
    /// The caller that started it (its steps run as this caller).
    pub caller: Option<String>,
    /// The authenticated principal that started it, when auth is on.
    pub principal: Option<StoredPrincipal>,
    /// The caller's request_id.
    pub request_id: String,
    /// The mutation RPC, "/graphgateway.v1.Service/Method".
    pub method: String,
    /// The template request, encoded then base64.
    pub template: String,
    /// The field each target fills.
    pub target_field: String,
    /// The targets, in order.
    pub targets: Vec<String>,
    /// Start, ms since the Unix epoch.
    pub create_time_ms: u64,
}

/// The principal of a stored operation.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredPrincipal {
    /// The caller's configured name.
    pub name: String,
    /// An admin caller.
    pub admin: bool,
    /// "api_key" or "certificate".
    pub method: String,
}

/// Where one step stands.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "s", rename_all = "snake_case")]
pub enum Step {
    /// Its Graph call may have left; no outcome yet.
    Sent,
    /// Applied.
    Ok {
        /// Settled by reading Graph's state (the call's answer was lost).
        #[serde(default)]
        by_read: bool,
    },
    /// Failed for good.
    Failed(Failure),
}

/// Why a step failed.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Failure {
    /// The gRPC code its RPC would have answered.
    pub code: i32,
    /// The message.
    pub message: String,
    /// Graph's error code (0: not a Graph error).
    #[serde(default)]
    pub graph_code: i32,
    /// Graph's error subcode.
    #[serde(default)]
    pub graph_subcode: i32,
    /// Graph's fbtrace_id.
    #[serde(default)]
    pub fbtrace_id: String,
}

/// The counters and flags of an operation (cheap to read: what
/// GetOperation shows).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Steps applied.
    pub succeeded: u32,
    /// Steps failed.
    pub failed: u32,
    /// A cancel was asked for.
    pub cancel_requested: bool,
    /// Finished: every step has its outcome, or it was cancelled.
    pub done: bool,
    /// Finished by a cancel.
    pub cancelled: bool,
    /// Graph batch requests sent.
    pub batch_requests: u32,
    /// Steps settled by reading Graph's state.
    pub settled_by_read: u32,
    /// Last change, ms since the Unix epoch.
    pub update_time_ms: u64,
    /// Expected end of the next step, ms (0: unknown).
    pub next_step_ms: u64,
    /// Expected end of the last step, ms (0: unknown).
    pub end_ms: u64,
}

/// What one write of a runner changes besides step states.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delta {
    /// Batch requests sent.
    pub batch_requests: u32,
    /// Expected end of the next step, ms (0: leave).
    pub next_step_ms: u64,
    /// Expected end of the last step, ms (0: leave).
    pub end_ms: u64,
}

/// What `create` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Created {
    /// A new operation.
    New,
    /// The caller's request_id already started this operation.
    Existing(String),
}

/// The store could not answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("operation store: {0}")]
pub struct StoreError(pub String);

/// Where operations live.
#[async_trait::async_trait]
pub trait OperationStore: Send + Sync + 'static {
    /// Stores a new operation unless the caller's request_id started one.
    async fn create(&self, spec: &Spec) -> Result<Created, StoreError>;
    /// The operation's spec (None: unknown or expired).
    async fn spec(&self, name: &str) -> Result<Option<Spec>, StoreError>;
    /// Its counters and flags.
    async fn progress(&self, name: &str) -> Result<Option<Progress>, StoreError>;
    /// Every step that has a state, by target index.
    async fn steps(&self, name: &str) -> Result<HashMap<u32, Step>, StoreError>;
    /// Marks steps as sent (before their Graph call).
    async fn mark_sent(&self, name: &str, steps: &[u32]) -> Result<(), StoreError>;
    /// Records outcomes (Ok / Failed) and counters, at once.
    async fn record(
        &self,
        name: &str,
        outcomes: &[(u32, Step)],
        delta: Delta,
    ) -> Result<(), StoreError>;
    /// Asks for a cancel; false when the operation is unknown.
    async fn request_cancel(&self, name: &str) -> Result<bool, StoreError>;
    /// Marks the operation finished (kept for `keep` more, then forgotten).
    async fn finish(&self, name: &str, cancelled: bool, keep: Duration) -> Result<(), StoreError>;
    /// Forgets an operation; false when unknown.
    async fn delete(&self, name: &str) -> Result<bool, StoreError>;
    /// Every known operation's name, newest first.
    async fn list(&self) -> Result<Vec<String>, StoreError>;
    /// Operations not finished.
    async fn active(&self) -> Result<Vec<String>, StoreError>;
    /// Takes or renews the lease on an operation for `ttl`; false when
    /// another holder has it.
    async fn lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError>;
    /// Gives the lease up (only when `holder` has it).
    async fn release(&self, name: &str, holder: &str) -> Result<(), StoreError>;
    /// Shared between replicas (operations survive a restart).
    fn shared(&self) -> bool;
}

/// The store `[redis]` describes: Redis when `redis.url` is set, else in
/// process.
pub fn from_config(
    redis: &crate::config::RedisConfig,
) -> anyhow::Result<std::sync::Arc<dyn OperationStore>> {
    match crate::redis_link::RedisLink::from_config(redis).map_err(anyhow::Error::msg)? {
        Some(link) => Ok(std::sync::Arc::new(RedisStore::new(
            link,
            &redis.key_prefix,
            Duration::from_millis(redis.timeout_ms),
        ))),
        None => Ok(std::sync::Arc::new(LocalStore::default())),
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// The key a (caller, request_id) pair is remembered under.
pub fn request_key(caller: Option<&str>, request_id: &str) -> String {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    h.update(caller.unwrap_or("").as_bytes());
    h.update([0u8]);
    h.update(request_id.as_bytes());
    hex::encode(&h.finalize()[..16])
}

/// The name of the operation a caller's request_id starts:
/// "operations/bulk-" and 32 hex digits of a hash of both (so a repeat of
/// the request names the same operation).
pub fn name_for(caller: Option<&str>, request_id: &str) -> String {
    format!("operations/bulk-{}", request_key(caller, request_id))
}

#[cfg(test)]
mod tests;
