//! Idempotent mutations (AIP-155).
//!
//! Every mutating RPC takes a `request_id`. The first outcome of a request
//! is stored under (caller, operation, request_id) for `idempotency.ttl_secs`
//! (24 h by default), in Redis when `redis.url` is set, else in process
//! (moka). A repeat with the same request_id gets the same answer without a
//! Graph call; the same request_id with a different request (another path or
//! other parameters) is refused with ALREADY_EXISTS (`REQUEST_ID_REUSED`);
//! concurrent duplicates wait for the first.
//!
//! Stored: successes (the encoded response) and Graph errors that are final
//! (not throttling, not transient, not 5xx). Not stored: failures before
//! Graph received the request (the claim is released, a retry runs afresh).
//!
//! In doubt: when Graph received a mutation but its answer was lost (reset,
//! 5xx, transient code, garbled body, timeout), the gateway never sends it
//! again on its own. It records the request_id as in doubt and answers
//! UNAVAILABLE (`MUTATION_OUTCOME_UNKNOWN`). The caller's retry with the same
//! request_id settles it, by the operation's replay class
//! ([`replay::Replay`]): creations (AA02) are looked up in the business's
//! list (only then: a fresh creation is sent without a look-up), and sent
//! again only when absent; operations Graph applies idempotently (grants, assignments,
//! claims) are sent again; removals and other state transitions are sent
//! again and Graph's "nothing to do" answer (code 100) confirms the first
//! attempt. So no retry duplicates a mutation, and every caller ends with
//! the real outcome.
//!
//! With Redis there is no per-replica fallback: a request_id Redis cannot
//! confirm is refused UNAVAILABLE (`IDEMPOTENCY_UNAVAILABLE`, RetryInfo) and
//! not sent. Claims never expire before their outcome, and Redis losing its
//! data is detected by an epoch key (see `redis.rs` and docs/reliability.md,
//! "Redis outages").

mod local;
mod redis;
pub mod replay;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use sha2::{Digest as _, Sha256};
use tokio::time::Instant;

use crate::config::{IdempotencyConfig, RedisConfig};
use crate::error::GatewayError;
use crate::error::{Refusal, RefusalReason};
use crate::graph::{GraphError, GraphRequest};

pub use local::LocalStore;

pub use crate::routes::request::MAX_REQUEST_ID_LEN;

/// What is stored for a request_id.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Record {
    /// A call holds the request_id and is running.
    Pending {
        /// The request's fingerprint.
        fp: String,
        /// Who holds it (a random token per call).
        claim: String,
    },
    /// Graph received the mutation; its outcome is unknown.
    InDoubt {
        /// The request's fingerprint.
        fp: String,
        /// Creations: the ids listed before the first send.
        #[serde(default)]
        snapshot: Option<Vec<String>>,
    },
    /// The outcome.
    Done {
        /// The request's fingerprint.
        fp: String,
        /// The answer every repeat gets.
        outcome: Stored,
    },
}

/// A stored outcome.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Stored {
    /// The encoded response message, base64.
    Ok {
        /// base64 of the response message.
        body: String,
    },
    /// A final Graph error.
    Graph {
        /// Graph's code.
        code: i64,
        /// Graph's subcode.
        subcode: Option<i64>,
        /// Graph's error type.
        error_type: String,
        /// Graph's message.
        message: String,
        /// Graph's trace id.
        fbtrace_id: Option<String>,
        /// The HTTP status.
        http_status: u16,
    },
}

/// What a claim attempt found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Begin {
    /// This call holds the request_id; `prior` is the in-doubt record it
    /// took over, if any.
    Claimed {
        /// The in-doubt record taken over.
        prior: Option<Record>,
    },
    /// Another call holds it: wait.
    Busy,
    /// The outcome is known.
    Done(Stored),
    /// The request_id belongs to a different request.
    Mismatch,
}

