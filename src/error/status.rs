//! The ONE place where errors become gRPC statuses. Every status carries
//! `google.rpc.ErrorInfo`; throttling carries `RetryInfo`; invalid requests
//! carry `BadRequest` field violations.

use std::collections::HashMap;
use std::time::Duration;

use tonic::Code;
use tonic_types::{ErrorDetails, StatusExt as _};

use crate::error::GraphError;
use crate::error::{FieldViolation, GatewayError};

/// ErrorInfo domain of errors Graph reported.
pub const GRAPH_DOMAIN: &str = "graph.facebook.com";
/// ErrorInfo domain of errors the gateway itself raised.
pub const GATEWAY_DOMAIN: &str = "graph-gateway";

/// When Graph throttles without saying for how long.
const DEFAULT_THROTTLE_RETRY: Duration = Duration::from_secs(60);

/// Field violations returned at most; one more says how many were left out.
pub const MAX_VIOLATIONS: usize = 20;
/// A value quoted in a violation's description is cut to this many characters.
pub const MAX_QUOTED_CHARS: usize = 64;
/// A violation's field path is cut to this many characters.
const MAX_FIELD_CHARS: usize = 64;
/// A violation's description is cut to this many characters.
const MAX_DESCRIPTION_CHARS: usize = 128;
/// A status message is cut to this many characters (it travels twice: in
/// `grpc-message` and inside `grpc-status-details-bin`).
const MAX_MESSAGE_CHARS: usize = 512;

/// Maps an error to a status. Every text is scrubbed of secrets
/// (`crate::secret::scrub`, the second line of defence after src/graph/)
/// and bounded, so the trailers stay under 8 KiB whatever the request.
pub fn to_status(err: &GatewayError) -> tonic::Status {
    match err {
        GatewayError::Graph(g) => graph_status(g),
        GatewayError::InvalidArgument(v) => {
            let v = bounded_violations(v);
            let mut d =
                ErrorDetails::with_error_info("INVALID_REQUEST", GATEWAY_DOMAIN, HashMap::new());
            for f in &v {
                d.add_bad_request_violation(f.field.clone(), f.description.clone());
            }
            let msg = message(&GatewayError::InvalidArgument(v).to_string());
            tonic::Status::with_error_details(Code::InvalidArgument, msg, d)
        }
        GatewayError::Throttled { key, retry_after } => {
            let mut d = ErrorDetails::with_error_info(
                "QUOTA_EXHAUSTED",
                GATEWAY_DOMAIN,
                HashMap::from([("quota_key".to_string(), key.clone())]),
            );
            d.set_retry_info(Some(*retry_after));
            tonic::Status::with_error_details(Code::ResourceExhausted, message(&err.to_string()), d)
        }
        GatewayError::NoToken(_) => gateway(Code::FailedPrecondition, "NO_TOKEN", err),
        GatewayError::TokenInvalid(_) => gateway(Code::FailedPrecondition, "TOKEN_INVALID", err),
        GatewayError::PermissionDenied {
            reason, metadata, ..
        } => {
            let d = ErrorDetails::with_error_info(
                *reason,
                GATEWAY_DOMAIN,
                metadata.iter().cloned().collect::<HashMap<_, _>>(),
            );
            tonic::Status::with_error_details(Code::PermissionDenied, message(&err.to_string()), d)
        }
        GatewayError::Unavailable(_) => {
            let mut d = ErrorDetails::with_error_info(
                "UPSTREAM_UNAVAILABLE",
                GATEWAY_DOMAIN,
                HashMap::new(),
            );
            d.set_retry_info(Some(Duration::from_secs(1)));
            tonic::Status::with_error_details(Code::Unavailable, message(&err.to_string()), d)
        }
        GatewayError::NotSent(_) => {
            let mut d = ErrorDetails::with_error_info(
                "UPSTREAM_UNAVAILABLE",
                GATEWAY_DOMAIN,
                HashMap::from([("sent".to_string(), "false".to_string())]),
            );
            d.set_retry_info(Some(Duration::from_secs(1)));
            tonic::Status::with_error_details(Code::Unavailable, message(&err.to_string()), d)
        }
        GatewayError::Refused(r) => {
            let mut d = ErrorDetails::with_error_info(
                r.reason.reason(),
                GATEWAY_DOMAIN,
                r.metadata.iter().cloned().collect::<HashMap<_, _>>(),
            );
            if let Some(after) = r.retry_after {
                d.set_retry_info(Some(after));
            }
            tonic::Status::with_error_details(r.reason.code(), message(&err.to_string()), d)
        }
        GatewayError::Malformed(_) => gateway(Code::Unavailable, "UPSTREAM_MALFORMED", err),
        GatewayError::DeadlineExceeded => gateway(Code::DeadlineExceeded, "DEADLINE_EXCEEDED", err),
        GatewayError::Internal(detail) => {
            // Details go to the log, not to the caller.
            tracing::error!(detail = %detail, "internal error");
            let d = ErrorDetails::with_error_info("INTERNAL", GATEWAY_DOMAIN, HashMap::new());
            tonic::Status::with_error_details(Code::Internal, "internal error", d)
        }
    }
}

