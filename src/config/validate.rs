//! Checks on the merged configuration, after the file, the environment and
//! the secret files have all been applied.

use std::collections::HashSet;

use super::{label, Config};

/// Appends one message per invalid key.
pub(super) fn validate(cfg: &Config, from_env: &HashSet<&'static str>, errors: &mut Vec<String>) {
    let mut bad = |key: &str, why: String| errors.push(format!("{}: {why}", label(from_env, key)));

    let version = &cfg.graph.api_version;
    if !is_api_version(version) {
        bad(
            "graph.api_version",
            format!("must look like v26.0 (vNN.N), got {version:?}"),
        );
    }
    if let Some(base) = &cfg.graph.base_url {
        if let Err(why) = check_base_url(base) {
            bad("graph.base_url", why);
        }
    }
    if cfg.graph.timeout_ms == 0 {
        bad("graph.timeout_ms", "must be greater than 0".to_string());
    }
    if cfg.graph.app_secret.as_ref().is_some_and(|s| s.is_empty()) {
        bad("graph.app_secret", "must not be empty".to_string());
    }

    super::quota::validate(&cfg.quota, &cfg.redis, &mut bad);
    super::reliability::validate(
        &cfg.retry,
        &cfg.breaker,
        &cfg.idempotency,
        &cfg.bulk,
        &cfg.server,
        &mut bad,
    );
    super::auth::validate(cfg, &mut bad);
    super::telemetry::validate(&cfg.otel, &mut bad);

    let format = &cfg.log.format;
    if format != "human" && format != "json" {
        bad(
            "log.format",
            format!("must be \"human\" or \"json\", got {format:?}"),
        );
    }

    // The vault key is checked here too, so a bad key shows up with every
    // other mistake instead of only when the vault opens.
    match &cfg.vault.key {
        Some(key) => {
            if let Err(why) = crate::secret::check_vault_key(key) {
                let key_name = if cfg.vault.key_file.is_some() && !from_env.contains("vault.key") {
                    "vault.key_file"
                } else {
                    "vault.key"
                };
                bad(key_name, why);
            }
        }
        None if cfg.vault.file.is_some() => bad(
            "vault.file",
            format!(
                "an encrypted vault file needs a key: set {} (or vault.key_file) to 32 random bytes, \
                 base64 (openssl rand -base64 32)",
                super::env_var("vault.key")
            ),
        ),
        None => {}
    }
}

/// `vNN.N`: a `v`, digits, a dot, digits.
fn is_api_version(v: &str) -> bool {
    let Some((major, minor)) = v.strip_prefix('v').and_then(|rest| rest.split_once('.')) else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(major) && digits(minor)
}

fn check_base_url(base: &str) -> Result<(), String> {
    let url = url::Url::parse(base).map_err(|e| format!("not a URL: {e}"))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(format!(
            "must be an http or https URL, got scheme {:?}",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("must name a host".to_string());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not have a query or fragment".to_string());
    }
    Ok(())
}