/// A store of records.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Claims `key` for the call holding `claim`, or says what is there.
    async fn begin(&self, key: &str, fp: &str, claim: &str) -> Result<Begin, StoreError>;
    /// Replaces this call's claim with its final (or in-doubt) record.
    async fn finish(&self, key: &str, claim: &str, record: &Record) -> Result<(), StoreError>;
    /// Gives the claim up, putting back `restore` (the in-doubt record taken
    /// over) or nothing.
    async fn release(
        &self,
        key: &str,
        claim: &str,
        restore: Option<&Record>,
    ) -> Result<(), StoreError>;
    /// Waits until the record may have changed (at most until `until`).
    async fn wait(&self, key: &str, until: Instant);
}

/// The store could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Redis failed or did not answer.
    #[error("redis: {0}")]
    Redis(String),
    /// A record that does not parse.
    #[error("unreadable record: {0}")]
    Corrupt(String),
}

/// How a mutation ended, for the store.
#[derive(Debug)]
pub enum Settled {
    /// Known: a success or a final Graph error (both stored), or another
    /// error (not stored: the claim is released).
    Final(Result<Bytes, GatewayError>),
    /// Graph received it; the outcome is unknown.
    InDoubt {
        /// What went wrong.
        error: GatewayError,
        /// Creations: the ids listed before the first send.
        snapshot: Option<Vec<String>>,
    },
    /// Graph never received it (or refused it without applying it, as when
    /// throttling): a retry starts afresh.
    NotApplied(GatewayError),
}

/// The idempotency layer of the engine.
pub struct Idempotency {
    store: Arc<dyn Store>,
}

// === impl Record ===

impl Record {
    /// The request fingerprint of the record.
    pub fn fp(&self) -> &str {
        match self {
            Self::Pending { fp, .. } | Self::InDoubt { fp, .. } | Self::Done { fp, .. } => fp,
        }
    }

    /// The claim step every store shares: what `begin` answers for the
    /// current record `current`, and the record to write when claimed.
    pub(crate) fn begin(
        current: Option<&Record>,
        fp: &str,
        claim: &str,
    ) -> (Begin, Option<Record>) {
        let pending = || Record::Pending {
            fp: fp.to_string(),
            claim: claim.to_string(),
        };
        match current {
            None => (Begin::Claimed { prior: None }, Some(pending())),
            Some(r) if r.fp() != fp => (Begin::Mismatch, None),
            Some(Record::Pending { .. }) => (Begin::Busy, None),
            Some(r @ Record::InDoubt { .. }) => (
                Begin::Claimed {
                    prior: Some(r.clone()),
                },
                Some(pending()),
            ),
            Some(Record::Done { outcome, .. }) => (Begin::Done(outcome.clone()), None),
        }
    }
}

// === impl Stored ===

impl Stored {
    /// What can be stored of a result: successes and final Graph errors.
    pub fn of(result: &Result<Bytes, GatewayError>) -> Option<Self> {
        match result {
            Ok(body) => Some(Self::Ok {
                body: base64::engine::general_purpose::STANDARD.encode(body),
            }),
            Err(GatewayError::Graph(g)) if is_final(g) => Some(Self::Graph {
                code: g.code,
                subcode: g.subcode,
                error_type: g.error_type.clone(),
                message: g.message.clone(),
                fbtrace_id: g.fbtrace_id.clone(),
                http_status: g.http_status,
            }),
            Err(_) => None,
        }
    }

    /// The answer a repeat gets.
    pub fn to_result(&self) -> Result<Bytes, GatewayError> {
        match self {
            Self::Ok { body } => base64::engine::general_purpose::STANDARD
                .decode(body)
                .map(Bytes::from)
                .map_err(|e| GatewayError::Internal(format!("stored outcome unreadable: {e}"))),
            Self::Graph {
                code,
                subcode,
                error_type,
                message,
                fbtrace_id,
                http_status,
            } => Err(GatewayError::Graph(GraphError {
                code: *code,
                subcode: *subcode,
                error_type: error_type.clone(),
                message: message.clone(),
                is_transient: false,
                fbtrace_id: fbtrace_id.clone(),
                http_status: *http_status,
            })),
        }
    }
}

/// A Graph error that will not change on a retry: stored as the outcome.
pub fn is_final(g: &GraphError) -> bool {
    !g.is_throttling() && !g.is_transient() && g.http_status < 500
}

