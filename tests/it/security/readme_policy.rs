//! The README's policy example ("Securing the gateway"), taken from the
//! README itself: its TOML (the mTLS block that the certificate caller
//! needs, and the policy block) loads as written, only the placeholder key
//! hashes and the pepper file filled in, and its callers get what the
//! README says they get.

use std::collections::HashMap;

use graph_gateway::config::Config;
use graph_gateway::proto::ad_account_service_client::AdAccountServiceClient;
use graph_gateway::proto::agency_service_client::AgencyServiceClient;
use graph_gateway::proto::page_service_client::PageServiceClient;
use graph_gateway::proto::workflow_service_client::WorkflowServiceClient;
use graph_gateway::proto::{
    AdAccountTask, AddPageAgencyRequest, AssignAdAccountUserRequest, AssignPageUserRequest,
    GrantPageAgencyAccessRequest, ListAdAccountUsersRequest, ListOwnedAdAccountsRequest,
    ListOwnedPagesRequest, ListPageUsersRequest, PageRolePreset, RemovePageRequest,
    RemovePageWithAdminsRequest, StepOutcome,
};
use tonic::Code;

use super::{as_caller, error_info, key_sha256, ACME, GLOBEX, PEPPER};
use crate::harness::TestGateway;

const BILLING_KEY: &str = "ggw_readme-billing-3b5d7f9a1c2e4d6f";
const PAGE_TOOL_KEY: &str = "ggw_readme-page-tool-8e6c4a2b0d9f7e5c";

/// The README's TOML block of the paragraph that starts with `paragraph`.
fn readme_toml(paragraph: &str) -> toml::Table {
    let readme = include_str!("../../../README.md");
    let at = readme
        .find(paragraph)
        .unwrap_or_else(|| panic!("README has the paragraph {paragraph}"));
    let rest = &readme[at..];
    let start = rest.find("```toml\n").expect("a TOML block") + "```toml\n".len();
    let len = rest[start..].find("```").expect("the block ends");
    toml::from_str(&rest[start..start + len])
        .unwrap_or_else(|e| panic!("the README's TOML of {paragraph} does not parse: {e}"))
}

/// The README's configuration, loaded as the gateway loads a file.
fn readme_config(dir: &tempfile::TempDir) -> Config {
    let mut doc = readme_toml("**Policy.**");
    for (k, v) in readme_toml("**mTLS.**") {
        assert!(doc.insert(k, v).is_none(), "the blocks set different keys");
    }
    let pepper = dir.path().join("caller-pepper");
    std::fs::write(&pepper, PEPPER).unwrap();
    let auth = doc.get_mut("auth").and_then(|a| a.as_table_mut()).unwrap();
    assert_eq!(
        auth.get("pepper_file").and_then(|p| p.as_str()),
        Some("/etc/graph-gateway/caller-pepper")
    );
    auth.insert(
        "pepper_file".into(),
        toml::Value::String(pepper.display().to_string()),
    );
    let callers = auth
        .get_mut("callers")
        .and_then(|c| c.as_array_mut())
        .unwrap();
    for c in callers.iter_mut() {
        let c = c.as_table_mut().unwrap();
        let name = c["name"].as_str().unwrap().to_string();
        if c.get("key_sha256").and_then(|k| k.as_str()) == Some("…") {
            let key = match name.as_str() {
                "billing" => BILLING_KEY,
                "page-tool" => PAGE_TOOL_KEY,
                other => panic!("the README's caller {other} has no test key"),
            };
            c.insert("key_sha256".into(), toml::Value::String(key_sha256(key)));
        }
    }
    let mut text = toml::to_string(&toml::Value::Table(doc)).unwrap();
    text.push_str("\n[cache]\nttl_secs = 0\n");
    let file = dir.path().join("gateway.toml");
    std::fs::write(&file, text).unwrap();
    Config::load(Some(&file), &HashMap::<String, String>::new())
        .unwrap_or_else(|e| panic!("the README's configuration does not load: {e}"))
}

