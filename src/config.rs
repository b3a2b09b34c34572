//! Configuration: a TOML file (`--config`) with environment overrides.
//!
//! CONTRACT (used by cli/engine; keep these field names):
//! `Config { listen, graph, vault, cache, quota, redis, log }` as below, and
//! `Config::load(path: Option<&Path>, env: &dyn EnvSource) -> Result<Config, ConfigErrors>`
//! which reports EVERY bad key at once (ConfigErrors lists them all).
//!
//! Also public: `Config::documented_keys()` (key, env var, default,
//! description) for generated docs, and `env_var(key)`, the one rule that
//! names a key's environment variable: `GRAPH_GATEWAY_` + the key in upper
//! snake case (`cache.ttl_secs` -> `GRAPH_GATEWAY_CACHE_TTL_SECS`).
//!
//! Load order: defaults, then the TOML file, then environment overrides, then
//! the `*_file` secrets (a secret's own env var wins over its file, which wins
//! over the value in the TOML file), then validation.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::secret::Secret;

pub use self::auth::{
    AuditConfig, AuthCallers, AuthConfig, CallerAuth, GraphPaths, HealthConfig, OldVaultKey,
    OldVaultKeys, PassthroughConfig, Policies, PolicyAccess, PolicyRule, ServiceNames, TlsConfig,
    DEFAULT_EXEMPT, VAULT_SERVICE,
};
use self::fields::{Field, FIELDS};
pub use self::quota::{
    CallerConfig, Callers, Priority, QuotaConfig, RedisConfig, UseCaseCalls, REDIS_MODES,
};
pub use self::reliability::{
    BreakerConfig, BulkConfig, IdempotencyConfig, RetryConfig, ServerConfig,
};
pub use self::telemetry::{MetricsConfig, OtelConfig};

mod auth;
mod fields;
mod quota;
mod reliability;
mod telemetry;
mod validate;

/// The whole configuration.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// gRPC listen address.
    pub listen: SocketAddr,
    /// The upstream Graph API.
    pub graph: GraphConfig,
    /// The token vault.
    pub vault: VaultConfig,
    /// The read cache.
    pub cache: CacheConfig,
    /// The quota engine.
    pub quota: QuotaConfig,
    /// The shared quota engine's Redis.
    pub redis: RedisConfig,
    /// Retries of upstream calls.
    pub retry: RetryConfig,
    /// The circuit breaker towards Graph.
    pub breaker: BreakerConfig,
    /// Stored outcomes of mutations by request_id.
    pub idempotency: IdempotencyConfig,
    /// Bulk operations.
    pub bulk: BulkConfig,
    /// Concurrency limit and drain of the gRPC server.
    pub server: ServerConfig,
    /// Caller authentication (src/config/auth.rs).
    pub auth: AuthConfig,
    /// What each caller may do (`[[policy]]`).
    pub policy: Policies,
    /// The governed pass-through while authentication is off.
    pub passthrough: PassthroughConfig,
    /// TLS on the gRPC port.
    pub tls: TlsConfig,
    /// The plaintext health-only listener.
    pub health: HealthConfig,
    /// The audit trail's Redis stream.
    pub audit: AuditConfig,
    /// The Prometheus metrics listener.
    pub metrics: MetricsConfig,
    /// OpenTelemetry trace export.
    pub otel: OtelConfig,
    /// Logging.
    pub log: LogConfig,
}

/// The upstream Graph API.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GraphConfig {
    /// Base URL, e.g. https://graph.facebook.com. None: start the embedded sandbox.
    pub base_url: Option<String>,
    /// API version path segment.
    pub api_version: String,
    /// App secret for appsecret_proof (prefer the env var or `app_secret_file`).
    pub app_secret: Option<Secret>,
    /// File holding the app secret.
    pub app_secret_file: Option<PathBuf>,
    /// Upper bound of one upstream call, when the caller sets no deadline.
    pub timeout_ms: u64,
    /// Idle pooled connections kept per host.
    pub pool_max_idle_per_host: usize,
}