/// The store key of a request_id: (caller, operation, request_id).
pub fn key(caller: Option<&str>, operation: &str, request_id: &str) -> String {
    format!(
        "{}\u{1f}{operation}\u{1f}{request_id}",
        caller.unwrap_or("")
    )
}

/// The fingerprint of a request: the operation and the canonical Graph call
/// (method, path, sorted parameters; request_id is never part of it).
pub fn fingerprint(operation: &str, req: &GraphRequest) -> String {
    let mut h = Sha256::new();
    h.update(operation.as_bytes());
    h.update([0]);
    h.update(req.method.as_str().as_bytes());
    h.update([0]);
    h.update(req.path.as_bytes());
    let mut params: Vec<&(String, String)> = req.params.iter().collect();
    params.sort();
    for (k, v) in params {
        h.update([0]);
        h.update(k.as_bytes());
        h.update([b'=']);
        h.update(v.as_bytes());
    }
    hex::encode(&h.finalize()[..16])
}

/// The answer to a mutation that reached Graph and whose outcome is unknown.
pub fn outcome_unknown(error: &GatewayError, has_request_id: bool) -> GatewayError {
    let advice = if has_request_id {
        "retry with the same request_id: the gateway settles it without applying it twice"
    } else {
        "it may or may not have been applied; set request_id to retry it safely"
    };
    GatewayError::Refused(
        Refusal::new(
            RefusalReason::OutcomeUnknown,
            format!("Graph received the mutation but its answer was lost ({error}); {advice}"),
        )
        .retry_after(Duration::from_secs(1))
        .with("request_id_set", has_request_id.to_string()),
    )
}

fn reused(request_id_key: &str) -> GatewayError {
    let request_id = request_id_key.rsplit('\u{1f}').next().unwrap_or_default();
    GatewayError::Refused(
        Refusal::new(
            RefusalReason::RequestIdReused,
            format!(
                "request_id {request_id:?} was already used for a different request; use a new request_id for a new request"
            ),
        )
        .with("request_id", request_id),
    )
}

fn new_claim() -> String {
    format!("{:032x}", rand::random::<u128>())
}

// === impl Idempotency ===

impl Idempotency {
    /// The in-process store.
    pub fn local(cfg: &IdempotencyConfig) -> Self {
        Self {
            store: Arc::new(LocalStore::new(
                Duration::from_secs(cfg.ttl_secs),
                cfg.max_entries,
            )),
        }
    }

    /// Redis when `redis.url` is set, else in process. While Redis cannot
    /// confirm a request_id, mutations that carry one are refused
    /// (`IDEMPOTENCY_UNAVAILABLE`), never sent on a replica's own word.
    pub fn from_config(cfg: &IdempotencyConfig, redis: &RedisConfig) -> anyhow::Result<Self> {
        let Some(link) =
            crate::redis_link::RedisLink::from_config(redis).map_err(anyhow::Error::msg)?
        else {
            return Ok(Self::local(cfg));
        };
        let store = redis::RedisStore::new(
            link,
            &redis.key_prefix,
            Duration::from_secs(cfg.ttl_secs),
            Duration::from_millis(redis.timeout_ms),
        )
        .with_wait_replicas(redis.wait_replicas);
        Ok(Self {
            store: Arc::new(store),
        })
    }

