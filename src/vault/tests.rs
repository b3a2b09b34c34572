#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::*;

const KEY_A: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const KEY_B: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

fn entry(name: &str, kind: TokenKind, businesses: &[&str], assets: &[&str]) -> TokenEntry {
    TokenEntry {
        name: name.to_string(),
        kind,
        businesses: businesses.iter().map(|s| s.to_string()).collect(),
        assets: assets.iter().map(|s| s.to_string()).collect(),
        secret: Secret::new(format!("EAAB-secret-of-{name}")),
        expires_at: None,
    }
}

fn business(id: &str) -> TokenQuery<'_> {
    TokenQuery {
        business: Some(id),
        ..TokenQuery::default()
    }
}

fn pick(vault: &dyn Vault, query: TokenQuery<'_>) -> String {
    match vault.select(&query) {
        Ok(e) => e.name.clone(),
        Err(e) => format!("error: {e}"),
    }
}

fn no_env() -> HashMap<String, String> {
    HashMap::new()
}

fn file_config(dir: &Path, key: Option<&str>) -> VaultConfig {
    VaultConfig {
        file: Some(dir.join("vault.json")),
        key: key.map(Secret::new),
        ..VaultConfig::default()
    }
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).expect("read vault file")
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

fn rewrite_json(path: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut json: serde_json::Value = serde_json::from_slice(&read(path)).expect("json");
    edit(&mut json);
    std::fs::write(path, serde_json::to_vec(&json).expect("encode")).expect("write");
}

fn names(vault: &dyn Vault) -> Vec<String> {
    vault.entries().iter().map(|e| e.name.clone()).collect()
}

fn secret_of(vault: &dyn Vault, name: &str) -> String {
    vault
        .entries()
        .iter()
        .find(|e| e.name == name)
        .map(|e| e.secret.expose().to_string())
        .unwrap_or_default()
}

fn write_seed(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("seed.toml");
    std::fs::write(&path, text).expect("write seed");
    path
}

// --- selection ---

#[test]
fn business_prefers_system_user_then_user_then_page() {
    let vault = MemoryVault::new(vec![
        entry("a-page", TokenKind::Page, &["1"], &[]),
        entry("b-user", TokenKind::User, &["1"], &[]),
        entry("c-system", TokenKind::SystemUser, &["1"], &[]),
    ]);
    assert_eq!(pick(&vault, business("1")), "c-system");

    let vault = MemoryVault::new(vec![
        entry("a-page", TokenKind::Page, &["1"], &[]),
        entry("b-user", TokenKind::User, &["1"], &[]),
    ]);
    assert_eq!(pick(&vault, business("1")), "b-user");
}

#[test]
fn ties_break_by_name_whatever_the_insertion_order() {
    let vault = MemoryVault::new(vec![
        entry("zeta", TokenKind::SystemUser, &["1"], &[]),
        entry("alpha", TokenKind::SystemUser, &["1"], &[]),
        entry("mid", TokenKind::SystemUser, &["1"], &[]),
    ]);
    assert_eq!(pick(&vault, business("1")), "alpha");
}

#[test]
fn asset_holder_wins_over_business_tokens() {
    let vault = MemoryVault::new(vec![
        entry("system", TokenKind::SystemUser, &["1"], &[]),
        entry("page-token", TokenKind::Page, &["1"], &["page-9"]),
    ]);
    let q = TokenQuery {
        business: Some("1"),
        asset: Some("page-9"),
        kind: None,
    };
    assert_eq!(pick(&vault, q), "page-token");
    // An asset nobody holds falls back to the business.
    let q = TokenQuery {
        business: Some("1"),
        asset: Some("page-8"),
        kind: None,
    };
    assert_eq!(pick(&vault, q), "system");
}