/// A status message: scrubbed of secrets, at most [`MAX_MESSAGE_CHARS`].
fn message(text: &str) -> String {
    cut(&crate::secret::scrub(text, &[]), MAX_MESSAGE_CHARS)
}

/// `s` cut to `max` characters, with an ellipsis when cut.
fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Quoted values (`"…"`, as `{:?}` writes them) cut to
/// [`MAX_QUOTED_CHARS`] characters.
fn bound_quotes(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(1024));
    let mut quoted: Option<usize> = None;
    let mut escaped = false;
    for c in s.chars() {
        match quoted {
            None => {
                out.push(c);
                if c == '"' {
                    quoted = Some(0);
                }
            }
            Some(n) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '"' {
                    out.push(c);
                    quoted = None;
                    continue;
                }
                if n < MAX_QUOTED_CHARS {
                    out.push(c);
                } else if n == MAX_QUOTED_CHARS {
                    out.push('…');
                }
                quoted = Some(n + 1);
            }
        }
    }
    out
}

/// At most [`MAX_VIOLATIONS`], each bounded and scrubbed, plus one that
/// counts the rest.
pub fn bounded_violations(v: &[FieldViolation]) -> Vec<FieldViolation> {
    let mut out: Vec<FieldViolation> = v
        .iter()
        .take(MAX_VIOLATIONS)
        .map(|f| FieldViolation {
            field: cut(&f.field, MAX_FIELD_CHARS),
            description: cut(
                &bound_quotes(&crate::secret::scrub(&f.description, &[])),
                MAX_DESCRIPTION_CHARS,
            ),
        })
        .collect();
    if v.len() > MAX_VIOLATIONS {
        let rest = v.len() - MAX_VIOLATIONS;
        out.push(FieldViolation {
            field: cut(&v[MAX_VIOLATIONS].field, MAX_FIELD_CHARS),
            description: format!(
                "and {rest} more violation{} not listed",
                if rest == 1 { "" } else { "s" }
            ),
        });
    }
    out
}

fn gateway(code: Code, reason: &str, err: &GatewayError) -> tonic::Status {
    let d = ErrorDetails::with_error_info(reason, GATEWAY_DOMAIN, HashMap::new());
    tonic::Status::with_error_details(code, message(&err.to_string()), d)
}