    /// A layer over any store (tests).
    pub fn with_store(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// Runs `op` once per (key, fingerprint): the first call runs it and its
    /// outcome is stored; repeats get the stored outcome; concurrent repeats
    /// wait for it (until `deadline`); a different fingerprint is refused.
    /// `op` gets the in-doubt record of an earlier call, if any.
    pub async fn run<F, Fut>(
        &self,
        key: &str,
        fp: &str,
        deadline: Instant,
        op: F,
    ) -> Result<Bytes, GatewayError>
    where
        F: FnOnce(Option<Record>) -> Fut,
        Fut: Future<Output = Settled>,
    {
        let claim = new_claim();
        let store = self.store.clone();
        let prior = loop {
            match store.begin(key, fp, &claim).await {
                Ok(Begin::Claimed { prior }) => break prior,
                Ok(Begin::Done(stored)) => {
                    tracing::debug!("request_id seen before: answering the stored outcome");
                    return stored.to_result();
                }
                Ok(Begin::Mismatch) => return Err(reused(key)),
                Ok(Begin::Busy) => {
                    if Instant::now() >= deadline {
                        return Err(GatewayError::DeadlineExceeded);
                    }
                    store.wait(key, deadline).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "idempotency store cannot confirm a request_id: mutation not sent");
                    return Err(unavailable(&e));
                }
            }
        };
        let mut guard = ClaimGuard {
            store: store.clone(),
            key: key.to_string(),
            claim: claim.clone(),
            restore: prior.clone(),
            armed: true,
        };
        let settled = op(prior).await;
        guard.armed = false;
        match settled {
            Settled::Final(result) => {
                match Stored::of(&result) {
                    Some(outcome) => {
                        let record = Record::Done {
                            fp: fp.to_string(),
                            outcome,
                        };
                        finish(store.clone(), key, &claim, record).await;
                    }
                    None => release(&*store, key, &claim, guard.restore.as_ref()).await,
                }
                result
            }
            Settled::InDoubt { error, snapshot } => {
                let record = Record::InDoubt {
                    fp: fp.to_string(),
                    snapshot,
                };
                finish(store.clone(), key, &claim, record).await;
                tracing::warn!(error = %error, "mutation outcome unknown; kept in doubt for its request_id");
                Err(outcome_unknown(&error, true))
            }
            Settled::NotApplied(error) => {
                release(&*store, key, &claim, guard.restore.as_ref()).await;
                Err(error)
            }
        }
    }
}

/// How long an outcome that could not be stored is tried again (the claim
/// it replaces turns in doubt after `PENDING_TTL` anyway).
const FINISH_RETRY_FOR: Duration = Duration::from_secs(120);
/// Between those tries.
const FINISH_RETRY_EVERY: Duration = Duration::from_millis(200);

/// Stores the outcome; when the store fails, keeps trying in the background
/// (the claim stays pending meanwhile, so no other call sends it again).
async fn finish(store: Arc<dyn Store>, key: &str, claim: &str, record: Record) {
    let Err(e) = store.finish(key, claim, &record).await else {
        return;
    };
    tracing::warn!(error = %e, "idempotency: outcome not stored yet; trying again in the background");
    let (key, claim) = (key.to_string(), claim.to_string());
    tokio::spawn(async move {
        let until = Instant::now() + FINISH_RETRY_FOR;
        while Instant::now() < until {
            tokio::time::sleep(FINISH_RETRY_EVERY).await;
            if store.finish(&key, &claim, &record).await.is_ok() {
                tracing::info!("idempotency: outcome stored after the store came back");
                return;
            }
        }
        tracing::warn!("idempotency: outcome never stored; the claim turns in doubt and is settled by a look-up");
    });
}

/// The answer to a mutation whose request_id the store cannot confirm.
fn unavailable(e: &StoreError) -> GatewayError {
    GatewayError::Refused(
        Refusal::new(
            RefusalReason::IdempotencyUnavailable,
            format!(
                "the idempotency store cannot confirm the request_id ({e}); the mutation was not sent: retry with the same request_id"
            ),
        )
        .retry_after(Duration::from_secs(1)),
    )
}

async fn release(store: &dyn Store, key: &str, claim: &str, restore: Option<&Record>) {
    if let Err(e) = store.release(key, claim, restore).await {
        tracing::warn!(error = %e, "idempotency: claim not released (it expires)");
    }
}

/// Gives a claim up when its call is dropped midway.
struct ClaimGuard {
    store: Arc<dyn Store>,
    key: String,
    claim: String,
    restore: Option<Record>,
    armed: bool,
}

impl Drop for ClaimGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (store, key, claim, restore) = (
            self.store.clone(),
            std::mem::take(&mut self.key),
            std::mem::take(&mut self.claim),
            self.restore.take(),
        );
        rt.spawn(async move {
            release(&*store, &key, &claim, restore.as_ref()).await;
        });
    }
}

#[cfg(test)]
mod tests;