/// The token vault.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VaultConfig {
    /// The encrypted vault file. None: keep tokens in memory only.
    pub file: Option<PathBuf>,
    /// The 32-byte vault key, base64 (prefer the env var or `key_file`).
    pub key: Option<Secret>,
    /// File holding the base64 vault key.
    pub key_file: Option<PathBuf>,
    /// Plaintext seed file (TOML) of tokens to load at start, e.g. a mounted
    /// Kubernetes Secret.
    pub seed_file: Option<PathBuf>,
    /// Where tokens are kept: "file" (`file`, or memory when unset) or
    /// "redis" (`redis.url`, shared by every replica).
    pub backend: String,
    /// The id of `key`: new records are sealed with it.
    pub key_id: String,
    /// Older keys, still accepted for reading until a rotation completes.
    pub old_keys: OldVaultKeys,
    /// How often the Redis backend looks for changes by other replicas, ms.
    pub redis_refresh_ms: u64,
    /// How often every token is checked with Graph's debug_token, seconds;
    /// 0: never (VaultService.CheckToken still checks on demand).
    pub check_interval_secs: u64,
}

impl Default for VaultConfig {
    fn default() -> Self {
        Self {
            file: None,
            key: None,
            key_file: None,
            seed_file: None,
            backend: "file".to_string(),
            key_id: "k1".to_string(),
            old_keys: OldVaultKeys::default(),
            redis_refresh_ms: 1000,
            check_interval_secs: 3600,
        }
    }
}

/// The read cache.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// Time to live of a cached read, seconds. 0 disables caching (coalescing stays).
    pub ttl_secs: u64,
    /// Most entries kept.
    pub max_entries: u64,
}

/// Logging.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// "human" or "json".
    pub format: String,
    /// RUST_LOG-style filter; RUST_LOG overrides it.
    pub filter: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            graph: GraphConfig::default(),
            vault: VaultConfig::default(),
            cache: CacheConfig::default(),
            quota: QuotaConfig::default(),
            redis: RedisConfig::default(),
            retry: RetryConfig::default(),
            breaker: BreakerConfig::default(),
            idempotency: IdempotencyConfig::default(),
            bulk: BulkConfig::default(),
            server: ServerConfig::default(),
            auth: AuthConfig::default(),
            policy: Policies::default(),
            passthrough: PassthroughConfig::default(),
            tls: TlsConfig::default(),
            health: HealthConfig::default(),
            audit: AuditConfig::default(),
            metrics: MetricsConfig::default(),
            otel: OtelConfig::default(),
            log: LogConfig::default(),
        }
    }
}

impl Default for GraphConfig {
    fn default() -> Self {
        Self {
            base_url: None,
            api_version: "v26.0".to_string(),
            app_secret: None,
            app_secret_file: None,
            timeout_ms: 30_000,
            pool_max_idle_per_host: 64,
        }
    }
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            ttl_secs: 60,
            max_entries: 100_000,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: "human".to_string(),
            filter: "info".to_string(),
        }
    }
}

/// Where environment variables come from (injectable, so tests never call
/// `std::env::set_var`).
pub trait EnvSource {
    /// The variable's value, if set.
    fn var(&self, name: &str) -> Option<String>;
    /// The names of the variables that start with `prefix` (for "unknown
    /// variable" checks); values are not read.
    fn names(&self, prefix: &str) -> Vec<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl EnvSource for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
    fn names(&self, prefix: &str) -> Vec<String> {
        std::env::vars_os()
            .filter_map(|(k, _)| k.into_string().ok())
            .filter(|k| k.starts_with(prefix))
            .collect()
    }
}

impl EnvSource for std::collections::HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
    fn names(&self, prefix: &str) -> Vec<String> {
        self.keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect()
    }
}

/// `GRAPH_GATEWAY_*` variables that are not configuration keys: the config
/// file's path (the command line's `--config`) and the binary's path that
/// scripts pass around.
const ENV_NOT_KEYS: [&str; 2] = ["GRAPH_GATEWAY_CONFIG", "GRAPH_GATEWAY_BIN"];

