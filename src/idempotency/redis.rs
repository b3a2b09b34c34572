//! The Redis store: one JSON record per key (`{prefix}:idem:<hash>`), every
//! transition one Lua script, so replicas share claims and outcomes. Every
//! key carries the hash tag `{prefix}` (one Redis Cluster slot with the
//! epoch key each script reads).
//!
//! A claim never expires before its outcome: a pending record lives as long
//! as an outcome (`ttl`), and one older than [`PENDING_TTL`] (its holder died
//! or could not write the outcome) is taken over as *in doubt*, so the next
//! call settles it the way a lost answer is settled instead of sending the
//! mutation blind.
//!
//! The epoch key `{prefix}:idem:epoch` (`<id>:<since ms>:<lost 0|1>`) tells
//! whether Redis lost its data: a replica that knew an epoch and finds none
//! writes a new one marked *lost*. For `ttl` after such a loss, a request_id
//! without a record may be one whose outcome was lost: its claim is handed
//! out as in doubt too (settled by a look-up, never by sending blind).

use std::time::Duration;

use parking_lot::Mutex;
use sha2::{Digest as _, Sha256};
use tokio::time::Instant;

use super::{Begin, Record, Store, StoreError};
use crate::redis_link::{RedisConn, RedisLink};

/// How long a claim of a running call is trusted: longer than any call.
pub(crate) const PENDING_TTL: Duration = Duration::from_secs(120);

/// How often a waiting duplicate looks again.
const POLL: Duration = Duration::from_millis(25);

/// Claims the key, or answers what is there: {verdict, record, epoch}.
/// KEYS: record, epoch. ARGV: fp, claim, pending ttl ms, ttl ms, new epoch
/// id, the epoch this replica knew ('' if none).
const BEGIN: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[4])
local e = redis.call('GET', KEYS[2])
if not e then
  local lost = '0'
  if ARGV[6] ~= '' then lost = '1' end
  e = ARGV[5] .. ':' .. now .. ':' .. lost
  redis.call('SET', KEYS[2], e)
end
local since, lost = string.match(e, ':(%d+):(%d)$')
local unsure = lost == '1' and (now - tonumber(since)) < ttl
local pending = cjson.encode({state = 'pending', fp = ARGV[1], claim = ARGV[2], at = now})
local v = redis.call('GET', KEYS[1])
if not v then
  redis.call('SET', KEYS[1], pending, 'PX', ttl)
  if unsure then return {'unsure', '', e} end
  return {'claimed', '', e}
end
local ok, r = pcall(cjson.decode, v)
if not ok then return {'corrupt', '', e} end
if r.fp ~= ARGV[1] then return {'mismatch', '', e} end
if r.state == 'pending' and r.claim == ARGV[2] then return {'claimed', '', e} end
if r.state == 'in_doubt' then
  redis.call('SET', KEYS[1], pending, 'PX', ttl)
  return {'claimed', v, e}
end
if r.state == 'pending' and (type(r.at) ~= 'number' or now - r.at > tonumber(ARGV[3])) then
  redis.call('SET', KEYS[1], pending, 'PX', ttl)
  return {'stale', '', e}
end
return {r.state, v, e}
";

