//! The gateway's own refusals (overload, an open circuit, shutdown, a
//! reused request_id, a mutation whose outcome is unknown, a caller that went
//! away): vocabulary shared by `overload`, `retry`, `idempotency` and the
//! status mapping (`error::status`).

use std::time::Duration;

use super::GatewayError;

/// Why the gateway refused or stopped a call on its own account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefusalReason {
    /// Too many RPCs in flight (`server.max_concurrent_rpcs`).
    Overloaded,
    /// The circuit towards Graph is open.
    CircuitOpen,
    /// The gateway is draining before it exits.
    ShuttingDown,
    /// The request_id was first used for a different request.
    RequestIdReused,
    /// A mutation reached Graph but its answer was lost: it may or may not
    /// have been applied.
    OutcomeUnknown,
    /// The shared idempotency store could not confirm the request_id: the
    /// mutation was not sent.
    IdempotencyUnavailable,
    /// The caller went away before the call was sent.
    Cancelled,
    /// No such long-running operation (unknown, expired, or another
    /// caller's).
    OperationNotFound,
    /// The operation store (Redis) could not answer.
    OperationsUnavailable,
    /// The operation is still running (delete it once done).
    OperationRunning,
}

/// An error the gateway raised itself: the reason, a message for the
/// caller, when to retry, and ErrorInfo metadata.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    /// Why.
    pub reason: RefusalReason,
    /// What the caller reads.
    pub message: String,
    /// RetryInfo, when a retry may succeed.
    pub retry_after: Option<Duration>,
    /// ErrorInfo metadata.
    pub metadata: Vec<(String, String)>,
}

// === impl RefusalReason ===

impl RefusalReason {
    /// The ErrorInfo reason (domain `graph-gateway`).
    pub fn reason(self) -> &'static str {
        match self {
            Self::Overloaded => "OVERLOADED",
            Self::CircuitOpen => "GRAPH_CIRCUIT_OPEN",
            Self::ShuttingDown => "SHUTTING_DOWN",
            Self::RequestIdReused => "REQUEST_ID_REUSED",
            Self::OutcomeUnknown => "MUTATION_OUTCOME_UNKNOWN",
            Self::IdempotencyUnavailable => "IDEMPOTENCY_UNAVAILABLE",
            Self::Cancelled => "CANCELLED",
            Self::OperationNotFound => "OPERATION_NOT_FOUND",
            Self::OperationsUnavailable => "OPERATIONS_UNAVAILABLE",
            Self::OperationRunning => "OPERATION_RUNNING",
        }
    }

    /// The gRPC code.
    pub fn code(self) -> tonic::Code {
        match self {
            Self::Overloaded => tonic::Code::ResourceExhausted,
            Self::CircuitOpen
            | Self::ShuttingDown
            | Self::OutcomeUnknown
            | Self::IdempotencyUnavailable
            | Self::OperationsUnavailable => tonic::Code::Unavailable,
            Self::OperationNotFound => tonic::Code::NotFound,
            Self::OperationRunning => tonic::Code::FailedPrecondition,
            Self::RequestIdReused => tonic::Code::AlreadyExists,
            Self::Cancelled => tonic::Code::Cancelled,
        }
    }

    /// A short label for logs and metrics.
    pub fn label(self) -> &'static str {
        match self {
            Self::Overloaded => "overloaded",
            Self::CircuitOpen => "circuit_open",
            Self::ShuttingDown => "shutting_down",
            Self::RequestIdReused => "request_id_reused",
            Self::OutcomeUnknown => "outcome_unknown",
            Self::IdempotencyUnavailable => "idempotency_unavailable",
            Self::Cancelled => "cancelled",
            Self::OperationNotFound => "operation_not_found",
            Self::OperationsUnavailable => "operations_unavailable",
            Self::OperationRunning => "operation_running",
        }
    }
}

// === impl Refusal ===

impl Refusal {
    /// A refusal without metadata.
    pub fn new(reason: RefusalReason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
            retry_after: None,
            metadata: Vec::new(),
        }
    }

    /// With RetryInfo.
    pub fn retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    /// With one ErrorInfo metadata entry.
    pub fn with(mut self, key: &str, value: impl Into<String>) -> Self {
        self.metadata.push((key.to_string(), value.into()));
        self
    }
}

impl From<Refusal> for GatewayError {
    fn from(r: Refusal) -> Self {
        GatewayError::Refused(r)
    }
}
