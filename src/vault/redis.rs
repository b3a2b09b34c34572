//! The Redis backend (`vault.backend = "redis"`): every replica shares one
//! set of tokens. Values are sealed exactly like the file's records
//! (`vault/store.rs`: XChaCha20-Poly1305, metadata bound as associated data)
//! before they leave the process, so Redis never sees a token in the clear.
//!
//! Keys, under the hash tag `{<redis.key_prefix>}` (one Redis Cluster slot):
//! - `{p}:vault:tokens`: a hash, token name -> sealed record (JSON; every
//!   record names the key that sealed it);
//! - `{p}:vault:version`: bumped by every change.
//!
//! `select` stays synchronous and in memory: each replica keeps the index and
//! polls the version every `vault.redis_refresh_ms`, reloading the hash when
//! it moved. A record sealed with a key this replica lacks (a rolling key
//! change) is skipped with a warning on refresh, and refused at start.
//! Token health and last use are per replica.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::crypto::Keyring;
use super::index::Index;
use super::store::{open_record, seal_record, Record};
use super::{
    check_entry, seed, Rotation, TokenEntry, TokenHealth, TokenQuery, TokenStatus, Vault,
    VaultError,
};
use crate::config::{EnvSource, VaultConfig};
use crate::redis_link::{RedisConn, RedisLink};

/// Replaces a record only if it is still the one read (key rotation must not
/// overwrite a newer write), and bumps the version.
const SWAP: &str = r"
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
  redis.call('INCR', KEYS[2])
  return 1
end
return 0
";

/// The vault kept in Redis.
pub struct RedisVault {
    index: Index,
    link: RedisLink,
    conn: tokio::sync::Mutex<Option<RedisConn>>,
    keyring: Keyring,
    tokens_key: String,
    version_key: String,
    /// The version the index was last loaded at (-1: never).
    seen: AtomicI64,
    timeout: Duration,
    swap: ::redis::Script,
}

// === impl RedisVault ===

impl RedisVault {
    /// Connects, loads every record (one that does not open is an error:
    /// configure its key in `vault.old_keys`), writes the seed file's tokens
    /// that differ, and keeps the index fresh in the background.
    pub async fn open(
        cfg: &VaultConfig,
        link: RedisLink,
        prefix: &str,
        timeout: Duration,
        env: &dyn EnvSource,
    ) -> Result<Arc<RedisVault>, VaultError> {
        let keyring = Keyring::from_config(cfg, env)?;
        let vault = Arc::new(RedisVault {
            index: Index::new(Vec::new()),
            link,
            conn: tokio::sync::Mutex::new(None),
            keyring,
            tokens_key: format!("{{{prefix}}}:vault:tokens"),
            version_key: format!("{{{prefix}}}:vault:version"),
            seen: AtomicI64::new(-1),
            timeout,
            swap: ::redis::Script::new(SWAP),
        });
        let stored = {
            let mut txn = vault.index.begin().await;
            let (version, stored, _) = vault.load(true).await?;
            txn.entries = stored
                .iter()
                .map(|e| (e.name.clone(), Arc::new(e.clone())))
                .collect();
            txn.install();
            vault.seen.store(version, Ordering::SeqCst);
            stored
        };
        let seeded = match &cfg.seed_file {
            Some(path) => seed::load(path)?,
            None => Vec::new(),
        };
        let mut written = 0;
        for entry in seeded {
            let same = stored.iter().any(|s| same_entry(s, &entry));
            if !same {
                vault.put(entry).await?;
                written += 1;
            }
        }
        let every = Duration::from_millis(cfg.redis_refresh_ms.max(1));
        tokio::spawn(refresher(Arc::downgrade(&vault), every));
        tracing::info!(
            target: "vault",
            tokens = vault.index.len(),
            from_redis = stored.len(),
            seeded = written,
            key = %vault.tokens_key,
            "vault opened (redis)"
        );
        Ok(vault)
    }

    /// Reloads the index when another replica changed the vault.
    pub async fn refresh(&self) -> Result<bool, VaultError> {
        let version: Option<i64> = self
            .query("GET version", ::redis::cmd("GET").arg(&self.version_key))
            .await?;
        let version = version.unwrap_or(0);
        if version == self.seen.load(Ordering::SeqCst) {
            return Ok(false);
        }
        let mut txn = self.index.begin().await;
        let (version, entries, skipped) = self.load(false).await?;
        let mut fresh: super::index::Entries = entries
            .into_iter()
            .map(|e| (e.name.clone(), Arc::new(e)))
            .collect();
        // A record this replica cannot open (sealed with a key it does not
        // have yet, during a rolling key change) keeps its last known value.
        for name in skipped {
            if let Some(known) = txn.entries.get(&name) {
                fresh.insert(name, known.clone());
            }
        }
        txn.entries = fresh;
        txn.install();
        self.seen.store(version, Ordering::SeqCst);
        Ok(true)
    }

