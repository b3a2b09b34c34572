//! AdAccountService: AA01–AA11.

use graph_gateway::proto::ad_account_service_client::AdAccountServiceClient as Client;
use graph_gateway::proto::*;
use AdAccountRolePreset as Preset;

use super::*;

/// Tasks given explicitly.
const NO_PRESET: Preset = Preset::Unspecified;

// The relationship fields (access status and type, tasks) are opt-in: Meta's
// spec does not list them on AdAccount, so the tests name them.
rpc!(fn owned(business_id: &str; read_mask = &["id", "account_id", "name", "currency", "timezone_id", "access_status", "access_type", "permitted_tasks", "tasks", "business"][..]) -> Vec<AdAccount>
    = list_owned_ad_accounts(ListOwnedAdAccountsRequest).ad_accounts);
rpc!(fn pending_owned_requests(business_id: &str) -> Vec<AdAccountRequest>
    = list_pending_owned_ad_accounts(ListPendingOwnedAdAccountsRequest).requests);
rpc!(pub(super) fn client_accounts(business_id: &str; read_mask = &["id", "account_id", "name", "currency", "timezone_id", "access_status", "access_type", "permitted_tasks", "tasks", "business"][..]) -> Vec<AdAccount>
    = list_client_ad_accounts(ListClientAdAccountsRequest).ad_accounts);
rpc!(pub(super) fn pending_client_requests(business_id: &str) -> Vec<AdAccountRequest>
    = list_pending_client_ad_accounts(ListPendingClientAdAccountsRequest).requests);
rpc!(fn users(ad_account_id: &str, business: &str; read_mask = &["id", "name", "tasks"][..])
    -> Vec<AdAccountUser> = list_ad_account_users(ListAdAccountUsersRequest).users);
rpc!(fn user_accounts(business_scoped_user_id: &str, business_id: &str; read_mask = &["id", "account_id", "name", "currency", "timezone_id", "access_status", "access_type", "permitted_tasks", "tasks", "business"][..]) -> Vec<AdAccount>
    = list_user_ad_accounts(ListUserAdAccountsRequest).ad_accounts);

/// The ad accounts of AA04's pending requests (Meta's BusinessAdAccountRequest);
/// each request has its own id, distinct from the account's.
async fn pending_owned(
    c: &mut Client<tonic::transport::Channel>,
    business_id: &str,
) -> Vec<AdAccount> {
    let requests = pending_owned_requests(c, business_id).await;
    for r in &requests {
        let account = r.ad_account.as_ref().map(|a| a.id.as_str());
        assert!(!r.id.is_empty() && Some(r.id.as_str()) != account, "{r:?}");
    }
    requests.into_iter().filter_map(|r| r.ad_account).collect()
}

/// The ad accounts of AA11's pending agency requests.
pub(super) async fn pending_client_accounts(
    c: &mut Client<tonic::transport::Channel>,
    business_id: &str,
) -> Vec<AdAccount> {
    let requests = pending_client_requests(c, business_id).await;
    for r in &requests {
        assert!(!r.id.is_empty(), "{r:?}");
    }
    requests.into_iter().filter_map(|r| r.ad_account).collect()
}

/// (id, name) of each account.
fn names(list: &[AdAccount]) -> Vec<(&str, &str)> {
    list.iter()
        .map(|a| (a.id.as_str(), a.name.as_str()))
        .collect()
}
rpc!(fn claim(ad_account_id: &str; business_id = ACME) -> ClaimResult
    = claim_ad_account(ClaimAdAccountRequest));
rpc!(fn remove(ad_account_id: &str; business_id = ACME) -> MutationResult
    = remove_ad_account(RemoveAdAccountRequest));
rpc!(fn assign(ad_account_id: &str, user: &str, tasks: &[AdAccountTask], preset: Preset;
    business_id = ACME) -> MutationResult = assign_ad_account_user(AssignAdAccountUserRequest));
rpc!(fn remove_user(ad_account_id: &str, user: &str; business_id = ACME) -> MutationResult
    = remove_ad_account_user(RemoveAdAccountUserRequest));

