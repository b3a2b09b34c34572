//! Caller API keys: random bearer keys that the configuration stores only as
//! hex HMAC-SHA256(pepper, key). A leaked configuration does not reveal a
//! key, and without the pepper its hashes cannot be brute-forced offline.
//! Checking a key costs one HMAC and a constant-time comparison with each
//! configured hash.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::RngCore as _;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::secret::Secret;

pub use crate::secret::KEY_PREFIX;

/// A fresh key: `ggw_` and 32 random bytes, base64url.
pub fn generate() -> Secret {
    let mut bytes = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(bytes.as_mut_slice());
    Secret::new(format!(
        "{KEY_PREFIX}{}",
        URL_SAFE_NO_PAD.encode(bytes.as_slice())
    ))
}

/// HMAC-SHA256(pepper, key).
pub fn digest(pepper: &Secret, key: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length: this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(pepper.expose().as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return [0; 32],
    };
    mac.update(key);
    mac.finalize().into_bytes().into()
}

/// The hex digest the configuration's `key_sha256` holds.
pub fn hex_digest(pepper: &Secret, key: &Secret) -> String {
    hex::encode(digest(pepper, key.expose().as_bytes()))
}

/// A configured `key_sha256`.
pub fn parse_hex(text: &str) -> Option<[u8; 32]> {
    hex::decode(text.trim()).ok()?.try_into().ok()
}

/// Equality in time independent of where the inputs differ.
pub fn ct_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_prefixed_and_hash_stably() {
        let (a, b) = (generate(), generate());
        assert!(a.expose().starts_with(KEY_PREFIX));
        assert_ne!(a.expose(), b.expose());
        let pepper = Secret::new("0123456789abcdef0123456789abcdef");
        let h = hex_digest(&pepper, &a);
        assert_eq!(h.len(), 64);
        assert_eq!(parse_hex(&h), Some(digest(&pepper, a.expose().as_bytes())));
        assert_ne!(
            h,
            hex_digest(&Secret::new("another pepper, another hash"), &a)
        );
        let d = digest(&pepper, b"x");
        assert!(ct_eq(&d, &d));
        assert!(!ct_eq(&d, &digest(&pepper, b"y")));
    }
}
