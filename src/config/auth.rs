//! Who may call the gateway and what they may do, and the transport that
//! carries it: `[auth]` (caller keys and certificate identities),
//! `[[policy]]` (per caller: businesses, assets, read or write, services),
//! `[tls]` (TLS on the gRPC port, client certificates), `[health]` (the
//! plaintext health-only listener for the kubelet) and `[audit]` (where audit
//! records go besides the log). Enforced by `src/auth.rs`, `src/policy.rs`
//! and `src/audit.rs`; the README's "Securing the gateway" explains them.
//!
//! ```toml
//! [auth]
//! pepper_file = "/etc/graph-gateway/caller-pepper"   # or GRAPH_GATEWAY_AUTH_PEPPER
//!
//! [[auth.callers]]
//! name = "billing"
//! key_sha256 = "<graph-gateway hash-key prints it>"
//!
//! [[auth.callers]]
//! name = "ops"
//! cert_names = ["ops.internal.example.com"]   # mTLS: SAN (DNS or URI) or CN
//! admin = true                                 # may call VaultService
//!
//! [[policy]]                      # business-wide: no asset lists
//! caller = "billing"
//! businesses = ["1000000001"]
//! access = "read"
//!
//! [[policy]]                      # scoped: only the assets listed
//! caller = "page-tool"
//! businesses = ["1000000001"]
//! pages = ["3000000001", "3000000002"]
//! access = "write"
//! ```

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;

use super::fields::FieldValue;
use super::{env_var, read_secret_file, Config};
pub use crate::policy::{PolicyAccess, PolicyRule};
use crate::secret::Secret;

/// `[auth]`: caller authentication. Off (every caller is anonymous, `x-caller`
/// names it) until at least one caller is configured.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// The callers; authentication is enforced once one is configured.
    pub callers: AuthCallers,
    /// The key of the caller-key hashes (HMAC-SHA256). Prefer the env var or
    /// `pepper_file`.
    pub pepper: Option<Secret>,
    /// File holding the pepper.
    pub pepper_file: Option<PathBuf>,
    /// Full service names callable without credentials.
    pub exempt: ServiceNames,
}

/// The configured callers (`[[auth.callers]]`).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct AuthCallers(pub Vec<CallerAuth>);

/// One caller and the credentials that identify it.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CallerAuth {
    /// The caller's name: its identity in policy, logs, audit and quota.
    pub name: String,
    /// Hex HMAC-SHA256(pepper, key) of each API key the caller may present
    /// (`authorization: Bearer <key>`); several during a key change.
    pub key_sha256: Vec<String>,
    /// Client certificate identities (SAN DNS name or URI, else subject CN)
    /// that are this caller. Empty: the caller's name.
    pub cert_names: Vec<String>,
    /// May call VaultService.
    pub admin: bool,
}

/// Service names, e.g. `grpc.health.v1.Health`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct ServiceNames(pub Vec<String>);

/// `[passthrough]`: the governed pass-through (GraphPassthroughService).
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PassthroughConfig {
    /// While authentication is off (no `[[auth.callers]]`: the dev sandbox
    /// run), the pass-through calls every caller may make, each "METHOD
    /// /path/template"; empty: none. With callers configured it must be
    /// empty: each `[[policy]]` grant lists its own `graph_paths`.
    pub paths: GraphPaths,
}

/// Pass-through calls, "METHOD /path/template" each; the env form separates
/// them with commas.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct GraphPaths(pub Vec<String>);

/// `[[policy]]`: what callers may do.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct Policies(pub Vec<PolicyRule>);

/// `[tls]`: TLS on the gRPC port.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// The server certificate chain (PEM). Unset: plaintext.
    pub cert_file: Option<PathBuf>,
    /// The server's private key (PEM).
    pub key_file: Option<PathBuf>,
    /// CA bundle (PEM) that client certificates must chain to. Unset: no
    /// client certificates.
    pub client_ca_file: Option<PathBuf>,
    /// "optional" (callers may use API keys instead) or "required" (the
    /// handshake fails without a client certificate).
    pub client_auth: String,
}

/// `[health]`: a plaintext listener serving only `grpc.health.v1`.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    /// Address of the listener. Unset: none (health is on the gRPC port).
    pub listen: Option<SocketAddr>,
}