/// Graph error codes to gRPC codes and ErrorInfo reasons.
pub fn classify(g: &GraphError) -> (Code, &'static str) {
    match g.code {
        // The gateway's token is bad: not the caller's credentials.
        190 | 102 | 463 | 467 => (Code::FailedPrecondition, "GRAPH_TOKEN_INVALID"),
        _ if g.is_throttling() => (Code::ResourceExhausted, "GRAPH_THROTTLED"),
        10 | 200..=299 => (Code::PermissionDenied, "GRAPH_PERMISSION_DENIED"),
        // 3: the app lacks the capability (an edge limited since, e.g., BB01
        // in 2021-06); 2500: unknown path components (an edge gone from
        // Meta's spec). Deprecated RPCs name this reason.
        3 | 2500 => (Code::FailedPrecondition, "GRAPH_EDGE_UNAVAILABLE"),
        // Subcode 33: the object does not exist (or is invisible to the token).
        100 if g.subcode == Some(33) => (Code::NotFound, "GRAPH_NOT_FOUND"),
        100 => (Code::InvalidArgument, "GRAPH_INVALID_PARAMETER"),
        _ if g.is_transient() => (Code::Unavailable, "GRAPH_UNAVAILABLE"),
        _ if g.http_status >= 500 => (Code::Unavailable, "GRAPH_UNAVAILABLE"),
        _ => (Code::FailedPrecondition, "GRAPH_ERROR"),
    }
}

fn graph_status(g: &GraphError) -> tonic::Status {
    let (code, reason) = classify(g);
    let mut meta = HashMap::from([("code".to_string(), g.code.to_string())]);
    if let Some(s) = g.subcode {
        meta.insert("subcode".to_string(), s.to_string());
    }
    if let Some(t) = &g.fbtrace_id {
        meta.insert("fbtrace_id".to_string(), message(t));
    }
    if !g.error_type.is_empty() {
        meta.insert("type".to_string(), message(&g.error_type));
    }
    meta.insert("is_transient".to_string(), g.is_transient().to_string());
    let mut d = ErrorDetails::with_error_info(reason, GRAPH_DOMAIN, meta);
    match code {
        Code::ResourceExhausted => {
            d.set_retry_info(Some(DEFAULT_THROTTLE_RETRY));
        }
        Code::Unavailable => {
            d.set_retry_info(Some(Duration::from_secs(1)));
        }
        _ => {}
    }
    tonic::Status::with_error_details(code, message(&g.to_string()), d)
}

