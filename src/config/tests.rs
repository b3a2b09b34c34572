#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::HashMap;
use std::io::Write as _;

use super::*;

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn env(vars: &[(&str, &str)]) -> HashMap<String, String> {
    vars.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn toml_file(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(text.as_bytes()).expect("write");
    file
}

fn load(text: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigErrors> {
    let file = toml_file(text);
    Config::load(Some(file.path()), &env(vars))
}

fn load_errors(text: &str, vars: &[(&str, &str)]) -> Vec<String> {
    match load(text, vars) {
        Ok(cfg) => panic!("expected errors, got {cfg:?}"),
        Err(ConfigErrors(errors)) => errors,
    }
}

#[test]
fn defaults() {
    let cfg = Config::load(None, &env(&[])).expect("defaults load");
    assert_eq!(cfg.listen.to_string(), "127.0.0.1:50051");
    assert_eq!(cfg.graph.base_url, None);
    assert_eq!(cfg.graph.api_version, "v26.0");
    assert!(cfg.graph.app_secret.is_none());
    assert_eq!(cfg.graph.timeout_ms, 30_000);
    assert_eq!(cfg.graph.pool_max_idle_per_host, 64);
    assert!(cfg.vault.file.is_none() && cfg.vault.key.is_none() && cfg.vault.seed_file.is_none());
    assert_eq!((cfg.cache.ttl_secs, cfg.cache.max_entries), (60, 100_000));
    assert_eq!(
        (
            cfg.quota.per_token_per_sec,
            cfg.quota.per_business_per_sec,
            cfg.quota.burst
        ),
        (50, 50, 100)
    );
    assert_eq!(
        (cfg.log.format.as_str(), cfg.log.filter.as_str()),
        ("human", "info")
    );
    // An empty file is the defaults too.
    let cfg = load("", &[]).expect("empty file");
    assert_eq!(cfg.graph.api_version, "v26.0");
}

#[test]
fn file_then_env_overrides() {
    let text = r#"
listen = "0.0.0.0:6000"
[graph]
base_url = "https://graph.facebook.com"
api_version = "v24.0"
timeout_ms = 1000
[cache]
ttl_secs = 5
max_entries = 10
[log]
format = "json"
"#;
    let cfg = load(
        text,
        &[
            ("GRAPH_GATEWAY_CACHE_TTL_SECS", "7"),
            ("GRAPH_GATEWAY_LISTEN", "127.0.0.1:7000"),
            ("GRAPH_GATEWAY_GRAPH_API_VERSION", "v26.0"),
            ("GRAPH_GATEWAY_QUOTA_PER_TOKEN_PER_SEC", "9"),
            ("GRAPH_GATEWAY_LOG_FILTER", "debug"),
        ],
    )
    .expect("load");
    assert_eq!(cfg.listen.to_string(), "127.0.0.1:7000");
    assert_eq!(
        cfg.graph.base_url.as_deref(),
        Some("https://graph.facebook.com")
    );
    assert_eq!(cfg.graph.api_version, "v26.0");
    assert_eq!(cfg.graph.timeout_ms, 1000);
    assert_eq!((cfg.cache.ttl_secs, cfg.cache.max_entries), (7, 10));
    assert_eq!(cfg.quota.per_token_per_sec, 9);
    assert_eq!(
        (cfg.log.format.as_str(), cfg.log.filter.as_str()),
        ("json", "debug")
    );

    // An empty env var unsets an optional key.
    let cfg = load(text, &[("GRAPH_GATEWAY_GRAPH_BASE_URL", "")]).expect("load");
    assert_eq!(cfg.graph.base_url, None);
}

#[test]
fn every_error_at_once() {
    let text = r#"
[graph]
base_url = "not a url"
[cache]
ttl_secs = "sixty"
[log]
format = "xml"
"#;
    let errors = load_errors(text, &[]);
    assert_eq!(errors.len(), 3, "{errors:#?}");
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("graph.base_url: not a URL")),
        "{errors:#?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("cache.ttl_secs: expected an integer")),
        "{errors:#?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e == r#"log.format: must be "human" or "json", got "xml""#),
        "{errors:#?}"
    );
}

