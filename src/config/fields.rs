//! The table of every configuration key: where it lives in `Config`, how it
//! parses from TOML and from its environment variable, how its default reads,
//! and what it means. Loading, env overrides and `Config::documented_keys` all
//! walk this one table, so a new field is added here once.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::{Callers, Config, UseCaseCalls};
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
pub(super) trait FieldValue: Sized {
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
    field!(graph.api_version, "Graph API version path segment, like v26.0."),
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
    field!(
        vault.backend,
        "Where tokens are kept: file (vault.file, or memory when unset) or redis (redis.url, shared by every replica; values sealed like the file's)."
    ),
    field!(vault.key_id, "Id of the vault key: records sealed with it carry it; change it with the key when rotating."),
    field!(
        vault.old_keys,
        "Older vault keys still accepted for reading during a rotation: [{id = \"k1\", key_file = \"...\"}], or id=base64,... from the env."
    ),
    field!(vault.redis_refresh_ms, "How often the redis backend picks up changes made by other replicas, ms."),
    field!(
        vault.check_interval_secs,
        "How often every token is checked with Graph's debug_token (validity, expiry, scopes), seconds; 0: only on VaultService.CheckToken."
    ),
    field!(cache.ttl_secs, "Time to live of a cached read, seconds. 0 disables caching (coalescing stays)."),
    field!(cache.max_entries, "Most cached reads kept."),
    field!(quota.per_token_per_sec, "Per-replica smoothing cap: calls per second per token."),
    field!(quota.per_business_per_sec, "Per-replica smoothing cap: calls per second per business."),
    field!(quota.burst, "Burst of each per-replica smoothing cap."),
    field!(
        quota.target_fraction,
        "Share of a key's budget used while the gateway's own accounting explains Meta's reported usage (0-1]."
    ),
    field!(
        quota.ceiling,
        "Share of a key's budget, as Meta reports it, not exceeded when the gateway's accounting does not explain the reported usage (0-1]."
    ),
    field!(
        quota.batch_reserve,
        "Share of each budget batch-priority callers leave to interactive ones: the batch callers' own points stay under (1 - reserve) of a key's limit; interactive calls may use all of it [0-1)."
    ),
    field!(
        quota.slowdown_band,
        "Calls go at full speed below (1 - band) of the limit, then slow down linearly to the sustainable rate at the limit [0-1)."
    ),
    field!(
        quota.model_tolerance,
        "How far (share of the budget) Meta's reported usage may exceed the gateway's own accounting before quota.ceiling applies."
    ),
    field!(
        quota.window_margin_ms,
        "A call stays this much longer than the window in the gateway's sliding window (time to reach Meta), ms."
    ),
    field!(
        quota.default_hold_secs,
        "How long a key is held after a throttling error or a full usage header that names no time, seconds."
    ),
    field!(
        quota.probe_timeout_secs,
        "When the one probe call after a hold gets no answer for this long, another probe may go, seconds."
    ),
    field!(quota.app_calls, "App budget (X-App-Usage): calls per quota.app_window_secs."),
    field!(quota.app_window_secs, "Window of the app budget, seconds."),
    field!(
        quota.business_use_case_calls,
        "Budget of a business use case not in quota.use_case_calls: calls per window, per business."
    ),
    field!(quota.business_use_case_window_secs, "Window of the business use case budgets, seconds."),
    field!(
        quota.use_case_calls,
        "Budgets per business use case, calls per window: a TOML table or use_case=calls,use_case=calls."
    ),
    field!(
        quota.ads_management_calls_standard,
        "The ads_management business use case's budget on the standard tier, calls per business_use_case_window_secs (Meta: 100 000 + 40 per active ad; quota.use_case_calls holds the development tier's 300). Applies once Meta's X-Ad-Account-Usage names the standard tier, or from the start with quota.ad_account_tier = standard."
    ),
    field!(
        quota.ad_account_tier,
        "Ad account access tier assumed until Meta's X-Ad-Account-Usage names one: development or standard."
    ),
    field!(quota.ad_account_points_development, "Ad account score budget on the development tier, points per window."),
    field!(quota.ad_account_points_standard, "Ad account score budget on the standard tier, points per window."),
    field!(quota.ad_account_window_secs, "Decay window of the ad account score, seconds."),
    field!(quota.ad_account_read_points, "Ad account score points of one read."),
    field!(quota.ad_account_write_points, "Ad account score points of one write."),
    field!(
        quota.callers,
        "Internal callers (x-caller) and their weight and priority: [quota.callers.NAME] weight = 2, priority = \"batch\", or NAME=weight:priority,...; unlisted callers have weight 1, interactive."
    ),
    field!(quota.replicas, "Gateway replicas sharing the budgets (splits the local fallback between them)."),
    field!(
        quota.local_fraction,
        "Share of each shared budget all replicas together use while Redis is unreachable (each takes local_fraction / replicas)."
    ),
    field!(
        redis.url,
        "Redis the replicas share (redis://[user:password@]host:port[/db], rediss:// for TLS; user: an ACL user): quota budgets, holds, usage reports, idempotency records, the redis vault, audit. Unset: the in-process quota engine. Prefer this env var when it holds a password."
    ),
    field!(redis.key_prefix, "Prefix of every Redis key the gateway writes."),
    field!(redis.timeout_ms, "Connect and response timeout of one Redis command, ms."),
    field!(redis.probe_interval_ms, "While Redis is unreachable, how often it is tried again, ms."),
    field!(
        redis.mode,
        "standalone, cluster (Redis Cluster: redis.url and redis.nodes are seed nodes; every key carries the hash tag {<redis.key_prefix>}) or sentinel (the host of redis.url and redis.nodes are Sentinels, asked for redis.sentinel_master; the URL's user, password and db are the master's)."
    ),
    field!(redis.nodes, "More cluster seed nodes or Sentinels, host:port (comma-separated in the env var); redis.url's scheme, user and password apply."),
    field!(redis.sentinel_master, "The master name the Sentinels are asked for (redis.mode = sentinel)."),
    field!(redis.wait_replicas, "Replicas that must hold an idempotency claim or outcome (Redis WAIT, within redis.timeout_ms) before it counts, so that a failover to an asynchronous replica cannot lose it; a mutation whose claim is not replicated is refused (IDEMPOTENCY_UNAVAILABLE). 0: the master's word is enough. Not for redis.mode = cluster."),
    field!(redis.tls_ca_file, "PEM file of the CA that signed the Redis servers' certificates, for rediss:// (TLS, rustls). Unset: the system's roots."),
    field!(retry.max_attempts, "Attempts per upstream call, the first included (1: no retries). Mutations are retried only when Graph never received them."),
    field!(retry.base_ms, "Backoff before the first retry, ms (full jitter: a random wait up to this, doubling per retry)."),
    field!(retry.max_ms, "Largest backoff between attempts, ms."),
    field!(retry.budget_ratio, "Retry budget: retries allowed per call on average (0.2: at most 20% extra load on Graph)."),
    field!(retry.budget_min_per_sec, "Retry budget floor: retries allowed per second whatever the traffic."),
    field!(retry.attempt_timeout_ms, "Upper bound of one read attempt, so a hung answer is retried within the caller's deadline, ms (0: the whole deadline)."),
    field!(breaker.failures, "Consecutive failed Graph attempts that open the circuit (calls then fail fast with UNAVAILABLE); 0 disables the breaker."),
    field!(breaker.cool_down_ms, "How long an open circuit refuses calls before one probe goes, ms."),
    field!(idempotency.ttl_secs, "How long a mutation's outcome is kept for its request_id, seconds (in Redis when redis.url is set)."),
    field!(idempotency.max_entries, "Most mutation outcomes kept in process (without Redis)."),
    field!(bulk.batch, "Send a bulk operation's steps to Graph in batch requests (POST / with batch=, up to bulk.batch_size calls each); false: one call per step."),
    field!(bulk.batch_size, "Steps per Graph batch request, 1 to 50 (Graph's limit)."),
    field!(bulk.lease_ms, "How long a replica's claim on a running bulk operation lasts without renewal, ms: an operation whose replica died continues on another after this (with redis.url)."),
    field!(bulk.scan_interval_ms, "How often each replica looks for bulk operations that no replica runs, ms."),
    field!(bulk.keep_secs, "How long a finished bulk operation stays readable (GetOperation), seconds."),
    field!(server.max_concurrent_rpcs, "RPCs served at once; more are refused at once with RESOURCE_EXHAUSTED (0: no limit)."),
    field!(server.drain_timeout_ms, "On SIGTERM, how long in-flight RPCs may take to finish before the process exits, ms."),
    field!(log.format, "Log format: human or json."),
    field!(log.filter, "Log filter, RUST_LOG syntax; RUST_LOG overrides it."),
    field!(
        auth.callers,
        "Callers ([[auth.callers]] name, key_sha256, cert_names, admin). Once one is configured every RPC but auth.exempt must authenticate."
    ),
    field!(
        auth.pepper,
        "Key of the caller-key hashes (HMAC-SHA256), 32 random bytes base64. Prefer this env var or auth.pepper_file."
    ),
    field!(auth.pepper_file, "File holding the caller-key pepper."),
    field!(auth.exempt, "Services callable without credentials (health and reflection by default)."),
    field!(
        policy,
        "What each caller may do: [[policy]] caller, businesses ([\"*\"]: all), access (read or write), services, and asset lists (ad_accounts, pages, apps, pixels, catalogs, instagram_accounts, asset_groups, custom_audiences, obo_requests, sharing_requests, custom_conversions, offline_conversion_data_sets, whatsapp_business_accounts). A grant without asset lists is business-wide; one with lists covers only calls whose every asset is listed, never calls that act on the business itself. graph_paths lists the pass-through calls (GraphPassthroughService.CallGraph) the grant allows, each \"METHOD /path/template\" (GET, POST, DELETE or *); none by default."
    ),
    field!(
        passthrough.paths,
        "The pass-through calls (GraphPassthroughService.CallGraph) every caller may make while authentication is off, each \"METHOD /path/template\" (GET, POST, DELETE or *), comma-separated in the env var; empty: none. Must be empty once [[auth.callers]] are configured (grants list graph_paths instead)."
    ),
    field!(tls.cert_file, "Server certificate chain (PEM) of the gRPC port. Unset: plaintext."),
    field!(tls.key_file, "Private key (PEM) of tls.cert_file."),
    field!(tls.client_ca_file, "CA bundle (PEM) client certificates must chain to (mTLS). Unset: no client certificates."),
    field!(
        tls.client_auth,
        "Client certificates: optional (API keys also work) or required (the TLS handshake fails without one)."
    ),
    field!(health.listen, "Plaintext listener serving only grpc.health.v1, for probes that cannot speak TLS. Unset: none."),
    field!(audit.redis_stream, "Redis stream of the audit records (when redis.url is set). Empty: {<redis.key_prefix>}:audit."),
    field!(audit.redis_max_len, "Approximate length the audit stream is trimmed to (XADD MAXLEN ~)."),
    field!(
        metrics.listen,
        "Plaintext HTTP listener serving /metrics (Prometheus), /livez and /readyz. Unset: none."
    ),
    field!(
        otel.endpoint,
        "OpenTelemetry collector, OTLP over HTTP (e.g. http://otel-collector:4318; spans go to <endpoint>/v1/traces). Unset: no trace export."
    ),
    field!(otel.service_name, "service.name of the exported spans."),
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

impl FieldValue for bool {
    fn from_toml(value: &toml::Value) -> Result<Self, String> {
        match value {
            toml::Value::Boolean(b) => Ok(*b),
            other => Err(expected("true or false", other)),
        }
    }
    fn from_env(value: &str) -> Result<Self, String> {
        match value.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(true),
            "false" | "0" | "no" => Ok(false),
            other => Err(format!("must be true or false, got {other:?}")),
        }
    }
    fn show(&self) -> String {
        self.to_string()
    }
}

