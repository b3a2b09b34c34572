//! Issue 13: Graph's error text never carries a secret onward. An upstream
//! that echoes the token it was called with (and the appsecret_proof, and a
//! Graph-shaped token of its own) in every error message, in debug_token's
//! answer and in its fbtrace_id: the callers' statuses, every captured log
//! line, /metrics and the vault's health records hold none of them.

use std::sync::Arc;

use graph_gateway::proto::ad_account_service_client::AdAccountServiceClient;
use graph_gateway::proto::page_service_client::PageServiceClient;
use graph_gateway::proto::vault_service_client::VaultServiceClient;
use graph_gateway::proto::{
    CheckTokenRequest, CreateAdAccountRequest, ListOwnedPagesRequest, ListTokensRequest,
};
use graph_gateway::vault::{MemoryVault, TokenEntry, TokenKind};
use tokio::net::TcpListener;

use super::*;
use crate::harness::{logs, TestGateway};

const APP_SECRET: &str = "app-secret-echo-71d3c2b1a0";
/// No particular shape: only the gateway's memory of it can scrub it.
const ACME_TOKEN: &str = "acme echo token 7 plain words";
/// Shaped like a Graph page token.
const PAGE_TOKEN: &str = "EAAGechoPageToken1234567890abcdefXYZ";
/// A Graph-shaped token the upstream makes up (no one told the gateway).
const FOREIGN_TOKEN: &str = "EAAJforeignTokenFromUpstream0987654321";

/// Answers everything with the caller's token, its appsecret_proof and a
/// foreign token in the error text; debug_token says "invalid" the same way.
async fn echo_upstream() -> String {
    let app = axum::Router::new().fallback(|req: axum::extract::Request| async move {
        let (parts, body) = req.into_parts();
        let body = axum::body::to_bytes(body, 1 << 20)
            .await
            .unwrap_or_default();
        let token = parts
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default()
            .to_string();
        let all = format!(
            "{}&{}",
            parts.uri.query().unwrap_or_default(),
            String::from_utf8_lossy(&body)
        );
        let proof = all
            .split('&')
            .find_map(|kv| kv.strip_prefix("appsecret_proof="))
            .unwrap_or_default()
            .to_string();
        let text = format!(
            "Invalid OAuth access token - Cannot parse access token {token} \
             (appsecret_proof {proof}; also {FOREIGN_TOKEN})"
        );
        let (status, json) = if parts.uri.path().ends_with("/debug_token") {
            (
                200,
                serde_json::json!({"data": {"is_valid": false,
                    "error": {"code": 190, "message": text}}}),
            )
        } else {
            (
                400,
                serde_json::json!({"error": {"message": text, "type": format!("OAuthException {token}"),
                    "code": 100, "fbtrace_id": token}}),
            )
        };
        axum::response::Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(axum::body::Body::from(json.to_string()))
            .unwrap()
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

fn entry(name: &str, kind: TokenKind, assets: &[&str], value: &str) -> TokenEntry {
    TokenEntry {
        name: name.into(),
        kind,
        businesses: vec![ACME.into()],
        assets: assets.iter().map(|s| s.to_string()).collect(),
        secret: Secret::new(value),
        expires_at: None,
    }
}

/// The texts a status carries: message and every detail.
fn texts(st: &tonic::Status) -> String {
    format!(
        "{} {:?} {}",
        st.message(),
        st.get_error_details(),
        String::from_utf8_lossy(st.details())
    )
}

#[tokio::test]
async fn an_upstream_echoing_the_token_leaks_it_nowhere() {
    let url = echo_upstream().await;
    let mut cfg = secured();
    cfg.graph.app_secret = Some(Secret::new(APP_SECRET));
    cfg.retry.max_attempts = 1;
    cfg.metrics.listen = Some("127.0.0.1:0".parse().unwrap());
    let vault = Arc::new(MemoryVault::new(vec![
        entry("echo-acme", TokenKind::SystemUser, &[], ACME_TOKEN),
        entry("echo-page", TokenKind::Page, &["3000000001"], PAGE_TOKEN),
    ]));
    let gw = TestGateway::upstream(&url, vault, cfg).await;
    let mut seen = Vec::new();

    // A read and a mutation through the engine.
    let mut pages = PageServiceClient::new(as_caller(&gw, BILLING_KEY).await);
    let st = pages
        .list_owned_pages(ListOwnedPagesRequest {
            business_id: ACME.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(st.code(), tonic::Code::InvalidArgument, "{st:?}");
    assert!(
        st.message()
            .contains("Cannot parse access token [redacted]"),
        "{st:?}"
    );
    seen.push(texts(&st));
    let mut accounts = AdAccountServiceClient::new(as_caller(&gw, BILLING_KEY).await);
    let st = accounts
        .create_ad_account(CreateAdAccountRequest {
            business_id: ACME.into(),
            name: "Echo".into(),
            currency: "USD".into(),
            timezone_id: 1,
            end_advertiser: "NONE".into(),
            media_agency: "NONE".into(),
            partner: "NONE".into(),
            request_id: "echo-create-1".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    seen.push(texts(&st));

    // debug_token through VaultService: the health records.
    let mut ops = VaultServiceClient::new(as_caller(&gw, OPS_KEY).await);
    let checked = ops
        .check_token(CheckTokenRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(checked.tokens.len(), 2);
    seen.push(format!("{checked:?}"));
    let listed = ops
        .list_tokens(ListTokensRequest::default())
        .await
        .unwrap()
        .into_inner();
    for t in &listed.tokens {
        let h = t.health.as_ref().unwrap();
        assert!(h.detail.contains("[redacted]"), "{h:?}");
    }
    seen.push(format!("{listed:?}"));

    // /metrics.
    let metrics = reqwest::get(format!("http://{}/metrics", gw.metrics_addr.unwrap()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("graph"), "a real scrape");
    seen.push(metrics);
    seen.push(logs());

    let proof = |t: &str| {
        graph_gateway::graph::GraphClient::appsecret_proof(
            &Secret::new(APP_SECRET),
            &Secret::new(t),
        )
    };
    let secrets = [
        ACME_TOKEN.to_string(),
        PAGE_TOKEN.to_string(),
        FOREIGN_TOKEN.to_string(),
        APP_SECRET.to_string(),
        BILLING_KEY.to_string(),
        OPS_KEY.to_string(),
        proof(ACME_TOKEN),
        proof(PAGE_TOKEN),
    ];
    let mut leaks = 0;
    for (i, text) in seen.iter().enumerate() {
        for s in &secrets {
            if text.contains(s.as_str()) {
                leaks += 1;
                eprintln!("output {i} holds {s:?}");
            }
        }
    }
    // The upstream did echo them: the test would see a leak.
    assert!(logs().contains("Cannot parse access token [redacted]"));
    println!(
        "FIGURE echo: {} outputs (2 statuses, CheckToken, ListTokens, /metrics, logs) searched for {} secrets: {leaks} found",
        seen.len(),
        secrets.len()
    );
    assert_eq!(leaks, 0);
}