#[test]
fn kind_filters_every_rule() {
    let vault = MemoryVault::new(vec![
        entry("system", TokenKind::SystemUser, &["1"], &["page-9"]),
        entry("page-token", TokenKind::Page, &["1"], &["page-9"]),
    ]);
    let q = TokenQuery {
        business: None,
        asset: Some("page-9"),
        kind: Some(TokenKind::Page),
    };
    assert_eq!(pick(&vault, q), "page-token");
    let q = TokenQuery {
        business: Some("1"),
        asset: None,
        kind: Some(TokenKind::Page),
    };
    assert_eq!(pick(&vault, q), "page-token");
    let q = TokenQuery {
        business: Some("1"),
        asset: None,
        kind: Some(TokenKind::User),
    };
    assert!(matches!(vault.select(&q), Err(VaultError::NoToken(_))));
}

#[test]
fn single_non_page_token_is_the_default() {
    let vault = MemoryVault::new(vec![
        entry("only", TokenKind::SystemUser, &["1"], &[]),
        entry("page-token", TokenKind::Page, &["1"], &["page-9"]),
    ]);
    assert_eq!(pick(&vault, TokenQuery::default()), "only");
    let q = TokenQuery {
        asset: Some("unknown-asset"),
        ..TokenQuery::default()
    };
    assert_eq!(pick(&vault, q), "only");
    // A business is a precise question: no fallback.
    assert!(matches!(
        vault.select(&business("2")),
        Err(VaultError::NoToken(_))
    ));
    // A page token is never the default.
    let q = TokenQuery {
        kind: Some(TokenKind::Page),
        ..TokenQuery::default()
    };
    assert!(matches!(vault.select(&q), Err(VaultError::NoToken(_))));
}

#[test]
fn two_non_page_tokens_means_no_default() {
    let vault = MemoryVault::new(vec![
        entry("one", TokenKind::SystemUser, &["1"], &[]),
        entry("two", TokenKind::User, &["2"], &[]),
    ]);
    assert!(matches!(
        vault.select(&TokenQuery::default()),
        Err(VaultError::NoToken(_))
    ));
    assert!(matches!(
        MemoryVault::new(vec![]).select(&TokenQuery::default()),
        Err(VaultError::NoToken(_))
    ));
}

#[test]
fn no_token_names_the_question_never_a_secret() {
    let vault = MemoryVault::new(vec![
        entry("one", TokenKind::SystemUser, &["1"], &[]),
        entry("two", TokenKind::SystemUser, &["2"], &[]),
    ]);
    let err = vault.select(&business("123")).expect_err("no token");
    let message = err.to_string();
    assert!(message.contains("business 123"), "{message}");
    assert!(!message.contains("EAAB"), "{message}");

    let q = TokenQuery {
        asset: Some("456"),
        kind: Some(TokenKind::Page),
        ..TokenQuery::default()
    };
    let message = vault.select(&q).expect_err("no token").to_string();
    assert!(
        message.contains("asset 456") && message.contains("page"),
        "{message}"
    );
    assert!(!message.contains("EAAB"), "{message}");
}

#[tokio::test]
async fn put_replaces_by_name_and_remove_reports_existence() {
    let vault = MemoryVault::new(vec![entry("a", TokenKind::User, &["1"], &[])]);
    vault
        .put(entry("a", TokenKind::SystemUser, &["2"], &[]))
        .await
        .expect("put");
    assert_eq!(pick(&vault, business("2")), "a");
    assert!(vault.select(&business("1")).is_err());
    assert!(vault.remove("a").await.expect("remove"));
    assert!(!vault.remove("a").await.expect("remove"));
    assert!(vault.entries().is_empty());
    let nameless = entry("", TokenKind::User, &[], &[]);
    assert!(matches!(
        vault.put(nameless).await,
        Err(VaultError::Storage(_))
    ));
}

// --- the encrypted file ---

