//! One type for every secret: tokens, the app secret, caller keys, vault keys.
//!
//! A `Secret` has no `Display`, no `Serialize`, and a `Debug` that prints
//! nothing of the value; the value is wiped on drop. The only way to read it is
//! [`Secret::expose`], which makes every use greppable.

use std::collections::VecDeque;
use std::fmt;

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use parking_lot::RwLock;
use zeroize::Zeroizing;

/// Every generated caller key (`auth::keys::generate`) starts with this, so
/// scanners (and [`scrub`]) can spot leaked keys.
pub const KEY_PREFIX: &str = "ggw_";

/// A secret string.
#[derive(Clone)]
pub struct Secret(Zeroizing<String>);

// === impl Secret ===

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(Zeroizing::new(value.into()))
    }

    /// The value, for the few places that must send or hash it.
    pub fn expose(&self) -> &str {
        self.0.as_str()
    }

    /// True when the value is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl PartialEq for Secret {
    /// Constant-time comparison, so equality checks leak no timing.
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (self.0.as_bytes(), other.0.as_bytes());
        if a.len() != b.len() {
            return false;
        }
        a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

impl Eq for Secret {}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret::new)
    }
}

/// What a scrubbed secret is replaced with.
pub const REDACTED: &str = "[redacted]";

/// Secrets the process holds, remembered so that text from outside (Graph's
/// error messages) can be scrubbed of them. Bounded: the oldest are forgotten
/// first; token-shaped strings are scrubbed whether remembered or not.
const MAX_REMEMBERED: usize = 1024;
/// Shorter values are not remembered: scrubbing them would mangle ordinary
/// words, and no real token, key or secret is that short.
const MIN_REMEMBERED: usize = 8;

static KNOWN: RwLock<VecDeque<Zeroizing<String>>> = RwLock::new(VecDeque::new());

/// Remembers `secret` so that [`scrub`] removes it from any text: vault
/// tokens (page tokens included) as the Graph client uses them, the app
/// secret, vault keys, caller keys.
pub fn remember(secret: &Secret) {
    let v = secret.expose();
    if v.len() < MIN_REMEMBERED {
        return;
    }
    if KNOWN.read().iter().any(|k| k.as_str() == v) {
        return;
    }
    let mut known = KNOWN.write();
    if known.iter().any(|k| k.as_str() == v) {
        return;
    }
    if known.len() >= MAX_REMEMBERED {
        known.pop_front();
    }
    known.push_back(Zeroizing::new(v.to_string()));
}

/// The ONE scrubber: `text` without any remembered secret, any of `extra`,
/// and any token-shaped string (a Graph access token `EAA…`, a long hex or
/// base64 run), each replaced by [`REDACTED`]. Applied where Graph's error
/// text enters the gateway (src/graph/) and again where errors become
/// statuses (src/error/status.rs).
pub fn scrub(text: &str, extra: &[&Secret]) -> String {
    let mut out = text.to_string();
    for s in extra {
        if s.expose().len() >= MIN_REMEMBERED {
            out = out.replace(s.expose(), REDACTED);
        }
    }
    {
        let known = KNOWN.read();
        for k in known.iter() {
            if out.contains(k.as_str()) {
                out = out.replace(k.as_str(), REDACTED);
            }
        }
    }
    scrub_shapes(&out)
}

/// True when `text` holds a remembered secret or one of `extra` (the
/// pass-through's answers are checked with it: a vault token echoed by
/// Graph is refused, never returned).
pub fn holds_known(text: &str, extra: &[&Secret]) -> bool {
    if extra
        .iter()
        .any(|s| s.expose().len() >= MIN_REMEMBERED && text.contains(s.expose()))
    {
        return true;
    }
    KNOWN.read().iter().any(|k| text.contains(k.as_str()))
}

/// Characters of tokens, keys and their encodings (base64 without its
/// padding, base64url, hex).
fn token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '_' | '-')
}

