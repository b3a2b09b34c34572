//! The one error type of the pipeline. Domain code returns it; the gRPC layer
//! maps it to a status in one place (`error::status`, re-exported as
//! `grpc::status`).

use std::time::Duration;

mod graph;
mod refusal;
pub mod status;

pub use graph::GraphError;
pub use refusal::{Refusal, RefusalReason};

/// A field that failed validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldViolation {
    /// The request field, e.g. "business_id" or "tasks[1]".
    pub field: String,
    /// What is wrong with it.
    pub description: String,
}

/// Why a call failed.
#[derive(Clone, Debug, thiserror::Error)]
pub enum GatewayError {
    /// The request is invalid; nothing was sent to Graph.
    #[error("invalid request: {}", describe(.0))]
    InvalidArgument(Vec<FieldViolation>),
    /// Graph answered with an error object.
    #[error("{0}")]
    Graph(GraphError),
    /// Graph could not be reached or did not answer in time.
    #[error("Graph API unreachable: {0}")]
    Unavailable(String),
    /// Graph could not be reached and the request never left the gateway
    /// (connect failure): safe to send again, even for a mutation.
    #[error("Graph API unreachable (request not sent): {0}")]
    NotSent(String),
    /// The gateway itself refused or stopped the call: overload, an open
    /// circuit, shutdown, a reused request_id, a mutation whose outcome is
    /// unknown (see [`Refusal`]).
    #[error("{0}")]
    Refused(Refusal),
    /// Graph answered with something that is not a Graph response.
    #[error("malformed Graph response: {0}")]
    Malformed(String),
    /// No vault token serves the call.
    #[error("{0}")]
    NoToken(String),
    /// The caller's policy does not allow the call (src/policy.rs); nothing
    /// was read from the cache or sent to Graph.
    #[error("{message}")]
    PermissionDenied {
        /// ErrorInfo reason, e.g. "BUSINESS_NOT_ALLOWED".
        reason: &'static str,
        /// What was refused, naming the caller, never a credential.
        message: String,
        /// ErrorInfo metadata (caller, service, business, access).
        metadata: Vec<(String, String)>,
    },
    /// Every vault token that could serve the call is known to be invalid
    /// (Graph's debug_token said so); nothing was sent to Graph.
    #[error("{0}")]
    TokenInvalid(String),
    /// The quota engine could not grant a permit before the caller's deadline.
    #[error("quota exhausted for {key}; retry in {retry_after:?}")]
    Throttled {
        /// The quota key that is exhausted (a name, never a secret).
        key: String,
        /// When a permit is expected.
        retry_after: Duration,
    },
    /// The caller's deadline passed.
    #[error("deadline exceeded")]
    DeadlineExceeded,
    /// A bug or an impossible state; details are logged, not returned.
    #[error("internal error: {0}")]
    Internal(String),
}

fn describe(v: &[FieldViolation]) -> String {
    v.iter()
        .map(|f| format!("{}: {}", f.field, f.description))
        .collect::<Vec<_>>()
        .join("; ")
}

impl GatewayError {
    /// One violation.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self::InvalidArgument(vec![FieldViolation {
            field: field.into(),
            description: description.into(),
        }])
    }

    /// A short label for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::InvalidArgument(_) => "invalid_argument",
            Self::Graph(_) => "graph_error",
            Self::Unavailable(_) => "unavailable",
            Self::NotSent(_) => "not_sent",
            Self::Refused(r) => r.reason.label(),
            Self::Malformed(_) => "malformed",
            Self::NoToken(_) => "no_token",
            Self::PermissionDenied { .. } => "permission_denied",
            Self::TokenInvalid(_) => "token_invalid",
            Self::Throttled { .. } => "throttled",
            Self::DeadlineExceeded => "deadline_exceeded",
            Self::Internal(_) => "internal",
        }
    }
}