impl FieldValue for f64 {
    fn from_toml(value: &toml::Value) -> Result<Self, String> {
        match value {
            toml::Value::Float(f) => Ok(*f),
            toml::Value::Integer(n) => Ok(*n as f64),
            other => Err(expected("a number", other)),
        }
    }
    fn from_env(value: &str) -> Result<Self, String> {
        value
            .trim()
            .parse()
            .map_err(|_| "expected a number".to_string())
    }
    fn show(&self) -> String {
        self.to_string()
    }
}

/// A table of use case -> calls, or its env form `a=1,b=2`.
impl FieldValue for UseCaseCalls {
    fn from_toml(value: &toml::Value) -> Result<Self, String> {
        match value {
            toml::Value::String(s) => Self::parse(s),
            toml::Value::Table(t) => {
                let mut out = std::collections::BTreeMap::new();
                for (name, calls) in t {
                    out.insert(
                        name.clone(),
                        integer(calls).map_err(|e| format!("{name}: {e}"))?,
                    );
                }
                Ok(Self(out))
            }
            other => Err(expected("a table of use case = calls", other)),
        }
    }
    fn from_env(value: &str) -> Result<Self, String> {
        Self::parse(value)
    }
    fn show(&self) -> String {
        UseCaseCalls::show(self)
    }
}