    /// The version, every record that opens, and the names of those that do
    /// not; `strict`: a record that does not open is an error instead.
    async fn load(&self, strict: bool) -> Result<(i64, Vec<TokenEntry>, Vec<String>), VaultError> {
        let mut pipe = ::redis::pipe();
        pipe.atomic()
            .cmd("GET")
            .arg(&self.version_key)
            .cmd("HGETALL")
            .arg(&self.tokens_key);
        let (version, records): (Option<i64>, HashMap<String, String>) =
            self.query_pipe("load", &pipe).await?;
        let mut entries = Vec::with_capacity(records.len());
        let mut skipped = Vec::new();
        for (name, json) in records {
            match self.open_json(&name, &json) {
                Ok(entry) => entries.push(entry),
                Err(e) if strict => return Err(e),
                Err(e) => {
                    tracing::warn!(target: "vault", token = %name, error = %e, "vault record not opened: keeping its last known value");
                    skipped.push(name);
                }
            }
        }
        Ok((version.unwrap_or(0), entries, skipped))
    }

    fn open_json(&self, name: &str, json: &str) -> Result<TokenEntry, VaultError> {
        let record: Record = serde_json::from_str(json).map_err(|_| {
            VaultError::Storage(format!("redis record {name:?} is not a vault record"))
        })?;
        if record.name != name {
            return Err(VaultError::Storage(format!(
                "redis record {name:?} names another token"
            )));
        }
        open_record(&self.keyring, self.keyring.current_id(), record).map_err(|e| match e {
            VaultError::Key(why) => VaultError::Key(format!("redis {}: {why}", self.tokens_key)),
            other => other,
        })
    }

    async fn conn(&self) -> Result<RedisConn, VaultError> {
        let mut guard = self.conn.lock().await;
        if let Some(c) = guard.as_ref() {
            return Ok(c.clone());
        }
        let conn = tokio::time::timeout(self.timeout, self.link.connect())
            .await
            .map_err(|_| self.unavailable("connect", "timed out"))?
            .map_err(|e| self.unavailable("connect", format!("{:?}", e.kind())))?;
        *guard = Some(conn.clone());
        Ok(conn)
    }

    /// Forgets a connection that failed, so the next call reconnects.
    async fn reset(&self) {
        *self.conn.lock().await = None;
    }

    async fn query<T: ::redis::FromRedisValue>(
        &self,
        what: &str,
        cmd: &::redis::Cmd,
    ) -> Result<T, VaultError> {
        let mut conn = self.conn().await?;
        let answer = tokio::time::timeout(self.timeout, cmd.query_async::<T>(&mut conn)).await;
        self.settle(what, answer).await
    }

    async fn query_pipe<T: ::redis::FromRedisValue>(
        &self,
        what: &str,
        pipe: &::redis::Pipeline,
    ) -> Result<T, VaultError> {
        let mut conn = self.conn().await?;
        let answer = tokio::time::timeout(self.timeout, pipe.query_async::<T>(&mut conn)).await;
        self.settle(what, answer).await
    }