#[tokio::test]
async fn round_trip_with_the_same_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = file_config(dir.path(), Some(KEY_A));
    let vault = FileVault::open(&cfg, &no_env()).expect("open");
    let mut acme = entry(
        "acme-admin",
        TokenKind::SystemUser,
        &["1000000001"],
        &["act_1"],
    );
    acme.expires_at = Some(1_767_225_600);
    vault.put(acme).await.expect("put");
    vault
        .put(entry("page", TokenKind::Page, &[], &["p1"]))
        .await
        .expect("put");
    drop(vault);

    let reopened = FileVault::open(&cfg, &no_env()).expect("reopen");
    assert_eq!(names(&reopened), ["acme-admin", "page"]);
    let acme = reopened.select(&business("1000000001")).expect("select");
    assert_eq!(acme.secret.expose(), "EAAB-secret-of-acme-admin");
    assert_eq!(acme.kind, TokenKind::SystemUser);
    assert_eq!(acme.assets, ["act_1"]);
    assert_eq!(acme.expires_at, Some(1_767_225_600));

    assert!(reopened.remove("page").await.expect("remove"));
    drop(reopened);
    let again = FileVault::open(&cfg, &no_env()).expect("reopen");
    assert_eq!(names(&again), ["acme-admin"]);
}

#[tokio::test]
async fn the_file_holds_no_plaintext_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = file_config(dir.path(), Some(KEY_A));
    let vault = FileVault::open(&cfg, &no_env()).expect("open");
    vault
        .put(entry("acme", TokenKind::SystemUser, &["1"], &[]))
        .await
        .expect("put");
    let bytes = read(&dir.path().join("vault.json"));
    assert!(!contains(&bytes, "EAAB-secret-of-acme"));
    assert!(!contains(&bytes, "EAAB"));
    assert!(!contains(&bytes, &STANDARD.encode("EAAB-secret-of-acme")));
    // The metadata is readable, and the format is the documented one.
    let json: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
    assert_eq!(json["version"], 1);
    assert_eq!(json["key_id"], "k1");
    let record = &json["records"][0];
    assert_eq!(record["name"], "acme");
    assert_eq!(record["kind"], "system_user");
    assert_eq!(record["businesses"][0], "1");
    assert_eq!(
        STANDARD
            .decode(record["nonce"].as_str().unwrap_or_default())
            .map(|n| n.len())
            .ok(),
        Some(24)
    );
    // No temporary files are left behind.
    let files: Vec<_> = std::fs::read_dir(dir.path()).expect("ls").collect();
    assert_eq!(files.len(), 1);
}

#[cfg(unix)]
#[test]
fn the_file_is_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().expect("tempdir");
    FileVault::open(&file_config(dir.path(), Some(KEY_A)), &no_env()).expect("open");
    let mode = std::fs::metadata(dir.path().join("vault.json"))
        .expect("stat")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[tokio::test]
async fn a_wrong_key_is_a_key_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let vault = FileVault::open(&file_config(dir.path(), Some(KEY_A)), &no_env()).expect("open");
    vault
        .put(entry("acme", TokenKind::SystemUser, &["1"], &[]))
        .await
        .expect("put");
    let err =
        FileVault::open(&file_config(dir.path(), Some(KEY_B)), &no_env()).expect_err("wrong key");
    assert!(matches!(err, VaultError::Key(_)), "{err}");
    assert!(!err.to_string().contains(KEY_A) && !err.to_string().contains(KEY_B));
}

#[tokio::test]
async fn tampered_ciphertext_fails() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = file_config(dir.path(), Some(KEY_A));
    let vault = FileVault::open(&cfg, &no_env()).expect("open");
    vault
        .put(entry("acme", TokenKind::SystemUser, &["1"], &[]))
        .await
        .expect("put");
    rewrite_json(&dir.path().join("vault.json"), |json| {
        let ct = &mut json["records"][0]["ciphertext"];
        let mut bytes = STANDARD
            .decode(ct.as_str().unwrap_or_default())
            .expect("b64");
        bytes[0] ^= 1;
        *ct = STANDARD.encode(bytes).into();
    });
    assert!(matches!(
        FileVault::open(&cfg, &no_env()),
        Err(VaultError::Key(_))
    ));
}

#[tokio::test]
async fn swapped_record_names_fail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = file_config(dir.path(), Some(KEY_A));
    let vault = FileVault::open(&cfg, &no_env()).expect("open");
    vault
        .put(entry("alpha", TokenKind::SystemUser, &["1"], &[]))
        .await
        .expect("put");
    vault
        .put(entry("beta", TokenKind::SystemUser, &["1"], &[]))
        .await
        .expect("put");
    rewrite_json(&dir.path().join("vault.json"), |json| {
        let records = &mut json["records"];
        let first = records[0]["name"].clone();
        records[0]["name"] = records[1]["name"].clone();
        records[1]["name"] = first;
    });
    let err = FileVault::open(&cfg, &no_env()).expect_err("swapped");
    assert!(matches!(err, VaultError::Key(_)), "{err}");
}