#[tokio::test]
async fn aa01_claim_confirmed_when_the_token_administers_the_account() {
    let (gw, mut c) = start(Client::new).await;
    assert!(!ids(&owned(&mut c, ACME).await, |a| &a.id).contains(&"act_2000000005".to_string()));

    let r = claim(&mut c, "act_2000000005").await.unwrap();
    assert_eq!(r.access_status(), AccessStatus::Confirmed);
    let sent = last_sent(&gw);
    assert_eq!(sent.path, format!("/v26.0/{ACME}/owned_ad_accounts"));
    assert_eq!(sent.form_param("adaccount_id"), Some("act_2000000005"));

    // The claim invalidated the owned list: the account is now there.
    use {AccessStatus::Confirmed, AccessType::Owner};
    assert_eq!(
        access(&owned(&mut c, ACME).await),
        vec![
            ("act_2000000001", "Acme US Prospecting", Confirmed, Owner),
            ("act_2000000002", "Acme EU Retargeting", Confirmed, Owner),
            ("act_2000000005", "Acme Unclaimed Account", Confirmed, Owner),
        ]
    );
}

#[tokio::test]
async fn aa01_claim_pending_then_listed_by_aa04() {
    let (_gw, mut c) = start(Client::new).await;
    // Warm the pending list: the claim must invalidate it.
    assert_eq!(
        ids(&pending_owned(&mut c, ACME).await, |a| &a.id),
        vec!["act_2000000003"]
    );

    // Given without the act_ prefix.
    let r = claim(&mut c, "2000000004").await.unwrap();
    assert_eq!(r.access_status(), AccessStatus::Pending);

    assert_eq!(
        names(&pending_owned(&mut c, ACME).await),
        vec![
            ("act_2000000003", "Acme Legacy Account"),
            ("act_2000000004", "Erin Freelance Account"),
        ]
    );
    // Not owned yet.
    assert_eq!(
        ids(&owned(&mut c, ACME).await, |a| &a.id),
        vec!["act_2000000001", "act_2000000002"]
    );
}

#[tokio::test]
async fn aa01_claim_of_an_account_owned_elsewhere_is_refused() {
    let (_gw, mut c) = start(Client::new).await;
    let st = claim(&mut c, "act_2000000006").await.unwrap_err();
    assert_rule(&st, subcode::OWNED_ELSEWHERE);
    let st = claim(&mut c, "act_abc").await.unwrap_err();
    assert_eq!(violations(&st), vec!["ad_account_id"]);
}