/// `[quota.callers.NAME] weight = 2, priority = "batch"`, or the env form
/// `NAME=2:batch,OTHER=1`.
impl FieldValue for Callers {
    fn from_toml(value: &toml::Value) -> Result<Self, String> {
        let table = match value {
            toml::Value::String(s) => return Self::parse(s),
            toml::Value::Table(t) => t,
            other => return Err(expected("a table of callers", other)),
        };
        let mut out = std::collections::BTreeMap::new();
        for (name, caller) in table {
            let caller = caller
                .as_table()
                .ok_or_else(|| format!("{name}: {}", expected("a table", caller)))?;
            let mut c = super::CallerConfig::default();
            for (k, v) in caller {
                match k.as_str() {
                    "weight" => c.weight = integer(v).map_err(|e| format!("{name}.weight: {e}"))?,
                    "priority" => {
                        c.priority = match v.as_str() {
                            Some("interactive") => super::Priority::Interactive,
                            Some("batch") => super::Priority::Batch,
                            _ => {
                                return Err(format!(
                                    "{name}.priority: must be \"interactive\" or \"batch\""
                                ))
                            }
                        }
                    }
                    other => return Err(format!("{name}.{other}: unknown key")),
                }
            }
            out.insert(name.clone(), c);
        }
        Ok(Self(out))
    }
    fn from_env(value: &str) -> Result<Self, String> {
        Self::parse(value)
    }
    fn show(&self) -> String {
        Callers::show(self)
    }
}

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

