//! Operations in Redis, shared by every replica. Keys (one hash tag, so
//! Redis Cluster keeps an operation's keys, and the indexes, on one slot):
//!
//! - `{prefix}:op:<id>:spec`: the [`Spec`] as JSON;
//! - `{prefix}:op:<id>:steps`: a hash, target index → [`Step`] as JSON;
//! - `{prefix}:op:<id>:meta`: a hash of counters and flags;
//! - `{prefix}:op:<id>:lease`: the replica running it (expires);
//! - `{prefix}:ops:index` (sorted by start) and `{prefix}:ops:active`;
//! - `{prefix}:ops:rid:<hash of caller and request_id>`: the operation a
//!   request_id started.
//!
//! A finished operation's keys expire after `keep`.

use std::collections::HashMap;
use std::time::Duration;

use redis::AsyncCommands as _;

use super::{
    now_ms, request_key, Created, Delta, OperationStore, Progress, Spec, Step, StoreError,
};
use crate::redis_link::{RedisConn, RedisLink};

/// Stores the spec unless the request_id started an operation still known.
const CREATE: &str = r"
local existing = redis.call('GET', KEYS[1])
if existing and redis.call('EXISTS', KEYS[2]) == 1 then return existing end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[2])
redis.call('HSET', KEYS[3], 'succeeded', 0, 'failed', 0, 'updated', ARGV[3])
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[4])
redis.call('SADD', KEYS[5], ARGV[4])
return ''
";

/// Records outcomes; a step is counted once, whatever repeats.
const RECORD: &str = r"
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
for i = 6, #ARGV, 3 do
  local prev = redis.call('HGET', KEYS[1], ARGV[i])
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  if (not prev) or prev == ARGV[5] then
    local k = ARGV[i + 2]
    if k == 'ok' then
      redis.call('HINCRBY', KEYS[2], 'succeeded', 1)
    elseif k == 'okr' then
      redis.call('HINCRBY', KEYS[2], 'succeeded', 1)
      redis.call('HINCRBY', KEYS[2], 'by_read', 1)
    else
      redis.call('HINCRBY', KEYS[2], 'failed', 1)
    end
  end
end
if tonumber(ARGV[2]) > 0 then redis.call('HINCRBY', KEYS[2], 'batches', ARGV[2]) end
redis.call('HSET', KEYS[2], 'updated', ARGV[1])
if tonumber(ARGV[3]) > 0 then redis.call('HSET', KEYS[2], 'next', ARGV[3]) end
if tonumber(ARGV[4]) > 0 then redis.call('HSET', KEYS[2], 'end', ARGV[4]) end
return 1
";

/// Takes or renews a lease.
const LEASE: &str = r"
local cur = redis.call('GET', KEYS[1])
if (not cur) or cur == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
";

/// Gives a lease up.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
";

/// The Redis store.
pub struct RedisStore {
    link: RedisLink,
    conn: tokio::sync::Mutex<Option<RedisConn>>,
    prefix: String,
    timeout: Duration,
    create: redis::Script,
    record: redis::Script,
    lease: redis::Script,
    release: redis::Script,
}

impl RedisStore {
    /// Connects lazily.
    pub fn new(link: RedisLink, prefix: &str, timeout: Duration) -> Self {
        Self {
            link,
            conn: tokio::sync::Mutex::new(None),
            prefix: prefix.to_string(),
            timeout,
            create: redis::Script::new(CREATE),
            record: redis::Script::new(RECORD),
            lease: redis::Script::new(LEASE),
            release: redis::Script::new(RELEASE),
        }
    }

    fn op_key(&self, name: &str, part: &str) -> String {
        format!("{{{}}}:op:{}:{part}", self.prefix, id_of(name))
    }

    fn key(&self, part: &str) -> String {
        format!("{{{}}}:ops:{part}", self.prefix)
    }

    fn name_of(id: &str) -> String {
        format!("operations/{id}")
    }

    async fn conn(&self) -> Result<RedisConn, StoreError> {
        let mut guard = self.conn.lock().await;
        if let Some(c) = guard.as_ref() {
            return Ok(c.clone());
        }
        let c = tokio::time::timeout(self.timeout * 4, self.link.connect())
            .await
            .map_err(|_| StoreError(format!("no connection within {:?}", self.timeout)))?
            .map_err(|e| StoreError(format!("{:?}", e.kind())))?;
        *guard = Some(c.clone());
        Ok(c)
    }