#[tokio::test]
async fn aa02_creates_an_account_listed_by_aa03() {
    let (gw, mut c) = start(Client::new).await;
    // Warm the owned list: creation must invalidate it.
    assert_eq!(owned(&mut c, ACME).await.len(), 2);

    let created = c
        .create_ad_account(CreateAdAccountRequest {
            business_id: ACME.into(),
            name: "Acme Holiday Push".into(),
            currency: "GBP".into(),
            timezone_id: 7,
            end_advertiser: ACME.into(),
            media_agency: "NONE".into(),
            partner: "NONE".into(),
            invoice: Some(false),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        created,
        CreateAdAccountResponse {
            id: "act_2000000101".into(),
            account_id: "2000000101".into(),
            business_id: ACME.into(),
            end_advertiser_id: ACME.into(),
            media_agency_id: "NONE".into(),
            partner_id: "NONE".into(),
        }
    );
    let sent = last_sent(&gw);
    assert_eq!(sent.path, format!("/v26.0/{ACME}/adaccount"));
    assert_eq!(sent.form_param("timezone_id"), Some("7"));
    assert_eq!(sent.form_param("invoice"), Some("false"));

    let list = owned(&mut c, ACME).await;
    assert_eq!(
        ids(&list, |a| &a.id),
        vec!["act_2000000001", "act_2000000002", "act_2000000101"]
    );
    let new = &list[2];
    assert_eq!(new.account_id, "2000000101");
    assert_eq!(new.name, "Acme Holiday Push");
    assert_eq!(new.currency, "GBP");
    assert_eq!(new.timezone_id, 7);
    assert_eq!(new.business, node(ACME, "Acme Retail"));

    // Each call creates another account.
    let second = c
        .create_ad_account(CreateAdAccountRequest {
            business_id: ACME.into(),
            name: "Acme Second".into(),
            currency: "USD".into(),
            timezone_id: 1,
            end_advertiser: ACME.into(),
            media_agency: "NONE".into(),
            partner: "NONE".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.id, "act_2000000102");

    // Meta's invoicing params reach Graph under their own names.
    c.create_ad_account(CreateAdAccountRequest {
        business_id: ACME.into(),
        name: "Acme Invoiced".into(),
        currency: "USD".into(),
        timezone_id: 1,
        end_advertiser: ACME.into(),
        media_agency: "NONE".into(),
        partner: "NONE".into(),
        invoice: Some(true),
        invoice_group_id: "123456".into(),
        invoicing_emails: vec!["billing@acme.test".into()],
        io: Some(true),
        po_number: "PO-42".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let sent = last_sent(&gw);
    assert_eq!(sent.form_param("invoice_group_id"), Some("123456"));
    assert_eq!(
        sent.form_param("invoicing_emails"),
        Some(r#"["billing@acme.test"]"#)
    );
    assert_eq!(sent.form_param("io"), Some("true"));
    assert_eq!(sent.form_param("po_number"), Some("PO-42"));
}

#[tokio::test]
async fn aa03_aa10_search_and_shared_accounts() {
    let (gw, mut c) = start(Client::new).await;
    let found = c
        .list_owned_ad_accounts(ListOwnedAdAccountsRequest {
            business_id: ACME.into(),
            search_query: "retarget".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ids(&found.ad_accounts, |a| &a.id), vec!["act_2000000002"]);
    assert_eq!(last_sent(&gw).query_param("search_query"), Some("retarget"));
    // Globex owns none of its own but holds client accounts as an agency.
    let shared = c
        .list_owned_ad_accounts(ListOwnedAdAccountsRequest {
            business_id: GLOBEX.into(),
            include_shared_ad_accounts: Some(true),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let plain = owned(&mut c, GLOBEX).await;
    assert!(shared.ad_accounts.len() > plain.len(), "{shared:?}");
    let clients = c
        .list_client_ad_accounts(ListClientAdAccountsRequest {
            business_id: GLOBEX.into(),
            search_query: "nothing-matches-this".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(clients.ad_accounts.is_empty());
    assert_eq!(
        last_sent(&gw).query_param("search_query"),
        Some("nothing-matches-this")
    );
}

#[tokio::test]
async fn aa02_missing_required_fields_never_reach_graph() {
    let (gw, mut c) = start(Client::new).await;
    let no_currency = c.create_ad_account(CreateAdAccountRequest {
        business_id: ACME.into(),
        name: "No currency".into(),
        ..Default::default()
    });
    let missing = [
        "currency",
        "timezone_id",
        "end_advertiser",
        "media_agency",
        "partner",
    ];
    assert_refused_before_graph(&gw, no_currency, &missing).await;
}

#[tokio::test]
async fn aa03_lists_owned_accounts_with_demo_fields() {
    let (_gw, mut c) = start(Client::new).await;
    let list = owned(&mut c, ACME).await;
    let owner_tasks = nums(&[
        AdAccountTask::Manage,
        AdAccountTask::Advertise,
        AdAccountTask::Analyze,
    ]);
    let owner_raw = ad_raw(&[
        AdAccountTask::Manage,
        AdAccountTask::Advertise,
        AdAccountTask::Analyze,
    ]);
    assert_eq!(
        list,
        vec![
            AdAccount {
                id: "act_2000000001".into(),
                account_id: "2000000001".into(),
                name: "Acme US Prospecting".into(),
                currency: "USD".into(),
                timezone_id: 1,
                access_status: AccessStatus::Confirmed as i32,
                access_status_raw: "CONFIRMED".into(),
                access_type: AccessType::Owner as i32,
                access_type_raw: "OWNER".into(),
                permitted_tasks: owner_tasks.clone(),
                permitted_tasks_raw: owner_raw.clone(),
                tasks: vec![],
                tasks_raw: vec![],
                business: node(ACME, "Acme Retail"),
            },
            AdAccount {
                id: "act_2000000002".into(),
                account_id: "2000000002".into(),
                name: "Acme EU Retargeting".into(),
                currency: "EUR".into(),
                timezone_id: 2,
                access_status: AccessStatus::Confirmed as i32,
                access_status_raw: "CONFIRMED".into(),
                access_type: AccessType::Owner as i32,
                access_type_raw: "OWNER".into(),
                permitted_tasks: owner_tasks,
                permitted_tasks_raw: owner_raw,
                tasks: vec![],
                tasks_raw: vec![],
                business: node(ACME, "Acme Retail"),
            },
        ]
    );
    let globex = owned(&mut c, GLOBEX).await;
    assert_eq!(ids(&globex, |a| &a.id), vec!["act_2000000007"]);
    assert_eq!(globex[0].name, "Globex House Account");
}

#[tokio::test]
async fn aa03_pagination_with_read_mask() {
    let (gw, mut c) = start(Client::new).await;
    let req = |token: String| ListOwnedAdAccountsRequest {
        business_id: ACME.into(),
        page_size: 1,
        page_token: token,
        read_mask: Some(prost_types::FieldMask {
            paths: vec!["name".into()],
        }),
        ..Default::default()
    };
    let first = c
        .list_owned_ad_accounts(req(String::new()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        first.ad_accounts,
        vec![AdAccount {
            id: "act_2000000001".into(),
            name: "Acme US Prospecting".into(),
            ..Default::default()
        }]
    );
    assert!(!first.next_page_token.is_empty());
    let fields = last_sent(&gw).query_param("fields").map(str::to_string);
    assert_eq!(fields.as_deref(), Some("id,name"));
    let second = c
        .list_owned_ad_accounts(req(first.next_page_token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ids(&second.ad_accounts, |a| &a.id), vec!["act_2000000002"]);
    assert!(second.next_page_token.is_empty(), "two accounts: two pages");
}

#[tokio::test]
async fn aa04_lists_pending_owned_accounts() {
    let (_gw, mut c) = start(Client::new).await;
    assert_eq!(
        names(&pending_owned(&mut c, ACME).await),
        vec![("act_2000000003", "Acme Legacy Account")]
    );
    assert!(pending_owned(&mut c, GLOBEX).await.is_empty());
}

#[tokio::test]
async fn aa05_owner_confirmed_removal_is_refused() {
    let (_gw, mut c) = start(Client::new).await;
    for account in ["act_2000000001", "2000000002"] {
        let st = remove(&mut c, account).await.unwrap_err();
        assert_rule(&st, subcode::OWNED_AND_CONFIRMED);
    }
    assert_eq!(
        ids(&owned(&mut c, ACME).await, |a| &a.id),
        vec!["act_2000000001", "act_2000000002"]
    );
}

#[tokio::test]
async fn aa05_pending_account_can_be_removed() {
    let (_gw, mut c) = start(Client::new).await;
    assert_eq!(pending_owned(&mut c, ACME).await.len(), 1);
    let r = remove(&mut c, "act_2000000003").await.unwrap();
    assert!(r.success);
    assert!(
        pending_owned(&mut c, ACME).await.is_empty(),
        "the removal invalidated AA04"
    );
    // Removing it again: no longer associated with Acme.
    let st = remove(&mut c, "act_2000000003").await.unwrap_err();
    assert_rule(&st, subcode::NOT_IN_BUSINESS);
}

#[tokio::test]
async fn aa06_lists_a_users_ad_accounts_direct_and_through_groups() {
    let (_gw, mut c) = start(Client::new).await;
    let bob = user_accounts(&mut c, BOB, ACME).await;
    assert_eq!(
        ids(&bob, |a| &a.id),
        vec!["act_2000000001", "act_2000000002"]
    );
    assert_eq!(
        bob[0].tasks,
        nums(&[AdAccountTask::Advertise, AdAccountTask::Analyze])
    );
    assert_eq!(bob[1].tasks, nums(&[AdAccountTask::Analyze]));
    assert_eq!(bob[0].name, "Acme US Prospecting");

    let carol = user_accounts(&mut c, CAROL, ACME).await;
    assert_eq!(ids(&carol, |a| &a.id), vec!["act_2000000002"]);
    assert_eq!(
        carol[0].tasks,
        nums(&[AdAccountTask::Advertise, AdAccountTask::Analyze])
    );

    let frank = user_accounts(&mut c, FRANK, GLOBEX).await;
    assert_eq!(ids(&frank, |a| &a.id), vec!["act_2000000001"]);
    assert_eq!(frank[0].tasks, nums(&[AdAccountTask::Analyze]));
}

#[tokio::test]
async fn aa07_lists_account_users_per_business() {
    let (_gw, mut c) = start(Client::new).await;
    let acme = users(&mut c, "act_2000000001", ACME).await;
    assert_eq!(
        acme,
        vec![
            AdAccountUser {
                id: ALICE.into(),
                name: "Alice Admin".into(),
                tasks: nums(&[
                    AdAccountTask::Manage,
                    AdAccountTask::Advertise,
                    AdAccountTask::Analyze
                ]),
                tasks_raw: ad_raw(&[
                    AdAccountTask::Manage,
                    AdAccountTask::Advertise,
                    AdAccountTask::Analyze
                ]),
            },
            AdAccountUser {
                id: BOB.into(),
                name: "Bob Employee".into(),
                tasks: nums(&[AdAccountTask::Advertise, AdAccountTask::Analyze]),
                tasks_raw: ad_raw(&[AdAccountTask::Advertise, AdAccountTask::Analyze]),
            },
        ]
    );
    // The agency sees its own people (bare digits accepted).
    let globex = users(&mut c, "2000000001", GLOBEX).await;
    assert_eq!(
        globex,
        vec![AdAccountUser {
            id: FRANK.into(),
            name: "Frank Planner".into(),
            tasks: nums(&[AdAccountTask::Analyze]),
            tasks_raw: ad_raw(&[AdAccountTask::Analyze]),
        }]
    );
    // Group-derived users are listed too.
    let eu = users(&mut c, "act_2000000002", ACME).await;
    assert_eq!(ids(&eu, |u| &u.id), vec![BOB, CAROL]);
    assert_eq!(
        eu[1].tasks,
        nums(&[AdAccountTask::Advertise, AdAccountTask::Analyze])
    );
}

#[tokio::test]
async fn aa08_assigns_a_direct_user_with_act_prefix_and_bare_id() {
    let (gw, mut c) = start(Client::new).await;
    // Warm the reads the assignment must invalidate.
    assert_eq!(
        ids(&users(&mut c, "act_2000000002", ACME).await, |u| &u.id),
        vec![BOB, CAROL]
    );
    assert_eq!(
        ids(&user_accounts(&mut c, ALICE, ACME).await, |a| &a.id),
        vec!["act_2000000001"]
    );

    let tasks = [AdAccountTask::Advertise, AdAccountTask::Analyze];
    let ok = assign(&mut c, "act_2000000002", ALICE, &tasks, NO_PRESET).await;
    assert!(ok.unwrap().success);
    let sent = last_sent(&gw);
    assert_eq!(sent.path, "/v26.0/act_2000000002/assigned_users");
    assert_eq!(sent.form_param("tasks"), Some(r#"["ADVERTISE","ANALYZE"]"#));

    // Bare digits and a preset: Bob becomes admin.
    let ok = assign(&mut c, "2000000002", BOB, &[], Preset::Admin).await;
    assert!(ok.unwrap().success);
    let sent = last_sent(&gw);
    assert_eq!(sent.path, "/v26.0/act_2000000002/assigned_users");
    assert_eq!(
        sent.form_param("tasks"),
        Some(r#"["MANAGE","ADVERTISE","ANALYZE"]"#)
    );

    let eu = users(&mut c, "act_2000000002", ACME).await;
    assert_eq!(ids(&eu, |u| &u.id), vec![ALICE, BOB, CAROL]);
    assert_eq!(
        eu[0].tasks,
        nums(&[AdAccountTask::Advertise, AdAccountTask::Analyze])
    );
    assert_eq!(
        eu[1].tasks,
        nums(&[
            AdAccountTask::Manage,
            AdAccountTask::Advertise,
            AdAccountTask::Analyze
        ])
    );
    let alice = user_accounts(&mut c, ALICE, ACME).await;
    assert_eq!(
        ids(&alice, |a| &a.id),
        vec!["act_2000000001", "act_2000000002"]
    );
}

#[tokio::test]
async fn aa08_refused_for_a_group_derived_user_with_both_id_forms() {
    let (_gw, mut c) = start(Client::new).await;
    for account in ["act_2000000002", "2000000002"] {
        let analyze = [AdAccountTask::Analyze];
        let st = assign(&mut c, account, CAROL, &analyze, NO_PRESET)
            .await
            .unwrap_err();
        assert_rule(&st, subcode::FROM_ASSET_GROUP);
    }
    let eu = users(&mut c, "act_2000000002", ACME).await;
    assert_eq!(
        eu[1].tasks,
        nums(&[AdAccountTask::Advertise, AdAccountTask::Analyze]),
        "Carol unchanged"
    );
}

#[tokio::test]
async fn aa08_preset_and_tasks_together_are_refused_before_graph() {
    let (gw, mut c) = start(Client::new).await;
    let analyze = [AdAccountTask::Analyze];
    let both = assign(
        &mut c,
        "act_2000000002",
        ALICE,
        &analyze,
        Preset::ReportingOnly,
    );
    assert_refused_before_graph(&gw, both, &["preset"]).await;
    // Neither tasks nor preset: tasks is required.
    let neither = assign(&mut c, "act_2000000002", ALICE, &[], NO_PRESET);
    assert_refused_before_graph(&gw, neither, &["tasks"]).await;
}

#[tokio::test]
async fn aa09_removes_a_direct_user_with_bare_id_and_act_prefix() {
    let (_gw, mut c) = start(Client::new).await;
    assert_eq!(
        ids(&users(&mut c, "act_2000000001", ACME).await, |u| &u.id),
        vec![ALICE, BOB]
    );
    assert_eq!(user_accounts(&mut c, BOB, ACME).await.len(), 2);

    let ok = remove_user(&mut c, "2000000001", BOB).await.unwrap();
    assert!(ok.success);
    assert_eq!(
        ids(&users(&mut c, "act_2000000001", ACME).await, |u| &u.id),
        vec![ALICE]
    );
    assert_eq!(
        ids(&user_accounts(&mut c, BOB, ACME).await, |a| &a.id),
        vec!["act_2000000002"]
    );

    let ok = remove_user(&mut c, "act_2000000002", BOB).await.unwrap();
    assert!(ok.success);
    assert!(user_accounts(&mut c, BOB, ACME).await.is_empty());
    assert_eq!(
        ids(&users(&mut c, "act_2000000002", ACME).await, |u| &u.id),
        vec![CAROL]
    );
}

#[tokio::test]
async fn aa09_refused_for_a_group_derived_user_with_both_id_forms() {
    let (_gw, mut c) = start(Client::new).await;
    for account in ["act_2000000002", "2000000002"] {
        let st = remove_user(&mut c, account, CAROL).await.unwrap_err();
        assert_rule(&st, subcode::FROM_ASSET_GROUP);
    }
    assert_eq!(
        ids(&users(&mut c, "act_2000000002", ACME).await, |u| &u.id),
        vec![BOB, CAROL]
    );
}

#[tokio::test]
async fn aa10_lists_client_accounts() {
    let (_gw, mut c) = start(Client::new).await;
    let list = client_accounts(&mut c, GLOBEX).await;
    assert_eq!(
        access(&list),
        vec![(
            "act_2000000001",
            "Acme US Prospecting",
            AccessStatus::Confirmed,
            AccessType::Agency
        )]
    );
    assert_eq!(
        list[0].permitted_tasks,
        nums(&[AdAccountTask::Advertise, AdAccountTask::Analyze])
    );
    assert_eq!(
        list[0].business,
        node(ACME, "Acme Retail"),
        "business is the owner"
    );
    assert!(client_accounts(&mut c, ACME).await.is_empty());
}

#[tokio::test]
async fn aa11_lists_pending_client_accounts() {
    let (_gw, mut c) = start(Client::new).await;
    let list = pending_client_accounts(&mut c, GLOBEX).await;
    assert_eq!(
        names(&list),
        vec![("act_2000000006", "Initech Main Account")]
    );
}