#[test]
fn env_errors_name_the_variable_and_join_file_errors() {
    let errors = load_errors(
        "[quota]\nburst = 0\n",
        &[
            ("GRAPH_GATEWAY_CACHE_TTL_SECS", "abc"),
            ("GRAPH_GATEWAY_GRAPH_API_VERSION", "25"),
            ("GRAPH_GATEWAY_GRAPH_TIMEOUT_MS", "0"),
            ("GRAPH_GATEWAY_LISTEN", "localhost"),
        ],
    );
    let expected = [
        "cache.ttl_secs (GRAPH_GATEWAY_CACHE_TTL_SECS): invalid digit found in string",
        r#"graph.api_version (GRAPH_GATEWAY_GRAPH_API_VERSION): must look like v26.0 (vNN.N), got "25""#,
        "graph.timeout_ms (GRAPH_GATEWAY_GRAPH_TIMEOUT_MS): must be greater than 0",
        "quota.burst: must be greater than 0",
    ];
    for e in expected {
        assert!(
            errors.iter().any(|got| got == e),
            "missing {e:?} in {errors:#?}"
        );
    }
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("listen (GRAPH_GATEWAY_LISTEN): not an address")),
        "{errors:#?}"
    );
    assert_eq!(errors.len(), 5, "{errors:#?}");
}

#[test]
fn validation_rules() {
    let bad = [
        (
            "[graph]\nbase_url = \"ftp://example.com\"",
            "graph.base_url: must be an http or https URL",
        ),
        (
            "[graph]\napi_version = \"v25\"",
            "graph.api_version: must look like",
        ),
        (
            "[quota]\nper_token_per_sec = 0",
            "quota.per_token_per_sec: must be greater than 0",
        ),
        (
            "[quota]\nper_business_per_sec = 0",
            "quota.per_business_per_sec: must be greater than 0",
        ),
        (
            "[cache]\nttl_secs = -1",
            "cache.ttl_secs: must not be negative",
        ),
        (
            "[quota]\nburst = 5000000000",
            "quota.burst: 5000000000 is too large",
        ),
        ("graph = 1", "graph: expected a table, found integer"),
    ];
    for (text, want) in bad {
        let errors = load_errors(text, &[]);
        assert!(
            errors.iter().any(|e| e.starts_with(want)),
            "{text}: {errors:#?}"
        );
    }
    let good = load(
        "[graph]\nbase_url = \"http://127.0.0.1:8080/\"\napi_version = \"v9.12\"",
        &[],
    );
    assert!(good.is_ok(), "{good:?}");
}

#[test]
fn unknown_keys_are_named() {
    let errors = load_errors(
        "colour = 1\n[graph]\nbase_ur = \"https://x\"\n[nope]\na = 1\n",
        &[],
    );
    assert!(
        errors.contains(&"colour: unknown key".to_string()),
        "{errors:#?}"
    );
    assert!(
        errors.contains(&"graph.base_ur: unknown key (did you mean graph.base_url?)".to_string()),
        "{errors:#?}"
    );
    assert!(
        errors.contains(&"nope: unknown key".to_string()),
        "{errors:#?}"
    );
    assert_eq!(errors.len(), 3, "{errors:#?}");
}