    /// Runs one request; a dropped connection is replaced for the next.
    async fn run<T, F, Fut>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(RedisConn) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let conn = self.conn().await?;
        match tokio::time::timeout(self.timeout, f(conn)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                *self.conn.lock().await = None;
                Err(StoreError(format!("{:?}", e.kind())))
            }
            Err(_) => {
                *self.conn.lock().await = None;
                Err(StoreError(format!("no answer within {:?}", self.timeout)))
            }
        }
    }
}

/// "operations/bulk-…" → "bulk-…".
fn id_of(name: &str) -> &str {
    name.strip_prefix("operations/").unwrap_or(name)
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError(format!("unreadable record: {e}"))
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

#[async_trait::async_trait]
impl OperationStore for RedisStore {
    async fn create(&self, spec: &Spec) -> Result<Created, StoreError> {
        let json = serde_json::to_string(spec).map_err(corrupt)?;
        let rid = self.key(&format!(
            "rid:{}",
            request_key(spec.caller.as_deref(), &spec.request_id)
        ));
        let mut inv = self.create.prepare_invoke();
        inv.key(rid)
            .key(self.op_key(&spec.name, "spec"))
            .key(self.op_key(&spec.name, "meta"))
            .key(self.key("index"))
            .key(self.key("active"))
            .arg(&spec.name)
            .arg(json)
            .arg(spec.create_time_ms)
            .arg(id_of(&spec.name));
        let found: String = self
            .run(|mut c| async move { inv.invoke_async(&mut c).await })
            .await?;
        Ok(if found.is_empty() {
            Created::New
        } else {
            Created::Existing(found)
        })
    }

    async fn spec(&self, name: &str) -> Result<Option<Spec>, StoreError> {
        let key = self.op_key(name, "spec");
        let json: Option<String> = self.run(|mut c| async move { c.get(key).await }).await?;
        json.map(|j| serde_json::from_str(&j).map_err(corrupt))
            .transpose()
    }

    async fn progress(&self, name: &str) -> Result<Option<Progress>, StoreError> {
        let key = self.op_key(name, "meta");
        let m: HashMap<String, String> = self
            .run(|mut c| async move { c.hgetall(key).await })
            .await?;
        if m.is_empty() {
            return Ok(None);
        }
        let num = |k: &str| m.get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        let flag = |k: &str| m.get(k).is_some_and(|v| v == "1");
        Ok(Some(Progress {
            succeeded: num("succeeded") as u32,
            failed: num("failed") as u32,
            cancel_requested: flag("cancel"),
            done: flag("done"),
            cancelled: flag("cancelled"),
            batch_requests: num("batches") as u32,
            settled_by_read: num("by_read") as u32,
            update_time_ms: num("updated"),
            next_step_ms: num("next"),
            end_ms: num("end"),
        }))
    }

    async fn steps(&self, name: &str) -> Result<HashMap<u32, Step>, StoreError> {
        let key = self.op_key(name, "steps");
        let m: HashMap<u32, String> = self
            .run(|mut c| async move { c.hgetall(key).await })
            .await?;
        m.into_iter()
            .map(|(i, j)| Ok((i, serde_json::from_str(&j).map_err(corrupt)?)))
            .collect()
    }

    async fn mark_sent(&self, name: &str, steps: &[u32]) -> Result<(), StoreError> {
        if steps.is_empty() {
            return Ok(());
        }
        let key = self.op_key(name, "steps");
        let sent = serde_json::to_string(&Step::Sent).map_err(corrupt)?;
        let items: Vec<(u32, String)> = steps.iter().map(|i| (*i, sent.clone())).collect();
        self.run(|mut c| async move { c.hset_multiple::<_, _, _, ()>(key, &items).await })
            .await
    }

    async fn record(
        &self,
        name: &str,
        outcomes: &[(u32, Step)],
        delta: Delta,
    ) -> Result<(), StoreError> {
        let mut inv = self.record.prepare_invoke();
        inv.key(self.op_key(name, "steps"))
            .key(self.op_key(name, "meta"))
            .arg(now_ms())
            .arg(delta.batch_requests)
            .arg(delta.next_step_ms)
            .arg(delta.end_ms)
            .arg(serde_json::to_string(&Step::Sent).map_err(corrupt)?);
        for (i, step) in outcomes {
            let kind = match step {
                Step::Ok { by_read: false } => "ok",
                Step::Ok { by_read: true } => "okr",
                Step::Failed(_) => "fail",
                Step::Sent => continue,
            };
            inv.arg(*i)
                .arg(serde_json::to_string(step).map_err(corrupt)?)
                .arg(kind);
        }
        let _: i64 = self
            .run(|mut c| async move { inv.invoke_async(&mut c).await })
            .await?;
        Ok(())
    }

    async fn request_cancel(&self, name: &str) -> Result<bool, StoreError> {
        let key = self.op_key(name, "meta");
        let exists: bool = {
            let key = key.clone();
            self.run(|mut c| async move { c.exists(key).await }).await?
        };
        if !exists {
            return Ok(false);
        }
        self.run(|mut c| async move { c.hset::<_, _, _, ()>(key, "cancel", "1").await })
            .await?;
        Ok(true)
    }

    async fn finish(&self, name: &str, cancelled: bool, keep: Duration) -> Result<(), StoreError> {
        let rid = match self.spec(name).await? {
            Some(s) => Some(self.key(&format!(
                "rid:{}",
                request_key(s.caller.as_deref(), &s.request_id)
            ))),
            None => None,
        };
        let meta = self.op_key(name, "meta");
        let mut pipe = redis::pipe();
        pipe.atomic()
            .hset_multiple(
                &meta,
                &[
                    ("done", "1".to_string()),
                    ("cancelled", if cancelled { "1" } else { "0" }.to_string()),
                    ("updated", now_ms().to_string()),
                ],
            )
            .ignore()
            .hdel(&meta, &["next", "end"])
            .ignore()
            .srem(self.key("active"), id_of(name))
            .ignore();
        let keep_ms = ms(keep);
        for part in ["spec", "steps", "meta", "lease"] {
            pipe.pexpire(self.op_key(name, part), keep_ms as i64)
                .ignore();
        }
        if let Some(rid) = rid {
            pipe.pexpire(rid, keep_ms as i64).ignore();
        }
        self.run(|mut c| async move { pipe.query_async::<()>(&mut c).await })
            .await
    }

    async fn delete(&self, name: &str) -> Result<bool, StoreError> {
        let Some(spec) = self.spec(name).await? else {
            return Ok(false);
        };
        let rid = self.key(&format!(
            "rid:{}",
            request_key(spec.caller.as_deref(), &spec.request_id)
        ));
        let mut pipe = redis::pipe();
        pipe.atomic();
        for part in ["spec", "steps", "meta", "lease"] {
            pipe.del(self.op_key(name, part)).ignore();
        }
        pipe.del(rid)
            .ignore()
            .zrem(self.key("index"), id_of(name))
            .ignore()
            .srem(self.key("active"), id_of(name))
            .ignore();
        self.run(|mut c| async move { pipe.query_async::<()>(&mut c).await })
            .await?;
        Ok(true)
    }

    async fn list(&self) -> Result<Vec<String>, StoreError> {
        let index = self.key("index");
        let ids: Vec<String> = {
            let index = index.clone();
            self.run(|mut c| async move { c.zrevrange(index, 0, -1).await })
                .await?
        };
        if ids.is_empty() {
            return Ok(ids);
        }
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.exists(self.op_key(&Self::name_of(id), "spec"));
        }
        let alive: Vec<bool> = self
            .run(|mut c| async move { pipe.query_async(&mut c).await })
            .await?;
        let (live, gone): (Vec<_>, Vec<_>) = ids.into_iter().zip(alive).partition(|(_, a)| *a);
        if !gone.is_empty() {
            // Expired operations leave the index.
            let gone: Vec<String> = gone.into_iter().map(|(id, _)| id).collect();
            let _ = self
                .run(|mut c| async move { c.zrem::<_, _, ()>(index, gone).await })
                .await;
        }
        Ok(live.into_iter().map(|(id, _)| Self::name_of(&id)).collect())
    }

    async fn active(&self) -> Result<Vec<String>, StoreError> {
        let key = self.key("active");
        let ids: Vec<String> = self
            .run(|mut c| async move { c.smembers(key).await })
            .await?;
        Ok(ids.iter().map(|id| Self::name_of(id)).collect())
    }

    async fn lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        let mut inv = self.lease.prepare_invoke();
        inv.key(self.op_key(name, "lease")).arg(holder).arg(ms(ttl));
        let got: i64 = self
            .run(|mut c| async move { inv.invoke_async(&mut c).await })
            .await?;
        Ok(got == 1)
    }

    async fn release(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        let mut inv = self.release.prepare_invoke();
        inv.key(self.op_key(name, "lease")).arg(holder);
        let _: i64 = self
            .run(|mut c| async move { inv.invoke_async(&mut c).await })
            .await?;
        Ok(())
    }

    fn shared(&self) -> bool {
        true
    }
}
