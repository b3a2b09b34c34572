//! AIP-158 page tokens: opaque to callers, wrapping Graph's `after` cursor and
//! bound to the operation that issued them.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

/// Wraps a Graph cursor.
pub fn encode(operation_id: &str, cursor: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("v1|{operation_id}|{cursor}"))
}

/// Unwraps a token issued by `encode` for the same operation.
pub fn decode(operation_id: &str, token: &str) -> Result<String, &'static str> {
    let raw = URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| "is not a page token issued by this gateway")?;
    let text = String::from_utf8(raw).map_err(|_| "is not a page token issued by this gateway")?;
    let mut parts = text.splitn(3, '|');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("v1"), Some(op), Some(cursor)) if op == operation_id && !cursor.is_empty() => {
            Ok(cursor.to_string())
        }
        (Some("v1"), Some(_), Some(_)) => Err("was issued by a different RPC"),
        _ => Err("is not a page token issued by this gateway"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_binding() {
        let t = encode("PG04", "QVFIUjZAb");
        assert_eq!(decode("PG04", &t).unwrap(), "QVFIUjZAb");
        assert!(decode("AA03", &t).is_err());
        assert!(decode("PG04", "!!!").is_err());
        assert!(decode("PG04", &URL_SAFE_NO_PAD.encode("v1|PG04|")).is_err());
    }
}