#[tokio::test]
async fn retargeted_businesses_fail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = file_config(dir.path(), Some(KEY_A));
    let vault = FileVault::open(&cfg, &no_env()).expect("open");
    vault
        .put(entry("acme", TokenKind::SystemUser, &["1"], &[]))
        .await
        .expect("put");
    rewrite_json(&dir.path().join("vault.json"), |json| {
        json["records"][0]["businesses"] = serde_json::json!(["1", "666"]);
    });
    assert!(matches!(
        FileVault::open(&cfg, &no_env()),
        Err(VaultError::Key(_))
    ));
}

#[test]
fn a_newer_file_version_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = file_config(dir.path(), Some(KEY_A));
    std::fs::write(
        dir.path().join("vault.json"),
        r#"{"version":2,"key_id":"k1","records":[],"x":1}"#,
    )
    .expect("write");
    let err = FileVault::open(&cfg, &no_env()).expect_err("version");
    assert!(
        matches!(err, VaultError::Storage(_)) && err.to_string().contains("version 2"),
        "{err}"
    );
}

#[test]
fn a_file_without_a_key_is_a_key_error_naming_the_env_var() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = FileVault::open(&file_config(dir.path(), None), &no_env()).expect_err("no key");
    assert!(matches!(err, VaultError::Key(_)));
    assert!(err.to_string().contains("GRAPH_GATEWAY_VAULT_KEY"), "{err}");
}

#[test]
fn a_malformed_key_is_a_key_error_that_does_not_echo_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    for bad in [
        "c2hvcnQ=",
        "not base64 at all!!",
        "c2VjcmV0LWtleS1zZWNyZXQta2V5LXNlY3JldC1rZXktc2VjcmV0LWtleQ==",
    ] {
        let err =
            FileVault::open(&file_config(dir.path(), Some(bad)), &no_env()).expect_err("bad key");
        assert!(matches!(err, VaultError::Key(_)), "{err}");
        assert!(!err.to_string().contains(bad), "{err}");
    }
}

#[tokio::test]
async fn env_key_wins_over_key_file_wins_over_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    FileVault::open(&file_config(dir.path(), Some(KEY_A)), &no_env())
        .expect("open")
        .put(entry("acme", TokenKind::SystemUser, &["1"], &[]))
        .await
        .expect("put");

    let key_file = dir.path().join("key");
    std::fs::write(&key_file, format!("{KEY_A}\n")).expect("write key");
    let mut cfg = file_config(dir.path(), Some(KEY_B));
    cfg.key_file = Some(key_file);
    FileVault::open(&cfg, &no_env()).expect("key_file wins over key");

    let env = HashMap::from([("GRAPH_GATEWAY_VAULT_KEY".to_string(), KEY_B.to_string())]);
    let err = FileVault::open(&cfg, &env).expect_err("env wins over key_file");
    assert!(matches!(err, VaultError::Key(_)));

    let mut cfg = file_config(dir.path(), Some(KEY_B));
    cfg.key_file = Some(dir.path().join("missing-key"));
    let env = HashMap::from([("GRAPH_GATEWAY_VAULT_KEY".to_string(), KEY_A.to_string())]);
    FileVault::open(&cfg, &env).expect("env wins");
}

// --- the seed file ---

const SEED: &str = r#"
[[token]]
name = "acme-admin"
kind = "system_user"
businesses = ["1000000001"]
assets = []
value = "EAAB-seeded-acme"
expires_at = 2026-01-01T00:00:00Z

[[token]]
name = "globex-page"
kind = "page"
businesses = [1000000002]
assets = ["page-1"]
value = "EAAB-seeded-page"
"#;