/// Replaces our claim (or an expired one) with the record.
const FINISH: &str = r"
local v = redis.call('GET', KEYS[1])
if v then
  local ok, r = pcall(cjson.decode, v)
  if ok and (r.state ~= 'pending' or r.claim ~= ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
";

/// Gives our claim up, restoring the record it took over (or nothing).
const RELEASE: &str = r"
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local ok, r = pcall(cjson.decode, v)
if not ok or r.state ~= 'pending' or r.claim ~= ARGV[1] then return 0 end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return 1
";

/// The shared idempotency store.
pub(crate) struct RedisStore {
    link: RedisLink,
    conn: tokio::sync::Mutex<Option<RedisConn>>,
    prefix: String,
    ttl: Duration,
    timeout: Duration,
    /// The epoch this replica last saw.
    epoch: Mutex<String>,
    begin: redis::Script,
    finish: redis::Script,
    release: redis::Script,
    /// Replicas that must acknowledge a claim or outcome (`redis.wait_replicas`).
    wait_replicas: u32,
}

// === impl RedisStore ===

impl RedisStore {
    /// Connects lazily.
    pub(crate) fn new(link: RedisLink, prefix: &str, ttl: Duration, timeout: Duration) -> Self {
        Self {
            link,
            conn: tokio::sync::Mutex::new(None),
            prefix: prefix.to_string(),
            ttl,
            timeout,
            epoch: Mutex::new(String::new()),
            begin: redis::Script::new(BEGIN),
            finish: redis::Script::new(FINISH),
            release: redis::Script::new(RELEASE),
            wait_replicas: 0,
        }
    }

    /// Claims and outcomes count only once `n` replicas hold them.
    pub(crate) fn with_wait_replicas(mut self, n: u32) -> Self {
        self.wait_replicas = n;
        self
    }

    /// Redis `WAIT`: whether `wait_replicas` replicas acknowledged this
    /// connection's writes within the timeout. The scripts ran on the same
    /// (multiplexed) connection, so WAIT covers them.
    async fn replicated(&self) -> Result<(), StoreError> {
        if self.wait_replicas == 0 {
            return Ok(());
        }
        let mut conn = self.conn().await?;
        let acked: Result<Result<i64, _>, _> = tokio::time::timeout(
            self.timeout,
            redis::cmd("WAIT")
                .arg(self.wait_replicas)
                // Half the command timeout: WAIT answers before the
                // connection gives up on it.
                .arg(ms(self.timeout / 2))
                .query_async(&mut conn),
        )
        .await;
        match acked {
            Ok(Ok(n)) if n >= i64::from(self.wait_replicas) => Ok(()),
            Ok(Ok(n)) => Err(StoreError::Redis(format!(
                "{n} of {} replicas acknowledged",
                self.wait_replicas
            ))),
            Ok(Err(e)) => {
                *self.conn.lock().await = None;
                Err(StoreError::Redis(format!("WAIT: {:?}", e.kind())))
            }
            Err(_) => {
                *self.conn.lock().await = None;
                Err(StoreError::Redis("WAIT: no answer in time".into()))
            }
        }
    }

    fn redis_key(&self, key: &str) -> String {
        let digest = Sha256::digest(key.as_bytes());
        format!("{{{}}}:idem:{}", self.prefix, hex::encode(&digest[..16]))
    }

    fn epoch_key(&self) -> String {
        format!("{{{}}}:idem:epoch", self.prefix)
    }

    async fn conn(&self) -> Result<RedisConn, StoreError> {
        let mut guard = self.conn.lock().await;
        if let Some(c) = guard.as_ref() {
            return Ok(c.clone());
        }
        let c = tokio::time::timeout(self.timeout * 4, self.link.connect())
            .await
            .map_err(|_| StoreError::Redis(format!("no connection within {:?}", self.timeout)))?
            .map_err(|e| StoreError::Redis(format!("{:?}", e.kind())))?;
        *guard = Some(c.clone());
        Ok(c)
    }

    /// Runs a script; a connection Redis dropped (a restart) is replaced
    /// once (every script is safe to run twice for the same claim).
    async fn invoke<T: redis::FromRedisValue>(
        &self,
        inv: redis::ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        let reused = self.conn.lock().await.is_some();
        let mut conn = self.conn().await?;
        let mut out = tokio::time::timeout(self.timeout, inv.invoke_async(&mut conn)).await;
        if reused
            && matches!(&out, Ok(Err(e)) if e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error())
        {
            *self.conn.lock().await = None;
            let mut conn = self.conn().await?;
            out = tokio::time::timeout(self.timeout, inv.invoke_async(&mut conn)).await;
        }
        match out {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                *self.conn.lock().await = None;
                Err(StoreError::Redis(format!("{:?}", e.kind())))
            }
            Err(_) => {
                *self.conn.lock().await = None;
                Err(StoreError::Redis(format!(
                    "no answer within {:?}",
                    self.timeout
                )))
            }
        }
    }
}

