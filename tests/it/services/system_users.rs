//! SystemUserService: SU01–SU04, beyond the catalogue (issue 16). SU05
//! (tokens minted into the vault) is in `security::vault`, with VaultService.

use graph_gateway::proto::system_user_service_client::SystemUserServiceClient as Client;
use graph_gateway::proto::*;

use super::*;

rpc!(fn system_users(business_id: &str) -> Vec<SystemUser>
    = list_system_users(ListSystemUsersRequest).system_users);
rpc!(fn create(business_id: &str, name: &str, role: BusinessRole)
    -> CreateSystemUserResponse = create_system_user(CreateSystemUserRequest));
rpc!(fn ad_accounts(system_user_id: &str; business_id = ACME, read_mask = TASKS) -> Vec<AdAccount>
    = list_system_user_ad_accounts(ListSystemUserAdAccountsRequest).ad_accounts);
rpc!(fn pages(system_user_id: &str; business_id = ACME, read_mask = TASKS) -> Vec<Page>
    = list_system_user_pages(ListSystemUserPagesRequest).pages);
rpc!(fn ad_accounts_raw(system_user_id: &str, business_id: &str)
    -> ListSystemUserAdAccountsResponse
    = list_system_user_ad_accounts(ListSystemUserAdAccountsRequest));

rpc!(fn mint(system_user_id: &str, business_id: &str, business_app: &str, scope: &[&str])
    -> CreateSystemUserTokenResponse = create_system_user_token(CreateSystemUserTokenRequest));

/// Tasks are read only when asked for.
const TASKS: &[&str] = &["id", "name", "tasks"];

/// The rule subcode of SU02's limit (`src/sandbox/wire.rs`).
const SYSTEM_USER_LIMIT: i64 = 1_690_011;

#[tokio::test]
async fn su01_lists_system_users_and_su02_creates_one_listed_at_once() {
    let (gw, mut c) = start(Client::new).await;
    let before = system_users(&mut c, ACME).await;
    assert_eq!(
        before
            .iter()
            .map(|u| (u.id.as_str(), u.name.as_str()))
            .collect::<Vec<_>>(),
        vec![
            ("10101", "Acme Admin System User"),
            ("10102", "Acme Employee System User"),
        ]
    );
    let id = create(&mut c, ACME, "Reporting Bot", BusinessRole::Employee)
        .await
        .unwrap()
        .id;
    let sent = last_sent_to(&gw, "POST", &format!("/{ACME}/system_users"));
    assert_eq!(sent.param("name"), Some("Reporting Bot"));
    assert_eq!(sent.param("role"), Some("EMPLOYEE"));
    // SU02 invalidates the cached list.
    let after = system_users(&mut c, ACME).await;
    assert_eq!(after.len(), 3);
    let new = after.iter().find(|u| u.id == id).unwrap();
    assert_eq!(new.name, "Reporting Bot");
    assert!(!new.created_time.is_empty());
    // At most ten system users a business (the sandbox's bound).
    for i in 0..7 {
        create(&mut c, ACME, &format!("Bot {i}"), BusinessRole::Unspecified)
            .await
            .unwrap();
    }
    let st = create(&mut c, ACME, "One too many", BusinessRole::Employee)
        .await
        .unwrap_err();
    assert_rule(&st, SYSTEM_USER_LIMIT);
}

#[tokio::test]
async fn su03_and_su04_list_the_assets_a_system_user_has_tasks_on() {
    let (gw, mut c) = start(Client::new).await;
    let id = create(&mut c, ACME, "Ads Bot", BusinessRole::Employee)
        .await
        .unwrap()
        .id;
    // Nothing yet (and now cached).
    assert!(ad_accounts(&mut c, &id).await.is_empty());
    assert!(pages(&mut c, &id).await.is_empty());
    last_sent_to(&gw, "GET", &format!("/{id}/assigned_pages"));
    // Tasks given through AdAccountService and PageService show at once.
    let ch = gw.channel().await;
    ad_account_service_client::AdAccountServiceClient::new(ch.clone())
        .assign_ad_account_user(AssignAdAccountUserRequest {
            ad_account_id: "act_2000000001".into(),
            business_id: ACME.into(),
            user: id.clone(),
            tasks: nums(&[AdAccountTask::Advertise, AdAccountTask::Analyze]),
            ..Default::default()
        })
        .await
        .unwrap();
    page_service_client::PageServiceClient::new(ch)
        .assign_page_user(AssignPageUserRequest {
            page_id: "3000000001".into(),
            business: ACME.into(),
            user: id.clone(),
            tasks: nums(&[PageTask::Analyze]),
            ..Default::default()
        })
        .await
        .unwrap();
    let accounts = ad_accounts(&mut c, &id).await;
    assert_eq!(ids(&accounts, |a| &a.id), vec!["act_2000000001"]);
    assert_eq!(
        accounts[0].tasks().collect::<Vec<_>>(),
        vec![AdAccountTask::Advertise, AdAccountTask::Analyze]
    );
    let pages = pages(&mut c, &id).await;
    assert_eq!(ids(&pages, |p| &p.id), vec!["3000000001"]);
    assert_eq!(
        pages[0].tasks().collect::<Vec<_>>(),
        vec![PageTask::Analyze]
    );
}

#[tokio::test]
async fn invalid_requests_never_reach_graph() {
    let (gw, mut c) = start(Client::new).await;
    let bad = create(&mut c, ACME, "", BusinessRole::Employee);
    assert_refused_before_graph(&gw, bad, &["name"]).await;
    let long = "x".repeat(101);
    let bad = create(&mut c, "acme", &long, BusinessRole::Employee);
    assert_refused_before_graph(&gw, bad, &["business_id", "name"]).await;
    let bad = ad_accounts_raw(&mut c, "bot", ACME);
    assert_refused_before_graph(&gw, bad, &["system_user_id"]).await;
    let bad = mint(&mut c, "10102", "", "app", &[]);
    let fields = ["business_id", "business_app", "scope"];
    assert_refused_before_graph(&gw, bad, &fields).await;
}
