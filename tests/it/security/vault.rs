//! The vault at scale: VaultService (admin only, metadata only), the file
//! and Redis backends holding no plaintext token (searched byte-wise), key
//! rotation keeping every token readable, and debug_token-driven health:
//! a business whose only token is invalid fails fast.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use graph_gateway::config::{OldVaultKey, OldVaultKeys, VaultConfig};
use graph_gateway::proto::page_service_client::PageServiceClient;
use graph_gateway::proto::vault_service_client::VaultServiceClient;
use graph_gateway::proto::{
    CheckTokenRequest, DeleteTokenRequest, ListOwnedPagesRequest, ListTokensRequest,
    PutTokenRequest, RotateKeyRequest, TokenHealthState, VaultTokenKind,
};
use graph_gateway::secret::Secret;
use graph_gateway::vault::{FileVault, RedisVault, TokenEntry, TokenKind, Vault};
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

use super::*;
use crate::harness::TestGateway;
use crate::redis_server::RedisServer;

/// Vault keys (32 bytes, base64) of the rotation tests.
pub const KEY_1: &str = "ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM=";
pub const KEY_2: &str = "yMnKy8zNzs/Q0dLT1NXW19jZ2tvc3d7f4OHi4+Tl5uc=";

/// Token values the at-rest tests store (searched for byte-wise).
const VALUES: &[(&str, &str)] = &[
    ("acme-system", "EAAB-at-rest-acme-7d1c2b9e"),
    ("globex-system", "EAAB-at-rest-globex-4f3e8a6d"),
    ("page-3000000001", "EAAB-at-rest-page-5c2d1e0f"),
];

fn entries() -> Vec<TokenEntry> {
    VALUES
        .iter()
        .enumerate()
        .map(|(i, (name, value))| TokenEntry {
            name: name.to_string(),
            kind: if i == 2 {
                TokenKind::Page
            } else {
                TokenKind::SystemUser
            },
            businesses: vec![format!("100000000{}", i + 1)],
            assets: vec![],
            secret: Secret::new(*value),
            expires_at: Some(1_900_000_000),
        })
        .collect()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

fn no_env() -> HashMap<String, String> {
    HashMap::new()
}

/// A keyring: the active key and id, plus older keys.
fn keyring(cfg: VaultConfig, active: (&str, &str), old: &[(&str, &str)]) -> VaultConfig {
    VaultConfig {
        key: Some(Secret::new(active.1)),
        key_id: active.0.to_string(),
        old_keys: OldVaultKeys(
            old.iter()
                .map(|(id, key)| OldVaultKey {
                    id: id.to_string(),
                    key: Some(Secret::new(*key)),
                    key_file: None,
                })
                .collect(),
        ),
        ..cfg
    }
}

fn values_of(vault: &dyn Vault) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = vault
        .entries()
        .iter()
        .map(|e| (e.name.clone(), e.secret.expose().to_string()))
        .collect();
    v.sort();
    v
}

