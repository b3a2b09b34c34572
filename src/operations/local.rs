//! Operations in process: they end with the process.

use std::collections::HashMap;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

use super::{
    now_ms, request_key, Created, Delta, OperationStore, Progress, Spec, Step, StoreError,
};

/// One operation.
struct Entry {
    spec: Spec,
    steps: HashMap<u32, Step>,
    progress: Progress,
    lease: Option<(String, Instant)>,
    /// Forgotten after this, once finished.
    expires: Option<Instant>,
}

/// The in-process store.
#[derive(Default)]
pub struct LocalStore {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    ops: HashMap<String, Entry>,
    by_request: HashMap<String, String>,
    order: Vec<String>,
}

impl Inner {
    /// Drops finished operations past their keep time.
    fn sweep(&mut self) {
        let now = Instant::now();
        let gone: Vec<String> = self
            .ops
            .iter()
            .filter(|(_, e)| e.expires.is_some_and(|t| t <= now))
            .map(|(n, _)| n.clone())
            .collect();
        for name in gone {
            self.forget(&name);
        }
    }

    fn forget(&mut self, name: &str) -> bool {
        let Some(e) = self.ops.remove(name) else {
            return false;
        };
        self.by_request
            .remove(&request_key(e.spec.caller.as_deref(), &e.spec.request_id));
        self.order.retain(|n| n != name);
        true
    }
}

#[async_trait::async_trait]
impl OperationStore for LocalStore {
    async fn create(&self, spec: &Spec) -> Result<Created, StoreError> {
        let mut inner = self.inner.lock();
        inner.sweep();
        let key = request_key(spec.caller.as_deref(), &spec.request_id);
        if let Some(existing) = inner.by_request.get(&key) {
            return Ok(Created::Existing(existing.clone()));
        }
        inner.by_request.insert(key, spec.name.clone());
        inner.order.push(spec.name.clone());
        inner.ops.insert(
            spec.name.clone(),
            Entry {
                spec: spec.clone(),
                steps: HashMap::new(),
                progress: Progress {
                    update_time_ms: spec.create_time_ms,
                    ..Progress::default()
                },
                lease: None,
                expires: None,
            },
        );
        Ok(Created::New)
    }

    async fn spec(&self, name: &str) -> Result<Option<Spec>, StoreError> {
        let mut inner = self.inner.lock();
        inner.sweep();
        Ok(inner.ops.get(name).map(|e| e.spec.clone()))
    }

    async fn progress(&self, name: &str) -> Result<Option<Progress>, StoreError> {
        let mut inner = self.inner.lock();
        inner.sweep();
        Ok(inner.ops.get(name).map(|e| e.progress.clone()))
    }

    async fn steps(&self, name: &str) -> Result<HashMap<u32, Step>, StoreError> {
        Ok(self
            .inner
            .lock()
            .ops
            .get(name)
            .map(|e| e.steps.clone())
            .unwrap_or_default())
    }

    async fn mark_sent(&self, name: &str, steps: &[u32]) -> Result<(), StoreError> {
        let mut inner = self.inner.lock();
        if let Some(e) = inner.ops.get_mut(name) {
            for i in steps {
                e.steps.insert(*i, Step::Sent);
            }
        }
        Ok(())
    }

    async fn record(
        &self,
        name: &str,
        outcomes: &[(u32, Step)],
        delta: Delta,
    ) -> Result<(), StoreError> {
        let mut inner = self.inner.lock();
        let Some(e) = inner.ops.get_mut(name) else {
            return Ok(());
        };
        for (i, step) in outcomes {
            let before = e.steps.insert(*i, step.clone());
            // Counted once per step, whatever repeats.
            if matches!(before, Some(Step::Ok { .. }) | Some(Step::Failed(_))) {
                continue;
            }
            match step {
                Step::Ok { by_read } => {
                    e.progress.succeeded += 1;
                    if *by_read {
                        e.progress.settled_by_read += 1;
                    }
                }
                Step::Failed(_) => e.progress.failed += 1,
                Step::Sent => {}
            }
        }
        e.progress.batch_requests += delta.batch_requests;
        if delta.next_step_ms > 0 {
            e.progress.next_step_ms = delta.next_step_ms;
        }
        if delta.end_ms > 0 {
            e.progress.end_ms = delta.end_ms;
        }
        e.progress.update_time_ms = now_ms();
        Ok(())
    }

    async fn request_cancel(&self, name: &str) -> Result<bool, StoreError> {
        let mut inner = self.inner.lock();
        Ok(match inner.ops.get_mut(name) {
            Some(e) => {
                e.progress.cancel_requested = true;
                true
            }
            None => false,
        })
    }

    async fn finish(&self, name: &str, cancelled: bool, keep: Duration) -> Result<(), StoreError> {
        let mut inner = self.inner.lock();
        if let Some(e) = inner.ops.get_mut(name) {
            e.progress.done = true;
            e.progress.cancelled = cancelled;
            e.progress.next_step_ms = 0;
            e.progress.end_ms = 0;
            e.progress.update_time_ms = now_ms();
            e.expires = Some(Instant::now() + keep);
        }
        Ok(())
    }

    async fn delete(&self, name: &str) -> Result<bool, StoreError> {
        Ok(self.inner.lock().forget(name))
    }

    async fn list(&self) -> Result<Vec<String>, StoreError> {
        let mut inner = self.inner.lock();
        inner.sweep();
        Ok(inner.order.iter().rev().cloned().collect())
    }

    async fn active(&self) -> Result<Vec<String>, StoreError> {
        let inner = self.inner.lock();
        Ok(inner
            .order
            .iter()
            .filter(|n| inner.ops.get(*n).is_some_and(|e| !e.progress.done))
            .cloned()
            .collect())
    }

    async fn lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        let mut inner = self.inner.lock();
        let Some(e) = inner.ops.get_mut(name) else {
            return Ok(false);
        };
        let now = Instant::now();
        match &e.lease {
            Some((h, until)) if h != holder && *until > now => Ok(false),
            _ => {
                e.lease = Some((holder.to_string(), now + ttl));
                Ok(true)
            }
        }
    }

    async fn release(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        let mut inner = self.inner.lock();
        if let Some(e) = inner.ops.get_mut(name) {
            if e.lease.as_ref().is_some_and(|(h, _)| h == holder) {
                e.lease = None;
            }
        }
        Ok(())
    }

    fn shared(&self) -> bool {
        false
    }
}