#[tokio::test]
async fn seed_merges_over_the_file_and_is_persisted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = file_config(dir.path(), Some(KEY_A));
    let vault = FileVault::open(&cfg, &no_env()).expect("open");
    vault
        .put(entry("acme-admin", TokenKind::User, &["1"], &[]))
        .await
        .expect("put");
    vault
        .put(entry("kept", TokenKind::User, &["3"], &[]))
        .await
        .expect("put");
    drop(vault);

    let mut seeded = cfg.clone();
    seeded.seed_file = Some(write_seed(dir.path(), SEED));
    let vault = FileVault::open(&seeded, &no_env()).expect("open with seed");
    assert_eq!(names(&vault), ["acme-admin", "globex-page", "kept"]);
    assert_eq!(secret_of(&vault, "acme-admin"), "EAAB-seeded-acme");
    let acme = vault.select(&business("1000000001")).expect("seeded acme");
    assert_eq!(acme.expires_at, Some(1_767_225_600));
    assert_eq!(acme.kind, TokenKind::SystemUser);
    assert_eq!(pick(&vault, business("1000000002")), "globex-page");
    drop(vault);

    // Persisted: the seed's values are in the file, encrypted.
    let bytes = read(&dir.path().join("vault.json"));
    assert!(!contains(&bytes, "EAAB"));
    let vault = FileVault::open(&cfg, &no_env()).expect("reopen without seed");
    assert_eq!(secret_of(&vault, "acme-admin"), "EAAB-seeded-acme");
}

#[tokio::test]
async fn without_a_file_the_vault_is_memory_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = VaultConfig {
        seed_file: Some(write_seed(dir.path(), SEED)),
        ..VaultConfig::default()
    };
    let vault = FileVault::open(&cfg, &no_env()).expect("open");
    assert_eq!(vault.path(), None);
    vault
        .put(entry("runtime", TokenKind::User, &["9"], &[]))
        .await
        .expect("put");
    assert_eq!(names(&vault), ["acme-admin", "globex-page", "runtime"]);
    let files: Vec<_> = std::fs::read_dir(dir.path()).expect("ls").collect();
    assert_eq!(files.len(), 1, "only the seed file");
}

#[test]
fn seed_mistakes_are_all_reported_without_values() {
    let text = r#"
stray = 1
[[token]]
name = "a"
kind = "robot"
value = "EAAB-leak-1"
colour = "blue"

[[token]]
kind = "user"
value = "EAAB-leak-2"

[[token]]
name = "a"
kind = "user"
value = "EAAB-leak-3"
expires_at = "EAAB-leak-4"
"#;
    let errors = seed::parse(text).map(|_| ()).expect_err("bad seed");
    let all = errors.join("\n");
    assert!(all.contains("stray: unknown key"), "{all}");
    assert!(
        all.contains("kind: must be system_user, user or page"),
        "{all}"
    );
    assert!(all.contains("colour: unknown key"), "{all}");
    assert!(all.contains("token[1].name: missing"), "{all}");
    assert!(all.contains("expires_at"), "{all}");
    assert!(!all.contains("EAAB"), "{all}");
}

#[test]
fn seed_syntax_errors_do_not_quote_the_line() {
    for text in [
        "[[token]]\nvalue = \"EAAB-unterminated\n",
        "[[token]]\nvalue = EAAB-bare\n",
    ] {
        let errors = seed::parse(text).map(|_| ()).expect_err("bad toml");
        let all = errors.join("\n");
        assert!(all.contains("line 2"), "{all}");
        assert!(!all.contains("EAAB"), "{all}");
    }
}

#[test]
fn an_unreadable_seed_file_is_a_storage_error() {
    let cfg = VaultConfig {
        seed_file: Some(PathBuf::from("/nonexistent/seed.toml")),
        ..VaultConfig::default()
    };
    let err = FileVault::open(&cfg, &no_env()).expect_err("missing seed");
    assert!(
        matches!(err, VaultError::Storage(_)) && err.to_string().contains("seed.toml"),
        "{err}"
    );
}

#[test]
fn vault_debug_shows_no_secret() {
    let vault = MemoryVault::new(vec![entry("a", TokenKind::User, &["1"], &[])]);
    assert!(!format!("{vault:?} {:?}", vault.entries()).contains("EAAB"));
}