/// A list: a TOML array of strings, or comma-separated in the environment.
impl FieldValue for Vec<String> {
    fn from_toml(value: &toml::Value) -> Result<Self, String> {
        if let Some(text) = value.as_str() {
            return Self::from_env(text);
        }
        let list = value
            .as_array()
            .ok_or_else(|| expected("an array of strings", value))?;
        list.iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| expected("a string", v))
            })
            .collect()
    }
    fn from_env(value: &str) -> Result<Self, String> {
        Ok(value
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect())
    }
    fn show(&self) -> String {
        self.join(",")
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
        let value = value.trim();
        if let Ok(addr) = value.parse() {
            return Ok(addr);
        }
        // A host name (`localhost:50051`): resolved once, here; an IPv4
        // address first, as `127.0.0.1` is what `localhost` means to most.
        let (host, port) = value
            .rsplit_once(':')
            .filter(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok())
            .ok_or_else(|| format!("not an address of the form host:port: {value:?}"))?;
        let addrs: Vec<SocketAddr> = std::net::ToSocketAddrs::to_socket_addrs(value)
            .map_err(|e| format!("{host:?} (port {port}) does not resolve: {e}"))?
            .collect();
        addrs
            .iter()
            .find(|a| a.is_ipv4())
            .or_else(|| addrs.first())
            .copied()
            .ok_or_else(|| format!("{host:?} resolves to no address"))
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
