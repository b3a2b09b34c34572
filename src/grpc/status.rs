//! The ONE place where errors become gRPC statuses. Every status carries
//! `google.rpc.ErrorInfo`; throttling carries `RetryInfo`; invalid requests
//! carry `BadRequest` field violations.

use std::collections::HashMap;
use std::time::Duration;

use tonic::Code;
use tonic_types::{ErrorDetails, StatusExt as _};

use crate::error::GatewayError;
use crate::graph::GraphError;

/// ErrorInfo domain of errors Graph reported.
pub const GRAPH_DOMAIN: &str = "graph.facebook.com";
/// ErrorInfo domain of errors the gateway itself raised.
pub const GATEWAY_DOMAIN: &str = "graph-gateway";

/// When Graph throttles without saying for how long.
const DEFAULT_THROTTLE_RETRY: Duration = Duration::from_secs(60);

/// Maps an error to a status.
pub fn to_status(err: &GatewayError) -> tonic::Status {
    match err {
        GatewayError::Graph(g) => graph_status(g),
        GatewayError::InvalidArgument(v) => {
            let mut d =
                ErrorDetails::with_error_info("INVALID_REQUEST", GATEWAY_DOMAIN, HashMap::new());
            for f in v {
                d.add_bad_request_violation(f.field.clone(), f.description.clone());
            }
            tonic::Status::with_error_details(Code::InvalidArgument, err.to_string(), d)
        }
        GatewayError::Throttled { key, retry_after } => {
            let mut d = ErrorDetails::with_error_info(
                "QUOTA_EXHAUSTED",
                GATEWAY_DOMAIN,
                HashMap::from([("quota_key".to_string(), key.clone())]),
            );
            d.set_retry_info(Some(*retry_after));
            tonic::Status::with_error_details(Code::ResourceExhausted, err.to_string(), d)
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
            tonic::Status::with_error_details(Code::PermissionDenied, err.to_string(), d)
        }
        GatewayError::Unavailable(_) => {
            let mut d = ErrorDetails::with_error_info(
                "UPSTREAM_UNAVAILABLE",
                GATEWAY_DOMAIN,
                HashMap::new(),
            );
            d.set_retry_info(Some(Duration::from_secs(1)));
            tonic::Status::with_error_details(Code::Unavailable, err.to_string(), d)
        }
        GatewayError::NotSent(_) => {
            let mut d = ErrorDetails::with_error_info(
                "UPSTREAM_UNAVAILABLE",
                GATEWAY_DOMAIN,
                HashMap::from([("sent".to_string(), "false".to_string())]),
            );
            d.set_retry_info(Some(Duration::from_secs(1)));
            tonic::Status::with_error_details(Code::Unavailable, err.to_string(), d)
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
            tonic::Status::with_error_details(r.reason.code(), err.to_string(), d)
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

fn gateway(code: Code, reason: &str, err: &GatewayError) -> tonic::Status {
    let d = ErrorDetails::with_error_info(reason, GATEWAY_DOMAIN, HashMap::new());
    tonic::Status::with_error_details(code, err.to_string(), d)
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
        meta.insert("fbtrace_id".to_string(), t.clone());
    }
    if !g.error_type.is_empty() {
        meta.insert("type".to_string(), g.error_type.clone());
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
    tonic::Status::with_error_details(code, g.to_string(), d)
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
    fn internal_details_stay_in_the_log() {
        let s = to_status(&GatewayError::Internal("secret-ish detail".into()));
        assert_eq!(s.message(), "internal error");
    }
}