#[tokio::test]
async fn the_readme_policy_example_does_what_the_readme_says() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = readme_config(&dir);
    assert_eq!(cfg.policy.0.len(), 2);
    assert!(cfg
        .auth
        .callers
        .0
        .iter()
        .any(|c| c.name == "ops" && c.admin && c.cert_names == ["ops.internal.example.com"]));
    let gw = TestGateway::sandbox_with(cfg).await;
    let denied = |st: &tonic::Status| {
        assert_eq!(st.code(), Code::PermissionDenied, "{st:?}");
        error_info(st).reason
    };

    // billing reads Acme's ad accounts, nothing else.
    let mut ads = AdAccountServiceClient::new(as_caller(&gw, BILLING_KEY).await);
    let list = |business: &str| ListOwnedAdAccountsRequest {
        business_id: business.into(),
        ..Default::default()
    };
    assert!(ads.list_owned_ad_accounts(list(ACME)).await.is_ok());
    let before = gw.sb().request_count();
    let st = ads.list_owned_ad_accounts(list(GLOBEX)).await.unwrap_err();
    assert_eq!(denied(&st), "BUSINESS_NOT_ALLOWED");
    let st = ads
        .assign_ad_account_user(AssignAdAccountUserRequest {
            ad_account_id: "act_2000000001".into(),
            business_id: ACME.into(),
            user: "10002".into(),
            tasks: vec![AdAccountTask::Analyze as i32],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(denied(&st), "READ_ONLY");
    let mut pages = PageServiceClient::new(as_caller(&gw, BILLING_KEY).await);
    let st = pages
        .list_owned_pages(ListOwnedPagesRequest {
            business_id: ACME.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(denied(&st), "SERVICE_NOT_ALLOWED");
    assert_eq!(gw.sb().request_count(), before, "denials send nothing");

    // The page tool manages two Acme pages: their people and agencies.
    let mut pages = PageServiceClient::new(as_caller(&gw, PAGE_TOOL_KEY).await);
    let users = pages
        .list_page_users(ListPageUsersRequest {
            page_id: "3000000002".into(),
            business: ACME.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(users.users.iter().any(|u| u.id == "10002"), "{users:?}");
    let assign = |page: &str| AssignPageUserRequest {
        page_id: page.into(),
        business: ACME.into(),
        user: "10002".into(),
        preset: PageRolePreset::Analyst as i32,
        ..Default::default()
    };
    assert!(pages.assign_page_user(assign("3000000002")).await.is_ok());
    let mut agencies = AgencyServiceClient::new(as_caller(&gw, PAGE_TOOL_KEY).await);
    let add_agency = agencies
        .add_page_agency(AddPageAgencyRequest {
            page_id: "3000000001".into(),
            business_id: ACME.into(),
            agency_business_id: GLOBEX.into(),
            preset: PageRolePreset::Analyst as i32,
            ..Default::default()
        })
        .await;
    assert_not_denied(&add_agency);

    // ... and nothing else: another page, an ad account, the business itself.
    let before = gw.sb().request_count();
    let st = pages
        .assign_page_user(assign("3000000003"))
        .await
        .unwrap_err();
    assert_eq!(denied(&st), "ASSET_NOT_ALLOWED");
    assert!(st.message().contains("page 3000000003"), "{st:?}");
    let st = pages
        .list_owned_pages(ListOwnedPagesRequest {
            business_id: ACME.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(denied(&st), "BUSINESS_WIDE_REQUIRED");
    let st = pages
        .remove_page(RemovePageRequest {
            business_id: ACME.into(),
            page_id: "3000000001".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(denied(&st), "BUSINESS_WIDE_REQUIRED");
    let mut ads = AdAccountServiceClient::new(as_caller(&gw, PAGE_TOOL_KEY).await);
    let st = ads
        .list_ad_account_users(ListAdAccountUsersRequest {
            ad_account_id: "act_2000000001".into(),
            business: ACME.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(denied(&st), "ASSET_NOT_ALLOWED");

    // Workflows: the page agency grant is the page's; removing the page with
    // its people acts on the business, refused before its first step.
    let mut wf = WorkflowServiceClient::new(as_caller(&gw, PAGE_TOOL_KEY).await);
    let st = wf
        .remove_page_with_admins(RemovePageWithAdminsRequest {
            business_id: ACME.into(),
            page_id: "3000000002".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(denied(&st), "BUSINESS_WIDE_REQUIRED");
    let report = graph_gateway::workflows::report_of(&st).unwrap();
    assert!(
        report
            .steps
            .iter()
            .all(|s| s.outcome != StepOutcome::Done as i32),
        "{report:#?}"
    );
    assert_eq!(gw.sb().request_count(), before, "denials send nothing");
    let grant = wf
        .grant_page_agency_access(GrantPageAgencyAccessRequest {
            business_id: ACME.into(),
            page_id: "3000000002".into(),
            agency_business_id: "1000000003".into(),
            preset: PageRolePreset::Analyst as i32,
            ..Default::default()
        })
        .await;
    assert_not_denied(&grant);
}

/// Policy allowed the call (it may still fail for another reason: here the
/// sandbox's Acme token holds no role on the page, so no page token).
fn assert_not_denied<T: std::fmt::Debug>(result: &Result<T, tonic::Status>) {
    if let Err(st) = result {
        let reason = error_info(st).reason;
        assert!(
            st.code() != Code::PermissionDenied
                || !graph_gateway::policy::DENIAL_REASONS.contains(&reason.as_str()),
            "refused by policy: {st:?}"
        );
    }
}