fn expected() -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = VALUES
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn vault_service_is_for_admins_and_answers_metadata_only() {
    let gw = TestGateway::sandbox_with(secured()).await;
    let mut billing = VaultServiceClient::new(as_caller(&gw, BILLING_KEY).await);
    let st = billing
        .list_tokens(ListTokensRequest::default())
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::PermissionDenied);
    assert_eq!(error_info(&st).reason, "ADMIN_REQUIRED");

    let mut ops = VaultServiceClient::new(as_caller(&gw, OPS_KEY).await);
    let list = ops
        .list_tokens(ListTokensRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.backend, "memory");
    let names: Vec<&str> = list.tokens.iter().map(|t| t.name.as_str()).collect();
    assert!(names.contains(&"sandbox-acme-admin"), "{names:?}");
    assert!(
        !format!("{list:?}").contains("sandbox-token-"),
        "no token value in the answer"
    );
    // Paging by name, filtered by business.
    let page = ops
        .list_tokens(ListTokensRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.tokens.len(), 1);
    let next = ops
        .list_tokens(ListTokensRequest {
            page_size: 1,
            page_token: page.next_page_token.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(next.tokens[0].name > page.tokens[0].name);
    let acme = ops
        .list_tokens(ListTokensRequest {
            business_id: ACME.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(acme
        .tokens
        .iter()
        .all(|t| t.business_ids.contains(&ACME.to_string())));

    // Without caller authentication, VaultService is closed.
    let open = TestGateway::sandbox().await;
    let st = VaultServiceClient::new(open.channel().await)
        .list_tokens(ListTokensRequest::default())
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::PermissionDenied);
    assert_eq!(error_info(&st).reason, "AUTH_REQUIRED");
}

#[tokio::test]
async fn put_checks_with_debug_token_then_delete() {
    let gw = TestGateway::sandbox_with(secured()).await;
    let mut ops = VaultServiceClient::new(as_caller(&gw, OPS_KEY).await);
    let put = PutTokenRequest {
        name: "globex-second".into(),
        kind: VaultTokenKind::SystemUser as i32,
        business_ids: vec![GLOBEX.into()],
        value: "sandbox-token-globex-admin".into(),
        check: true,
        ..Default::default()
    };
    let stored = ops
        .put_token(put.clone())
        .await
        .unwrap()
        .into_inner()
        .token
        .unwrap();
    assert_eq!(stored.name, "globex-second");
    let health = stored.health.unwrap();
    assert_eq!(health.state, TokenHealthState::Valid as i32);
    assert!(
        health.scopes.contains(&"business_management".to_string()),
        "{health:?}"
    );
    // debug_token went as a POST, the token in the body, never in the URL.
    let sent = gw.sb().last_request().unwrap();
    assert_eq!(
        (sent.method.as_str(), sent.path.as_str()),
        ("POST", "/v26.0/debug_token")
    );
    assert!(sent.query.iter().all(|(_, v)| !v.contains("sandbox-token")));

    // An invalid token is not stored.
    let st = ops
        .put_token(PutTokenRequest {
            name: "bogus".into(),
            value: "not-a-token-anyone-issued".into(),
            ..put.clone()
        })
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::FailedPrecondition, "{st:?}");
    assert_eq!(error_info(&st).reason, "TOKEN_INVALID");
    assert!(!st.message().contains("not-a-token-anyone-issued"));
    assert!(gw
        .engine
        .vault()
        .entries()
        .iter()
        .all(|e| e.name != "bogus"));

    // Mistakes are reported together, never quoting the value.
    let st = ops
        .put_token(PutTokenRequest {
            name: "bad name".into(),
            kind: 0,
            business_ids: vec!["act_1".into()],
            value: "secret value".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::InvalidArgument);
    let fields: Vec<String> = st
        .get_error_details()
        .bad_request()
        .unwrap()
        .field_violations
        .iter()
        .map(|v| v.field.clone())
        .collect();
    assert_eq!(fields, ["name", "kind", "value", "business_ids[0]"]);
    assert!(!st.message().contains("secret value"));

    let del = |name: &str| DeleteTokenRequest {
        name: name.into(),
        ..Default::default()
    };
    assert!(
        ops.delete_token(del("globex-second"))
            .await
            .unwrap()
            .into_inner()
            .deleted
    );
    assert!(
        !ops.delete_token(del("globex-second"))
            .await
            .unwrap()
            .into_inner()
            .deleted
    );
}

async fn health_of(gw: &TestGateway, service: &str) -> i32 {
    HealthClient::new(gw.channel().await)
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .status
}

#[tokio::test]
async fn debug_token_drives_health_and_a_business_with_no_valid_token_fails_fast() {
    let gw = TestGateway::sandbox_with(secured()).await;
    let mut ops = VaultServiceClient::new(as_caller(&gw, OPS_KEY).await);
    let all = ops
        .check_token(CheckTokenRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(!all.tokens.is_empty());
    assert!(all
        .tokens
        .iter()
        .all(|t| t.health.as_ref().unwrap().state == TokenHealthState::Valid as i32));
    assert_eq!(
        health_of(&gw, "vault/1000000001").await,
        ServingStatus::Serving as i32
    );
    let mut billing = PageServiceClient::new(as_caller(&gw, BILLING_KEY).await);
    billing
        .list_owned_pages(ListOwnedPagesRequest {
            business_id: ACME.into(),
            ..Default::default()
        })
        .await
        .unwrap();

    // Acme's only token expires: debug_token says so.
    assert!(gw.sb().expire_token("sandbox-acme-admin"));
    let checked = ops
        .check_token(CheckTokenRequest {
            name: "sandbox-acme-admin".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let h = checked.tokens[0].health.clone().unwrap();
    assert_eq!(h.state, TokenHealthState::Invalid as i32);
    assert!(h.detail.contains("190"), "{h:?}");
    assert_eq!(
        health_of(&gw, "vault/1000000001").await,
        ServingStatus::NotServing as i32
    );
    assert_eq!(health_of(&gw, "vault").await, ServingStatus::Serving as i32);
    assert_eq!(
        health_of(&gw, "readiness").await,
        ServingStatus::Serving as i32
    );

    // Its calls fail fast, without a Graph round trip.
    let before = gw.sb().request_count();
    let st = billing
        .list_owned_pages(ListOwnedPagesRequest {
            business_id: ACME.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::FailedPrecondition, "{st:?}");
    assert_eq!(error_info(&st).reason, "TOKEN_INVALID");
    assert!(st.message().contains("sandbox-acme-admin"), "{st:?}");
    assert_eq!(gw.sb().request_count(), before, "no Graph call");
    // ListTokens shows it; other businesses are unaffected.
    let list = ops
        .list_tokens(ListTokensRequest {
            business_id: ACME.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        list.tokens[0].health.as_ref().unwrap().state,
        TokenHealthState::Invalid as i32
    );
    let mut everyone = PageServiceClient::new(as_caller(&gw, EVERYONE_KEY).await);
    everyone
        .list_owned_pages(ListOwnedPagesRequest {
            business_id: GLOBEX.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(list.tokens[0].last_use_time.is_some(), "last use is shown");

    // The periodic check finds Globex's token expired on its own.
    assert!(gw.sb().expire_token("sandbox-globex-admin"));
    let checks = graph_gateway::engine::token_health::spawn(&gw.engine, Duration::from_secs(1));
    let mut turned = false;
    for _ in 0..60 {
        if health_of(&gw, "vault/1000000002").await == ServingStatus::NotServing as i32 {
            turned = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    checks.abort();
    assert!(
        turned,
        "the periodic debug_token check marked Globex's token invalid"
    );
}

#[tokio::test]
async fn file_vault_holds_no_plaintext_and_rotation_keeps_every_token_readable() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("vault.json");
    let base = VaultConfig {
        file: Some(file.clone()),
        ..VaultConfig::default()
    };
    let v1 = FileVault::open(&keyring(base.clone(), ("k1", KEY_1), &[]), &no_env()).unwrap();
    for e in entries() {
        v1.put(e).await.unwrap();
    }
    let bytes = std::fs::read(&file).unwrap();
    for (name, value) in VALUES {
        assert!(
            !contains(&bytes, value),
            "{value} is in the file in the clear"
        );
        assert!(
            contains(&bytes, name),
            "metadata stays readable (the search works)"
        );
    }
    drop(v1);

    // New active key k2, k1 still accepted: every token opens.
    let both = keyring(base.clone(), ("k2", KEY_2), &[("k1", KEY_1)]);
    let vault = Arc::new(FileVault::open(&both, &no_env()).unwrap());
    assert_eq!(values_of(vault.as_ref()), expected());

    // Rotation through VaultService (admin), on a gateway over this vault.
    let gw = TestGateway::upstream("http://127.0.0.1:9", vault.clone(), secured()).await;
    let mut ops = VaultServiceClient::new(as_caller(&gw, OPS_KEY).await);
    let r = ops
        .rotate_key(RotateKeyRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (r.key_id.as_str(), r.rewritten, r.total, r.backend.as_str()),
        ("k2", 3, 3, "file")
    );
    let st = VaultServiceClient::new(as_caller(&gw, BILLING_KEY).await)
        .rotate_key(RotateKeyRequest::default())
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::PermissionDenied);
    let bytes = std::fs::read(&file).unwrap();
    for (_, value) in VALUES {
        assert!(!contains(&bytes, value));
    }

    // After the rotation k2 alone opens everything; k1 alone opens nothing.
    let k2 = FileVault::open(&keyring(base.clone(), ("k2", KEY_2), &[]), &no_env()).unwrap();
    assert_eq!(values_of(&k2), expected());
    assert!(FileVault::open(&keyring(base, ("k1", KEY_1), &[]), &no_env()).is_err());
}

#[tokio::test]
async fn redis_vault_shares_tokens_holds_no_plaintext_and_rotates() {
    let redis = RedisServer::start().await;
    let url = Secret::new(redis.url());
    let link =
        graph_gateway::redis_link::RedisLink::from_config(&graph_gateway::config::RedisConfig {
            url: Some(url.clone()),
            ..Default::default()
        })
        .unwrap()
        .unwrap();
    let prefix = "gw-test";
    let base = VaultConfig {
        backend: "redis".into(),
        redis_refresh_ms: 50,
        ..VaultConfig::default()
    };
    let open = |cfg: VaultConfig| {
        let link = link.clone();
        async move { RedisVault::open(&cfg, link, prefix, Duration::from_secs(2), &no_env()).await }
    };
    let k1 = keyring(base.clone(), ("k1", KEY_1), &[]);
    let a = open(k1.clone()).await.unwrap();
    let b = open(k1.clone()).await.unwrap();
    for e in entries() {
        a.put(e).await.unwrap();
    }
    // Replica b sees a's writes (its poll, or an explicit refresh).
    b.refresh().await.unwrap();
    assert_eq!(values_of(b.as_ref()), expected());
    assert_eq!(
        b.select(&graph_gateway::vault::TokenQuery {
            business: Some(GLOBEX),
            ..Default::default()
        })
        .unwrap()
        .name,
        "globex-system"
    );
    b.remove("globex-system").await.unwrap();
    let mut gone = false;
    for _ in 0..50 {
        if a.entries().iter().all(|e| e.name != "globex-system") {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(gone, "replica a's poll picked up b's removal");
    a.put(entries().remove(1)).await.unwrap();

    let bytes = redis.all_bytes().await;
    assert!(!bytes.is_empty());
    for (name, value) in VALUES {
        assert!(
            !contains(&bytes, value),
            "{value} reached Redis in the clear"
        );
        assert!(contains(&bytes, name), "the search sees Redis's data");
    }

    // Rotation: k2 active, k1 accepted until it completes.
    let c = open(keyring(base.clone(), ("k2", KEY_2), &[("k1", KEY_1)]))
        .await
        .unwrap();
    assert_eq!(values_of(c.as_ref()), expected());
    let r = c.rotate_key().await.unwrap();
    assert_eq!(
        (r.key_id.as_deref(), r.rewritten, r.total),
        (Some("k2"), 3, 3)
    );
    assert_eq!(
        c.rotate_key().await.unwrap().rewritten,
        0,
        "nothing left to re-seal"
    );
    let d = open(keyring(base.clone(), ("k2", KEY_2), &[]))
        .await
        .unwrap();
    assert_eq!(values_of(d.as_ref()), expected());
    // A replica still on k1 alone keeps serving what it had.
    a.refresh().await.unwrap();
    assert_eq!(values_of(a.as_ref()), expected());
    assert!(open(keyring(base, ("k1", KEY_1), &[])).await.is_err());
    let bytes = redis.all_bytes().await;
    for (_, value) in VALUES {
        assert!(!contains(&bytes, value));
    }
}

/// SU05 (issue 16): a system user's token minted straight into the vault.
/// The caller sees its metadata, never its value; VaultService lists it;
/// Graph's debug_token (CheckToken) finds it valid; a read-only caller is
/// refused before Graph.
#[tokio::test]
async fn su05_mints_a_system_user_token_into_the_vault_and_never_returns_it() {
    use graph_gateway::proto::system_user_service_client::SystemUserServiceClient;
    use graph_gateway::proto::CreateSystemUserTokenRequest;

    let gw = TestGateway::sandbox_with(secured()).await;
    let request = |serve_business| CreateSystemUserTokenRequest {
        system_user_id: "10102".into(),
        business_id: ACME.into(),
        business_app: "4000000001".into(),
        scope: vec!["ads_management".into(), "business_management".into()],
        serve_business,
        ..Default::default()
    };
    // Read access is not enough (before Graph is called).
    let mut reader = SystemUserServiceClient::new(as_caller(&gw, READER_KEY).await);
    let before = gw.sb().request_count();
    let st = reader
        .create_system_user_token(request(true))
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::PermissionDenied, "{st:?}");
    assert_eq!(gw.sb().request_count(), before);

    let mut billing = SystemUserServiceClient::new(as_caller(&gw, BILLING_KEY).await);
    let answer = billing
        .create_system_user_token(request(false))
        .await
        .unwrap()
        .into_inner();
    assert!(
        !format!("{answer:?}").contains("sandbox-token"),
        "{answer:?}"
    );
    assert_eq!(answer.token_name, "system-user-10102");
    assert!(
        answer.business_ids.is_empty(),
        "serves nothing unless asked"
    );
    let sent = gw.sb().last_request().unwrap();
    assert_eq!(sent.method, "POST");
    assert!(sent.path.ends_with("/10102/access_tokens"), "{sent:?}");
    assert_eq!(sent.param("business_app"), Some("4000000001"));
    assert_eq!(
        sent.param("scope"),
        Some(r#"["ads_management","business_management"]"#)
    );
    // Asked again, serving Acme: the vault entry is replaced.
    let answer = billing
        .create_system_user_token(request(true))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.business_ids, vec![ACME.to_string()]);
    // Once per request_id: a repeat gets the first answer, Graph is not
    // called again (the store holds the name, never the token).
    let with_id = || CreateSystemUserTokenRequest {
        request_id: "mint-1".into(),
        ..request(true)
    };
    let first = billing
        .create_system_user_token(with_id())
        .await
        .unwrap()
        .into_inner();
    let count = gw.sb().request_count();
    let again = billing
        .create_system_user_token(with_id())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, first);
    assert_eq!(gw.sb().request_count(), count);

    let mut ops = VaultServiceClient::new(as_caller(&gw, OPS_KEY).await);
    let list = ops
        .list_tokens(ListTokensRequest {
            business_id: ACME.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!format!("{list:?}").contains("sandbox-token-"));
    let minted: Vec<_> = list
        .tokens
        .iter()
        .filter(|t| t.name == "system-user-10102")
        .collect();
    assert_eq!(minted.len(), 1, "{list:?}");
    assert_eq!(minted[0].kind(), VaultTokenKind::SystemUser);
    let checked = ops
        .check_token(CheckTokenRequest {
            name: "system-user-10102".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let health = checked.tokens[0].health.clone().unwrap();
    assert_eq!(health.state(), TokenHealthState::Valid, "{checked:?}");

    // A person gets no token this way; nor does an app outside the business.
    let mut bad = request(false);
    bad.system_user_id = "10002".into();
    let st = billing.create_system_user_token(bad).await.unwrap_err();
    assert_eq!(st.code(), Code::InvalidArgument, "{st:?}");
    let mut bad = request(false);
    bad.business_app = "4000000003".into();
    let st = billing.create_system_user_token(bad).await.unwrap_err();
    assert_eq!(st.code(), Code::InvalidArgument, "{st:?}");
    assert!(st.message().contains("business_app"), "{st:?}");
}
