//! The call context: what the transport tells the pipeline about a call
//! (deadline, request id, the RPC, the authenticated caller) and the signal
//! that fires when the caller goes away. Vocabulary: imports only `error`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::error::{GatewayError, Refusal, RefusalReason};

/// What the transport tells the engine about a call.
#[derive(Clone, Debug, Default)]
pub struct CallContext {
    /// When the caller stops waiting.
    pub deadline: Option<Instant>,
    /// Correlates logs of one call.
    pub request_id: String,
    /// The internal caller, when known.
    pub caller: Option<String>,
    /// Fires when the caller goes away (a mutation not yet sent is then
    /// abandoned; one already sent completes and its outcome is kept).
    pub cancel: Cancel,
    /// The RPC as called, "/package.Service/Method" (empty when unknown):
    /// policy checks workflow steps against the workflow's service.
    pub rpc: String,
    /// The authenticated caller; None while caller authentication is off.
    pub principal: Option<Arc<Principal>>,
}

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The caller's configured name.
    pub name: String,
    /// May call VaultService.
    pub admin: bool,
    /// How it proved who it is.
    pub method: AuthMethod,
}

/// How a caller authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    /// `authorization: Bearer <key>`.
    ApiKey,
    /// An mTLS client certificate.
    Certificate,
}

// --- cancellation ------------------------------------------------------------

/// Tells a call that its caller went away. The default never fires.
#[derive(Clone, Default)]
pub struct Cancel(Option<Arc<CancelState>>);

struct CancelState {
    fired: AtomicBool,
    notify: Notify,
}

/// Fires its [`Cancel`] when dropped, unless disarmed: held by the gRPC
/// handler while a detached call runs, so the call learns when the caller
/// is gone.
pub struct CancelOnDrop(Option<Arc<CancelState>>);

// === impl Cancel ===

impl Cancel {
    /// A signal and the guard that fires it.
    pub fn new() -> (Self, CancelOnDrop) {
        let state = Arc::new(CancelState {
            fired: AtomicBool::new(false),
            notify: Notify::new(),
        });
        (Self(Some(state.clone())), CancelOnDrop(Some(state)))
    }

    /// True once the caller went away.
    pub fn is_cancelled(&self) -> bool {
        self.0
            .as_ref()
            .is_some_and(|s| s.fired.load(Ordering::SeqCst))
    }

    /// Resolves when the caller goes away (never for the default signal).
    pub async fn cancelled(&self) {
        let Some(state) = &self.0 else {
            return std::future::pending().await;
        };
        loop {
            let notified = state.notify.notified();
            if state.fired.load(Ordering::SeqCst) {
                return;
            }
            notified.await;
        }
    }

    /// The error of a call abandoned because its caller went away.
    pub fn error() -> GatewayError {
        GatewayError::Refused(Refusal::new(
            RefusalReason::Cancelled,
            "the caller went away before the call was sent to Graph",
        ))
    }

    /// `Err` when cancelled.
    pub fn check(&self) -> Result<(), GatewayError> {
        if self.is_cancelled() {
            Err(Self::error())
        } else {
            Ok(())
        }
    }
}

impl std::fmt::Debug for Cancel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Cancel").field(&self.is_cancelled()).finish()
    }
}

// === impl CancelOnDrop ===

impl CancelOnDrop {
    /// The call completed: dropping the guard no longer fires.
    pub fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(state) = self.0.take() {
            state.fired.store(true, Ordering::SeqCst);
            state.notify.notify_waiters();
        }
    }
}