    /// A Redis answer (or its timeout) as the vault's result; a failure
    /// drops the connection so the next call reconnects.
    async fn settle<T>(
        &self,
        what: &str,
        answer: Result<::redis::RedisResult<T>, tokio::time::error::Elapsed>,
    ) -> Result<T, VaultError> {
        match answer {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                self.reset().await;
                Err(self.unavailable(what, e))
            }
            Err(_) => {
                self.reset().await;
                Err(self.unavailable(what, "timed out"))
            }
        }
    }

    fn unavailable(&self, what: &str, why: impl fmt::Display) -> VaultError {
        VaultError::Storage(format!("redis vault ({what}): {why}"))
    }

    async fn store(&self, entry: TokenEntry) -> Result<(), VaultError> {
        check_entry(&entry).map_err(VaultError::Storage)?;
        let json = serde_json::to_string(&seal_record(&self.keyring, &entry)?)
            .map_err(|e| VaultError::Storage(format!("cannot encode record: {e}")))?;
        let (name, kind) = (entry.name.clone(), entry.kind);
        let mut txn = self.index.begin().await;
        let mut pipe = ::redis::pipe();
        pipe.atomic()
            .cmd("HSET")
            .arg(&self.tokens_key)
            .arg(&name)
            .arg(json)
            .ignore()
            .cmd("INCR")
            .arg(&self.version_key)
            .ignore();
        self.query_pipe::<()>("put", &pipe).await?;
        txn.entries.insert(name.clone(), Arc::new(entry));
        txn.install();
        tracing::info!(target: "vault", token = %name, %kind, "vault: token stored (redis)");
        Ok(())
    }

    async fn delete(&self, name: &str) -> Result<bool, VaultError> {
        let mut txn = self.index.begin().await;
        let removed: i64 = self
            .query(
                "delete",
                ::redis::cmd("HDEL").arg(&self.tokens_key).arg(name),
            )
            .await?;
        if removed > 0 {
            let _: i64 = self
                .query("delete", ::redis::cmd("INCR").arg(&self.version_key))
                .await?;
        }
        let existed = txn.entries.remove(name).is_some() || removed > 0;
        txn.install();
        if existed {
            tracing::info!(target: "vault", token = %name, "vault: token removed (redis)");
        }
        Ok(existed)
    }

    async fn rotate(&self) -> Result<Rotation, VaultError> {
        let _writer = self.index.begin().await;
        let records: HashMap<String, String> = self
            .query("rotate", ::redis::cmd("HGETALL").arg(&self.tokens_key))
            .await?;
        let active = self.keyring.current_id().to_string();
        let total = records.len();
        let mut rewritten = 0;
        for (name, mut json) in records {
            // A concurrent write (by a replica) wins; re-read and retry.
            for _ in 0..3 {
                let record: Record = serde_json::from_str(&json).map_err(|_| {
                    VaultError::Storage(format!("redis record {name:?} is not a vault record"))
                })?;
                if record.key_id.as_deref() == Some(active.as_str()) {
                    break;
                }
                let entry = self.open_json(&name, &json)?;
                let fresh = serde_json::to_string(&seal_record(&self.keyring, &entry)?)
                    .map_err(|e| VaultError::Storage(format!("cannot encode record: {e}")))?;
                let mut conn = self.conn().await?;
                let mut call = self.swap.key(&self.tokens_key);
                call.key(&self.version_key)
                    .arg(&name)
                    .arg(&json)
                    .arg(&fresh);
                let swapped: i64 =
                    match tokio::time::timeout(self.timeout, call.invoke_async(&mut conn)).await {
                        Ok(Ok(n)) => n,
                        Ok(Err(e)) => {
                            self.reset().await;
                            return Err(self.unavailable("rotate", e));
                        }
                        Err(_) => {
                            self.reset().await;
                            return Err(self.unavailable("rotate", "timed out"));
                        }
                    };
                if swapped == 1 {
                    rewritten += 1;
                    break;
                }
                let current: Option<String> = self
                    .query(
                        "rotate",
                        ::redis::cmd("HGET").arg(&self.tokens_key).arg(&name),
                    )
                    .await?;
                match current {
                    Some(j) => json = j,
                    None => break,
                }
            }
        }
        tracing::info!(target: "vault", key_id = %active, rewritten, records = total, "redis vault re-sealed with the active key");
        Ok(Rotation {
            key_id: Some(active),
            rewritten,
            total,
        })
    }
}

/// Same name, metadata and value.
fn same_entry(a: &TokenEntry, b: &TokenEntry) -> bool {
    a.name == b.name
        && a.kind == b.kind
        && a.businesses == b.businesses
        && a.assets == b.assets
        && a.expires_at == b.expires_at
        && a.secret == b.secret
}

/// Polls for other replicas' changes; logs only when the state changes.
async fn refresher(vault: Weak<RedisVault>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tick.tick().await;
        let Some(v) = vault.upgrade() else {
            return;
        };
        match v.refresh().await {
            Ok(_) if failing => {
                failing = false;
                tracing::info!(target: "vault", "redis vault reachable again");
            }
            Ok(_) => {}
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(target: "vault", error = %e, "redis vault refresh failed; serving the tokens already loaded");
            }
            Err(_) => {}
        }
    }
}

#[async_trait::async_trait]
impl Vault for RedisVault {
    fn select(&self, query: &TokenQuery<'_>) -> Result<Arc<TokenEntry>, VaultError> {
        self.index.select(query)
    }

    async fn put(&self, entry: TokenEntry) -> Result<(), VaultError> {
        self.store(entry).await
    }

    async fn remove(&self, name: &str) -> Result<bool, VaultError> {
        self.delete(name).await
    }

    fn entries(&self) -> Vec<Arc<TokenEntry>> {
        self.index.entries()
    }

    fn status(&self, name: &str) -> Option<TokenStatus> {
        self.index.status(name)
    }

    fn set_health(&self, name: &str, health: TokenHealth) {
        self.index.set_health(name, health);
    }

    async fn rotate_key(&self) -> Result<Rotation, VaultError> {
        self.rotate().await
    }

    fn backend(&self) -> &'static str {
        "redis"
    }
}

impl fmt::Debug for RedisVault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisVault")
            .field("tokens", &self.index.len())
            .field("key", &self.tokens_key)
            .finish()
    }
}