/// True when a run of token characters looks like a credential.
fn token_shaped(run: &str) -> bool {
    let core = run;
    let alnum = core.chars().filter(char::is_ascii_alphanumeric).count();
    // The gateway's own caller keys.
    if run.starts_with(KEY_PREFIX) && alnum >= 16 {
        return true;
    }
    // Graph access tokens: EAA followed by 20 or more letters and digits.
    if run.starts_with("EAA") && alnum >= 23 {
        return true;
    }
    // Hex digests and keys (32+ hex digits).
    if core.len() >= 32 && core.chars().all(|c| c.is_ascii_hexdigit()) {
        return true;
    }
    // Long base64 / base64url runs with letters and digits mixed, e.g.
    // app secrets, page tokens, API keys ("gg_…"), sealed records.
    let digits = core.chars().filter(char::is_ascii_digit).count();
    let letters = core.chars().filter(char::is_ascii_alphabetic).count();
    alnum >= 32 && digits > 0 && letters > 0
}

fn scrub_shapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if token_shaped(run) {
            out.push_str(REDACTED);
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if token_char(c) {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// A vault key: 32 bytes, wiped on drop (parsed here so the configuration
/// can check `vault.key` without the vault; sealing is `vault::crypto`).
pub(crate) struct VaultKey(pub(crate) Zeroizing<[u8; 32]>);

impl VaultKey {
    /// Decodes base64 (standard or URL-safe, padded or not) of exactly 32
    /// bytes. Errors never quote the key, nor where in it decoding failed.
    pub(crate) fn parse(key: &Secret) -> Result<VaultKey, String> {
        let text = key.expose().trim();
        let bytes = [STANDARD, URL_SAFE, STANDARD_NO_PAD, URL_SAFE_NO_PAD]
            .iter()
            .find_map(|engine| engine.decode(text).ok())
            .map(Zeroizing::new)
            .ok_or_else(|| {
                "not valid base64 (expected 32 random bytes, base64: openssl rand -base64 32)"
                    .to_string()
            })?;
        let array: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
            format!(
                "must decode to 32 bytes, got {} (openssl rand -base64 32 makes one)",
                bytes.len()
            )
        })?;
        Ok(VaultKey(Zeroizing::new(array)))
    }
}

/// Checks that a vault key (base64 of 32 bytes) is well formed; the message
/// never quotes the key.
pub fn check_vault_key(key: &Secret) -> Result<(), String> {
    VaultKey::parse(key).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_removes_known_and_token_shaped_secrets() {
        let token = format!("EAAB{}", "x1Y2z3".repeat(6));
        let msg = format!("Invalid OAuth access token - Cannot parse access token {token}.");
        let s = scrub(&msg, &[]);
        assert!(!s.contains(&token), "{s}");
        assert!(s.contains(REDACTED));
        assert!(s.starts_with("Invalid OAuth access token - Cannot parse access token"));
        // A remembered secret of no particular shape.
        let odd = Secret::new("sandbox app secret!");
        remember(&odd);
        let s = scrub("the secret is sandbox app secret! indeed", &[]);
        assert_eq!(s, "the secret is [redacted] indeed");
        // An explicit one.
        let page = Secret::new("page-tok-short");
        assert_eq!(scrub("x page-tok-short y", &[&page]), "x [redacted] y");
        // Hex and base64 runs.
        let hex = "0123456789abcdef0123456789abcdef";
        assert_eq!(scrub(&format!("proof {hex}"), &[]), "proof [redacted]");
        let b64 = "c2VjcmV0LXZhdWx0LWtleS0xMjM0NTY3ODkwYWJjZGVm";
        assert_eq!(scrub(&format!("key={b64}"), &[]), "key=[redacted]");
    }

    #[test]
    fn scrub_keeps_ordinary_text() {
        for msg in [
            "(#100) Param tasks[0] must be one of {MANAGE, ADVERTISE}",
            "Unsupported get request. Object with ID '1000000001' does not exist",
            "fbtrace_id AbCdEfGh12345_xyz-Q",
            "Graph API error (#190/463): Error validating access token: Session has expired on Tuesday",
        ] {
            assert_eq!(scrub(msg, &[]), msg);
        }
    }

    #[test]
    fn debug_hides_the_value() {
        let s = Secret::new("EAAB-super-secret");
        assert!(!format!("{s:?}").contains("super"));
        assert_eq!(s.expose(), "EAAB-super-secret");
    }
}