/// `[audit]`: the audit trail's Redis stream (records always go to the log,
/// target `audit`, too).
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// The Redis stream records are added to when `redis.url` is set; empty:
    /// `{<redis.key_prefix>}:audit`.
    pub redis_stream: String,
    /// Approximate length the stream is trimmed to (XADD MAXLEN ~).
    pub redis_max_len: u64,
}

/// Older vault keys, still accepted for reading during a key rotation.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct OldVaultKeys(pub Vec<OldVaultKey>);

/// One older vault key.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OldVaultKey {
    /// The key id records sealed with it carry.
    pub id: String,
    /// The key: 32 bytes, base64 (prefer `key_file`).
    pub key: Option<Secret>,
    /// File holding the key.
    pub key_file: Option<PathBuf>,
}

/// The default exempt services: health and reflection.
pub const DEFAULT_EXEMPT: &[&str] = &[
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
];

/// The service only admins may call.
pub const VAULT_SERVICE: &str = "graphgateway.v1.VaultService";

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            callers: AuthCallers::default(),
            pepper: None,
            pepper_file: None,
            exempt: ServiceNames(DEFAULT_EXEMPT.iter().map(|s| s.to_string()).collect()),
        }
    }
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            cert_file: None,
            key_file: None,
            client_ca_file: None,
            client_auth: "optional".to_string(),
        }
    }
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            redis_stream: String::new(),
            redis_max_len: 1_000_000,
        }
    }
}

// === impl AuthConfig ===

impl AuthConfig {
    /// True when callers must authenticate.
    pub fn enforced(&self) -> bool {
        !self.callers.0.is_empty()
    }
}

// === parsing ===
//
// Tables are walked by hand so every mistake is reported with its place, and
// no message quotes a value (a key hash is no secret, but a vault key is).

fn expected(what: &str, value: &toml::Value) -> String {
    format!("expected {what}, found {}", value.type_str())
}

/// A TOML value from an environment variable: TOML inline syntax, e.g.
/// `[{name = "billing", key_sha256 = "…"}]`; empty means an empty array.
fn inline(text: &str) -> Result<toml::Value, String> {
    if text.trim().is_empty() {
        return Ok(toml::Value::Array(Vec::new()));
    }
    let table = format!("v = {text}").parse::<toml::Table>().map_err(|e| {
        format!(
            "not a TOML inline array of tables: {}",
            e.message().trim().replace('\n', "; ")
        )
    })?;
    table
        .get("v")
        .cloned()
        .ok_or_else(|| "not a TOML value".to_string())
}

/// A string or an array of strings.
fn strings(value: &toml::Value, at: &str) -> Result<Vec<String>, String> {
    match value {
        toml::Value::String(s) => Ok(vec![s.clone()]),
        toml::Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("{at}[{i}]: {}", expected("a string", v)))
            })
            .collect(),
        other => Err(format!(
            "{at}: {}",
            expected("a string or an array of strings", other)
        )),
    }
}

/// The tables of an array of tables (`[[x]]`), or of its inline env form.
fn tables(value: &toml::Value, what: &str) -> Result<Vec<toml::Table>, String> {
    let value = match value {
        toml::Value::String(s) => inline(s)?,
        other => other.clone(),
    };
    match value {
        toml::Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| match v {
                toml::Value::Table(t) => Ok(t),
                other => Err(format!("[{i}]: {}", expected("a table", &other))),
            })
            .collect(),
        other => Err(expected(what, &other)),
    }
}

fn boolean(value: &toml::Value, at: &str) -> Result<bool, String> {
    value
        .as_bool()
        .ok_or_else(|| format!("{at}: {}", expected("true or false", value)))
}

fn string(value: &toml::Value, at: &str) -> Result<String, String> {
    value
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("{at}: {}", expected("a string", value)))
}

/// An array of tables (`[[section]]`), each read key by key into a `T` by
/// `set(item, key, value, "[i].key")`.
fn table_list<T: Default>(
    value: &toml::Value,
    what: &str,
    set: impl Fn(&mut T, &str, &toml::Value, &str) -> Result<(), String>,
) -> Result<Vec<T>, String> {
    let mut out = Vec::new();
    for (i, table) in tables(value, what)?.iter().enumerate() {
        let mut item = T::default();
        for (k, v) in table {
            set(&mut item, k, v, &format!("[{i}].{k}"))?;
        }
        out.push(item);
    }
    Ok(out)
}

