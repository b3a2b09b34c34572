//! AdAccountService: AA01–AA11.

use graph_gateway::proto::ad_account_service_client::AdAccountServiceClient as Client;
use graph_gateway::proto::*;
use tonic::transport::Channel;

use super::*;

fn client(ch: &Channel) -> Client<Channel> {
    Client::new(ch.clone())
}

async fn owned(c: &mut Client<Channel>, business: &str) -> Vec<AdAccount> {
    c.list_owned_ad_accounts(ListOwnedAdAccountsRequest {
        business_id: business.into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .ad_accounts
}

async fn pending_owned(c: &mut Client<Channel>, business: &str) -> Vec<AdAccount> {
    c.list_pending_owned_ad_accounts(ListPendingOwnedAdAccountsRequest {
        business_id: business.into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .ad_accounts
}

async fn users(c: &mut Client<Channel>, account: &str, business: &str) -> Vec<AdAccountUser> {
    c.list_ad_account_users(ListAdAccountUsersRequest {
        ad_account_id: account.into(),
        business: business.into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .users
}

async fn user_accounts(c: &mut Client<Channel>, user: &str, business: &str) -> Vec<AdAccount> {
    c.list_user_ad_accounts(ListUserAdAccountsRequest {
        business_scoped_user_id: user.into(),
        business_id: business.into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .ad_accounts
}

async fn claim(c: &mut Client<Channel>, account: &str) -> Result<ClaimResult, tonic::Status> {
    c.claim_ad_account(ClaimAdAccountRequest {
        business_id: ACME.into(),
        ad_account_id: account.into(),
        ..Default::default()
    })
    .await
    .map(|r| r.into_inner())
}

async fn remove(c: &mut Client<Channel>, account: &str) -> Result<MutationResult, tonic::Status> {
    c.remove_ad_account(RemoveAdAccountRequest {
        business_id: ACME.into(),
        ad_account_id: account.into(),
        ..Default::default()
    })
    .await
    .map(|r| r.into_inner())
}

fn acme_ref() -> Option<NodeRef> {
    Some(NodeRef {
        id: ACME.into(),
        name: "Acme Retail".into(),
    })
}

#[tokio::test]
async fn aa01_claim_confirmed_when_the_token_administers_the_account() {
    let (gw, ch) = start().await;
    let mut c = client(&ch);
    assert!(!ids(&owned(&mut c, ACME).await, |a| &a.id).contains(&"act_2000000005".to_string()));

    let r = claim(&mut c, "act_2000000005").await.unwrap();
    assert_eq!(r.access_status(), AccessStatus::Confirmed);
    let sent = gw.sb().last_request().unwrap();
    assert_eq!(sent.path, format!("/v25.0/{ACME}/owned_ad_accounts"));
    assert_eq!(sent.form_param("adaccount_id"), Some("act_2000000005"));

    // The claim invalidated the owned list: the account is now there.
    let list = owned(&mut c, ACME).await;
    assert_eq!(
        ids(&list, |a| &a.id),
        vec!["act_2000000001", "act_2000000002", "act_2000000005"]
    );
    let a = &list[2];
    assert_eq!(a.name, "Acme Unclaimed Account");
    assert_eq!(a.access_status(), AccessStatus::Confirmed);
    assert_eq!(a.access_type(), AccessType::Owner);
}

#[tokio::test]
async fn aa01_claim_pending_then_listed_by_aa04() {
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
    // Warm the pending list: the claim must invalidate it.
    assert_eq!(
        ids(&pending_owned(&mut c, ACME).await, |a| &a.id),
        vec!["act_2000000003"]
    );

    // Given without the act_ prefix.
    let r = claim(&mut c, "2000000004").await.unwrap();
    assert_eq!(r.access_status(), AccessStatus::Pending);

    let pending = pending_owned(&mut c, ACME).await;
    assert_eq!(
        ids(&pending, |a| &a.id),
        vec!["act_2000000003", "act_2000000004"]
    );
    let erin = &pending[1];
    assert_eq!(erin.name, "Erin Freelance Account");
    assert_eq!(erin.access_status(), AccessStatus::Pending);
    assert_eq!(erin.access_type(), AccessType::Owner);
    // Not owned yet.
    assert_eq!(
        ids(&owned(&mut c, ACME).await, |a| &a.id),
        vec!["act_2000000001", "act_2000000002"]
    );
}

#[tokio::test]
async fn aa01_claim_of_an_account_owned_elsewhere_is_refused() {
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
    let st = claim(&mut c, "act_2000000006").await.unwrap_err();
    assert_rule(&st, subcode::OWNED_ELSEWHERE);
    let st = claim(&mut c, "act_abc").await.unwrap_err();
    assert_eq!(violations(&st), vec!["ad_account_id"]);
}

#[tokio::test]
async fn aa02_creates_an_account_listed_by_aa03() {
    let (gw, ch) = start().await;
    let mut c = client(&ch);
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
    let sent = gw.sb().last_request().unwrap();
    assert_eq!(sent.path, format!("/v25.0/{ACME}/adaccount"));
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
    assert_eq!(new.business, acme_ref());

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
}

#[tokio::test]
async fn aa02_missing_required_fields_never_reach_graph() {
    let (gw, ch) = start().await;
    let mut c = client(&ch);
    let before = gw.sb().request_count();
    let st = c
        .create_ad_account(CreateAdAccountRequest {
            business_id: ACME.into(),
            name: "No currency".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        violations(&st),
        vec![
            "currency",
            "timezone_id",
            "end_advertiser",
            "media_agency",
            "partner"
        ]
    );
    assert_eq!(gw.sb().request_count(), before);
}

#[tokio::test]
async fn aa03_lists_owned_accounts_with_demo_fields() {
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
    let list = owned(&mut c, ACME).await;
    let owner_tasks = nums(&[
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
                access_type: AccessType::Owner as i32,
                permitted_tasks: owner_tasks.clone(),
                tasks: vec![],
                business: acme_ref(),
            },
            AdAccount {
                id: "act_2000000002".into(),
                account_id: "2000000002".into(),
                name: "Acme EU Retargeting".into(),
                currency: "EUR".into(),
                timezone_id: 2,
                access_status: AccessStatus::Confirmed as i32,
                access_type: AccessType::Owner as i32,
                permitted_tasks: owner_tasks,
                tasks: vec![],
                business: acme_ref(),
            },
        ]
    );
    let globex = owned(&mut c, GLOBEX).await;
    assert_eq!(ids(&globex, |a| &a.id), vec!["act_2000000007"]);
    assert_eq!(globex[0].name, "Globex House Account");
}

#[tokio::test]
async fn aa03_pagination_with_read_mask() {
    let (gw, ch) = start().await;
    let mut c = client(&ch);
    let req = |token: String| ListOwnedAdAccountsRequest {
        business_id: ACME.into(),
        page_size: 1,
        page_token: token,
        read_mask: Some(prost_types::FieldMask {
            paths: vec!["name".into()],
        }),
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
    let fields = gw
        .sb()
        .last_request()
        .unwrap()
        .query_param("fields")
        .map(str::to_string);
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
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
    let pending = pending_owned(&mut c, ACME).await;
    assert_eq!(ids(&pending, |a| &a.id), vec!["act_2000000003"]);
    assert_eq!(pending[0].name, "Acme Legacy Account");
    assert_eq!(pending[0].access_status(), AccessStatus::Pending);
    assert_eq!(pending[0].access_type(), AccessType::Owner);
    assert!(pending_owned(&mut c, GLOBEX).await.is_empty());
}

#[tokio::test]
async fn aa05_owner_confirmed_removal_is_refused() {
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
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
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
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
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
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
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
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
            },
            AdAccountUser {
                id: BOB.into(),
                name: "Bob Employee".into(),
                tasks: nums(&[AdAccountTask::Advertise, AdAccountTask::Analyze]),
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
            tasks: nums(&[AdAccountTask::Analyze])
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
    let (gw, ch) = start().await;
    let mut c = client(&ch);
    // Warm the reads the assignment must invalidate.
    assert_eq!(
        ids(&users(&mut c, "act_2000000002", ACME).await, |u| &u.id),
        vec![BOB, CAROL]
    );
    assert_eq!(
        ids(&user_accounts(&mut c, ALICE, ACME).await, |a| &a.id),
        vec!["act_2000000001"]
    );

    let ok = c
        .assign_ad_account_user(AssignAdAccountUserRequest {
            ad_account_id: "act_2000000002".into(),
            business_id: ACME.into(),
            user: ALICE.into(),
            tasks: nums(&[AdAccountTask::Advertise, AdAccountTask::Analyze]),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(ok.success);
    let sent = gw.sb().last_request().unwrap();
    assert_eq!(sent.path, "/v25.0/act_2000000002/assigned_users");
    assert_eq!(sent.form_param("tasks"), Some(r#"["ADVERTISE","ANALYZE"]"#));

    // Bare digits and a preset: Bob becomes admin.
    let ok = c
        .assign_ad_account_user(AssignAdAccountUserRequest {
            ad_account_id: "2000000002".into(),
            business_id: ACME.into(),
            user: BOB.into(),
            preset: AdAccountRolePreset::Admin as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(ok.success);
    let sent = gw.sb().last_request().unwrap();
    assert_eq!(sent.path, "/v25.0/act_2000000002/assigned_users");
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
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
    for account in ["act_2000000002", "2000000002"] {
        let st = c
            .assign_ad_account_user(AssignAdAccountUserRequest {
                ad_account_id: account.into(),
                business_id: ACME.into(),
                user: CAROL.into(),
                tasks: nums(&[AdAccountTask::Analyze]),
                ..Default::default()
            })
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
    let (gw, ch) = start().await;
    let mut c = client(&ch);
    let before = gw.sb().request_count();
    let st = c
        .assign_ad_account_user(AssignAdAccountUserRequest {
            ad_account_id: "act_2000000002".into(),
            business_id: ACME.into(),
            user: ALICE.into(),
            tasks: nums(&[AdAccountTask::Analyze]),
            preset: AdAccountRolePreset::ReportingOnly as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violations(&st), vec!["preset"]);
    // Neither tasks nor preset: tasks is required.
    let st = c
        .assign_ad_account_user(AssignAdAccountUserRequest {
            ad_account_id: "act_2000000002".into(),
            business_id: ACME.into(),
            user: ALICE.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violations(&st), vec!["tasks"]);
    assert_eq!(gw.sb().request_count(), before, "no Graph call");
}

#[tokio::test]
async fn aa09_removes_a_direct_user_with_bare_id_and_act_prefix() {
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
    assert_eq!(
        ids(&users(&mut c, "act_2000000001", ACME).await, |u| &u.id),
        vec![ALICE, BOB]
    );
    assert_eq!(user_accounts(&mut c, BOB, ACME).await.len(), 2);

    let ok = c
        .remove_ad_account_user(RemoveAdAccountUserRequest {
            ad_account_id: "2000000001".into(),
            business_id: ACME.into(),
            user: BOB.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(ok.success);
    assert_eq!(
        ids(&users(&mut c, "act_2000000001", ACME).await, |u| &u.id),
        vec![ALICE]
    );
    assert_eq!(
        ids(&user_accounts(&mut c, BOB, ACME).await, |a| &a.id),
        vec!["act_2000000002"]
    );

    let ok = c
        .remove_ad_account_user(RemoveAdAccountUserRequest {
            ad_account_id: "act_2000000002".into(),
            business_id: ACME.into(),
            user: BOB.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(ok.success);
    assert!(user_accounts(&mut c, BOB, ACME).await.is_empty());
    assert_eq!(
        ids(&users(&mut c, "act_2000000002", ACME).await, |u| &u.id),
        vec![CAROL]
    );
}

#[tokio::test]
async fn aa09_refused_for_a_group_derived_user_with_both_id_forms() {
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
    for account in ["act_2000000002", "2000000002"] {
        let st = c
            .remove_ad_account_user(RemoveAdAccountUserRequest {
                ad_account_id: account.into(),
                business_id: ACME.into(),
                user: CAROL.into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_rule(&st, subcode::FROM_ASSET_GROUP);
    }
    assert_eq!(
        ids(&users(&mut c, "act_2000000002", ACME).await, |u| &u.id),
        vec![BOB, CAROL]
    );
}

#[tokio::test]
async fn aa10_lists_client_accounts() {
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
    let list = c
        .list_client_ad_accounts(ListClientAdAccountsRequest {
            business_id: GLOBEX.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .ad_accounts;
    assert_eq!(ids(&list, |a| &a.id), vec!["act_2000000001"]);
    let a = &list[0];
    assert_eq!(a.name, "Acme US Prospecting");
    assert_eq!(a.access_status(), AccessStatus::Confirmed);
    assert_eq!(a.access_type(), AccessType::Agency);
    assert_eq!(
        a.permitted_tasks,
        nums(&[AdAccountTask::Advertise, AdAccountTask::Analyze])
    );
    assert_eq!(a.business, acme_ref(), "business is the owner");
    let acme = c
        .list_client_ad_accounts(ListClientAdAccountsRequest {
            business_id: ACME.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(acme.ad_accounts.is_empty());
}

#[tokio::test]
async fn aa11_lists_pending_client_accounts() {
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
    let list = c
        .list_pending_client_ad_accounts(ListPendingClientAdAccountsRequest {
            business_id: GLOBEX.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .ad_accounts;
    assert_eq!(ids(&list, |a| &a.id), vec!["act_2000000006"]);
    let a = &list[0];
    assert_eq!(a.name, "Initech Main Account");
    assert_eq!(a.access_status(), AccessStatus::Pending);
    assert_eq!(a.access_type(), AccessType::Agency);
    assert_eq!(
        a.permitted_tasks,
        nums(&[AdAccountTask::Advertise, AdAccountTask::Analyze])
    );
}