#[test]
fn unreadable_and_malformed_files() {
    let missing = std::path::Path::new("/nonexistent/graph-gateway.toml");
    let Err(ConfigErrors(errors)) = Config::load(
        Some(missing),
        &env(&[("GRAPH_GATEWAY_CACHE_TTL_SECS", "x")]),
    ) else {
        panic!("expected errors");
    };
    assert!(
        errors[0].starts_with("config file /nonexistent/graph-gateway.toml:"),
        "{errors:#?}"
    );
    assert_eq!(errors.len(), 2, "env errors are reported too: {errors:#?}");

    // A syntax error gives the position, never the line (it may hold a secret).
    let errors = load_errors("[graph]\napp_secret = \"s3cr3t-value\nx", &[]);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(errors[0].contains("line 2"), "{errors:#?}");
    assert!(!errors[0].contains("s3cr3t"), "{errors:#?}");
}

#[test]
fn secrets_from_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app_secret = dir.path().join("app-secret");
    let vault_key = dir.path().join("vault-key");
    std::fs::write(&app_secret, "from-file\n").expect("write");
    std::fs::write(&vault_key, format!("  {KEY}\n")).expect("write");
    let text = format!(
        "[graph]\napp_secret = \"from-toml\"\napp_secret_file = {app_secret:?}\n\
         [vault]\nkey_file = {vault_key:?}\nfile = {:?}\n",
        dir.path().join("vault.json")
    );

    let cfg = load(&text, &[]).expect("load");
    assert_eq!(
        cfg.graph.app_secret.as_ref().map(Secret::expose),
        Some("from-file")
    );
    assert_eq!(cfg.vault.key.as_ref().map(Secret::expose), Some(KEY));

    // The secret's own env var wins over its file.
    let cfg = load(&text, &[("GRAPH_GATEWAY_GRAPH_APP_SECRET", "from-env")]).expect("load");
    assert_eq!(
        cfg.graph.app_secret.as_ref().map(Secret::expose),
        Some("from-env")
    );

    // Missing and empty files are errors naming the key.
    std::fs::write(&vault_key, "\n").expect("write");
    let errors = load_errors(
        &text,
        &[("GRAPH_GATEWAY_GRAPH_APP_SECRET_FILE", "/nonexistent/secret")],
    );
    assert!(
        errors.iter().any(|e| e.starts_with(
            "graph.app_secret_file (GRAPH_GATEWAY_GRAPH_APP_SECRET_FILE): cannot read /nonexistent/secret"
        )),
        "{errors:#?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("vault.key_file: ") && e.ends_with("is empty")),
        "{errors:#?}"
    );
}

#[test]
fn vault_key_problems_are_reported_without_the_key() {
    let bad_key = "dG9vLXNob3J0LWtleQ==";
    let errors = load_errors(
        "[vault]\nfile = \"/tmp/v.json\"\n",
        &[("GRAPH_GATEWAY_VAULT_KEY", bad_key)],
    );
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0].starts_with("vault.key (GRAPH_GATEWAY_VAULT_KEY): must decode to 32 bytes"),
        "{errors:#?}"
    );
    assert!(!errors[0].contains(bad_key));

    let errors = load_errors("[vault]\nfile = \"/tmp/v.json\"\n", &[]);
    assert!(
        errors[0].starts_with("vault.file: ") && errors[0].contains("GRAPH_GATEWAY_VAULT_KEY"),
        "{errors:#?}"
    );
}

#[test]
fn debug_shows_no_secret() {
    let cfg = load(
        "[graph]\napp_secret = \"app-s3cr3t\"\n",
        &[("GRAPH_GATEWAY_VAULT_KEY", KEY)],
    )
    .expect("load");
    let debug = format!("{cfg:?}");
    assert!(!debug.contains("app-s3cr3t"), "{debug}");
    assert!(!debug.contains(KEY), "{debug}");
    assert!(debug.contains("redacted"), "{debug}");
}

