//! The read cache: moka, keyed by (token, operation, path, params,
//! generation). Concurrent identical misses share ONE upstream call; errors
//! are not cached. A mutation bumps the generation of the paths it changes,
//! so every older entry for them becomes unreachable at once, including one a
//! read still in flight would insert. A path `/*/edge` invalidates that edge
//! under every node. Behind a trait, so a later release can
//! broadcast invalidations across replicas.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use parking_lot::RwLock;

use crate::error::GatewayError;

/// What identifies one cached read.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CacheKey {
    /// The vault token's name: data fetched under one token is never served
    /// to a call that would use another.
    pub token: Arc<str>,
    /// The operation id, e.g. "PG04".
    pub operation: Arc<str>,
    /// The Graph path.
    pub path: Arc<str>,
    /// Canonical (sorted) parameters.
    pub params: Arc<str>,
    /// The path's generation when the read started.
    pub generation: u64,
}

/// How a read was served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Served {
    /// From the cache.
    Hit,
    /// This call went upstream.
    Miss,
    /// Another concurrent call went upstream; this one shared its answer.
    Coalesced,
}

impl Served {
    /// The `result` label of the cache metric.
    pub fn label(self) -> &'static str {
        match self {
            Served::Hit => "hit",
            Served::Miss => "miss",
            Served::Coalesced => "coalesced",
        }
    }
}

/// Counters, for tests, metrics and benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Reads asked of the cache.
    pub lookups: u64,
    /// Served from the cache.
    pub hits: u64,
    /// Went upstream.
    pub misses: u64,
    /// Shared another call's upstream answer.
    pub coalesced: u64,
    /// Paths invalidated.
    pub invalidations: u64,
}

/// The cache as the engine sees it.
#[async_trait::async_trait]
pub trait ReadCache: Send + Sync + 'static {
    /// The current generation of a path (part of the key).
    fn generation(&self, path: &str) -> u64;
    /// Returns the cached value or runs `fetch`, sharing it with concurrent
    /// callers of the same key.
    async fn get_or_fetch(
        &self,
        key: CacheKey,
        fetch: BoxFuture<'_, Result<Bytes, GatewayError>>,
    ) -> Result<(Bytes, Served), GatewayError>;
    /// Makes every cached read of these paths stale.
    async fn invalidate(&self, paths: &[String]);
    /// Counters.
    fn stats(&self) -> CacheStats;
}

/// When each invalidated path last changed, on one increasing clock.
#[derive(Default)]
struct Generations {
    /// By path, e.g. "/123/assigned_users".
    paths: HashMap<String, u64>,
    /// By edge, for the wildcard paths "/*/edge" (kept apart so a read can
    /// look its edge up without building the wildcard string).
    edges: HashMap<String, u64>,
}

/// The in-process cache.
pub struct LocalCache {
    entries: moka::future::Cache<CacheKey, Bytes>,
    keep: bool,
    generations: RwLock<Generations>,
    clock: AtomicU64,
    lookups: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
    coalesced: AtomicU64,
    invalidations: AtomicU64,
}

// === impl LocalCache ===

impl LocalCache {
    /// A cache keeping entries for `ttl` (zero: coalesce only, keep nothing),
    /// at most `max_entries`.
    pub fn new(ttl: Duration, max_entries: u64) -> Self {
        let entries = moka::future::Cache::builder()
            .max_capacity(max_entries.max(1))
            .time_to_live(ttl.max(Duration::from_millis(1)))
            .build();
        Self {
            entries,
            keep: !ttl.is_zero(),
            generations: RwLock::new(Generations::default()),
            clock: AtomicU64::new(1),
            lookups: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            coalesced: AtomicU64::new(0),
            invalidations: AtomicU64::new(0),
        }
    }
}

#[async_trait::async_trait]
impl ReadCache for LocalCache {
    fn generation(&self, path: &str) -> u64 {
        let g = self.generations.read();
        let own = g.paths.get(path).copied().unwrap_or(0);
        // Generations come from one increasing clock, so the larger of the
        // path's own and its edge's wildcard generation is the current one.
        let edge = edge_of(path)
            .and_then(|e| g.edges.get(e).copied())
            .unwrap_or(0);
        own.max(edge)
    }

    async fn get_or_fetch(
        &self,
        key: CacheKey,
        fetch: BoxFuture<'_, Result<Bytes, GatewayError>>,
    ) -> Result<(Bytes, Served), GatewayError> {
        self.lookups.fetch_add(1, Ordering::Relaxed);
        if let Some(v) = self.entries.get(&key).await {
            self.hits.fetch_add(1, Ordering::Relaxed);
            crate::metrics::cache_lookup(Served::Hit.label());
            return Ok((v, Served::Hit));
        }
        let entry = self
            .entries
            .entry(key.clone())
            .or_try_insert_with(fetch)
            .await
            .map_err(|e: Arc<GatewayError>| (*e).clone())?;
        let served = if entry.is_fresh() {
            self.misses.fetch_add(1, Ordering::Relaxed);
            if !self.keep {
                self.entries.invalidate(&key).await;
            }
            Served::Miss
        } else {
            self.coalesced.fetch_add(1, Ordering::Relaxed);
            Served::Coalesced
        };
        crate::metrics::cache_lookup(served.label());
        Ok((entry.into_value(), served))
    }

    async fn invalidate(&self, paths: &[String]) {
        if paths.is_empty() {
            return;
        }
        let mut g = self.generations.write();
        for p in paths {
            let next = self.clock.fetch_add(1, Ordering::Relaxed);
            match p.strip_prefix("/*/") {
                Some(edge) => g.edges.insert(edge.to_string(), next),
                None => g.paths.insert(p.clone(), next),
            };
        }
        self.invalidations
            .fetch_add(paths.len() as u64, Ordering::Relaxed);
    }

    fn stats(&self) -> CacheStats {
        CacheStats {
            lookups: self.lookups.load(Ordering::Relaxed),
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            coalesced: self.coalesced.load(Ordering::Relaxed),
            invalidations: self.invalidations.load(Ordering::Relaxed),
        }
    }
}

/// "/123/assigned_users" -> "assigned_users", the edge whose wildcard
/// "/*/assigned_users" makes every read of it stale, whatever node it hangs
/// off. Used where what changes is data-dependent (a group's members gain or
/// lose tasks on every asset in the group). Borrowed: no allocation per read.
fn edge_of(path: &str) -> Option<&str> {
    let rest = path.strip_prefix('/')?;
    let (_, edge) = rest.split_once('/')?;
    Some(edge)
}

#[cfg(test)]
mod tests;
