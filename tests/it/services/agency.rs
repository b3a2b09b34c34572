//! AgencyService: BB01–BB11.

use std::sync::Arc;

use graph_gateway::config::Config;
use graph_gateway::engine::CallContext;
use graph_gateway::proto::ad_account_service_client::AdAccountServiceClient;
use graph_gateway::proto::agency_service_client::AgencyServiceClient as Client;
use graph_gateway::proto::page_service_client::PageServiceClient;
use graph_gateway::proto::*;
use graph_gateway::vault::{MemoryVault, TokenEntry, TokenKind};
use tonic::transport::Channel;
use tonic::Code;

use super::*;
use crate::harness::{token, Recorder};

fn client(ch: &Channel) -> Client<Channel> {
    Client::new(ch.clone())
}

/// A gateway that keeps nothing in its cache: for reads after a sandbox hook
/// (an approval in Business Manager), which the gateway cannot see.
async fn start_uncached() -> (TestGateway, Channel) {
    let mut cfg = Config::default();
    cfg.cache.ttl_secs = 0;
    let gw = TestGateway::sandbox_with(cfg).await;
    let ch = gw.channel().await;
    (gw, ch)
}

async fn clients_of(c: &mut Client<Channel>, business: &str) -> Vec<PartnerBusiness> {
    c.list_client_businesses(ListClientBusinessesRequest {
        business_id: business.into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .clients
}

async fn agencies_of(c: &mut Client<Channel>, business: &str) -> Vec<PartnerBusiness> {
    c.list_agency_businesses(ListAgencyBusinessesRequest {
        business_id: business.into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .agencies
}

async fn ad_account_agencies(
    c: &mut Client<Channel>,
    ad_account: &str,
    business: &str,
) -> Vec<AdAccountAgency> {
    c.list_ad_account_agencies(ListAdAccountAgenciesRequest {
        ad_account_id: ad_account.into(),
        business_id: business.into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .agencies
}

async fn page_agencies(c: &mut Client<Channel>, page: &str, business: &str) -> Vec<PageAgency> {
    c.list_page_agencies(ListPageAgenciesRequest {
        page_id: page.into(),
        business_id: business.into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .agencies
}

async fn client_ad_accounts(ch: &Channel, business: &str) -> Vec<String> {
    let r = AdAccountServiceClient::new(ch.clone())
        .list_client_ad_accounts(ListClientAdAccountsRequest {
            business_id: business.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    ids(&r.ad_accounts, |a| &a.id)
}

async fn pending_client_ad_accounts(ch: &Channel, business: &str) -> Vec<String> {
    let r = AdAccountServiceClient::new(ch.clone())
        .list_pending_client_ad_accounts(ListPendingClientAdAccountsRequest {
            business_id: business.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    ids(&r.ad_accounts, |a| &a.id)
}

async fn client_pages(ch: &Channel, business: &str) -> Vec<String> {
    let r = PageServiceClient::new(ch.clone())
        .list_client_pages(ListClientPagesRequest {
            business_id: business.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    ids(&r.pages, |p| &p.id)
}

/// The entry of `business` in a list of partner businesses.
#[track_caller]
fn partner<'a>(list: &'a [PartnerBusiness], business: &str) -> &'a PartnerBusiness {
    list.iter()
        .find(|b| b.id == business)
        .unwrap_or_else(|| panic!("{business} not in {list:?}"))
}

/// (id, access_status, raw spelling) of an ad account permission list.
fn ad_states(list: &[AgencyAdAccountAccess]) -> Vec<(String, AccessStatus, String)> {
    list.iter()
        .map(|p| (p.id.clone(), p.access_status(), p.access_status_raw.clone()))
        .collect()
}

/// (id, access_status, raw spelling) of a page permission list.
fn page_states(list: &[AgencyPageAccess]) -> Vec<(String, AccessStatus, String)> {
    list.iter()
        .map(|p| (p.id.clone(), p.access_status(), p.access_status_raw.clone()))
        .collect()
}

fn state(id: &str, status: AccessStatus) -> (String, AccessStatus, String) {
    let raw = match status {
        AccessStatus::Pending => "PENDING",
        AccessStatus::ClientResponsePending => "CLIENT_RESPONSE_PENDING",
        AccessStatus::Confirmed => "CONFIRMED",
        AccessStatus::Unspecified => "",
    };
    (id.to_string(), status, raw.to_string())
}

fn general_user() -> Vec<i32> {
    nums(&[AdAccountTask::Advertise, AdAccountTask::Analyze])
}

// ---------------------------------------------------------------------------
// BB01

#[tokio::test]
async fn bb01_request_is_pending_until_the_owner_approves_it() {
    let (gw, ch) = start_uncached().await;
    let mut c = client(&ch);
    let r = c
        .request_client_ad_account_access(RequestClientAdAccountAccessRequest {
            business_id: GLOBEX.into(),
            ad_account_id: "act_2000000002".into(),
            permitted_tasks: general_user(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.access_status(), AccessStatus::Pending);
    assert_eq!(r.access_status_raw, "PENDING");
    let sent = gw.sb().last_request().unwrap();
    assert_eq!(sent.method, "POST");
    assert!(
        sent.path.ends_with("/1000000002/client_ad_accounts"),
        "{}",
        sent.path
    );
    assert_eq!(sent.form_param("adaccount_id"), Some("act_2000000002"));
    assert_eq!(
        sent.form_param("permitted_tasks"),
        Some(r#"["ADVERTISE","ANALYZE"]"#)
    );

    // The agency sees its request as waiting for the client.
    assert!(pending_client_ad_accounts(&ch, GLOBEX)
        .await
        .contains(&"act_2000000002".to_string()));
    let clients = clients_of(&mut c, GLOBEX).await;
    let acme = partner(&clients, ACME);
    assert_eq!(
        ad_states(&acme.adaccount_permissions),
        vec![
            state("act_2000000001", AccessStatus::Confirmed),
            state("act_2000000002", AccessStatus::ClientResponsePending),
        ]
    );
    assert_eq!(
        acme.adaccount_permissions[1].permitted_tasks,
        general_user()
    );
    // The owner sees it as PENDING.
    let agencies = agencies_of(&mut c, ACME).await;
    assert_eq!(
        ad_states(&partner(&agencies, GLOBEX).adaccount_permissions),
        vec![
            state("act_2000000001", AccessStatus::Confirmed),
            state("act_2000000002", AccessStatus::Pending),
        ]
    );
    let on_account = ad_account_agencies(&mut c, "act_2000000002", ACME).await;
    assert_eq!(ids(&on_account, |a| &a.id), vec![GLOBEX]);
    assert_eq!(on_account[0].access_status(), AccessStatus::Pending);

    // The ad account's admins accept it in Business Manager.
    assert!(gw.sb().approve_access("act_2000000002", GLOBEX));
    let clients = clients_of(&mut c, GLOBEX).await;
    assert_eq!(
        ad_states(&partner(&clients, ACME).adaccount_permissions),
        vec![
            state("act_2000000001", AccessStatus::Confirmed),
            state("act_2000000002", AccessStatus::Confirmed),
        ]
    );
    assert_eq!(
        client_ad_accounts(&ch, GLOBEX).await,
        vec!["act_2000000001", "act_2000000002"]
    );
    assert!(!pending_client_ad_accounts(&ch, GLOBEX)
        .await
        .contains(&"act_2000000002".to_string()));
    let on_account = ad_account_agencies(&mut c, "2000000002", ACME).await;
    assert_eq!(on_account[0].access_status(), AccessStatus::Confirmed);
    assert_eq!(on_account[0].access_status_raw, "CONFIRMED");
}

#[tokio::test]
async fn bb01_with_a_preset_makes_cached_lists_stale() {
    let (gw, ch) = start().await;
    let mut c = client(&ch);
    // Read (and cache) every list the request changes.
    assert_eq!(
        pending_client_ad_accounts(&ch, GLOBEX).await,
        vec!["act_2000000006"]
    );
    let before = clients_of(&mut c, GLOBEX).await;
    assert_eq!(partner(&before, ACME).adaccount_permissions.len(), 1);
    assert!(ad_account_agencies(&mut c, "act_2000000002", ACME)
        .await
        .is_empty());
    assert_eq!(
        agencies_of(&mut c, ACME).await[0]
            .adaccount_permissions
            .len(),
        1
    );

    let r = c
        .request_client_ad_account_access(RequestClientAdAccountAccessRequest {
            business_id: GLOBEX.into(),
            ad_account_id: "2000000002".into(),
            preset: AdAccountRolePreset::ReportingOnly as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.access_status(), AccessStatus::Pending);
    let sent = gw.sb().last_request().unwrap();
    assert_eq!(sent.form_param("adaccount_id"), Some("act_2000000002"));
    assert_eq!(sent.form_param("permitted_tasks"), Some(r#"["ANALYZE"]"#));

    assert_eq!(
        pending_client_ad_accounts(&ch, GLOBEX).await,
        vec!["act_2000000002", "act_2000000006"]
    );
    let after = clients_of(&mut c, GLOBEX).await;
    let perms = &partner(&after, ACME).adaccount_permissions;
    assert_eq!(perms.len(), 2);
    assert_eq!(perms[1].permitted_tasks, nums(&[AdAccountTask::Analyze]));
    assert_eq!(
        ids(
            &ad_account_agencies(&mut c, "act_2000000002", ACME).await,
            |a| &a.id
        ),
        vec![GLOBEX]
    );
    assert_eq!(
        agencies_of(&mut c, ACME).await[0]
            .adaccount_permissions
            .len(),
        2
    );
}

#[tokio::test]
async fn bb01_invalid_requests_never_reach_graph() {
    let (gw, ch) = start().await;
    let mut c = client(&ch);
    let before = gw.sb().request_count();
    // permitted_tasks (or a preset) is required.
    let st = c
        .request_client_ad_account_access(RequestClientAdAccountAccessRequest {
            business_id: GLOBEX.into(),
            ad_account_id: "act_2000000002".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violations(&st), vec!["permitted_tasks"]);
    // Bad ids and an UNSPECIFIED task, reported together.
    let st = c
        .request_client_ad_account_access(RequestClientAdAccountAccessRequest {
            business_id: "globex".into(),
            ad_account_id: "acct_2000000002".into(),
            permitted_tasks: vec![AdAccountTask::Unspecified as i32],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        violations(&st),
        vec!["business_id", "ad_account_id", "permitted_tasks[0]"]
    );
    // Both tasks and a preset.
    let st = c
        .request_client_ad_account_access(RequestClientAdAccountAccessRequest {
            business_id: GLOBEX.into(),
            ad_account_id: "act_2000000002".into(),
            permitted_tasks: general_user(),
            preset: AdAccountRolePreset::Admin as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violations(&st), vec!["preset"]);
    assert_eq!(gw.sb().request_count(), before);
}

#[tokio::test]
async fn bb01_refused_for_an_ad_account_no_business_owns() {
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
    let st = c
        .request_client_ad_account_access(RequestClientAdAccountAccessRequest {
            business_id: GLOBEX.into(),
            ad_account_id: "act_2000000004".into(),
            permitted_tasks: general_user(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_rule(&st, subcode::NOT_BUSINESS_OWNED);
    assert!(!pending_client_ad_accounts(&ch, GLOBEX)
        .await
        .contains(&"act_2000000004".to_string()));
}

// ---------------------------------------------------------------------------
// BB02

#[tokio::test]
async fn bb02_lists_clients_with_the_state_of_each_asset() {
    let (gw, ch) = start().await;
    let mut c = client(&ch);
    let clients = clients_of(&mut c, GLOBEX).await;
    assert_eq!(ids(&clients, |b| &b.id), vec![ACME, INITECH]);
    let acme = &clients[0];
    assert_eq!(acme.name, "Acme Retail");
    assert_eq!(
        ad_states(&acme.adaccount_permissions),
        vec![state("act_2000000001", AccessStatus::Confirmed)]
    );
    assert_eq!(
        acme.adaccount_permissions[0].permitted_tasks,
        general_user()
    );
    assert_eq!(
        page_states(&acme.page_permissions),
        vec![state("3000000002", AccessStatus::Confirmed)]
    );
    assert_eq!(
        acme.page_permissions[0].permitted_tasks,
        nums(&[PageTask::Advertise, PageTask::Analyze])
    );
    let p = &acme.page_permissions[0];
    assert!(p.access_requested_time.ends_with("+0000"), "{p:?}");
    assert!(p.access_updated_time.ends_with("+0000"), "{p:?}");
    // Requests still waiting for Initech, as the agency sees them.
    let initech = &clients[1];
    assert_eq!(initech.name, "Initech Holdings");
    assert_eq!(
        ad_states(&initech.adaccount_permissions),
        vec![state("act_2000000006", AccessStatus::ClientResponsePending)]
    );
    assert_eq!(
        page_states(&initech.page_permissions),
        vec![state("3000000005", AccessStatus::ClientResponsePending)]
    );
    // fields= names each Graph key once, nested lists with their fields.
    let sent = gw.sb().last_request().unwrap();
    let fields = sent.query_param("fields").unwrap();
    assert!(fields.starts_with("id,name,page_permissions{id,permitted_tasks,access_status,access_requested_time,access_updated_time}"), "{fields}");
    assert_eq!(fields.matches("access_status").count(), 2, "{fields}");

    // A read mask narrows the answer.
    let r = c
        .list_client_businesses(ListClientBusinessesRequest {
            business_id: GLOBEX.into(),
            read_mask: Some(prost_types::FieldMask {
                paths: vec!["name".into()],
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.clients[0].name, "Acme Retail");
    assert!(r.clients[0].adaccount_permissions.is_empty());
    // Acme is an agency of Globex's and Initech's apps only: listed, with no
    // page or ad account permissions.
    let clients = clients_of(&mut c, ACME).await;
    assert_eq!(ids(&clients, |b| &b.id), vec![GLOBEX, INITECH]);
    assert!(clients
        .iter()
        .all(|b| b.page_permissions.is_empty() && b.adaccount_permissions.is_empty()));
}

#[tokio::test]
async fn bb02_keeps_access_states_this_version_does_not_know() {
    let body = serde_json::json!({"data": [{
        "id": ACME,
        "name": "Acme Retail",
        "adaccount_permissions": [{
            "id": "act_2000000001",
            "permitted_tasks": ["ANALYZE"],
            "access_status": "SUSPENDED_BY_META",
        }],
    }]})
    .to_string();
    let rec = Recorder::start(vec![(200, vec![], body)]).await;
    let vault = Arc::new(MemoryVault::new(vec![token("globex", GLOBEX, "tok-1")]));
    let gw = TestGateway::upstream(&rec.url, vault, Config::default()).await;
    let mut c = client(&gw.channel().await);
    let clients = clients_of(&mut c, GLOBEX).await;
    let p = &clients[0].adaccount_permissions[0];
    assert_eq!(p.access_status(), AccessStatus::Unspecified);
    assert_eq!(p.access_status_raw, "SUSPENDED_BY_META");
    assert_eq!(p.permitted_tasks, nums(&[AdAccountTask::Analyze]));
}

// ---------------------------------------------------------------------------
// BB03

#[tokio::test]
async fn bb03_grant_with_manage_needs_admin_approval() {
    let (gw, ch) = start_uncached().await;
    let mut c = client(&ch);
    let r = c
        .add_ad_account_agency(AddAdAccountAgencyRequest {
            ad_account_id: "act_2000000002".into(),
            business_id: ACME.into(),
            agency_business_id: INITECH.into(),
            preset: AdAccountRolePreset::Admin as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(r.success);
    assert!(r.requires_admin_approval);
    let sent = gw.sb().last_request().unwrap();
    assert!(
        sent.path.ends_with("/act_2000000002/agencies"),
        "{}",
        sent.path
    );
    assert_eq!(sent.form_param("business"), Some(INITECH));
    assert_eq!(
        sent.form_param("permitted_tasks"),
        Some(r#"["MANAGE","ADVERTISE","ANALYZE"]"#)
    );
    assert_eq!(sent.form_param("business_id"), None, "a local hint");

    let agencies = ad_account_agencies(&mut c, "act_2000000002", ACME).await;
    assert_eq!(ids(&agencies, |a| &a.id), vec![INITECH]);
    assert_eq!(agencies[0].access_status(), AccessStatus::Pending);
    assert_eq!(
        agencies[0].permitted_tasks,
        nums(&[
            AdAccountTask::Manage,
            AdAccountTask::Advertise,
            AdAccountTask::Analyze
        ])
    );
    assert_eq!(
        pending_client_ad_accounts(&ch, INITECH).await,
        vec!["act_2000000002"]
    );

    assert!(gw.sb().approve_access("act_2000000002", INITECH));
    let agencies = ad_account_agencies(&mut c, "act_2000000002", ACME).await;
    assert_eq!(agencies[0].access_status(), AccessStatus::Confirmed);
    assert_eq!(agencies[0].access_type(), AccessType::Agency);
    assert!(client_ad_accounts(&ch, INITECH)
        .await
        .contains(&"act_2000000002".to_string()));
    assert!(pending_client_ad_accounts(&ch, INITECH).await.is_empty());
}

#[tokio::test]
async fn bb03_grant_without_manage_is_confirmed_and_cached_lists_follow() {
    let (gw, ch) = start().await;
    let mut c = client(&ch);
    // Cache the lists the grant changes.
    assert!(ad_account_agencies(&mut c, "act_2000000002", ACME)
        .await
        .is_empty());
    assert!(client_ad_accounts(&ch, INITECH).await.is_empty());
    assert!(clients_of(&mut c, INITECH).await.is_empty());
    assert_eq!(
        ids(&agencies_of(&mut c, ACME).await, |b| &b.id),
        vec![GLOBEX]
    );

    let r = c
        .add_ad_account_agency(AddAdAccountAgencyRequest {
            ad_account_id: "2000000002".into(),
            business_id: ACME.into(),
            agency_business_id: INITECH.into(),
            permitted_tasks: general_user(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(r.success);
    assert!(!r.requires_admin_approval);
    assert!(gw
        .sb()
        .last_request()
        .unwrap()
        .path
        .ends_with("/act_2000000002/agencies"));

    let agencies = ad_account_agencies(&mut c, "act_2000000002", ACME).await;
    assert_eq!(ids(&agencies, |a| &a.id), vec![INITECH]);
    assert_eq!(agencies[0].name, "Initech Holdings");
    assert_eq!(agencies[0].access_status(), AccessStatus::Confirmed);
    assert_eq!(agencies[0].permitted_tasks, general_user());
    assert_eq!(
        client_ad_accounts(&ch, INITECH).await,
        vec!["act_2000000002"]
    );
    let clients = clients_of(&mut c, INITECH).await;
    assert_eq!(
        ad_states(&partner(&clients, ACME).adaccount_permissions),
        vec![state("act_2000000002", AccessStatus::Confirmed)]
    );
    assert_eq!(
        ids(&agencies_of(&mut c, ACME).await, |b| &b.id),
        vec![GLOBEX, INITECH]
    );
}

#[tokio::test]
async fn bb03_only_the_owner_can_grant() {
    let (gw, ch) = start().await;
    let mut c = client(&ch);
    // Globex is only an AGENCY of act_2000000001.
    let st = c
        .add_ad_account_agency(AddAdAccountAgencyRequest {
            ad_account_id: "act_2000000001".into(),
            business_id: GLOBEX.into(),
            agency_business_id: INITECH.into(),
            permitted_tasks: nums(&[AdAccountTask::Analyze]),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_permission_denied(&st);
    assert_eq!(
        ids(
            &ad_account_agencies(&mut c, "act_2000000001", ACME).await,
            |a| &a.id
        ),
        vec![GLOBEX]
    );

    // Invalid requests are refused before Graph.
    let before = gw.sb().request_count();
    let st = c
        .add_ad_account_agency(AddAdAccountAgencyRequest {
            ad_account_id: "act_2000000002".into(),
            business_id: ACME.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        violations(&st),
        vec!["agency_business_id", "permitted_tasks"]
    );
    let st = c
        .add_ad_account_agency(AddAdAccountAgencyRequest {
            ad_account_id: "act_x".into(),
            business_id: ACME.into(),
            agency_business_id: "initech".into(),
            permitted_tasks: general_user(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violations(&st), vec!["ad_account_id", "agency_business_id"]);
    assert_eq!(gw.sb().request_count(), before);
}

// ---------------------------------------------------------------------------
// BB04

/// Derives Alice's page token for `page` (as WF02 does with the owner's
/// token) and keeps it in the gateway's vault for that page.
async fn store_page_token(gw: &TestGateway, page: &str) -> String {
    let vault = gw.engine.vault();
    let alice = vault
        .entries()
        .into_iter()
        .find(|t| t.name == "sandbox-alice")
        .unwrap();
    let secret = gw
        .engine
        .fetch_secret_field(&CallContext::default(), &alice, page, "access_token")
        .await
        .unwrap();
    let value = secret.expose().to_string();
    vault
        .put(TokenEntry {
            name: format!("page-{page}"),
            kind: TokenKind::Page,
            businesses: vec![],
            assets: vec![page.to_string()],
            secret,
            expires_at: None,
        })
        .await
        .unwrap();
    value
}

async fn add_page_agency(
    c: &mut Client<Channel>,
    page: &str,
    agency: &str,
) -> Result<AddAgencyResult, tonic::Status> {
    c.add_page_agency(AddPageAgencyRequest {
        page_id: page.into(),
        business_id: ACME.into(),
        agency_business_id: agency.into(),
        preset: PageRolePreset::Moderator as i32,
        ..Default::default()
    })
    .await
    .map(|r| r.into_inner())
}

#[tokio::test]
async fn bb04_grants_a_page_with_the_page_token_from_the_vault() {
    let (gw, ch) = start().await;
    let mut c = client(&ch);
    // Cache the lists the grant changes.
    assert!(page_agencies(&mut c, "3000000001", ACME).await.is_empty());
    assert!(client_pages(&ch, INITECH).await.is_empty());

    // No page token in the vault: nothing can serve the call.
    let before = gw.sb().request_count();
    let st = add_page_agency(&mut c, "3000000001", INITECH)
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::FailedPrecondition, "{st:?}");
    assert_eq!(gw.sb().request_count(), before);

    let page_token = store_page_token(&gw, "3000000001").await;
    let r = add_page_agency(&mut c, "3000000001", INITECH)
        .await
        .unwrap();
    assert!(r.success);
    assert!(!r.requires_admin_approval);
    let sent = gw.sb().last_request().unwrap();
    assert!(sent.path.ends_with("/3000000001/agencies"), "{}", sent.path);
    assert_eq!(
        sent.header("authorization"),
        Some(format!("Bearer {page_token}").as_str())
    );
    assert_eq!(sent.form_param("business"), Some(INITECH));
    assert_eq!(
        sent.form_param("permitted_tasks"),
        Some(r#"["MODERATE","ADVERTISE","ANALYZE"]"#)
    );
    assert_eq!(sent.form_param("business_id"), None);

    let agencies = page_agencies(&mut c, "3000000001", ACME).await;
    assert_eq!(ids(&agencies, |a| &a.id), vec![INITECH]);
    assert_eq!(agencies[0].access_status(), AccessStatus::Confirmed);
    assert_eq!(
        agencies[0].permitted_tasks,
        nums(&[PageTask::Moderate, PageTask::Advertise, PageTask::Analyze])
    );
    assert_eq!(client_pages(&ch, INITECH).await, vec!["3000000001"]);
}

#[tokio::test]
async fn bb04_uses_the_page_token_even_after_a_list_showed_the_page() {
    let (gw, ch) = start().await;
    let mut c = client(&ch);
    // Acme's owned pages include 3000000001: the gateway learns who owns it.
    let owned = PageServiceClient::new(ch.clone())
        .list_owned_pages(ListOwnedPagesRequest {
            business_id: ACME.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(owned.pages.iter().any(|p| p.id == "3000000001"));
    let page_token = store_page_token(&gw, "3000000001").await;
    let r = add_page_agency(&mut c, "3000000001", INITECH).await;
    let sent = gw.sb().last_request().unwrap();
    assert_eq!(
        sent.header("authorization"),
        Some(format!("Bearer {page_token}").as_str()),
        "BB04 declares no business: the page's own token must serve it"
    );
    assert!(r.unwrap().success);
}

#[tokio::test]
async fn bb04_invalid_requests_never_reach_graph() {
    let (gw, ch) = start().await;
    let mut c = client(&ch);
    let before = gw.sb().request_count();
    let st = c
        .add_page_agency(AddPageAgencyRequest {
            page_id: "3000000001".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        violations(&st),
        vec!["agency_business_id", "permitted_tasks"]
    );
    let st = c
        .add_page_agency(AddPageAgencyRequest {
            page_id: "page-1".into(),
            agency_business_id: INITECH.into(),
            permitted_tasks: vec![PageTask::Unspecified as i32],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violations(&st), vec!["page_id", "permitted_tasks[0]"]);
    assert_eq!(gw.sb().request_count(), before);
}

// ---------------------------------------------------------------------------
// BB05, BB06

#[tokio::test]
async fn bb05_owner_removes_an_agency_from_an_ad_account() {
    let (gw, ch) = start().await;
    let mut c = client(&ch);
    // Cache what the removal changes.
    assert_eq!(
        ids(
            &ad_account_agencies(&mut c, "act_2000000001", ACME).await,
            |a| &a.id
        ),
        vec![GLOBEX]
    );
    assert_eq!(
        client_ad_accounts(&ch, GLOBEX).await,
        vec!["act_2000000001"]
    );
    let before = clients_of(&mut c, GLOBEX).await;
    assert_eq!(partner(&before, ACME).adaccount_permissions.len(), 1);

    let r = c
        .remove_ad_account_agency(RemoveAdAccountAgencyRequest {
            ad_account_id: "2000000001".into(),
            business_id: ACME.into(),
            agency_business_id: GLOBEX.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(r.success);
    let sent = gw.sb().last_request().unwrap();
    assert_eq!(sent.method, "DELETE");
    assert!(sent.path.ends_with("/act_2000000001/agencies"));
    assert_eq!(sent.query_param("business"), Some(GLOBEX));

    assert!(ad_account_agencies(&mut c, "act_2000000001", ACME)
        .await
        .is_empty());
    assert!(client_ad_accounts(&ch, GLOBEX).await.is_empty());
    let after = clients_of(&mut c, GLOBEX).await;
    assert!(partner(&after, ACME).adaccount_permissions.is_empty());
    assert_eq!(partner(&after, ACME).page_permissions.len(), 1);

    // Not an agency any more.
    let st = c
        .remove_ad_account_agency(RemoveAdAccountAgencyRequest {
            ad_account_id: "act_2000000001".into(),
            business_id: ACME.into(),
            agency_business_id: GLOBEX.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_rule(&st, subcode::NOT_IN_BUSINESS);
}

#[tokio::test]
async fn bb06_an_agency_leaves_a_page_itself() {
    let (gw, ch) = start().await;
    let mut c = client(&ch);
    let agencies = page_agencies(&mut c, "3000000002", ACME).await;
    assert_eq!(ids(&agencies, |a| &a.id), vec![GLOBEX]);
    assert_eq!(client_pages(&ch, GLOBEX).await, vec!["3000000002"]);

    let r = c
        .remove_page_agency(RemovePageAgencyRequest {
            page_id: "3000000002".into(),
            business_id: GLOBEX.into(),
            agency_business_id: GLOBEX.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(r.success);
    let sent = gw.sb().last_request().unwrap();
    assert_eq!(sent.method, "DELETE");
    assert!(sent.path.ends_with("/3000000002/agencies"));
    assert_eq!(sent.query_param("business"), Some(GLOBEX));

    assert!(page_agencies(&mut c, "3000000002", ACME).await.is_empty());
    assert!(client_pages(&ch, GLOBEX).await.is_empty());
    let clients = clients_of(&mut c, GLOBEX).await;
    assert!(partner(&clients, ACME).page_permissions.is_empty());

    let before = gw.sb().request_count();
    let st = c
        .remove_page_agency(RemovePageAgencyRequest {
            page_id: "3000000002".into(),
            business_id: GLOBEX.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violations(&st), vec!["agency_business_id"]);
    assert_eq!(gw.sb().request_count(), before);
}

// ---------------------------------------------------------------------------
// BB07, BB08, BB09

#[tokio::test]
async fn bb07_lists_the_agencies_of_an_ad_account() {
    let (gw, ch) = start().await;
    let mut c = client(&ch);
    for id in ["act_2000000001", "2000000001"] {
        let agencies = ad_account_agencies(&mut c, id, ACME).await;
        assert_eq!(ids(&agencies, |a| &a.id), vec![GLOBEX]);
        let a = &agencies[0];
        assert_eq!(a.name, "Globex Agency");
        assert_eq!(a.access_status(), AccessStatus::Confirmed);
        assert_eq!(a.access_status_raw, "CONFIRMED");
        assert_eq!(a.access_type(), AccessType::Agency);
        assert_eq!(a.permitted_tasks, general_user());
    }
    assert!(gw
        .sb()
        .last_request()
        .unwrap()
        .path
        .ends_with("/act_2000000001/agencies"));
    // Globex's pending request on Initech's ad account.
    let agencies = ad_account_agencies(&mut c, "act_2000000006", INITECH).await;
    assert_eq!(ids(&agencies, |a| &a.id), vec![GLOBEX]);
    assert_eq!(agencies[0].access_status(), AccessStatus::Pending);
    assert_eq!(agencies[0].access_status_raw, "PENDING");

    let before = gw.sb().request_count();
    let st = c
        .list_ad_account_agencies(ListAdAccountAgenciesRequest {
            ad_account_id: "act_".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violations(&st), vec!["ad_account_id"]);
    assert_eq!(gw.sb().request_count(), before);
}

#[tokio::test]
async fn bb07_keeps_access_states_this_version_does_not_know() {
    let body = serde_json::json!({"data": [{
        "id": GLOBEX,
        "name": "Globex Agency",
        "permitted_tasks": ["ADVERTISE"],
        "access_status": "UNDER_REVIEW",
        "access_type": "AGENCY",
    }]})
    .to_string();
    let rec = Recorder::start(vec![(200, vec![], body)]).await;
    let vault = Arc::new(MemoryVault::new(vec![token("acme", ACME, "tok-1")]));
    let gw = TestGateway::upstream(&rec.url, vault, Config::default()).await;
    let mut c = client(&gw.channel().await);
    let agencies = ad_account_agencies(&mut c, "act_2000000001", ACME).await;
    assert_eq!(agencies[0].access_status(), AccessStatus::Unspecified);
    assert_eq!(agencies[0].access_status_raw, "UNDER_REVIEW");
    assert_eq!(agencies[0].access_type(), AccessType::Agency);
    // The enum and its raw sibling read one Graph key, asked for once.
    let seen = rec.requests();
    let uri = &seen[0].uri;
    assert!(uri.contains("/act_2000000001/agencies"), "{uri}");
    assert_eq!(uri.matches("access_status").count(), 1, "{uri}");
}

#[tokio::test]
async fn bb08_lists_the_agencies_of_a_page() {
    let (gw, ch) = start().await;
    let mut c = client(&ch);
    let agencies = page_agencies(&mut c, "3000000002", ACME).await;
    assert_eq!(ids(&agencies, |a| &a.id), vec![GLOBEX]);
    let a = &agencies[0];
    assert_eq!(a.name, "Globex Agency");
    assert_eq!(a.access_status(), AccessStatus::Confirmed);
    assert_eq!(a.access_type(), AccessType::Agency);
    assert_eq!(
        a.permitted_tasks,
        nums(&[PageTask::Advertise, PageTask::Analyze])
    );
    let agencies = page_agencies(&mut c, "3000000005", INITECH).await;
    assert_eq!(ids(&agencies, |a| &a.id), vec![GLOBEX]);
    assert_eq!(agencies[0].access_status(), AccessStatus::Pending);
    assert!(page_agencies(&mut c, "3000000001", ACME).await.is_empty());

    let before = gw.sb().request_count();
    let st = c
        .list_page_agencies(ListPageAgenciesRequest {
            page_id: "3000000002".into(),
            business_id: "acme".into(),
            page_size: -1,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violations(&st), vec!["business_id", "page_size"]);
    assert_eq!(gw.sb().request_count(), before);
}

#[tokio::test]
async fn bb09_lists_the_agencies_of_a_business() {
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
    let agencies = agencies_of(&mut c, ACME).await;
    assert_eq!(ids(&agencies, |b| &b.id), vec![GLOBEX]);
    let globex = &agencies[0];
    assert_eq!(globex.name, "Globex Agency");
    assert_eq!(
        ad_states(&globex.adaccount_permissions),
        vec![state("act_2000000001", AccessStatus::Confirmed)]
    );
    assert_eq!(
        page_states(&globex.page_permissions),
        vec![state("3000000002", AccessStatus::Confirmed)]
    );
    // The owner sees a request that waits for it as PENDING (Acme is an
    // agency of one of Initech's apps only).
    let agencies = agencies_of(&mut c, INITECH).await;
    assert_eq!(ids(&agencies, |b| &b.id), vec![ACME, GLOBEX]);
    assert_eq!(
        ad_states(&agencies[1].adaccount_permissions),
        vec![state("act_2000000006", AccessStatus::Pending)]
    );
    assert_eq!(
        page_states(&agencies[1].page_permissions),
        vec![state("3000000005", AccessStatus::Pending)]
    );
    assert!(agencies[0].adaccount_permissions.is_empty());
    // Acme is an agency of one of Globex's apps: listed, with no page or ad
    // account permissions.
    let agencies = agencies_of(&mut c, GLOBEX).await;
    assert_eq!(ids(&agencies, |b| &b.id), vec![ACME]);
    assert!(agencies[0].adaccount_permissions.is_empty());
    assert!(agencies[0].page_permissions.is_empty());
}

// ---------------------------------------------------------------------------
// BB10, BB11

#[tokio::test]
async fn bb10_removes_an_agency_from_every_asset() {
    let (gw, ch) = start().await;
    let mut c = client(&ch);
    // Cache what the removal changes.
    assert_eq!(
        ids(&clients_of(&mut c, GLOBEX).await, |b| &b.id),
        vec![ACME, INITECH]
    );
    assert_eq!(
        ad_account_agencies(&mut c, "act_2000000001", ACME)
            .await
            .len(),
        1
    );
    assert_eq!(page_agencies(&mut c, "3000000002", ACME).await.len(), 1);
    assert_eq!(client_ad_accounts(&ch, GLOBEX).await.len(), 1);
    assert_eq!(client_pages(&ch, GLOBEX).await.len(), 1);

    let r = c
        .remove_agency_business(RemoveAgencyBusinessRequest {
            business_id: ACME.into(),
            agency_business_id: GLOBEX.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(r.success);
    let sent = gw.sb().last_request().unwrap();
    assert_eq!(sent.method, "DELETE");
    assert!(sent.path.ends_with("/1000000001/agencies"));
    assert_eq!(sent.query_param("business"), Some(GLOBEX));

    assert!(agencies_of(&mut c, ACME).await.is_empty());
    assert_eq!(
        ids(&clients_of(&mut c, GLOBEX).await, |b| &b.id),
        vec![INITECH]
    );
    assert!(ad_account_agencies(&mut c, "act_2000000001", ACME)
        .await
        .is_empty());
    assert!(page_agencies(&mut c, "3000000002", ACME).await.is_empty());
    assert!(client_ad_accounts(&ch, GLOBEX).await.is_empty());
    assert!(client_pages(&ch, GLOBEX).await.is_empty());

    let st = c
        .remove_agency_business(RemoveAgencyBusinessRequest {
            business_id: ACME.into(),
            agency_business_id: GLOBEX.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_rule(&st, subcode::NOT_IN_BUSINESS);
}

#[tokio::test]
async fn bb11_an_agency_leaves_a_client() {
    let (gw, ch) = start().await;
    let mut c = client(&ch);
    assert_eq!(
        ids(&agencies_of(&mut c, INITECH).await, |b| &b.id),
        vec![ACME, GLOBEX]
    );
    assert_eq!(
        pending_client_ad_accounts(&ch, GLOBEX).await,
        vec!["act_2000000006"]
    );
    assert_eq!(clients_of(&mut c, GLOBEX).await.len(), 2);

    let r = c
        .remove_client_business(RemoveClientBusinessRequest {
            business_id: GLOBEX.into(),
            client_business_id: INITECH.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(r.success);
    let sent = gw.sb().last_request().unwrap();
    assert_eq!(sent.method, "DELETE");
    assert!(sent.path.ends_with("/1000000002/clients"));
    assert_eq!(sent.query_param("business"), Some(INITECH));

    assert_eq!(
        ids(&agencies_of(&mut c, INITECH).await, |b| &b.id),
        vec![ACME]
    );
    assert!(pending_client_ad_accounts(&ch, GLOBEX).await.is_empty());
    assert_eq!(
        ids(&clients_of(&mut c, GLOBEX).await, |b| &b.id),
        vec![ACME]
    );

    // Not a client (any more).
    let st = c
        .remove_client_business(RemoveClientBusinessRequest {
            business_id: GLOBEX.into(),
            client_business_id: INITECH.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_rule(&st, subcode::NOT_IN_BUSINESS);
    let before = gw.sb().request_count();
    let st = c
        .remove_client_business(RemoveClientBusinessRequest {
            business_id: GLOBEX.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violations(&st), vec!["client_business_id"]);
    assert_eq!(gw.sb().request_count(), before);
}