impl FieldValue for AuthCallers {
    fn from_toml(value: &toml::Value) -> Result<Self, String> {
        table_list(
            value,
            "[[auth.callers]] tables",
            |c: &mut CallerAuth, k, v, at| {
                match k {
                    "name" => c.name = string(v, at)?,
                    "key_sha256" => c.key_sha256 = strings(v, at)?,
                    "cert_names" => c.cert_names = strings(v, at)?,
                    "admin" => c.admin = boolean(v, at)?,
                    _ => {
                        return Err(format!(
                            "{at}: unknown key (name, key_sha256, cert_names, admin)"
                        ))
                    }
                }
                Ok(())
            },
        )
        .map(Self)
    }
    fn from_env(value: &str) -> Result<Self, String> {
        Self::from_toml(&toml::Value::String(value.to_string()))
    }
    fn show(&self) -> String {
        self.0
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl FieldValue for Policies {
    fn from_toml(value: &toml::Value) -> Result<Self, String> {
        table_list(value, "[[policy]] tables", |p: &mut PolicyRule, k, v, at| {
            match k {
                "caller" => p.caller = string(v, at)?,
                "businesses" => p.businesses = strings(v, at)?,
                "services" => p.services = strings(v, at)?,
                "graph_paths" => p.graph_paths = strings(v, at)?,
                "access" => {
                    p.access = match v.as_str() {
                        Some("read") => PolicyAccess::Read,
                        Some("write") => PolicyAccess::Write,
                        _ => return Err(format!("{at}: must be \"read\" or \"write\"")),
                    }
                }
                key => match p.asset_list_mut(key) {
                    Some(list) => *list = strings(v, at)?,
                    None => {
                        return Err(format!(
                            "{at}: unknown key (caller, businesses, access, services, graph_paths, or an asset list: {})",
                            crate::policy::AssetType::LISTED
                                .iter()
                                .map(|(_, k)| *k)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ))
                    }
                },
            }
            Ok(())
        })
        .map(Self)
    }
    fn from_env(value: &str) -> Result<Self, String> {
        Self::from_toml(&toml::Value::String(value.to_string()))
    }
    fn show(&self) -> String {
        self.0
            .iter()
            .map(|p| format!("{}:{}", p.caller, p.access.as_str()))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// An array of "METHOD /template" strings, or its env form `GET /{a}/b,POST /{c}/d`.
impl FieldValue for GraphPaths {
    fn from_toml(value: &toml::Value) -> Result<Self, String> {
        match value {
            toml::Value::String(s) => Self::from_env(s),
            other => strings(other, "").map(Self),
        }
    }
    fn from_env(value: &str) -> Result<Self, String> {
        ServiceNames::from_env(value).map(|n| Self(n.0))
    }
    fn show(&self) -> String {
        self.0.join(",")
    }
}

/// An array of names, or its env form `a,b,c`.
impl FieldValue for ServiceNames {
    fn from_toml(value: &toml::Value) -> Result<Self, String> {
        match value {
            toml::Value::String(s) => Self::from_env(s),
            other => strings(other, "").map(Self),
        }
    }
    fn from_env(value: &str) -> Result<Self, String> {
        Ok(Self(
            value
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
        ))
    }
    fn show(&self) -> String {
        self.0.join(",")
    }
}

/// `[{id = "k1", key_file = "…"}]` in TOML; `id=<base64>,id=<base64>` from
/// the environment. Never shows a key.
impl FieldValue for OldVaultKeys {
    fn from_toml(value: &toml::Value) -> Result<Self, String> {
        if let toml::Value::String(s) = value {
            return Self::from_env(s);
        }
        let mut out = Vec::new();
        for (i, table) in tables(value, "an array of {id, key_file} tables")?
            .iter()
            .enumerate()
        {
            let mut k = OldVaultKey::default();
            for (name, v) in table {
                let at = format!("[{i}].{name}");
                match name.as_str() {
                    "id" => k.id = string(v, &at)?,
                    "key" => k.key = Some(Secret::new(string(v, &at)?)),
                    "key_file" => k.key_file = Some(PathBuf::from(string(v, &at)?)),
                    _ => return Err(format!("{at}: unknown key (id, key_file, key)")),
                }
            }
            out.push(k);
        }
        Ok(Self(out))
    }
    fn from_env(value: &str) -> Result<Self, String> {
        let mut out = Vec::new();
        for (i, item) in value
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .enumerate()
        {
            let (id, key) = item
                .split_once('=')
                .ok_or_else(|| format!("item {i}: expected id=<base64 key>"))?;
            out.push(OldVaultKey {
                id: id.trim().to_string(),
                key: Some(Secret::new(key.trim())),
                key_file: None,
            });
        }
        Ok(Self(out))
    }
    fn show(&self) -> String {
        self.0
            .iter()
            .map(|k| k.id.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

// === secret files and validation ===

/// Reads the pepper file (unless the pepper's env var is set) and the old
/// vault keys' files; called with the other `*_file` secrets.
pub(super) fn secret_files(
    cfg: &mut Config,
    from_env: &HashSet<&'static str>,
    errors: &mut Vec<String>,
) {
    if !from_env.contains("auth.pepper") {
        if let Some(path) = cfg.auth.pepper_file.clone() {
            match read_secret_file(&path) {
                Ok(secret) => cfg.auth.pepper = Some(secret),
                Err(e) => errors.push(format!("auth.pepper_file: {e}")),
            }
        }
    }
    for (i, key) in cfg.vault.old_keys.0.iter_mut().enumerate() {
        if let Some(path) = &key.key_file {
            match read_secret_file(path) {
                Ok(secret) => key.key = Some(secret),
                Err(e) => errors.push(format!("vault.old_keys[{i}].key_file: {e}")),
            }
        }
    }
}

/// One message per bad key.
pub(super) fn validate(cfg: &Config, bad: &mut dyn FnMut(&str, String)) {
    let auth = &cfg.auth;
    let mut names = HashSet::new();
    let mut cert_names = HashSet::new();
    let has_ca = cfg.tls.client_ca_file.is_some();
    for (i, c) in auth.callers.0.iter().enumerate() {
        if !valid_name(&c.name) {
            bad(
                "auth.callers",
                format!("[{i}].name: must be 1-64 letters, digits, '.', '_' or '-'"),
            );
        } else if !names.insert(c.name.as_str()) {
            bad("auth.callers", format!("{}: configured twice", c.name));
        }
        for (j, h) in c.key_sha256.iter().enumerate() {
            if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
                bad(
                    "auth.callers",
                    format!(
                        "{}.key_sha256[{j}]: must be 64 hex digits (graph-gateway hash-key prints one)",
                        c.name
                    ),
                );
            }
        }
        let identities: Vec<&str> = if c.cert_names.is_empty() {
            vec![c.name.as_str()]
        } else {
            c.cert_names.iter().map(String::as_str).collect()
        };
        for id in identities {
            if !cert_names.insert(id) && (has_ca || !c.cert_names.is_empty()) {
                bad(
                    "auth.callers",
                    format!(
                        "{}: certificate identity {id:?} belongs to two callers",
                        c.name
                    ),
                );
            }
        }
        if c.key_sha256.is_empty() && !has_ca {
            bad(
                "auth.callers",
                format!(
                    "{}: has no key_sha256 and tls.client_ca_file is unset, so it could never authenticate",
                    c.name
                ),
            );
        }
    }
    let keyed = auth.callers.0.iter().any(|c| !c.key_sha256.is_empty());
    match &auth.pepper {
        Some(p) if p.expose().len() < 16 => bad(
            "auth.pepper",
            "must be at least 16 bytes (openssl rand -base64 32 makes one)".to_string(),
        ),
        None if keyed => bad(
            "auth.pepper",
            format!(
                "caller keys are hashed with a pepper: set {} or auth.pepper_file to 32 random bytes, \
                 base64 (openssl rand -base64 32)",
                env_var("auth.pepper")
            ),
        ),
        _ => {}
    }
    for s in &auth.exempt.0 {
        if s.contains('/') || s.is_empty() {
            bad(
                "auth.exempt",
                format!("{s:?}: must be a full service name like grpc.health.v1.Health"),
            );
        }
        if s == VAULT_SERVICE {
            bad("auth.exempt", format!("{VAULT_SERVICE} cannot be exempt"));
        }
    }

    if !cfg.policy.0.is_empty() && !auth.enforced() {
        bad(
            "policy",
            "[[policy]] needs caller authentication: configure [[auth.callers]]".to_string(),
        );
    }
    for (i, p) in cfg.policy.0.iter().enumerate() {
        let at = if p.caller.is_empty() {
            format!("[{i}]")
        } else {
            p.caller.clone()
        };
        if auth.enforced() && !names.contains(p.caller.as_str()) {
            bad(
                "policy",
                format!(
                    "[{i}].caller: {:?} is not a name of [[auth.callers]]",
                    p.caller
                ),
            );
        }
        if p.businesses.is_empty() {
            bad(
                "policy",
                format!("{at}: businesses must list business ids, or [\"*\"] for every business"),
            );
        }
        for b in &p.businesses {
            if b != "*" && !digits(b) {
                bad("policy", format!("{at}: business {b:?} is not a Graph id"));
            }
        }
        for a in &p.ad_accounts {
            if !digits(a.strip_prefix("act_").unwrap_or(a)) {
                bad(
                    "policy",
                    format!("{at}: ad account {a:?} is not an ad account id (act_123 or 123)"),
                );
            }
        }
        for (key, ids) in p
            .asset_lists()
            .into_iter()
            .filter(|(k, _)| *k != "ad_accounts")
        {
            for id in ids {
                if !digits(id) {
                    bad("policy", format!("{at}: {key}: {id:?} is not a Graph id"));
                }
            }
        }
        for (j, g) in p.graph_paths.iter().enumerate() {
            if let Err(e) = crate::policy::GraphPath::parse(g) {
                bad("policy", format!("{at}: graph_paths[{j}]: {e}"));
            }
        }
        for s in &p.services {
            if s == VAULT_SERVICE {
                bad(
                    "policy",
                    format!("{at}: {VAULT_SERVICE} is for callers with admin = true, not policy"),
                );
            } else if !crate::proto::SERVICE_NAMES.contains(&s.as_str()) {
                bad(
                    "policy",
                    format!(
                        "{at}: {s:?} is not a gateway service (e.g. graphgateway.v1.PageService)"
                    ),
                );
            }
        }
    }

    for (j, g) in cfg.passthrough.paths.0.iter().enumerate() {
        if let Err(e) = crate::policy::GraphPath::parse(g) {
            bad("passthrough.paths", format!("[{j}]: {e}"));
        }
    }
    if !cfg.passthrough.paths.0.is_empty() && auth.enforced() {
        bad(
            "passthrough.paths",
            "applies only while authentication is off; with [[auth.callers]] configured, list \
             pass-through calls in each caller's [[policy]] graph_paths"
                .to_string(),
        );
    }

    let tls = &cfg.tls;
    if tls.client_auth != "optional" && tls.client_auth != "required" {
        bad(
            "tls.client_auth",
            format!(
                "must be \"optional\" or \"required\", got {:?}",
                tls.client_auth
            ),
        );
    }

    let vault = &cfg.vault;
    match vault.backend.as_str() {
        "file" => {}
        "redis" => {
            if cfg.redis.url.is_none() {
                bad(
                    "vault.backend",
                    "\"redis\" needs redis.url (the Redis the replicas share)".to_string(),
                );
            }
            if vault.key.is_none() {
                bad(
                    "vault.backend",
                    format!(
                        "\"redis\" needs a vault key: set {} (or vault.key_file); Redis only ever \
                         holds sealed values",
                        env_var("vault.key")
                    ),
                );
            }
        }
        other => bad(
            "vault.backend",
            format!("must be \"file\" or \"redis\", got {other:?}"),
        ),
    }
    if !valid_name(&vault.key_id) {
        bad(
            "vault.key_id",
            "must be 1-64 letters, digits, '.', '_' or '-'".to_string(),
        );
    }
    let mut ids = HashSet::from([vault.key_id.as_str()]);
    for (i, k) in vault.old_keys.0.iter().enumerate() {
        if !valid_name(&k.id) {
            bad(
                "vault.old_keys",
                format!("[{i}].id: must be 1-64 letters, digits, '.', '_' or '-'"),
            );
        } else if !ids.insert(k.id.as_str()) {
            bad(
                "vault.old_keys",
                format!(
                    "[{i}].id: key id {:?} is used twice (vault.key_id included)",
                    k.id
                ),
            );
        }
        match &k.key {
            Some(key) => {
                if let Err(why) = crate::secret::check_vault_key(key) {
                    bad("vault.old_keys", format!("[{i}] ({}): {why}", k.id));
                }
            }
            None => bad(
                "vault.old_keys",
                format!("[{i}] ({}): needs key_file (or key)", k.id),
            ),
        }
    }
    if vault.redis_refresh_ms == 0 {
        bad(
            "vault.redis_refresh_ms",
            "must be greater than 0".to_string(),
        );
    }
}

fn digits(s: &str) -> bool {
    !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_digit())
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}