/// Every configuration error found, each with its key.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n{}", .0.iter().map(|e| format!("  - {e}")).collect::<Vec<_>>().join("\n"))]
pub struct ConfigErrors(pub Vec<String>);

/// One run of `Config::load`: the config so far, which keys the environment
/// set (so errors can name the variable), and every error found.
struct Load {
    cfg: Config,
    from_env: HashSet<&'static str>,
    errors: Vec<String>,
}

/// The prefix of every environment variable.
const ENV_PREFIX: &str = "GRAPH_GATEWAY_";

// === impl Config ===

impl Config {
    /// Reads the file (if any), applies env overrides, reads the secret files,
    /// validates; returns all errors at once.
    pub fn load(path: Option<&Path>, env: &dyn EnvSource) -> Result<Config, ConfigErrors> {
        let mut load = Load {
            cfg: Config::default(),
            from_env: HashSet::new(),
            errors: Vec::new(),
        };
        if let Some(path) = path {
            load.file(path);
        }
        load.env(env);
        load.secret_files();
        validate::validate(&load.cfg, &load.from_env, &mut load.errors);
        if load.errors.is_empty() {
            Ok(load.cfg)
        } else {
            Err(ConfigErrors(load.errors))
        }
    }

    /// Every key: (key, environment variable, default, description). The one
    /// table behind loading, env overrides and the generated docs.
    pub fn documented_keys() -> Vec<(&'static str, String, String, &'static str)> {
        let defaults = Config::default();
        FIELDS
            .iter()
            .map(|f| (f.key, env_var(f.key), (f.show)(&defaults), f.description))
            .collect()
    }
}

/// The environment variable that overrides `key` (e.g. `cache.ttl_secs` ->
/// `GRAPH_GATEWAY_CACHE_TTL_SECS`).
pub fn env_var(key: &str) -> String {
    let mut name = String::with_capacity(ENV_PREFIX.len() + key.len());
    name.push_str(ENV_PREFIX);
    name.extend(key.chars().map(|c| match c {
        '.' => '_',
        c => c.to_ascii_uppercase(),
    }));
    name
}

/// Reads a secret from a file (a mounted Kubernetes Secret, typically),
/// trimming the surrounding whitespace and trailing newline editors add.
/// Errors name the file, never its content.
pub(crate) fn read_secret_file(path: &Path) -> Result<Secret, String> {
    let text = std::fs::read_to_string(path)
        .map(Zeroizing::new)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let value = text.trim();
    if value.is_empty() {
        return Err(format!("{} is empty", path.display()));
    }
    Ok(Secret::new(value))
}

// === impl Load ===

