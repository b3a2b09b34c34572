//! Workflows WF01-WF03: happy paths against the sandbox, and a failure in
//! the middle of each: the RPC fails with the failed step's code and
//! ErrorInfo, and carries the report saying what was and was not done.

use std::sync::Arc;

use graph_gateway::config::Config;
use graph_gateway::proto::page_service_client::PageServiceClient;
use graph_gateway::proto::workflow_service_client::WorkflowServiceClient;
use graph_gateway::proto::{
    AssetKind, GrantPageAgencyAccessRequest, ListOwnedPagesRequest, ListPageUsersRequest,
    PageRolePreset, RemovePageWithAdminsRequest, RevokeUserAccessRequest, StepOutcome,
    WorkflowReport,
};
use graph_gateway::vault::{MemoryVault, TokenKind, TokenQuery};
use tonic::Code;
use tonic_types::StatusExt as _;

use crate::harness::{graph_error, token, Recorder, TestGateway};

const ACME: &str = "1000000001";

fn outcomes(r: &WorkflowReport) -> Vec<(String, StepOutcome)> {
    r.steps
        .iter()
        .map(|s| {
            (
                s.operation_id.clone(),
                StepOutcome::try_from(s.outcome).unwrap(),
            )
        })
        .collect()
}

async fn page_user_ids(gw: &TestGateway, page: &str) -> Vec<String> {
    let mut c = PageServiceClient::new(gw.channel().await);
    let r = c
        .list_page_users(ListPageUsersRequest {
            page_id: page.into(),
            business: ACME.into(),
            page_size: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    r.users.into_iter().map(|u| u.id).collect()
}

/// The report a failed workflow's status carries.
fn failed_report(st: &tonic::Status) -> WorkflowReport {
    graph_gateway::workflows::report_of(st).unwrap_or_else(|| panic!("no WorkflowReport in {st:?}"))
}

fn no_cache() -> Config {
    let mut cfg = Config::default();
    cfg.cache.ttl_secs = 0;
    cfg
}

#[tokio::test]
async fn wf01_revokes_access_that_comes_through_an_asset_group() {
    let gw = TestGateway::sandbox_with(no_cache()).await;
    assert!(page_user_ids(&gw, "3000000001")
        .await
        .contains(&"10003".to_string()));
    let mut c = WorkflowServiceClient::new(gw.channel().await);
    let before = gw.sb().request_count();
    let r = c
        .revoke_user_access(RevokeUserAccessRequest {
            business_id: ACME.into(),
            asset_kind: AssetKind::Page as i32,
            asset_id: "3000000001".into(),
            user: "10003".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(r.completed, "{r:#?}");
    let o = outcomes(&r);
    // One call finds the groups (the seed's step 1, where Meta's spec has
    // contained_asset_id: the user's edge), then each is left, then the page.
    assert_eq!(
        o,
        vec![
            ("AG05".to_string(), StepOutcome::Done),
            ("AG08".to_string(), StepOutcome::Done),
            ("PG10".to_string(), StepOutcome::Done),
        ]
    );
    // (The report names the call without its parameters; the recording
    // test below sees contained_asset_id on the wire.)
    assert_eq!(
        r.steps[0].graph_call,
        "GET /10003/assigned_business_asset_groups"
    );
    assert_eq!(r.steps[0].detail, "1 found: 9000000001");
    let ag08 = r.steps.iter().find(|s| s.operation_id == "AG08").unwrap();
    assert_eq!(ag08.graph_call, "DELETE /9000000001/assigned_users");
    let calls = gw.sb().request_count() - before;
    assert_eq!(calls, 3, "find, leave the group, remove: nothing else");
    assert!(!page_user_ids(&gw, "3000000001")
        .await
        .contains(&"10003".to_string()));
}

#[tokio::test]
async fn wf01_can_reduce_tasks_on_an_ad_account_instead_of_removing() {
    let gw = TestGateway::sandbox_with(no_cache()).await;
    let mut c = WorkflowServiceClient::new(gw.channel().await);
    let r = c
        .revoke_user_access(RevokeUserAccessRequest {
            business_id: ACME.into(),
            asset_kind: AssetKind::AdAccount as i32,
            asset_id: "act_2000000002".into(),
            user: "10003".into(),
            remaining_tasks: vec!["ANALYZE".into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(r.completed, "{r:#?}");
    let last = r.steps.last().unwrap();
    assert_eq!(
        (last.operation_id.as_str(), last.graph_call.as_str()),
        ("AA08", "POST /act_2000000002/assigned_users")
    );
    let sent = gw.sb().last_request().unwrap();
    assert_eq!(sent.param("tasks"), Some(r#"["ANALYZE"]"#));
}

#[tokio::test]
async fn wf01_stops_when_the_group_removal_fails_and_says_what_was_not_done() {
    let rec = Recorder::start(vec![
        (
            200,
            vec![],
            r#"{"data":[{"id":"77","name":"G"},{"id":"78","name":"H"}]}"#.into(),
        ),
        (
            403,
            vec![],
            graph_error(200, None, "(#200) Requires business admin"),
        ),
    ])
    .await;
    let vault = Arc::new(MemoryVault::new(vec![token("acme", ACME, "tok-wf01")]));
    let gw = TestGateway::upstream(&rec.url, vault, Config::default()).await;
    let mut c = WorkflowServiceClient::new(gw.channel().await);
    let st = c
        .revoke_user_access(RevokeUserAccessRequest {
            business_id: ACME.into(),
            asset_kind: AssetKind::Page as i32,
            asset_id: "3000000001".into(),
            user: "10003".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    // The RPC fails as the step did: its code and ErrorInfo.
    assert_eq!(st.code(), Code::PermissionDenied, "{st:?}");
    let info = st.get_error_details().error_info().cloned().unwrap();
    assert_eq!(info.reason, "GRAPH_PERMISSION_DENIED");
    let r = failed_report(&st);
    assert!(!r.completed);
    assert_eq!(st.message(), r.summary);
    let o = outcomes(&r);
    assert_eq!(
        o,
        vec![
            ("AG05".to_string(), StepOutcome::Done),
            ("AG08".to_string(), StepOutcome::Failed),
            ("AG08".to_string(), StepOutcome::NotRun),
            ("PG10".to_string(), StepOutcome::NotRun),
        ]
    );
    assert_eq!(r.steps[2].name, "remove user 10003 from asset group 78");
    let failed = &r.steps[1];
    assert_eq!(failed.error_code, "PERMISSION_DENIED");
    assert_eq!(failed.error_reason, "GRAPH_PERMISSION_DENIED");
    assert_eq!(failed.error_metadata["fbtrace_id"], "TraceAbc123");
    assert!(r.summary.contains("not run"), "{}", r.summary);
    let seen = rec.requests();
    assert_eq!(seen.len(), 2, "nothing after the failed step reached Graph");
    assert!(
        seen[0]
            .uri
            .contains("/10003/assigned_business_asset_groups?contained_asset_id=3000000001"),
        "{}",
        seen[0].uri
    );
    assert!(!seen
        .iter()
        .any(|s| s.uri.contains("/3000000001/assigned_users")));
}

#[tokio::test]
async fn wf01_rejects_bad_requests_before_any_step() {
    let gw = TestGateway::sandbox().await;
    let mut c = WorkflowServiceClient::new(gw.channel().await);
    let before = gw.sb().request_count();
    let st = c
        .revoke_user_access(RevokeUserAccessRequest {
            business_id: ACME.into(),
            asset_kind: AssetKind::Page as i32,
            asset_id: "act_1".into(),
            user: "x".into(),
            remaining_tasks: vec!["FLY".into()],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::InvalidArgument);
    assert_eq!(gw.sb().request_count(), before);
}

#[tokio::test]
async fn wf02_derives_stores_and_reuses_a_page_token_never_returning_it() {
    let gw = TestGateway::sandbox().await;
    let mut c = WorkflowServiceClient::new(gw.channel().await);
    let req = GrantPageAgencyAccessRequest {
        business_id: ACME.into(),
        page_id: "3000000008".into(),
        agency_business_id: "1000000003".into(),
        preset: PageRolePreset::Advertiser as i32,
        ..Default::default()
    };
    let r = c
        .grant_page_agency_access(req.clone())
        .await
        .unwrap()
        .into_inner();
    assert!(r.completed, "{r:#?}");
    assert_eq!(r.steps[0].graph_call, "GET /3000000008?fields=access_token");
    assert_eq!(
        outcomes(&r).last().unwrap(),
        &("BB04".to_string(), StepOutcome::Done)
    );
    let grant = gw.sb().last_request().unwrap();
    assert!(grant
        .header("authorization")
        .unwrap()
        .starts_with("Bearer sandbox-page-token-3000000008-"));
    assert_eq!(
        grant.param("permitted_tasks"),
        Some(r#"["ADVERTISE","ANALYZE"]"#)
    );
    assert!(
        !format!("{r:?}").contains("sandbox-page-token"),
        "the page token is never returned"
    );
    let stored = gw
        .engine
        .vault()
        .select(&TokenQuery {
            business: None,
            asset: Some("3000000008"),
            kind: Some(TokenKind::Page),
        })
        .unwrap();
    assert_eq!(stored.name, "page-3000000008");

    // A second grant reuses the stored token.
    let r = c.grant_page_agency_access(req).await.unwrap().into_inner();
    assert_eq!(outcomes(&r)[0].1, StepOutcome::Skipped);
    assert_eq!(
        gw.sb().requests_to("/3000000008"),
        1,
        "the page token was derived once"
    );
}

#[tokio::test]
async fn wf02_refreshes_a_rejected_page_token_once() {
    let gw = TestGateway::sandbox().await;
    let mut c = WorkflowServiceClient::new(gw.channel().await);
    let req = GrantPageAgencyAccessRequest {
        business_id: ACME.into(),
        page_id: "3000000008".into(),
        agency_business_id: "1000000003".into(),
        preset: PageRolePreset::Analyst as i32,
        ..Default::default()
    };
    assert!(
        c.grant_page_agency_access(req.clone())
            .await
            .unwrap()
            .into_inner()
            .completed
    );
    let stored = gw
        .engine
        .vault()
        .select(&TokenQuery {
            business: None,
            asset: Some("3000000008"),
            kind: Some(TokenKind::Page),
        })
        .unwrap();
    let user = stored
        .secret
        .expose()
        .rsplit('-')
        .next()
        .unwrap()
        .to_string();
    assert!(gw
        .sb()
        .expire_token(&format!("page-3000000008-user-{user}")));
    let r = c.grant_page_agency_access(req).await.unwrap().into_inner();
    assert!(r.completed, "{r:#?}");
    let o = outcomes(&r);
    assert_eq!(o.iter().filter(|(op, _)| op == "BB04").count(), 2, "{o:?}");
    assert_eq!(o.last().unwrap(), &("BB04".to_string(), StepOutcome::Done));
}

#[tokio::test]
async fn wf02_stops_when_no_page_token_can_be_derived() {
    let gw = TestGateway::sandbox().await;
    let mut c = WorkflowServiceClient::new(gw.channel().await);
    // Acme's system user holds no role on page 3000000001 (Alice administers
    // it), so Graph issues no page token, and no grant is attempted.
    let st = c
        .grant_page_agency_access(GrantPageAgencyAccessRequest {
            business_id: ACME.into(),
            page_id: "3000000001".into(),
            agency_business_id: "1000000003".into(),
            preset: PageRolePreset::Analyst as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::FailedPrecondition, "{st:?}");
    let r = failed_report(&st);
    assert!(!r.completed);
    assert_eq!(
        (
            r.steps[0].error_code.as_str(),
            r.steps[0].error_reason.as_str()
        ),
        ("FAILED_PRECONDITION", "NO_TOKEN"),
        "{r:#?}"
    );
    assert_eq!(
        outcomes(&r),
        vec![
            ("".to_string(), StepOutcome::Failed),
            ("BB04".to_string(), StepOutcome::NotRun)
        ]
    );
    assert_eq!(gw.sb().requests_to("/3000000001/agencies"), 0);
}

#[tokio::test]
async fn wf03_removes_the_pages_people_then_the_page() {
    let gw = TestGateway::sandbox_with(no_cache()).await;
    let mut c = WorkflowServiceClient::new(gw.channel().await);
    let r = c
        .remove_page_with_admins(RemovePageWithAdminsRequest {
            business_id: ACME.into(),
            page_id: "3000000002".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(r.completed, "{r:#?}");
    let o = outcomes(&r);
    assert_eq!(o.first().unwrap().0, "PG09");
    assert!(o
        .iter()
        .any(|(op, out)| op == "PG10" && *out == StepOutcome::Done));
    assert_eq!(o.last().unwrap(), &("PG06".to_string(), StepOutcome::Done));
    let mut pages = PageServiceClient::new(gw.channel().await);
    let owned = pages
        .list_owned_pages(ListOwnedPagesRequest {
            business_id: ACME.into(),
            page_size: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!owned.pages.iter().any(|p| p.id == "3000000002"));
}

#[tokio::test]
async fn wf03_stops_before_removing_the_page_when_a_person_cannot_be_removed() {
    let gw = TestGateway::sandbox_with(no_cache()).await;
    let mut c = WorkflowServiceClient::new(gw.channel().await);
    // Carol's tasks on page 3000000001 come from an asset group: PG10 fails.
    let st = c
        .remove_page_with_admins(RemovePageWithAdminsRequest {
            business_id: ACME.into(),
            page_id: "3000000001".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    let r = failed_report(&st);
    assert!(!r.completed);
    let failed = r
        .steps
        .iter()
        .find(|s| s.outcome == StepOutcome::Failed as i32)
        .unwrap();
    assert_eq!(failed.operation_id, "PG10");
    assert_eq!(failed.error_metadata["subcode"], "1690002");
    assert_eq!(
        st.code(),
        code_of(&failed.error_code),
        "the RPC's code is the failed step's"
    );
    assert_eq!(
        st.get_error_details().error_info().unwrap().metadata["subcode"],
        "1690002"
    );
    assert_eq!(
        outcomes(&r).last().unwrap(),
        &("PG06".to_string(), StepOutcome::NotRun)
    );
    assert_eq!(
        gw.sb().requests_to(&format!("/{ACME}/pages")),
        0,
        "the page removal was never attempted"
    );
}

/// The code of a step's `error_code` ("FAILED_PRECONDITION").
fn code_of(name: &str) -> Code {
    (0..=16)
        .map(Code::from_i32)
        .find(|c| {
            let debug = format!("{c:?}");
            let mut snake = String::new();
            for (i, ch) in debug.chars().enumerate() {
                if ch.is_ascii_uppercase() && i > 0 {
                    snake.push('_');
                }
                snake.push(ch.to_ascii_uppercase());
            }
            snake == name
        })
        .unwrap_or_else(|| panic!("no code {name}"))
}
