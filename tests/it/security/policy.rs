//! Policy: a caller outside its businesses gets PERMISSION_DENIED with
//! ErrorInfo and the upstream sees nothing (not even a cached answer leaks);
//! read-only callers cannot mutate; asset and service restrictions; a
//! workflow checks every step before the first one runs. Every RPC against
//! every kind of grant: `policy_matrix`; the README's examples:
//! `readme_policy`.

use std::sync::Arc;

use graph_gateway::proto::ad_account_service_client::AdAccountServiceClient;
use graph_gateway::proto::page_service_client::PageServiceClient;
use graph_gateway::proto::workflow_service_client::WorkflowServiceClient;
use graph_gateway::proto::{
    AssetKind, AssignPageUserRequest, ListOwnedAdAccountsRequest, ListOwnedPagesRequest,
    PageRolePreset, RevokeUserAccessRequest, StepOutcome,
};
use graph_gateway::vault::MemoryVault;
use tonic::Code;

use super::*;
use crate::harness::{token, Recorder, TestGateway};

fn list(business: &str) -> ListOwnedPagesRequest {
    ListOwnedPagesRequest {
        business_id: business.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_business_outside_the_policy_is_denied_and_graph_sees_no_call() {
    let rec = Recorder::start(vec![(
        200,
        vec![],
        r#"{"data":[{"id":"3000000001","name":"Globex page"}]}"#.into(),
    )])
    .await;
    let vault = Arc::new(MemoryVault::new(vec![
        token("acme-admin", ACME, "tok-policy-acme"),
        token("globex-admin", GLOBEX, "tok-policy-globex"),
    ]));
    let gw = TestGateway::upstream(&rec.url, vault, secured()).await;

    // Denied before anything: no Graph call.
    let mut billing = PageServiceClient::new(as_caller(&gw, BILLING_KEY).await);
    let st = billing.list_owned_pages(list(GLOBEX)).await.unwrap_err();
    assert_eq!(st.code(), Code::PermissionDenied, "{st:?}");
    let info = error_info(&st);
    assert_eq!(info.reason, "BUSINESS_NOT_ALLOWED");
    assert_eq!(info.domain, "graph-gateway");
    assert_eq!(
        info.metadata.get("caller").map(String::as_str),
        Some("billing")
    );
    assert_eq!(
        info.metadata.get("business").map(String::as_str),
        Some(GLOBEX)
    );
    assert_eq!(
        info.metadata.get("access").map(String::as_str),
        Some("read")
    );
    assert!(st.message().contains("billing") && st.message().contains(GLOBEX));
    assert_eq!(
        rec.requests().len(),
        0,
        "the recording upstream saw no call"
    );

    // A caller allowed for Globex reads it: one Graph call, now cached.
    let mut everyone = PageServiceClient::new(as_caller(&gw, EVERYONE_KEY).await);
    let pages = everyone
        .list_owned_pages(list(GLOBEX))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(pages.pages.len(), 1);
    assert_eq!(rec.requests().len(), 1);

    // The cached answer does not leak to the caller who may not see it.
    let st = billing.list_owned_pages(list(GLOBEX)).await.unwrap_err();
    assert_eq!(st.code(), Code::PermissionDenied);
    assert_eq!(
        rec.requests().len(),
        1,
        "still one call: no cache read, no Graph call"
    );
    let lookups = gw.engine.cache().stats().lookups;
    let _ = billing.list_owned_pages(list(GLOBEX)).await.unwrap_err();
    assert_eq!(
        gw.engine.cache().stats().lookups,
        lookups,
        "the cache was not read"
    );

    // Its own business goes through, with its own token.
    billing.list_owned_pages(list(ACME)).await.unwrap();
    let seen = rec.requests();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen[1].headers.get("authorization").unwrap(),
        "Bearer tok-policy-acme"
    );
}

#[tokio::test]
async fn a_read_only_caller_cannot_mutate() {
    let gw = TestGateway::sandbox_with(secured()).await;
    let assign = AssignPageUserRequest {
        page_id: "3000000002".into(),
        business: ACME.into(),
        user: "10001".into(),
        preset: PageRolePreset::Editor as i32,
        ..Default::default()
    };
    let mut reader = PageServiceClient::new(as_caller(&gw, READER_KEY).await);
    reader.list_owned_pages(list(ACME)).await.unwrap();
    let before = gw.sb().request_count();
    let st = reader.assign_page_user(assign.clone()).await.unwrap_err();
    assert_eq!(st.code(), Code::PermissionDenied, "{st:?}");
    let info = error_info(&st);
    assert_eq!(info.reason, "READ_ONLY");
    assert_eq!(
        info.metadata.get("access").map(String::as_str),
        Some("write")
    );
    assert_eq!(gw.sb().request_count(), before, "nothing was sent");

    let mut billing = PageServiceClient::new(as_caller(&gw, BILLING_KEY).await);
    assert!(
        billing
            .assign_page_user(assign)
            .await
            .unwrap()
            .into_inner()
            .success
    );
}

#[tokio::test]
async fn asset_and_service_restrictions_narrow_a_grant() {
    let gw = TestGateway::sandbox_with(secured()).await;
    let mut scoped = PageServiceClient::new(as_caller(&gw, SCOPED_KEY).await);
    let assign = |page: &str| AssignPageUserRequest {
        page_id: page.into(),
        business: ACME.into(),
        user: "10001".into(),
        preset: PageRolePreset::Analyst as i32,
        ..Default::default()
    };
    let st = scoped
        .assign_page_user(assign("3000000001"))
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::PermissionDenied);
    assert_eq!(error_info(&st).reason, "ASSET_NOT_ALLOWED");
    assert!(scoped.assign_page_user(assign("3000000002")).await.is_ok());

    // PageService only: the transport refuses AdAccountService at once.
    let mut ads = AdAccountServiceClient::new(as_caller(&gw, SCOPED_KEY).await);
    let before = gw.sb().request_count();
    let st = ads
        .list_owned_ad_accounts(ListOwnedAdAccountsRequest {
            business_id: ACME.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::PermissionDenied);
    assert_eq!(error_info(&st).reason, "SERVICE_NOT_ALLOWED");
    assert_eq!(gw.sb().request_count(), before);
}

#[tokio::test]
async fn workflows_check_every_step_before_the_first_runs() {
    let gw = TestGateway::sandbox_with(secured()).await;
    let req = RevokeUserAccessRequest {
        business_id: ACME.into(),
        asset_kind: AssetKind::Page as i32,
        asset_id: "3000000001".into(),
        user: "10003".into(),
        ..Default::default()
    };
    // Read only: WF01 removes the user from asset groups (AG08), so it is
    // refused before its first read, and nothing reaches Graph.
    let before = gw.sb().request_count();
    let mut reader = WorkflowServiceClient::new(as_caller(&gw, READER_KEY).await);
    let st = reader.revoke_user_access(req.clone()).await.unwrap_err();
    assert_eq!(st.code(), Code::PermissionDenied, "{st:?}");
    assert_eq!(error_info(&st).reason, "READ_ONLY");
    assert_eq!(gw.sb().request_count(), before, "no step ran");
    let r = graph_gateway::workflows::report_of(&st).unwrap();
    assert!(!r.completed);
    let outcomes: Vec<(&str, StepOutcome)> = r
        .steps
        .iter()
        .map(|s| {
            (
                s.operation_id.as_str(),
                StepOutcome::try_from(s.outcome).unwrap(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        vec![
            ("AG05", StepOutcome::NotRun),
            ("AG08", StepOutcome::Failed),
            ("PG10", StepOutcome::NotRun),
        ],
        "{r:#?}"
    );
    let failed = &r.steps[1];
    assert_eq!(
        (failed.error_code.as_str(), failed.error_reason.as_str()),
        ("PERMISSION_DENIED", "READ_ONLY")
    );

    // Another business: refused at the first step.
    let mut billing = WorkflowServiceClient::new(as_caller(&gw, BILLING_KEY).await);
    let st = billing
        .revoke_user_access(RevokeUserAccessRequest {
            business_id: GLOBEX.into(),
            ..req.clone()
        })
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::PermissionDenied);
    assert_eq!(error_info(&st).reason, "BUSINESS_NOT_ALLOWED");
    let r = graph_gateway::workflows::report_of(&st).unwrap();
    assert_eq!(r.steps[0].error_reason, "BUSINESS_NOT_ALLOWED", "{r:#?}");
    assert_eq!(gw.sb().request_count(), before, "no step ran");

    // Write access: the whole workflow.
    let r = billing.revoke_user_access(req).await.unwrap().into_inner();
    assert!(r.completed, "{r:#?}");
}

#[tokio::test]
async fn a_scoped_grant_covers_only_the_assets_it_lists() {
    // Page 3000000002 only: the business's own lists need a business-wide
    // grant; the listed page's users are the page's.
    let gw = TestGateway::sandbox_with(secured()).await;
    let mut scoped = PageServiceClient::new(as_caller(&gw, SCOPED_KEY).await);
    let before = gw.sb().request_count();
    let st = scoped.list_owned_pages(list(ACME)).await.unwrap_err();
    assert_eq!(st.code(), Code::PermissionDenied);
    assert_eq!(error_info(&st).reason, "BUSINESS_WIDE_REQUIRED");
    assert_eq!(gw.sb().request_count(), before);
    let users = scoped
        .list_page_users(graph_gateway::proto::ListPageUsersRequest {
            page_id: "3000000002".into(),
            business: ACME.into(),
            ..Default::default()
        })
        .await;
    assert!(users.is_ok(), "{users:?}");
}

/// A page stream is checked page by page as calls of the list RPC: a
/// business outside the caller's grant is refused before any Graph call.
#[tokio::test]
async fn a_page_stream_is_held_to_the_list_rpcs_policy() {
    use graph_gateway::proto::page_stream_service_client::PageStreamServiceClient;
    use graph_gateway::proto::StreamPagesRequest;
    use prost::Message as _;

    let rec = Recorder::start(vec![(
        200,
        vec![],
        r#"{"data":[{"id":"3000000001","name":"Acme page"}]}"#.into(),
    )])
    .await;
    let vault = Arc::new(MemoryVault::new(vec![
        token("acme-admin", ACME, "tok-stream-acme"),
        token("globex-admin", GLOBEX, "tok-stream-globex"),
    ]));
    let gw = TestGateway::upstream(&rec.url, vault, secured()).await;
    let mut billing = PageStreamServiceClient::new(as_caller(&gw, BILLING_KEY).await);
    let req = |business: &str| StreamPagesRequest {
        method: "graphgateway.v1.PageService/ListOwnedPages".into(),
        request: Some(prost_types::Any {
            type_url: "type.googleapis.com/graphgateway.v1.ListOwnedPagesRequest".into(),
            value: list(business).encode_to_vec(),
        }),
        max_pages: 0,
    };
    let mut stream = billing
        .stream_pages(req(GLOBEX))
        .await
        .unwrap()
        .into_inner();
    let st = stream.message().await.unwrap_err();
    assert_eq!(st.code(), Code::PermissionDenied, "{st:?}");
    assert_eq!(error_info(&st).reason, "BUSINESS_NOT_ALLOWED");
    assert_eq!(rec.requests().len(), 0, "no Graph call");

    let mut stream = billing.stream_pages(req(ACME)).await.unwrap().into_inner();
    let page = stream.message().await.unwrap().unwrap();
    assert_eq!(page.page_number, 1);
    assert!(stream.message().await.unwrap().is_none());
    assert_eq!(rec.requests().len(), 1);
}

/// A grant scoped to WhatsApp Business accounts (`whatsapp_business_accounts`)
/// covers the listed account's users, not another account's, and not the
/// business's own lists.
#[tokio::test]
async fn a_grant_scoped_to_whatsapp_business_accounts_covers_only_those() {
    use graph_gateway::proto::whats_app_business_account_service_client::WhatsAppBusinessAccountServiceClient;
    use graph_gateway::proto::{
        ListOwnedWhatsAppBusinessAccountsRequest, ListWhatsAppBusinessAccountUsersRequest,
    };

    let mut cfg = secured();
    let mut waba = grant("scoped", &[ACME], PolicyAccess::Read);
    waba.whatsapp_business_accounts = vec!["8700000001".into()];
    cfg.policy.0.push(waba);
    let gw = TestGateway::sandbox_with(cfg).await;
    let mut scoped = WhatsAppBusinessAccountServiceClient::new(as_caller(&gw, SCOPED_KEY).await);
    let users = |id: &str| ListWhatsAppBusinessAccountUsersRequest {
        whatsapp_business_account_id: id.into(),
        business: ACME.into(),
        ..Default::default()
    };
    let ok = scoped
        .list_whats_app_business_account_users(users("8700000001"))
        .await;
    assert!(ok.is_ok(), "{ok:?}");

    let before = gw.sb().request_count();
    let st = scoped
        .list_whats_app_business_account_users(users("8700000002"))
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::PermissionDenied, "{st:?}");
    assert_eq!(error_info(&st).reason, "ASSET_NOT_ALLOWED");
    let st = scoped
        .list_owned_whats_app_business_accounts(ListOwnedWhatsAppBusinessAccountsRequest {
            business_id: ACME.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(error_info(&st).reason, "BUSINESS_WIDE_REQUIRED");
    assert_eq!(gw.sb().request_count(), before, "no Graph call");
}