#[test]
fn documented_keys_cover_every_field_once() {
    let keys = Config::documented_keys();
    let names: Vec<&str> = keys.iter().map(|(key, ..)| *key).collect();
    assert_eq!(
        names,
        [
            "listen",
            "graph.base_url",
            "graph.api_version",
            "graph.app_secret",
            "graph.app_secret_file",
            "graph.timeout_ms",
            "graph.pool_max_idle_per_host",
            "vault.file",
            "vault.key",
            "vault.key_file",
            "vault.seed_file",
            "vault.backend",
            "vault.key_id",
            "vault.old_keys",
            "vault.redis_refresh_ms",
            "vault.check_interval_secs",
            "cache.ttl_secs",
            "cache.max_entries",
            "quota.per_token_per_sec",
            "quota.per_business_per_sec",
            "quota.burst",
            "quota.target_fraction",
            "quota.ceiling",
            "quota.batch_reserve",
            "quota.slowdown_band",
            "quota.model_tolerance",
            "quota.window_margin_ms",
            "quota.default_hold_secs",
            "quota.probe_timeout_secs",
            "quota.app_calls",
            "quota.app_window_secs",
            "quota.business_use_case_calls",
            "quota.business_use_case_window_secs",
            "quota.use_case_calls",
            "quota.ads_management_calls_standard",
            "quota.ad_account_tier",
            "quota.ad_account_points_development",
            "quota.ad_account_points_standard",
            "quota.ad_account_window_secs",
            "quota.ad_account_read_points",
            "quota.ad_account_write_points",
            "quota.callers",
            "quota.replicas",
            "quota.local_fraction",
            "redis.url",
            "redis.key_prefix",
            "redis.timeout_ms",
            "redis.probe_interval_ms",
            "redis.mode",
            "redis.nodes",
            "redis.sentinel_master",
            "redis.wait_replicas",
            "redis.tls_ca_file",
            "retry.max_attempts",
            "retry.base_ms",
            "retry.max_ms",
            "retry.budget_ratio",
            "retry.budget_min_per_sec",
            "retry.attempt_timeout_ms",
            "breaker.failures",
            "breaker.cool_down_ms",
            "idempotency.ttl_secs",
            "idempotency.max_entries",
            "bulk.batch",
            "bulk.batch_size",
            "bulk.lease_ms",
            "bulk.scan_interval_ms",
            "bulk.keep_secs",
            "server.max_concurrent_rpcs",
            "server.drain_timeout_ms",
            "log.format",
            "log.filter",
            "auth.callers",
            "auth.pepper",
            "auth.pepper_file",
            "auth.exempt",
            "policy",
            "passthrough.paths",
            "tls.cert_file",
            "tls.key_file",
            "tls.client_ca_file",
            "tls.client_auth",
            "health.listen",
            "audit.redis_stream",
            "audit.redis_max_len",
            "metrics.listen",
            "otel.endpoint",
            "otel.service_name",
        ]
    );
    let vars: std::collections::HashSet<&str> =
        keys.iter().map(|(_, var, ..)| var.as_str()).collect();
    assert_eq!(vars.len(), keys.len(), "env var names are unique");
    let find = |key: &str| keys.iter().find(|(k, ..)| *k == key).cloned().expect("key");
    let (_, var, default, description) = find("cache.ttl_secs");
    assert_eq!(
        (var.as_str(), default.as_str()),
        ("GRAPH_GATEWAY_CACHE_TTL_SECS", "60")
    );
    assert!(!description.is_empty());
    assert_eq!(find("listen").1, "GRAPH_GATEWAY_LISTEN");
    assert_eq!(find("graph.base_url").2, "(unset)");
    assert!(keys.iter().all(|(_, _, _, d)| !d.is_empty()));
}