fn json(record: &Record) -> Result<String, StoreError> {
    serde_json::to_string(record).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

#[async_trait::async_trait]
impl Store for RedisStore {
    async fn begin(&self, key: &str, fp: &str, claim: &str) -> Result<Begin, StoreError> {
        let known = self.epoch.lock().clone();
        let mut inv = self.begin.prepare_invoke();
        inv.key(self.redis_key(key))
            .key(self.epoch_key())
            .arg(fp)
            .arg(claim)
            .arg(ms(PENDING_TTL))
            .arg(ms(self.ttl))
            .arg(format!("{:016x}", rand::random::<u64>()))
            .arg(&known);
        let answer: Vec<String> = self.invoke(inv).await?;
        let (verdict, value, epoch) = match answer.as_slice() {
            [v, r, e] => (v.as_str(), r.as_str(), e.as_str()),
            other => return Err(StoreError::Corrupt(format!("{} fields", other.len()))),
        };
        {
            let mut known = self.epoch.lock();
            if !known.is_empty() && *known != epoch {
                tracing::warn!("idempotency: Redis lost its records (new epoch); request_ids without a record are settled by a look-up until idempotency.ttl_secs has passed");
            }
            *known = epoch.to_string();
        }
        let record = || -> Result<Record, StoreError> {
            serde_json::from_str(value).map_err(|e| StoreError::Corrupt(e.to_string()))
        };
        let in_doubt = || Begin::Claimed {
            prior: Some(Record::InDoubt {
                fp: fp.to_string(),
                snapshot: None,
            }),
        };
        if matches!(verdict, "claimed" | "unsure" | "stale") {
            // The claim must survive a failover before the mutation is sent;
            // if it may not, the claim is given back as it was found (an
            // earlier record, or in doubt when a call may have been sent).
            if let Err(e) = self.replicated().await {
                let restore = match verdict {
                    "claimed" if value.is_empty() => None,
                    "claimed" => Some(record()?),
                    _ => Some(Record::InDoubt {
                        fp: fp.to_string(),
                        snapshot: None,
                    }),
                };
                let _ = Store::release(self, key, claim, restore.as_ref()).await;
                return Err(e);
            }
        }
        match verdict {
            "claimed" if value.is_empty() => Ok(Begin::Claimed { prior: None }),
            "claimed" => Ok(Begin::Claimed {
                prior: Some(record()?),
            }),
            // No record, but Redis lost its data lately: the outcome of an
            // earlier call may be gone.
            "unsure" => Ok(in_doubt()),
            // A claim whose holder never wrote an outcome: it may have sent.
            "stale" => {
                tracing::warn!("idempotency: taking over a stale claim as in doubt");
                Ok(in_doubt())
            }
            "mismatch" => Ok(Begin::Mismatch),
            "pending" => Ok(Begin::Busy),
            "done" => match record()? {
                Record::Done { outcome, .. } => Ok(Begin::Done(outcome)),
                _ => Err(StoreError::Corrupt("done without an outcome".into())),
            },
            other => Err(StoreError::Corrupt(format!("state {other:?}"))),
        }
    }

    async fn finish(&self, key: &str, claim: &str, record: &Record) -> Result<(), StoreError> {
        let mut inv = self.finish.prepare_invoke();
        inv.key(self.redis_key(key))
            .arg(claim)
            .arg(json(record)?)
            .arg(ms(self.ttl));
        let _: i64 = self.invoke(inv).await?;
        // Not replicated: the caller retries the write (in the background).
        self.replicated().await
    }

    async fn release(
        &self,
        key: &str,
        claim: &str,
        restore: Option<&Record>,
    ) -> Result<(), StoreError> {
        let restore = restore.map(json).transpose()?.unwrap_or_default();
        let mut inv = self.release.prepare_invoke();
        inv.key(self.redis_key(key))
            .arg(claim)
            .arg(restore)
            .arg(ms(self.ttl));
        let _: i64 = self.invoke(inv).await?;
        Ok(())
    }

    async fn wait(&self, _key: &str, until: Instant) {
        tokio::time::sleep_until(until.min(Instant::now() + POLL)).await;
    }
}
