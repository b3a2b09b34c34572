//! One secret type, no exposure: a gateway with an app secret, caller keys
//! and a pepper serves a representative set of calls (authentication
//! failures, policy denials, vault admin calls, the workflow that derives a
//! page token, a system-user token minted into the vault), and everything
//! the test binary captured (every log line of every test, trace level for
//! the crate) holds none of the secrets used.

use std::sync::Arc;

use graph_gateway::proto::page_service_client::PageServiceClient;
use graph_gateway::proto::vault_service_client::VaultServiceClient;
use graph_gateway::proto::workflow_service_client::WorkflowServiceClient;
use graph_gateway::proto::{
    CheckTokenRequest, GrantPageAgencyAccessRequest, ListOwnedPagesRequest, ListTokensRequest,
    PageRolePreset, PutTokenRequest, RotateKeyRequest, VaultTokenKind,
};
use graph_gateway::sandbox::Sandbox;
use graph_gateway::vault::MemoryVault;
use tokio::net::TcpListener;
use tonic::service::interceptor::InterceptedService;

use super::vault::{KEY_1, KEY_2};
use super::*;
use crate::harness::{logs, TestGateway};

const APP_SECRET: &str = "app-secret-redaction-3b2a1f0e9d8c";
const WRONG_KEY: &str = "ggw_wrong-but-secret-looking-7e6d5c4b";
const STORED_VALUE: &str = "EAAB-redaction-stored-1a2b3c4d5e";
const INVALID_VALUE: &str = "EAAB-redaction-invalid-9z8y7x6w";

#[tokio::test]
async fn no_secret_used_by_the_gateway_reaches_its_output() {
    let sandbox = Sandbox::demo().with_app_secret(Secret::new(APP_SECRET));
    let tokens = sandbox.demo_tokens();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(sandbox.clone().serve(listener, std::future::pending()));
    let mut cfg = secured();
    cfg.graph.app_secret = Some(Secret::new(APP_SECRET));
    let debug = format!("{cfg:?}");
    assert!(
        !debug.contains(PEPPER) && !debug.contains(APP_SECRET),
        "{debug}"
    );
    let gw = TestGateway::upstream(&url, Arc::new(MemoryVault::new(tokens.clone())), cfg).await;
    let list = |b: &str| ListOwnedPagesRequest {
        business_id: b.into(),
        ..Default::default()
    };

    // Authentication failures.
    for key in ["", WRONG_KEY, "Bearer", "Basic ggw_basic-secret"] {
        let mut c =
            PageServiceClient::new(InterceptedService::new(gw.channel().await, bearer(key)));
        assert!(c.list_owned_pages(list(ACME)).await.is_err());
    }
    // Allowed, then refused by policy.
    let mut billing = PageServiceClient::new(as_caller(&gw, BILLING_KEY).await);
    billing.list_owned_pages(list(ACME)).await.unwrap();
    assert!(billing.list_owned_pages(list(GLOBEX)).await.is_err());
    let mut reader = VaultServiceClient::new(as_caller(&gw, READER_KEY).await);
    assert!(reader
        .list_tokens(ListTokensRequest::default())
        .await
        .is_err());

    // Vault admin calls, with token values going in.
    let mut ops = VaultServiceClient::new(as_caller(&gw, OPS_KEY).await);
    let put = |name: &str, value: &str, check: bool| PutTokenRequest {
        name: name.into(),
        kind: VaultTokenKind::User as i32,
        business_ids: vec!["1000000003".into()],
        value: value.into(),
        check,
        ..Default::default()
    };
    assert!(format!("{:?}", put("x", STORED_VALUE, false)).contains("redacted"));
    assert!(!format!("{:?}", put("x", STORED_VALUE, false)).contains(STORED_VALUE));
    ops.put_token(put("redaction-stored", STORED_VALUE, false))
        .await
        .unwrap();
    ops.put_token(put(
        "redaction-checked",
        "sandbox-token-initech-admin",
        true,
    ))
    .await
    .unwrap();
    assert!(ops
        .put_token(put("redaction-invalid", INVALID_VALUE, true))
        .await
        .is_err());
    ops.list_tokens(ListTokensRequest::default()).await.unwrap();
    ops.check_token(CheckTokenRequest::default()).await.unwrap();
    ops.rotate_key(RotateKeyRequest::default()).await.unwrap();

    // WF02 derives a page token, stores it, uses it.
    let mut wf = WorkflowServiceClient::new(as_caller(&gw, BILLING_KEY).await);
    let r = wf
        .grant_page_agency_access(GrantPageAgencyAccessRequest {
            business_id: ACME.into(),
            page_id: "3000000008".into(),
            agency_business_id: "1000000003".into(),
            preset: PageRolePreset::Advertiser as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(r.completed, "{r:#?}");
    assert!(!format!("{r:?}").contains("sandbox-page-token"));

    // SU05 mints a system user's token into the vault (with appsecret_proof,
    // which this sandbox checks), and answers its name only.
    let mut su = graph_gateway::proto::system_user_service_client::SystemUserServiceClient::new(
        as_caller(&gw, BILLING_KEY).await,
    );
    let minted = su
        .create_system_user_token(graph_gateway::proto::CreateSystemUserTokenRequest {
            system_user_id: "10102".into(),
            business_id: ACME.into(),
            business_app: "4000000001".into(),
            scope: vec!["ads_management".into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(minted.token_name, "system-user-10102");
    assert!(!format!("{minted:?}").contains("sandbox-token"));

    // Everything captured so far, by every test of this binary.
    let out = logs();
    assert!(out.contains("\"target\":\"audit\""), "the capture works");
    assert!(
        out.contains("redaction-stored"),
        "token names are logged, values not"
    );
    let mut secrets: Vec<String> = tokens
        .iter()
        .map(|t| t.secret.expose().to_string())
        .collect();
    secrets.push("sandbox-page-token".into());
    secrets.push("sandbox-token-su-".into());
    secrets.extend(CALLER_KEYS.iter().map(|k| k.to_string()));
    secrets.extend(
        [
            PEPPER,
            KEY_1,
            KEY_2,
            APP_SECRET,
            WRONG_KEY,
            "ggw_basic-secret",
            STORED_VALUE,
            INVALID_VALUE,
        ]
        .map(str::to_string),
    );
    for s in &secrets {
        assert!(
            !out.contains(s.as_str()),
            "a secret reached the output: {s}"
        );
    }
}