impl Load {
    fn file(&mut self, path: &Path) {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => Zeroizing::new(text),
            Err(e) => {
                self.errors
                    .push(format!("config file {}: {e}", path.display()));
                return;
            }
        };
        // Parsed into a `toml::Value` and walked by hand, so every bad key is
        // reported, not only serde's first.
        let table = match text.parse::<toml::Table>() {
            Ok(table) => table,
            Err(e) => {
                // Only the message and position: toml's Display quotes the
                // offending line, which may hold a secret.
                let at = e
                    .span()
                    .map(|s| line_col(&text, s.start))
                    .unwrap_or_default();
                let message = e.message().trim().replace('\n', "; ");
                let path = path.display();
                self.errors
                    .push(format!("config file {path}{at}: {message}"));
                return;
            }
        };
        for (key, value) in &table {
            if let Some(field) = field(key) {
                self.apply_toml(field, value);
            } else if is_section(key) {
                let Some(section) = value.as_table() else {
                    self.errors.push(format!(
                        "{key}: expected a table, found {}",
                        value.type_str()
                    ));
                    continue;
                };
                for (name, value) in section {
                    let full = format!("{key}.{name}");
                    match field(&full) {
                        Some(field) => self.apply_toml(field, value),
                        None => self.errors.push(unknown_key(&full)),
                    }
                }
            } else {
                self.errors.push(unknown_key(key));
            }
        }
    }

    fn apply_toml(&mut self, field: &Field, value: &toml::Value) {
        if let Err(e) = (field.from_toml)(&mut self.cfg, value) {
            self.errors.push(format!("{}: {e}", field.key));
        }
    }

    fn env(&mut self, env: &dyn EnvSource) {
        // A misspelled variable stops start-up, as a misspelled file key does:
        // silently ignored, it would leave a setting at its default (e.g. the
        // embedded sandbox instead of Graph).
        let mut unknown: Vec<String> = env
            .names(ENV_PREFIX)
            .into_iter()
            .filter(|name| {
                !ENV_NOT_KEYS.contains(&name.as_str())
                    && !FIELDS.iter().any(|f| env_var(f.key) == *name)
            })
            .collect();
        unknown.sort();
        for name in unknown {
            let near = FIELDS
                .iter()
                .map(|f| env_var(f.key))
                .min_by_key(|known| edit_distance(known, &name))
                .filter(|known| edit_distance(known, &name) <= 3);
            self.errors.push(match near {
                Some(near) => {
                    format!("{name}: unknown environment variable (did you mean {near}?)")
                }
                None => format!(
                    "{name}: unknown environment variable (see `graph-gateway config-reference`)"
                ),
            });
        }
        for field in FIELDS {
            let name = env_var(field.key);
            let Some(value) = env.var(&name).map(Zeroizing::new) else {
                continue;
            };
            match (field.from_env)(&mut self.cfg, &value) {
                Ok(()) => {
                    self.from_env.insert(field.key);
                }
                Err(e) => self.errors.push(format!("{} ({name}): {e}", field.key)),
            }
        }
    }

    /// Env var of the secret > its file > the TOML value.
    fn secret_files(&mut self) {
        if !self.from_env.contains("graph.app_secret") {
            if let Some(path) = self.cfg.graph.app_secret_file.clone() {
                match read_secret_file(&path) {
                    Ok(secret) => self.cfg.graph.app_secret = Some(secret),
                    Err(e) => self.errors.push(format!(
                        "{}: {e}",
                        label(&self.from_env, "graph.app_secret_file")
                    )),
                }
            }
        }
        if !self.from_env.contains("vault.key") {
            if let Some(path) = self.cfg.vault.key_file.clone() {
                match read_secret_file(&path) {
                    Ok(secret) => self.cfg.vault.key = Some(secret),
                    Err(e) => self
                        .errors
                        .push(format!("{}: {e}", label(&self.from_env, "vault.key_file"))),
                }
            }
        }
        auth::secret_files(&mut self.cfg, &self.from_env, &mut self.errors);
    }
}

/// How an error names `key`: with its env var when the value came from there.
fn label(from_env: &HashSet<&'static str>, key: &str) -> String {
    if from_env.contains(key) {
        format!("{key} ({})", env_var(key))
    } else {
        key.to_string()
    }
}

fn field(key: &str) -> Option<&'static Field> {
    FIELDS.iter().find(|f| f.key == key)
}

/// True when `name` is a `[section]` of the file (some key is `name.*`).
fn is_section(name: &str) -> bool {
    FIELDS.iter().any(|f| {
        f.key
            .split_once('.')
            .is_some_and(|(section, _)| section == name)
    })
}

fn unknown_key(key: &str) -> String {
    let near = FIELDS
        .iter()
        .map(|f| f.key)
        .find(|known| edit_distance(known, key) <= 2);
    match near {
        Some(near) => format!("{key}: unknown key (did you mean {near}?)"),
        None => format!("{key}: unknown key"),
    }
}

/// Levenshtein distance, for "did you mean" hints on short keys.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (row[j + 1] + 1)
                .min(row[j] + 1)
                .min(diag + usize::from(ca != *cb));
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// ", line L, column C" of a byte offset.
fn line_col(text: &str, offset: usize) -> String {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!(", line {line}, column {column}")
}

#[cfg(test)]
mod tests;