#[test]
fn every_documented_key_is_settable_from_file_and_env() {
    // Each key accepts its own documented default (or a sample, when unset)
    // both ways, so the table and the loader cannot drift apart.
    let sample = |key: &str, default: &str| -> String {
        match (key, default) {
            ("vault.key", _) => KEY.to_string(),
            ("graph.base_url", _) => "https://graph.facebook.com".to_string(),
            ("redis.url", _) => "redis://127.0.0.1:6379/0".to_string(),
            ("redis.nodes", _) => "127.0.0.1:7001,127.0.0.1:7002".to_string(),
            ("otel.endpoint", _) => "http://127.0.0.1:4318".to_string(),
            ("auth.pepper", _) => "a-pepper-of-at-least-16-bytes".to_string(),
            ("health.listen" | "metrics.listen", _) => "127.0.0.1:0".to_string(),
            ("vault.file" | "vault.seed_file", _) => "/tmp/x".to_string(),
            (_, "(unset)") => "/dev/null".to_string(),
            (_, default) => default.to_string(),
        }
    };
    for (key, var, default, _) in Config::documented_keys() {
        let value = sample(key, &default);
        let set_by_env = Config::load(
            None,
            &env(&[
                (var.as_str(), value.as_str()),
                ("GRAPH_GATEWAY_VAULT_KEY", KEY),
            ]),
        );
        // /dev/null as a secret file is empty: the one expected complaint.
        if let Err(ConfigErrors(errors)) = &set_by_env {
            assert!(
                errors.iter().all(|e| e.contains("is empty")),
                "{key} via {var}: {errors:#?}"
            );
        }
        let toml_value = match (value.parse::<u64>(), value.parse::<f64>()) {
            _ if value == "true" || value == "false" => value.clone(),
            (Ok(n), _) => n.to_string(),
            (_, Ok(_)) => value.clone(),
            _ => format!("{value:?}"),
        };
        let text = match key.split_once('.') {
            Some((section, name)) => format!("[{section}]\n{name} = {toml_value}\n"),
            None => format!("{key} = {toml_value}\n"),
        };
        if let Err(ConfigErrors(errors)) = load(&text, &[("GRAPH_GATEWAY_VAULT_KEY", KEY)]) {
            assert!(
                errors.iter().all(|e| e.contains("is empty")),
                "{key} in TOML: {errors:#?}"
            );
        }
    }
}

#[test]
fn quota_callers_budgets_and_redis() {
    let text = r#"
[quota]
target_fraction = 0.9
ceiling = 0.7
ad_account_tier = "standard"

[quota.use_case_calls]
ads_management = 1000
pages = 50

[quota.callers.reports]
weight = 1
priority = "batch"

[quota.callers.ui]
weight = 4

[redis]
url = "redis://:pw@127.0.0.1:6379/2"
"#;
    let cfg = load(text, &[]).expect("load");
    assert_eq!(cfg.quota.target_fraction, 0.9);
    assert_eq!(cfg.quota.use_case_calls.0["pages"], 50);
    assert_eq!(cfg.quota.callers.0["reports"].priority, Priority::Batch);
    assert_eq!(cfg.quota.callers.0["ui"].weight, 4);
    assert_eq!(cfg.quota.callers.0["ui"].priority, Priority::Interactive);
    assert!(cfg.redis.url.is_some());
    // The env forms.
    let cfg = Config::load(
        None,
        &env(&[
            ("GRAPH_GATEWAY_QUOTA_CALLERS", "ui=4,nightly=1:batch"),
            ("GRAPH_GATEWAY_QUOTA_USE_CASE_CALLS", "pages=7"),
            ("GRAPH_GATEWAY_QUOTA_CEILING", "0.5"),
        ]),
    )
    .expect("load");
    assert_eq!(cfg.quota.callers.0["nightly"].priority, Priority::Batch);
    assert_eq!(cfg.quota.use_case_calls.0.len(), 1);
    assert_eq!(cfg.quota.ceiling, 0.5);

    let errors = load_errors(
        r#"
[quota]
target_fraction = 0.8
ceiling = 0.9
slowdown_band = 1.5
ad_account_tier = "gold"
callers = "ui=0"
[redis]
url = "rediss://:secret-pw@example.com"
mode = "ring"
nodes = ["127.0.0.1:7001", "no-port"]
"#,
        &[],
    );
    for want in [
        "quota.ceiling: must not exceed quota.target_fraction",
        "quota.slowdown_band: must be in [0, 1)",
        "quota.ad_account_tier: must be \"development\" or \"standard\"",
        "quota.callers: ui: weight must be greater than 0",
        "redis.mode: must be one of",
        "redis.nodes: \"no-port\" is not host:port",
    ] {
        assert!(
            errors.iter().any(|e| e.starts_with(want)),
            "missing {want:?} in {errors:#?}"
        );
    }
    assert!(
        errors.iter().all(|e| !e.contains("secret-pw")),
        "{errors:#?}"
    );
}

