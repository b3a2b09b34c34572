//! AgencyService: BB01–BB11, and CB01–CB03 (child businesses) beyond the
//! catalogue.

use graph_gateway::engine::CallContext;
use graph_gateway::proto::ad_account_service_client::AdAccountServiceClient;
use graph_gateway::proto::agency_service_client::AgencyServiceClient as Client;
use graph_gateway::proto::page_service_client::PageServiceClient;
use graph_gateway::proto::*;
use graph_gateway::vault::{TokenEntry, TokenKind};
use AdAccountRolePreset as Preset;

use super::*;
use super::{ad_accounts, pages};

/// Tasks given explicitly.
const NO_PRESET: Preset = Preset::Unspecified;

// The per-asset access states are opt-in (Meta's Business does not list
// them), so the tests name them.
const PARTNER_FIELDS: &[&str] = &["id", "name", "page_permissions", "adaccount_permissions"];
const AGENCY_FIELDS: &[&str] = &[
    "id",
    "name",
    "permitted_tasks",
    "access_status",
    "access_type",
];
rpc!(fn clients_of(business_id: &str; read_mask = PARTNER_FIELDS) -> Vec<PartnerBusiness>
    = list_client_businesses(ListClientBusinessesRequest).clients);
rpc!(fn agencies_of(business_id: &str; read_mask = PARTNER_FIELDS) -> Vec<PartnerBusiness>
    = list_agency_businesses(ListAgencyBusinessesRequest).agencies);
rpc!(fn ad_account_agencies(ad_account_id: &str, business_id: &str; read_mask = AGENCY_FIELDS)
    -> Vec<AdAccountAgency> = list_ad_account_agencies(ListAdAccountAgenciesRequest).agencies);
rpc!(fn page_agencies(page_id: &str, business_id: &str; read_mask = AGENCY_FIELDS)
    -> Vec<PageAgency> = list_page_agencies(ListPageAgenciesRequest).agencies);
rpc!(fn remove_ad_account_agency(ad_account_id: &str, agency_business_id: &str; business_id = ACME)
    -> MutationResult = remove_ad_account_agency(RemoveAdAccountAgencyRequest));
rpc!(fn remove_agency(agency_business_id: &str; business_id = ACME) -> MutationResult
    = remove_agency_business(RemoveAgencyBusinessRequest));
rpc!(fn remove_client(client_business_id: &str; business_id = GLOBEX) -> MutationResult
    = remove_client_business(RemoveClientBusinessRequest));

rpc!(fn request_access(business_id: &str, ad_account_id: &str, permitted_tasks: &[AdAccountTask],
    preset: Preset) -> RequestClientAdAccountAccessResponse
    = request_client_ad_account_access(RequestClientAdAccountAccessRequest));
rpc!(fn add_ad_account_agency(ad_account_id: &str, business_id: &str, agency_business_id: &str,
    permitted_tasks: &[AdAccountTask], preset: Preset) -> AddAgencyResult
    = add_ad_account_agency(AddAdAccountAgencyRequest));
rpc!(fn remove_page_agency(page_id: &str, business_id: &str, agency_business_id: &str)
    -> MutationResult = remove_page_agency(RemovePageAgencyRequest));

/// The ids of `business`'s client ad accounts (AA10).
async fn client_ad_accounts(gw: &TestGateway, business: &str) -> Vec<String> {
    let mut c = AdAccountServiceClient::new(gw.channel().await);
    ids(&ad_accounts::client_accounts(&mut c, business).await, |a| {
        &a.id
    })
}

/// The ids of `business`'s pending client ad accounts (AA11).
async fn pending_client_ad_accounts(gw: &TestGateway, business: &str) -> Vec<String> {
    let mut c = AdAccountServiceClient::new(gw.channel().await);
    let list = ad_accounts::pending_client_accounts(&mut c, business).await;
    ids(&list, |a| &a.id)
}

