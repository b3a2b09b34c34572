//! What the engine needs from gRPC metadata: deadline, request id, caller.

use std::time::Duration;

use http::HeaderName;
use tokio::time::Instant;

use crate::context::CallContext;

/// Reads `grpc-timeout`, `x-request-id` (generated when absent) and
/// `x-caller` (the caller's name while caller authentication is off; see
/// [`from_request`]).
pub fn from_metadata(md: &tonic::metadata::MetadataMap) -> CallContext {
    // Looked up by name values, not parsed from strings on every call.
    const GRPC_TIMEOUT: HeaderName = HeaderName::from_static("grpc-timeout");
    const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
    const X_CALLER: HeaderName = HeaderName::from_static("x-caller");
    let md: &http::HeaderMap = md.as_ref();
    let deadline = md
        .get(GRPC_TIMEOUT)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_timeout)
        .map(|d| Instant::now() + d);
    let request_id = md
        .get(X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|s| !s.is_empty() && s.len() <= 128)
        .map_or_else(new_request_id, str::to_string);
    let caller = md
        .get(X_CALLER)
        .and_then(|v| v.to_str().ok())
        .filter(|s| !s.is_empty() && s.len() <= 128)
        .map(str::to_string);
    CallContext {
        deadline,
        request_id,
        caller,
        cancel: Default::default(),
        rpc: String::new(),
        principal: None,
    }
}

/// The context of a request that passed the auth layer
/// (`crate::auth::AuthLayer`): the RPC's path and, when callers must
/// authenticate, the authenticated caller, whose name replaces `x-caller`.
pub fn from_request<T>(req: &tonic::Request<T>) -> CallContext {
    let mut ctx = from_metadata(req.metadata());
    if let Some(rpc) = req.extensions().get::<crate::auth::RpcPath>() {
        ctx.rpc = rpc.0.to_string();
    }
    if let Some(crate::auth::Authenticated(principal)) = req.extensions().get() {
        ctx.caller = Some(principal.name.clone());
        ctx.principal = Some(principal.clone());
    }
    ctx
}

/// gRPC's timeout format: up to 8 digits and a unit (H M S m u n).
pub fn parse_timeout(s: &str) -> Option<Duration> {
    if s.len() < 2 || s.len() > 9 {
        return None;
    }
    let (digits, unit) = s.split_at(s.len() - 1);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.saturating_mul(3600)),
        "M" => Duration::from_secs(n.saturating_mul(60)),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// 16 hex digits, random.
fn new_request_id() -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let n = rand::random::<u64>();
    (0..16)
        .rev()
        .map(|i| char::from(HEX[((n >> (i * 4)) & 0xf) as usize]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_grpc_timeouts() {
        assert_eq!(parse_timeout("100m"), Some(Duration::from_millis(100)));
        assert_eq!(parse_timeout("5S"), Some(Duration::from_secs(5)));
        assert_eq!(parse_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_timeout("x"), None);
        assert_eq!(parse_timeout("10x"), None);
        assert_eq!(parse_timeout("123456789S"), None);
    }

    #[test]
    fn request_ids_come_from_metadata_or_are_made_up() {
        let mut md = tonic::metadata::MetadataMap::new();
        let made = from_metadata(&md).request_id;
        assert_eq!(made.len(), 16);
        assert!(made
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_ne!(made, from_metadata(&md).request_id);
        md.insert("x-request-id", "abc-1".parse().unwrap());
        md.insert("x-caller", "ads".parse().unwrap());
        md.insert("grpc-timeout", "5S".parse().unwrap());
        let ctx = from_metadata(&md);
        assert_eq!(ctx.request_id, "abc-1");
        assert_eq!(ctx.caller.as_deref(), Some("ads"));
        assert!(ctx.deadline.is_some());
    }
}
