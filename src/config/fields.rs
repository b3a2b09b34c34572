//! The table of every configuration key: where it lives in `Config`, how it
//! parses from TOML and from its environment variable, how its default reads,
//! and what it means. Loading, env overrides and `Config::documented_keys` all
//! walk this one table, so a new field is added here once.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::Config;
use crate::secret::Secret;

/// One configuration key.
pub(super) struct Field {
    /// `section.name`, or `name` at the top level.
    pub(super) key: &'static str,
    /// One line for the docs.
    pub(super) description: &'static str,
    /// Sets the field from a TOML value.
    pub(super) from_toml: fn(&mut Config, &toml::Value) -> Result<(), String>,
    /// Sets the field from an environment variable's value.
    pub(super) from_env: fn(&mut Config, &str) -> Result<(), String>,
    /// The field's value as docs show it (secrets redacted).
    pub(super) show: fn(&Config) -> String,
}

/// A type a configuration field can have. Error messages never quote the
/// value itself: it may be a secret.
trait FieldValue: Sized {
    fn from_toml(value: &toml::Value) -> Result<Self, String>;
    fn from_env(value: &str) -> Result<Self, String>;
    fn show(&self) -> String;
}

/// Builds a `Field` from the path of a `Config` field; the key is that path.
macro_rules! field {
    ($section:ident . $name:ident, $description:literal) => {
        Field {
            key: concat!(stringify!($section), ".", stringify!($name)),
            description: $description,
            from_toml: |cfg, value| {
                cfg.$section.$name = FieldValue::from_toml(value)?;
                Ok(())
            },
            from_env: |cfg, value| {
                cfg.$section.$name = FieldValue::from_env(value)?;
                Ok(())
            },
            show: |cfg| FieldValue::show(&cfg.$section.$name),
        }
    };
    ($name:ident, $description:literal) => {
        Field {
            key: stringify!($name),
            description: $description,
            from_toml: |cfg, value| {
                cfg.$name = FieldValue::from_toml(value)?;
                Ok(())
            },
            from_env: |cfg, value| {
                cfg.$name = FieldValue::from_env(value)?;
                Ok(())
            },
            show: |cfg| FieldValue::show(&cfg.$name),
        }
    };
}

/// Every key, in the order the docs list them.
pub(super) static FIELDS: &[Field] = &[
    field!(listen, "gRPC listen address (host:port)."),
    field!(
        graph.base_url,
        "Graph API base URL, e.g. https://graph.facebook.com. Unset: start the embedded sandbox."
    ),
    field!(graph.api_version, "Graph API version path segment, like v25.0."),
    field!(
        graph.app_secret,
        "App secret for appsecret_proof. Prefer this env var or graph.app_secret_file."
    ),
    field!(graph.app_secret_file, "File holding the app secret (e.g. a mounted Kubernetes Secret)."),
    field!(graph.timeout_ms, "Upper bound of one upstream call when the caller sets no deadline, ms."),
    field!(graph.pool_max_idle_per_host, "Idle pooled upstream connections kept per host."),
    field!(vault.file, "Encrypted vault file. Unset: tokens live in memory only."),
    field!(
        vault.key,
        "Vault key: 32 random bytes, base64 (openssl rand -base64 32). Prefer this env var or vault.key_file."
    ),
    field!(vault.key_file, "File holding the base64 vault key."),
    field!(
        vault.seed_file,
        "Plaintext TOML file of tokens loaded at start ([[token]] tables), e.g. a mounted Kubernetes Secret."
    ),
    field!(cache.ttl_secs, "Time to live of a cached read, seconds. 0 disables caching (coalescing stays)."),
    field!(cache.max_entries, "Most cached reads kept."),
    field!(quota.per_token_per_sec, "Calls per second allowed per token."),
    field!(quota.per_business_per_sec, "Calls per second allowed per business."),
    field!(quota.burst, "Burst size of each quota limiter."),
    field!(log.format, "Log format: human or json."),
    field!(log.filter, "Log filter, RUST_LOG syntax; RUST_LOG overrides it."),
];

const UNSET: &str = "(unset)";

// === impl FieldValue ===

fn expected(what: &str, value: &toml::Value) -> String {
    format!("expected {what}, found {}", value.type_str())
}

fn integer<T: TryFrom<i64>>(value: &toml::Value) -> Result<T, String> {
    match value {
        toml::Value::Integer(n) if *n < 0 => Err(format!("must not be negative, got {n}")),
        toml::Value::Integer(n) => T::try_from(*n).map_err(|_| format!("{n} is too large")),
        other => Err(expected("an integer", other)),
    }
}

macro_rules! unsigned {
    ($($t:ty),*) => {$(
        impl FieldValue for $t {
            fn from_toml(value: &toml::Value) -> Result<Self, String> {
                integer(value)
            }
            fn from_env(value: &str) -> Result<Self, String> {
                value.trim().parse().map_err(|e| format!("{e}"))
            }
            fn show(&self) -> String {
                self.to_string()
            }
        }
    )*};
}

unsigned!(u32, u64, usize);

impl FieldValue for String {
    fn from_toml(value: &toml::Value) -> Result<Self, String> {
        value
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| expected("a string", value))
    }
    fn from_env(value: &str) -> Result<Self, String> {
        Ok(value.to_string())
    }
    fn show(&self) -> String {
        self.clone()
    }
}

impl FieldValue for SocketAddr {
    fn from_toml(value: &toml::Value) -> Result<Self, String> {
        let text = value
            .as_str()
            .ok_or_else(|| expected("a string (host:port)", value))?;
        Self::from_env(text)
    }
    fn from_env(value: &str) -> Result<Self, String> {
        value
            .trim()
            .parse()
            .map_err(|_| format!("not an address of the form ip:port: {value:?}"))
    }
    fn show(&self) -> String {
        self.to_string()
    }
}

impl FieldValue for PathBuf {
    fn from_toml(value: &toml::Value) -> Result<Self, String> {
        value
            .as_str()
            .map(PathBuf::from)
            .ok_or_else(|| expected("a path string", value))
    }
    fn from_env(value: &str) -> Result<Self, String> {
        Ok(PathBuf::from(value))
    }
    fn show(&self) -> String {
        self.display().to_string()
    }
}

impl FieldValue for Secret {
    fn from_toml(value: &toml::Value) -> Result<Self, String> {
        value
            .as_str()
            .map(Secret::new)
            .ok_or_else(|| expected("a string", value))
    }
    fn from_env(value: &str) -> Result<Self, String> {
        Ok(Secret::new(value.trim()))
    }
    fn show(&self) -> String {
        "(secret)".to_string()
    }
}

/// Optional fields: an empty env var unsets them (handy in Kubernetes
/// manifests, which cannot remove an inherited variable).
impl<T: FieldValue> FieldValue for Option<T> {
    fn from_toml(value: &toml::Value) -> Result<Self, String> {
        T::from_toml(value).map(Some)
    }
    fn from_env(value: &str) -> Result<Self, String> {
        if value.trim().is_empty() {
            Ok(None)
        } else {
            T::from_env(value).map(Some)
        }
    }
    fn show(&self) -> String {
        self.as_ref().map_or_else(|| UNSET.to_string(), T::show)
    }
}