/// The canonical name of a gRPC code, e.g. `NOT_FOUND`.
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "CANCELLED",
        Unknown => "UNKNOWN",
        InvalidArgument => "INVALID_ARGUMENT",
        DeadlineExceeded => "DEADLINE_EXCEEDED",
        NotFound => "NOT_FOUND",
        AlreadyExists => "ALREADY_EXISTS",
        PermissionDenied => "PERMISSION_DENIED",
        ResourceExhausted => "RESOURCE_EXHAUSTED",
        FailedPrecondition => "FAILED_PRECONDITION",
        Aborted => "ABORTED",
        OutOfRange => "OUT_OF_RANGE",
        Unimplemented => "UNIMPLEMENTED",
        Internal => "INTERNAL",
        Unavailable => "UNAVAILABLE",
        DataLoss => "DATA_LOSS",
        Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(code: i64, subcode: Option<i64>) -> GraphError {
        GraphError {
            code,
            subcode,
            error_type: "OAuthException".into(),
            message: "m".into(),
            is_transient: false,
            fbtrace_id: Some("Abc".into()),
            http_status: 400,
        }
    }

    #[test]
    fn graph_codes_map_to_grpc_codes() {
        let cases = [
            (190, None, Code::FailedPrecondition, "GRAPH_TOKEN_INVALID"),
            (10, None, Code::PermissionDenied, "GRAPH_PERMISSION_DENIED"),
            (200, None, Code::PermissionDenied, "GRAPH_PERMISSION_DENIED"),
            (299, None, Code::PermissionDenied, "GRAPH_PERMISSION_DENIED"),
            (100, None, Code::InvalidArgument, "GRAPH_INVALID_PARAMETER"),
            (100, Some(33), Code::NotFound, "GRAPH_NOT_FOUND"),
            (3, None, Code::FailedPrecondition, "GRAPH_EDGE_UNAVAILABLE"),
            (
                2500,
                None,
                Code::FailedPrecondition,
                "GRAPH_EDGE_UNAVAILABLE",
            ),
            (4, None, Code::ResourceExhausted, "GRAPH_THROTTLED"),
            (
                17,
                Some(2446079),
                Code::ResourceExhausted,
                "GRAPH_THROTTLED",
            ),
            (32, None, Code::ResourceExhausted, "GRAPH_THROTTLED"),
            (613, None, Code::ResourceExhausted, "GRAPH_THROTTLED"),
            (80004, None, Code::ResourceExhausted, "GRAPH_THROTTLED"),
            (80014, None, Code::ResourceExhausted, "GRAPH_THROTTLED"),
            (1, None, Code::Unavailable, "GRAPH_UNAVAILABLE"),
            (2, None, Code::Unavailable, "GRAPH_UNAVAILABLE"),
        ];
        for (code, sub, want, reason) in cases {
            assert_eq!(classify(&g(code, sub)), (want, reason), "code {code}");
        }
    }

    #[test]
    fn status_carries_error_info_and_retry_info() {
        let s = to_status(&GatewayError::Graph(g(17, Some(2446079))));
        assert_eq!(s.code(), Code::ResourceExhausted);
        let d = s.get_error_details();
        let info = d.error_info().unwrap();
        assert_eq!(info.domain, GRAPH_DOMAIN);
        assert_eq!(info.reason, "GRAPH_THROTTLED");
        assert_eq!(info.metadata.get("code").map(String::as_str), Some("17"));
        assert_eq!(
            info.metadata.get("subcode").map(String::as_str),
            Some("2446079")
        );
        assert_eq!(
            info.metadata.get("fbtrace_id").map(String::as_str),
            Some("Abc")
        );
        assert!(d.retry_info().unwrap().retry_delay.is_some());
    }

    #[test]
    fn invalid_argument_has_field_violations() {
        let s = to_status(&GatewayError::InvalidArgument(vec![
            crate::error::FieldViolation {
                field: "business_id".into(),
                description: "is required".into(),
            },
            crate::error::FieldViolation {
                field: "tasks[0]".into(),
                description: "must not be UNSPECIFIED".into(),
            },
        ]));
        assert_eq!(s.code(), Code::InvalidArgument);
        let d = s.get_error_details();
        let br = d.bad_request().unwrap();
        assert_eq!(br.field_violations.len(), 2);
        assert_eq!(br.field_violations[0].field, "business_id");
        assert!(d.error_info().is_some());
    }

    #[test]
    fn violations_are_bounded_and_the_trailer_small() {
        let long = "x".repeat(5000);
        let v: Vec<_> = (0..10_000)
            .map(|i| crate::error::FieldViolation {
                field: format!("tasks[{i}]"),
                description: format!("must be one of the enum, got {long:?}"),
            })
            .collect();
        let s = to_status(&GatewayError::InvalidArgument(v));
        assert_eq!(s.code(), Code::InvalidArgument);
        let d = s.get_error_details();
        let br = d.bad_request().unwrap();
        assert_eq!(br.field_violations.len(), MAX_VIOLATIONS + 1);
        assert_eq!(br.field_violations[0].field, "tasks[0]");
        assert_eq!(
            br.field_violations[MAX_VIOLATIONS].description,
            "and 9980 more violations not listed"
        );
        for f in &br.field_violations[..MAX_VIOLATIONS] {
            let quoted = f.description.split('"').nth(1).unwrap();
            assert_eq!(quoted.chars().count(), MAX_QUOTED_CHARS + 1, "{quoted}");
        }
        assert!(s.details().len() < 8 * 1024, "{} bytes", s.details().len());
        assert!(s.message().len() <= 3 * MAX_MESSAGE_CHARS);
    }

    #[test]
    fn graph_text_is_scrubbed_again() {
        let token = format!("EAAG{}", "Zq9".repeat(12));
        let mut e = g(190, None);
        e.message = format!("Invalid token {token}");
        let s = to_status(&GatewayError::Graph(e));
        assert!(!s.message().contains(&token), "{}", s.message());
        let s = to_status(&GatewayError::Unavailable(format!("echo {token}")));
        assert!(!s.message().contains(&token), "{}", s.message());
    }

    #[test]
    fn internal_details_stay_in_the_log() {
        let s = to_status(&GatewayError::Internal("secret-ish detail".into()));
        assert_eq!(s.message(), "internal error");
    }
}