#[test]
fn a_misspelled_environment_variable_stops_start_up_with_a_hint() {
    let errors = load_errors(
        "",
        &[
            ("GRAPH_GATEWAY_GRAPH_BASEURL", "https://graph.facebook.com"),
            ("GRAPH_GATEWAY_NOTHING_LIKE_IT_AT_ALL", "1"),
        ],
    );
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors.contains(
            &"GRAPH_GATEWAY_GRAPH_BASEURL: unknown environment variable (did you mean GRAPH_GATEWAY_GRAPH_BASE_URL?)"
                .to_string()
        ),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e
                .starts_with("GRAPH_GATEWAY_NOTHING_LIKE_IT_AT_ALL: unknown environment variable")),
        "{errors:?}"
    );
    // The config file's path and the scripts' binary path are not keys, and
    // every documented variable is known.
    let vars = [
        ("GRAPH_GATEWAY_CONFIG", "/etc/graph-gateway.toml"),
        ("GRAPH_GATEWAY_BIN", "target/debug/graph-gateway"),
        ("GRAPH_GATEWAY_CACHE_TTL_SECS", "7"),
    ];
    assert!(load("", &vars).is_ok());
}

#[test]
fn listen_takes_host_names() {
    let cfg = load("listen = \"localhost:7001\"", &[]).expect("load");
    assert!(cfg.listen.ip().is_loopback(), "{}", cfg.listen);
    assert_eq!(cfg.listen.port(), 7001);
    let cfg = load("", &[("GRAPH_GATEWAY_LISTEN", "localhost:7002")]).expect("load");
    assert_eq!(cfg.listen.port(), 7002);
    let errors = load_errors("listen = \"localhost\"", &[]);
    assert!(errors[0].contains("host:port"), "{errors:?}");
}

#[test]
fn pass_through_paths_are_checked_where_they_are_configured() {
    let cfg = load(
        "[passthrough]\npaths = [\"GET /{business_id}/owned_whatsapp_business_accounts\"]\n",
        &[(
            "GRAPH_GATEWAY_PASSTHROUGH_PATHS",
            "GET /{page_id},POST /{waba_id}/assigned_users",
        )],
    )
    .expect("load");
    assert_eq!(
        cfg.passthrough.paths.0,
        vec!["GET /{page_id}", "POST /{waba_id}/assigned_users"]
    );
    let errors = load_errors("[passthrough]\npaths = [\"GET /me\", \"PUT /{a}\"]\n", &[]);
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors.iter().all(|e| e.contains("passthrough.paths")),
        "{errors:?}"
    );
    // With callers, grants list their own; a grant's entries are checked.
    let errors = load_errors(
        "[auth]\npepper = \"0123456789abcdef0123\"\n[[auth.callers]]\nname = \"a\"\n\
         key_sha256 = \"0000000000000000000000000000000000000000000000000000000000000000\"\n\
         [passthrough]\npaths = [\"GET /{a}\"]\n\
         [[policy]]\ncaller = \"a\"\nbusinesses = [\"1\"]\ngraph_paths = [\"GET /{a}/access_tokens\"]\n",
        &[],
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("passthrough.paths") && e.contains("authentication is off")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("graph_paths[0]") && e.contains("token")),
        "{errors:?}"
    );
}