/// The ids of `business`'s client pages (PG05).
async fn client_pages(gw: &TestGateway, business: &str) -> Vec<String> {
    let mut c = PageServiceClient::new(gw.channel().await);
    ids(&pages::client_pages(&mut c, business).await, |p| &p.id)
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

/// The General User tasks.
const GENERAL_USER: &[AdAccountTask] = &[AdAccountTask::Advertise, AdAccountTask::Analyze];

fn general_user() -> Vec<i32> {
    nums(GENERAL_USER)
}

// ---------------------------------------------------------------------------
// BB01

#[tokio::test]
async fn bb01_request_is_pending_until_the_owner_approves_it() {
    let (gw, mut c) = start_uncached(Client::new).await;
    let r = request_access(&mut c, GLOBEX, "act_2000000002", GENERAL_USER, NO_PRESET)
        .await
        .unwrap();
    assert_eq!(r.access_status(), AccessStatus::Pending);
    assert_eq!(r.access_status_raw, "PENDING");
    let sent = last_sent_to(&gw, "POST", "/1000000002/client_ad_accounts");
    assert_eq!(sent.form_param("adaccount_id"), Some("act_2000000002"));
    assert_eq!(
        sent.form_param("permitted_tasks"),
        Some(r#"["ADVERTISE","ANALYZE"]"#)
    );

    // The agency sees its request as waiting for the client.
    assert!(pending_client_ad_accounts(&gw, GLOBEX)
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
        client_ad_accounts(&gw, GLOBEX).await,
        vec!["act_2000000001", "act_2000000002"]
    );
    assert!(!pending_client_ad_accounts(&gw, GLOBEX)
        .await
        .contains(&"act_2000000002".to_string()));
    let on_account = ad_account_agencies(&mut c, "2000000002", ACME).await;
    assert_eq!(on_account[0].access_status(), AccessStatus::Confirmed);
    assert_eq!(on_account[0].access_status_raw, "CONFIRMED");
}

#[tokio::test]
async fn bb01_with_a_preset_makes_cached_lists_stale() {
    let (gw, mut c) = start(Client::new).await;
    // Read (and cache) every list the request changes.
    assert_eq!(
        pending_client_ad_accounts(&gw, GLOBEX).await,
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

    let r = request_access(&mut c, GLOBEX, "2000000002", &[], Preset::ReportingOnly)
        .await
        .unwrap();
    assert_eq!(r.access_status(), AccessStatus::Pending);
    let sent = last_sent(&gw);
    assert_eq!(sent.form_param("adaccount_id"), Some("act_2000000002"));
    assert_eq!(sent.form_param("permitted_tasks"), Some(r#"["ANALYZE"]"#));

    assert_eq!(
        pending_client_ad_accounts(&gw, GLOBEX).await,
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
    let (gw, mut c) = start(Client::new).await;
    // permitted_tasks (or a preset) is required.
    let no_tasks = request_access(&mut c, GLOBEX, "act_2000000002", &[], NO_PRESET);
    assert_refused_before_graph(&gw, no_tasks, &["permitted_tasks"]).await;
    // Bad ids and an UNSPECIFIED task, reported together.
    let bad = request_access(
        &mut c,
        "globex",
        "acct_2000000002",
        &[AdAccountTask::Unspecified],
        NO_PRESET,
    );
    let fields = ["business_id", "ad_account_id", "permitted_tasks[0]"];
    assert_refused_before_graph(&gw, bad, &fields).await;
    // Both tasks and a preset.
    let both = request_access(
        &mut c,
        GLOBEX,
        "act_2000000002",
        GENERAL_USER,
        Preset::Admin,
    );
    assert_refused_before_graph(&gw, both, &["preset"]).await;
}

#[tokio::test]
async fn bb01_refused_for_an_ad_account_no_business_owns() {
    let (gw, mut c) = start(Client::new).await;
    let st = request_access(&mut c, GLOBEX, "act_2000000004", GENERAL_USER, NO_PRESET)
        .await
        .unwrap_err();
    assert_rule(&st, subcode::NOT_BUSINESS_OWNED);
    assert!(!pending_client_ad_accounts(&gw, GLOBEX)
        .await
        .contains(&"act_2000000004".to_string()));
}

// ---------------------------------------------------------------------------
// BB02

#[tokio::test]
async fn bb02_lists_clients_with_the_state_of_each_asset() {
    let (gw, mut c) = start(Client::new).await;
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
    let sent = last_sent(&gw);
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
    }]});
    let (_rec, _gw, mut c) = start_recorded(body, GLOBEX, Client::new).await;
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
    let (gw, mut c) = start_uncached(Client::new).await;
    let r = add_ad_account_agency(&mut c, "act_2000000002", ACME, INITECH, &[], Preset::Admin)
        .await
        .unwrap();
    assert!(r.success);
    assert!(r.requires_admin_approval);
    let sent = last_sent_to(&gw, "POST", "/act_2000000002/agencies");
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
        pending_client_ad_accounts(&gw, INITECH).await,
        vec!["act_2000000002"]
    );

    assert!(gw.sb().approve_access("act_2000000002", INITECH));
    let agencies = ad_account_agencies(&mut c, "act_2000000002", ACME).await;
    assert_eq!(agencies[0].access_status(), AccessStatus::Confirmed);
    assert_eq!(agencies[0].access_type(), AccessType::Agency);
    assert!(client_ad_accounts(&gw, INITECH)
        .await
        .contains(&"act_2000000002".to_string()));
    assert!(pending_client_ad_accounts(&gw, INITECH).await.is_empty());
}

#[tokio::test]
async fn bb03_grant_without_manage_is_confirmed_and_cached_lists_follow() {
    let (gw, mut c) = start(Client::new).await;
    // Cache the lists the grant changes.
    assert!(ad_account_agencies(&mut c, "act_2000000002", ACME)
        .await
        .is_empty());
    assert!(client_ad_accounts(&gw, INITECH).await.is_empty());
    assert!(clients_of(&mut c, INITECH).await.is_empty());
    assert_eq!(
        ids(&agencies_of(&mut c, ACME).await, |b| &b.id),
        vec![GLOBEX]
    );

    let r = add_ad_account_agency(&mut c, "2000000002", ACME, INITECH, GENERAL_USER, NO_PRESET)
        .await
        .unwrap();
    assert!(r.success);
    assert!(!r.requires_admin_approval);
    last_sent_to(&gw, "POST", "/act_2000000002/agencies");

    let agencies = ad_account_agencies(&mut c, "act_2000000002", ACME).await;
    assert_eq!(ids(&agencies, |a| &a.id), vec![INITECH]);
    assert_eq!(agencies[0].name, "Initech Holdings");
    assert_eq!(agencies[0].access_status(), AccessStatus::Confirmed);
    assert_eq!(agencies[0].permitted_tasks, general_user());
    assert_eq!(
        client_ad_accounts(&gw, INITECH).await,
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
    let (gw, mut c) = start(Client::new).await;
    // Globex is only an AGENCY of act_2000000001.
    let st = add_ad_account_agency(
        &mut c,
        "act_2000000001",
        GLOBEX,
        INITECH,
        &[AdAccountTask::Analyze],
        NO_PRESET,
    )
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
    let no_agency = add_ad_account_agency(&mut c, "act_2000000002", ACME, "", &[], NO_PRESET);
    let fields = ["agency_business_id", "permitted_tasks"];
    assert_refused_before_graph(&gw, no_agency, &fields).await;
    let bad_ids = add_ad_account_agency(&mut c, "act_x", ACME, "initech", GENERAL_USER, NO_PRESET);
    let fields = ["ad_account_id", "agency_business_id"];
    assert_refused_before_graph(&gw, bad_ids, &fields).await;
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
    let (gw, mut c) = start(Client::new).await;
    // Cache the lists the grant changes.
    assert!(page_agencies(&mut c, "3000000001", ACME).await.is_empty());
    assert!(client_pages(&gw, INITECH).await.is_empty());

    // No page token in the vault, and Acme's token cannot derive one (its
    // system user holds no role on the page): the grant is never sent.
    let listed = gw.sb().requests_to("/3000000001/agencies");
    let st = add_page_agency(&mut c, "3000000001", INITECH)
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::FailedPrecondition, "{st:?}");
    assert_eq!(
        gw.sb().requests_to("/3000000001/agencies"),
        listed,
        "no grant sent"
    );

    let page_token = store_page_token(&gw, "3000000001").await;
    let r = add_page_agency(&mut c, "3000000001", INITECH)
        .await
        .unwrap();
    assert!(r.success);
    assert!(!r.requires_admin_approval);
    let sent = last_sent_to(&gw, "POST", "/3000000001/agencies");
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
    assert_eq!(client_pages(&gw, INITECH).await, vec!["3000000001"]);
}

#[tokio::test]
async fn bb04_uses_the_page_token_even_after_a_list_showed_the_page() {
    let (gw, mut c) = start(Client::new).await;
    // Acme's owned pages include 3000000001: the gateway learns who owns it.
    let mut page_service = PageServiceClient::new(gw.channel().await);
    let owned = pages::owned(&mut page_service, ACME).await;
    assert!(owned.iter().any(|p| p.id == "3000000001"));
    let page_token = store_page_token(&gw, "3000000001").await;
    let r = add_page_agency(&mut c, "3000000001", INITECH).await;
    let sent = last_sent(&gw);
    assert_eq!(
        sent.header("authorization"),
        Some(format!("Bearer {page_token}").as_str()),
        "BB04 declares no business: the page's own token must serve it"
    );
    assert!(r.unwrap().success);
}

#[tokio::test]
async fn bb04_derives_the_page_token_from_the_owners_token_and_refreshes_it_once() {
    let (gw, mut c) = start(Client::new).await;
    let grant = |c: &mut Client<Channel>| {
        let req = AddPageAgencyRequest {
            page_id: "3000000008".into(),
            business_id: ACME.into(),
            agency_business_id: INITECH.into(),
            permitted_tasks: nums(&[PageTask::Analyze]),
            ..Default::default()
        };
        let mut c = c.clone();
        async move { c.add_page_agency(req).await }
    };
    // No page token in the vault: derived with Acme's token, stored, used.
    let r = grant(&mut c).await.unwrap().into_inner();
    assert!(r.success);
    assert!(
        !format!("{r:?}").contains("sandbox-page-token"),
        "never returned"
    );
    assert_eq!(gw.sb().requests_to("/3000000008"), 1, "derived once");
    let sent = last_sent_to(&gw, "POST", "/3000000008/agencies");
    let auth = sent.header("authorization").unwrap().to_string();
    assert!(
        auth.starts_with("Bearer sandbox-page-token-3000000008-"),
        "{auth}"
    );
    let stored = gw
        .engine
        .vault()
        .select(&graph_gateway::vault::TokenQuery {
            business: None,
            asset: Some("3000000008"),
            kind: Some(TokenKind::Page),
        })
        .unwrap();
    assert_eq!(stored.name, "page-3000000008");

    // Graph rejects the stored token (190): derived again once, and the
    // grant goes through with the fresh one.
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
    let r = grant(&mut c).await.unwrap().into_inner();
    assert!(r.success);
    assert_eq!(gw.sb().requests_to("/3000000008"), 2, "derived again once");
    assert_eq!(
        gw.sb().requests_to("/3000000008/agencies"),
        3,
        "one rejected, two granted"
    );
}

#[tokio::test]
async fn bb04_without_a_derivable_page_token_is_refused_before_the_grant() {
    let (gw, mut c) = start(Client::new).await;
    // Acme's system user holds no role on page 3000000001: Graph issues no
    // page token, and the grant is never sent.
    let st = c
        .add_page_agency(AddPageAgencyRequest {
            page_id: "3000000001".into(),
            business_id: ACME.into(),
            agency_business_id: INITECH.into(),
            permitted_tasks: nums(&[PageTask::Analyze]),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::FailedPrecondition, "{st:?}");
    assert_eq!(
        st.get_error_details().error_info().unwrap().reason,
        "NO_TOKEN"
    );
    assert_eq!(gw.sb().requests_to("/3000000001/agencies"), 0);
}

#[tokio::test]
async fn bb04_invalid_requests_never_reach_graph() {
    let (gw, mut c) = start(Client::new).await;
    let no_agency = c.add_page_agency(AddPageAgencyRequest {
        page_id: "3000000001".into(),
        ..Default::default()
    });
    let fields = ["agency_business_id", "permitted_tasks"];
    assert_refused_before_graph(&gw, no_agency, &fields).await;
    let bad = c.add_page_agency(AddPageAgencyRequest {
        page_id: "page-1".into(),
        agency_business_id: INITECH.into(),
        permitted_tasks: vec![PageTask::Unspecified as i32],
        ..Default::default()
    });
    let fields = ["page_id", "permitted_tasks[0]"];
    assert_refused_before_graph(&gw, bad, &fields).await;
}

// ---------------------------------------------------------------------------
// BB05, BB06

#[tokio::test]
async fn bb05_owner_removes_an_agency_from_an_ad_account() {
    let (gw, mut c) = start(Client::new).await;
    // Cache what the removal changes.
    assert_eq!(
        ids(
            &ad_account_agencies(&mut c, "act_2000000001", ACME).await,
            |a| &a.id
        ),
        vec![GLOBEX]
    );
    assert_eq!(
        client_ad_accounts(&gw, GLOBEX).await,
        vec!["act_2000000001"]
    );
    let before = clients_of(&mut c, GLOBEX).await;
    assert_eq!(partner(&before, ACME).adaccount_permissions.len(), 1);

    let r = remove_ad_account_agency(&mut c, "2000000001", GLOBEX).await;
    assert!(r.unwrap().success);
    let sent = last_sent_to(&gw, "DELETE", "/act_2000000001/agencies");
    assert_eq!(sent.query_param("business"), Some(GLOBEX));

    assert!(ad_account_agencies(&mut c, "act_2000000001", ACME)
        .await
        .is_empty());
    assert!(client_ad_accounts(&gw, GLOBEX).await.is_empty());
    let after = clients_of(&mut c, GLOBEX).await;
    assert!(partner(&after, ACME).adaccount_permissions.is_empty());
    assert_eq!(partner(&after, ACME).page_permissions.len(), 1);

    // Not an agency any more.
    let st = remove_ad_account_agency(&mut c, "act_2000000001", GLOBEX)
        .await
        .unwrap_err();
    assert_rule(&st, subcode::NOT_IN_BUSINESS);
}

#[tokio::test]
async fn bb06_an_agency_leaves_a_page_itself() {
    let (gw, mut c) = start(Client::new).await;
    let agencies = page_agencies(&mut c, "3000000002", ACME).await;
    assert_eq!(ids(&agencies, |a| &a.id), vec![GLOBEX]);
    assert_eq!(client_pages(&gw, GLOBEX).await, vec!["3000000002"]);

    let r = remove_page_agency(&mut c, "3000000002", GLOBEX, GLOBEX)
        .await
        .unwrap();
    assert!(r.success);
    let sent = last_sent_to(&gw, "DELETE", "/3000000002/agencies");
    assert_eq!(sent.query_param("business"), Some(GLOBEX));

    assert!(page_agencies(&mut c, "3000000002", ACME).await.is_empty());
    assert!(client_pages(&gw, GLOBEX).await.is_empty());
    let clients = clients_of(&mut c, GLOBEX).await;
    assert!(partner(&clients, ACME).page_permissions.is_empty());

    let no_agency = remove_page_agency(&mut c, "3000000002", GLOBEX, "");
    assert_refused_before_graph(&gw, no_agency, &["agency_business_id"]).await;
}

// ---------------------------------------------------------------------------
// BB07, BB08, BB09

#[tokio::test]
async fn bb07_lists_the_agencies_of_an_ad_account() {
    let (gw, mut c) = start(Client::new).await;
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
    last_sent_to(&gw, "GET", "/act_2000000001/agencies");
    // Globex's pending request on Initech's ad account.
    let agencies = ad_account_agencies(&mut c, "act_2000000006", INITECH).await;
    assert_eq!(ids(&agencies, |a| &a.id), vec![GLOBEX]);
    assert_eq!(agencies[0].access_status(), AccessStatus::Pending);
    assert_eq!(agencies[0].access_status_raw, "PENDING");

    let no_id = c.list_ad_account_agencies(ListAdAccountAgenciesRequest {
        ad_account_id: "act_".into(),
        ..Default::default()
    });
    assert_refused_before_graph(&gw, no_id, &["ad_account_id"]).await;
}

#[tokio::test]
async fn bb07_keeps_access_states_this_version_does_not_know() {
    let body = serde_json::json!({"data": [{
        "id": GLOBEX,
        "name": "Globex Agency",
        "permitted_tasks": ["ADVERTISE"],
        "access_status": "UNDER_REVIEW",
        "access_type": "AGENCY",
    }]});
    let (rec, _gw, mut c) = start_recorded(body, ACME, Client::new).await;
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
    let (gw, mut c) = start(Client::new).await;
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

    let bad = c.list_page_agencies(ListPageAgenciesRequest {
        page_id: "3000000002".into(),
        business_id: "acme".into(),
        page_size: -1,
        ..Default::default()
    });
    assert_refused_before_graph(&gw, bad, &["business_id", "page_size"]).await;
}

#[tokio::test]
async fn bb09_lists_the_agencies_of_a_business() {
    let (_gw, mut c) = start(Client::new).await;
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
    let (gw, mut c) = start(Client::new).await;
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
    assert_eq!(client_ad_accounts(&gw, GLOBEX).await.len(), 1);
    assert_eq!(client_pages(&gw, GLOBEX).await.len(), 1);

    assert!(remove_agency(&mut c, GLOBEX).await.unwrap().success);
    let sent = last_sent_to(&gw, "DELETE", "/1000000001/agencies");
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
    assert!(client_ad_accounts(&gw, GLOBEX).await.is_empty());
    assert!(client_pages(&gw, GLOBEX).await.is_empty());

    let st = remove_agency(&mut c, GLOBEX).await.unwrap_err();
    assert_rule(&st, subcode::NOT_IN_BUSINESS);
}

#[tokio::test]
async fn bb11_an_agency_leaves_a_client() {
    let (gw, mut c) = start(Client::new).await;
    assert_eq!(
        ids(&agencies_of(&mut c, INITECH).await, |b| &b.id),
        vec![ACME, GLOBEX]
    );
    assert_eq!(
        pending_client_ad_accounts(&gw, GLOBEX).await,
        vec!["act_2000000006"]
    );
    assert_eq!(clients_of(&mut c, GLOBEX).await.len(), 2);

    assert!(remove_client(&mut c, INITECH).await.unwrap().success);
    let sent = last_sent_to(&gw, "DELETE", "/1000000002/clients");
    assert_eq!(sent.query_param("business"), Some(INITECH));

    assert_eq!(
        ids(&agencies_of(&mut c, INITECH).await, |b| &b.id),
        vec![ACME]
    );
    assert!(pending_client_ad_accounts(&gw, GLOBEX).await.is_empty());
    assert_eq!(
        ids(&clients_of(&mut c, GLOBEX).await, |b| &b.id),
        vec![ACME]
    );

    // Not a client (any more).
    let st = remove_client(&mut c, INITECH).await.unwrap_err();
    assert_rule(&st, subcode::NOT_IN_BUSINESS);
    let no_client = remove_client(&mut c, "");
    assert_refused_before_graph(&gw, no_client, &["client_business_id"]).await;
}

// ---------------------------------------------------------------------------
// CB01–CB03: child businesses (beyond the catalogue: issue 16)

/// Acme Outlet Stores, Acme's child business (served by Acme's admin token).
const OUTLETS: &str = "1000000005";

rpc!(fn children(business_id: &str; read_mask = &["id", "name", "vertical", "timezone_id"][..])
    -> Vec<ChildBusiness> = list_child_businesses(ListChildBusinessesRequest).businesses);
rpc!(fn delete_child(business_id: &str, child_business_id: &str) -> MutationResult
    = delete_child_business(DeleteChildBusinessRequest));

/// The ids of a business's owned ad accounts (AA03) and pages (PG04).
async fn owned_assets(
    gw: &TestGateway,
    business_id: &str,
) -> Result<(Vec<String>, Vec<String>), Status> {
    let mut accounts = AdAccountServiceClient::new(gw.channel().await);
    let mut pages = PageServiceClient::new(gw.channel().await);
    let a = accounts
        .list_owned_ad_accounts(ListOwnedAdAccountsRequest {
            business_id: business_id.into(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .ad_accounts;
    let p = pages
        .list_owned_pages(ListOwnedPagesRequest {
            business_id: business_id.into(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .pages;
    Ok((ids(&a, |x| &x.id), ids(&p, |x| &x.id)))
}

#[tokio::test]
async fn cb01_lists_child_businesses_whose_assets_the_owned_rpcs_serve() {
    let (gw, mut c) = start(Client::new).await;
    assert_eq!(
        children(&mut c, ACME).await,
        vec![ChildBusiness {
            id: OUTLETS.into(),
            name: "Acme Outlet Stores".into(),
            vertical: "RETAIL".into(),
            timezone_id: 1,
        }]
    );
    last_sent_to(&gw, "GET", &format!("/{ACME}/owned_businesses"));
    assert!(children(&mut c, GLOBEX).await.is_empty());
    // Filters: the parent's external id, a member of the child.
    let filtered = |external: &str, user: &str| ListChildBusinessesRequest {
        business_id: ACME.into(),
        child_business_external_id: external.into(),
        client_user_id: user.into(),
        ..Default::default()
    };
    for (external, user, want) in [
        ("acme-outlets", "", 1),
        ("elsewhere", "", 0),
        ("", "10101", 1),
        ("", ALICE, 0),
    ] {
        let got = c
            .list_child_businesses(filtered(external, user))
            .await
            .unwrap()
            .into_inner()
            .businesses;
        assert_eq!(got.len(), want, "{external:?} {user:?}");
    }
    let sent = last_sent(&gw);
    assert_eq!(sent.param("client_user_id"), Some(ALICE));
    // The child's ad accounts and pages: the owned-asset RPCs with its id.
    assert_eq!(
        owned_assets(&gw, OUTLETS).await.unwrap(),
        (
            vec!["act_2000000008".to_string()],
            vec!["3000000010".to_string()]
        )
    );
    // Bad input never reaches Graph.
    let bad = c.list_child_businesses(ListChildBusinessesRequest {
        business_id: "acme".into(),
        client_user_id: "alice".into(),
        ..Default::default()
    });
    assert_refused_before_graph(&gw, bad, &["business_id", "client_user_id"]).await;
}

#[tokio::test]
async fn cb02_creates_a_child_business_with_a_shared_page() {
    let (gw, mut c) = start(Client::new).await;
    assert_eq!(children(&mut c, ACME).await.len(), 1);
    let created = c
        .create_child_business(CreateChildBusinessRequest {
            business_id: ACME.into(),
            name: "Acme Pop-up Co".into(),
            vertical: BusinessVertical::Retail.into(),
            timezone_id: Some(7),
            child_business_external_id: "popup".into(),
            shared_page_id: "3000000001".into(),
            page_permitted_tasks: nums(&[PageTask::Advertise, PageTask::Analyze]),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let child = created.id;
    assert_eq!(child, "1000000101");
    let sent = last_sent_to(&gw, "POST", &format!("/{ACME}/owned_businesses"));
    assert_eq!(sent.form_param("name"), Some("Acme Pop-up Co"));
    assert_eq!(sent.form_param("vertical"), Some("RETAIL"));
    assert_eq!(sent.form_param("timezone_id"), Some("7"));
    assert_eq!(sent.form_param("shared_page_id"), Some("3000000001"));
    assert_eq!(
        sent.form_param("page_permitted_tasks"),
        Some(r#"["ADVERTISE","ANALYZE"]"#)
    );
    // The cached list follows.
    let list = children(&mut c, ACME).await;
    assert_eq!(ids(&list, |b| &b.id), vec![OUTLETS, child.as_str()]);
    assert_eq!(list[1].timezone_id, 7);

    // Once a vault token serves it, the child's assets are at hand: the
    // shared page as a client page, and an ad account it creates.
    gw.engine
        .vault()
        .put(token("acme-popup", &child, "sandbox-token-acme-admin"))
        .await
        .unwrap();
    let mut pages = PageServiceClient::new(gw.channel().await);
    let client_pages = pages
        .list_client_pages(ListClientPagesRequest {
            business_id: child.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .pages;
    assert_eq!(ids(&client_pages, |p| &p.id), vec!["3000000001"]);
    let mut accounts = AdAccountServiceClient::new(gw.channel().await);
    let account = accounts
        .create_ad_account(CreateAdAccountRequest {
            business_id: child.clone(),
            name: "Pop-up Ads".into(),
            currency: "USD".into(),
            timezone_id: 7,
            end_advertiser: child.clone(),
            media_agency: "NONE".into(),
            partner: "NONE".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        owned_assets(&gw, &child).await.unwrap(),
        (vec![account.id], vec![])
    );

    // A child business owns no businesses.
    let st = c
        .create_child_business(CreateChildBusinessRequest {
            business_id: OUTLETS.into(),
            name: "Grandchild".into(),
            vertical: BusinessVertical::Retail.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid_parameter(&st);
    // Only a page the parent owns can be shared.
    let st = c
        .create_child_business(CreateChildBusinessRequest {
            business_id: ACME.into(),
            name: "Borrowed".into(),
            vertical: BusinessVertical::Retail.into(),
            shared_page_id: "3000000005".into(),
            page_permitted_tasks: nums(&[PageTask::Analyze]),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid_parameter(&st);
    // Bad input never reaches Graph.
    let bad = c.create_child_business(CreateChildBusinessRequest {
        business_id: ACME.into(),
        timezone_id: Some(999),
        ..Default::default()
    });
    assert_refused_before_graph(&gw, bad, &["name", "vertical", "timezone_id"]).await;
}

#[tokio::test]
async fn cb03_deletes_a_child_business() {
    let (gw, mut c) = start(Client::new).await;
    assert_eq!(children(&mut c, ACME).await.len(), 1);
    assert!(owned_assets(&gw, OUTLETS).await.is_ok());
    assert!(delete_child(&mut c, ACME, OUTLETS).await.unwrap().success);
    let sent = last_sent_to(&gw, "DELETE", &format!("/{ACME}/owned_businesses"));
    assert_eq!(sent.param("client_id"), Some(OUTLETS));
    // The cached lists follow: no child, and its lists are gone with it.
    assert!(children(&mut c, ACME).await.is_empty());
    assert!(owned_assets(&gw, OUTLETS).await.is_err());
    // Not a child (any more): Graph's error, mapped.
    let st = delete_child(&mut c, ACME, OUTLETS).await.unwrap_err();
    assert_invalid_parameter(&st);
    let st = delete_child(&mut c, ACME, GLOBEX).await.unwrap_err();
    assert_invalid_parameter(&st);
    let bad = delete_child(&mut c, ACME, "outlets");
    assert_refused_before_graph(&gw, bad, &["child_business_id"]).await;
}
