//! The in-process store: moka (time to live, size bound), one slot per key
//! with a notifier so concurrent duplicates wait without polling.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::{Begin, Record, Store, StoreError};

/// The in-process idempotency store.
pub struct LocalStore {
    slots: moka::future::Cache<String, Arc<Slot>>,
}

#[derive(Default)]
struct Slot {
    record: Mutex<Option<Record>>,
    changed: Notify,
}

// === impl LocalStore ===

impl LocalStore {
    /// Keeps records for `ttl`, at most `max_entries`.
    pub fn new(ttl: Duration, max_entries: u64) -> Self {
        Self {
            slots: moka::future::Cache::builder()
                .max_capacity(max_entries.max(1))
                .time_to_live(ttl.max(Duration::from_millis(1)))
                .build(),
        }
    }

    async fn slot(&self, key: &str) -> Arc<Slot> {
        self.slots
            .get_with_by_ref(key, async { Arc::new(Slot::default()) })
            .await
    }

    /// The record of `key` (tests).
    pub async fn get(&self, key: &str) -> Option<Record> {
        self.slots
            .get(key)
            .await
            .and_then(|s| s.record.lock().clone())
    }
}

#[async_trait::async_trait]
impl Store for LocalStore {
    async fn begin(&self, key: &str, fp: &str, claim: &str) -> Result<Begin, StoreError> {
        let slot = self.slot(key).await;
        let mut record = slot.record.lock();
        let (begin, write) = Record::begin(record.as_ref(), fp, claim);
        if let Some(w) = write {
            *record = Some(w);
        }
        Ok(begin)
    }

    async fn finish(&self, key: &str, claim: &str, new: &Record) -> Result<(), StoreError> {
        let slot = self.slot(key).await;
        {
            let mut record = slot.record.lock();
            let ours = match record.as_ref() {
                Some(Record::Pending { claim: c, .. }) => c == claim,
                // The slot was evicted meanwhile: the outcome is still worth
                // keeping.
                None => true,
                Some(_) => false,
            };
            if ours {
                *record = Some(new.clone());
            }
        }
        slot.changed.notify_waiters();
        Ok(())
    }

    async fn release(
        &self,
        key: &str,
        claim: &str,
        restore: Option<&Record>,
    ) -> Result<(), StoreError> {
        let slot = self.slot(key).await;
        {
            let mut record = slot.record.lock();
            if matches!(record.as_ref(), Some(Record::Pending { claim: c, .. }) if c == claim) {
                *record = restore.cloned();
            }
        }
        slot.changed.notify_waiters();
        Ok(())
    }

    async fn wait(&self, key: &str, until: Instant) {
        let slot = self.slot(key).await;
        let changed = slot.changed.notified();
        if !matches!(*slot.record.lock(), Some(Record::Pending { .. })) {
            return;
        }
        let _ = tokio::time::timeout_at(until, changed).await;
    }
}
