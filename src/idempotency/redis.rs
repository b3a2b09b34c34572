//! The Redis store: one JSON record per key (`{prefix}:idem:<hash>`), every
//! transition one Lua script, so replicas share claims and outcomes. A
//! pending claim expires after [`PENDING_TTL`] (a replica that dies mid-call
//! does not block the request_id for 24 h); outcomes live `ttl`.

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use sha2::{Digest as _, Sha256};
use tokio::time::Instant;

use super::{Begin, Record, Store, StoreError};

/// How long a claim of a running call lives in Redis.
pub(crate) const PENDING_TTL: Duration = Duration::from_secs(120);

/// How often a waiting duplicate looks again.
const POLL: Duration = Duration::from_millis(25);

/// Claims the key, or answers what is there: {verdict, record}.
const BEGIN: &str = r"
local v = redis.call('GET', KEYS[1])
if not v then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return {'claimed', ''}
end
local ok, r = pcall(cjson.decode, v)
if not ok then return {'corrupt', v} end
if r.fp ~= ARGV[1] then return {'mismatch', ''} end
if r.state == 'in_doubt' then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return {'claimed', v}
end
return {r.state, v}
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
    client: redis::Client,
    conn: tokio::sync::Mutex<Option<MultiplexedConnection>>,
    prefix: String,
    ttl: Duration,
    timeout: Duration,
    begin: redis::Script,
    finish: redis::Script,
    release: redis::Script,
}

// === impl RedisStore ===

impl RedisStore {
    /// Connects lazily.
    pub(crate) fn new(
        url: &str,
        prefix: &str,
        ttl: Duration,
        timeout: Duration,
    ) -> Result<Self, redis::RedisError> {
        Ok(Self {
            client: redis::Client::open(url)?,
            conn: tokio::sync::Mutex::new(None),
            prefix: prefix.to_string(),
            ttl,
            timeout,
            begin: redis::Script::new(BEGIN),
            finish: redis::Script::new(FINISH),
            release: redis::Script::new(RELEASE),
        })
    }

    fn redis_key(&self, key: &str) -> String {
        let digest = Sha256::digest(key.as_bytes());
        format!("{}:idem:{}", self.prefix, hex::encode(&digest[..16]))
    }

    async fn conn(&self) -> Result<MultiplexedConnection, StoreError> {
        let mut guard = self.conn.lock().await;
        if let Some(c) = guard.as_ref() {
            return Ok(c.clone());
        }
        let cfg = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout));
        let c = tokio::time::timeout(
            self.timeout,
            self.client
                .get_multiplexed_async_connection_with_config(&cfg),
        )
        .await
        .map_err(|_| StoreError::Redis(format!("no connection within {:?}", self.timeout)))?
        .map_err(|e| StoreError::Redis(format!("{:?}", e.kind())))?;
        *guard = Some(c.clone());
        Ok(c)
    }

    async fn invoke<T: redis::FromRedisValue>(
        &self,
        inv: redis::ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn().await?;
        let out = tokio::time::timeout(self.timeout, inv.invoke_async(&mut conn)).await;
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
        let pending = json(&Record::Pending {
            fp: fp.to_string(),
            claim: claim.to_string(),
        })?;
        let mut inv = self.begin.prepare_invoke();
        inv.key(self.redis_key(key))
            .arg(fp)
            .arg(pending)
            .arg(ms(PENDING_TTL));
        let answer: Vec<String> = self.invoke(inv).await?;
        let (verdict, value) = match answer.as_slice() {
            [v, r] => (v.as_str(), r.as_str()),
            other => return Err(StoreError::Corrupt(format!("{} fields", other.len()))),
        };
        let record = || -> Result<Record, StoreError> {
            serde_json::from_str(value).map_err(|e| StoreError::Corrupt(e.to_string()))
        };
        match verdict {
            "claimed" if value.is_empty() => Ok(Begin::Claimed { prior: None }),
            "claimed" => Ok(Begin::Claimed {
                prior: Some(record()?),
            }),
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
        Ok(())
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
