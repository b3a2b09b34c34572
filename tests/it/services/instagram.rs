//! InstagramAccountService: IG01–IG08, and IG09–IG14 beyond the catalogue.

use graph_gateway::proto::instagram_account_service_client::InstagramAccountServiceClient as Client;
use graph_gateway::proto::*;

use super::*;

rpc!(fn owned(business_id: &str) -> Vec<InstagramAccount>
    = list_owned_instagram_accounts(ListOwnedInstagramAccountsRequest).instagram_accounts);
rpc!(fn all(business_id: &str) -> Vec<InstagramAccount>
    = list_instagram_accounts(ListInstagramAccountsRequest).instagram_accounts);
rpc!(fn agencies(instagram_account_id: &str; business_id = ACME,
    read_mask = &["id", "name", "permitted_tasks", "access_status"][..]) -> Vec<InstagramAgency>
    = list_instagram_account_agencies(ListInstagramAccountAgenciesRequest).agencies);
rpc!(fn authorized(instagram_account_id: &str; business = ACME) -> Vec<AdAccount>
    = list_instagram_authorized_ad_accounts(ListInstagramAuthorizedAdAccountsRequest)
    .ad_accounts);
rpc!(fn remove_agency(instagram_account_id: &str, agency_business_id: &str; business_id = ACME)
    -> MutationResult = remove_instagram_account_agency(RemoveInstagramAccountAgencyRequest));
rpc!(fn remove_account(instagram_account_id: &str; business_id = ACME) -> MutationResult
    = remove_instagram_account(RemoveInstagramAccountRequest));
rpc!(fn authorize(instagram_account_id: &str, ad_account_id: &str; business = ACME)
    -> MutationResult = authorize_instagram_ad_account(AuthorizeInstagramAdAccountRequest));

id_and!(ig -> InstagramAccount { username });

#[tokio::test]
async fn ig01_lists_owned_accounts() {
    let (_gw, mut c) = start(Client::new).await;
    assert_eq!(
        owned(&mut c, ACME).await,
        vec![
            ig("6000000001", "acmeretail"),
            ig("6000000003", "acme.outlet")
        ]
    );
    assert_eq!(
        owned(&mut c, INITECH).await,
        vec![ig("6000000002", "initechnews")]
    );
    assert!(owned(&mut c, GLOBEX).await.is_empty());
}

#[tokio::test]
async fn ig02_lists_every_account_the_business_can_use() {
    let (_gw, mut c) = start(Client::new).await;
    // Globex owns none but is a confirmed agency of two.
    assert_eq!(
        all(&mut c, GLOBEX).await,
        vec![
            ig("6000000001", "acmeretail"),
            ig("6000000002", "initechnews")
        ]
    );
    assert_eq!(
        all(&mut c, ACME).await,
        vec![
            ig("6000000001", "acmeretail"),
            ig("6000000003", "acme.outlet")
        ]
    );
}

#[tokio::test]
async fn ig03_lists_agencies() {
    let (_gw, mut c) = start(Client::new).await;
    assert_eq!(
        agencies(&mut c, "6000000001").await,
        vec![InstagramAgency {
            id: GLOBEX.into(),
            name: "Globex Agency".into(),
            permitted_tasks: vec!["ADVERTISE".into(), "ANALYZE".into()],
            access_status: AccessStatus::Confirmed as i32,
            access_status_raw: "CONFIRMED".into(),
        }]
    );
    assert!(agencies(&mut c, "6000000003").await.is_empty());
}

#[tokio::test]
async fn ig04_adds_an_agency_visible_in_ig03_and_the_agencys_ig02() {
    let (gw, mut c) = start(Client::new).await;
    assert!(agencies(&mut c, "6000000003").await.is_empty());
    assert_eq!(all(&mut c, GLOBEX).await.len(), 2);

    let ok = c
        .add_instagram_account_agency(AddInstagramAccountAgencyRequest {
            instagram_account_id: "6000000003".into(),
            business_id: ACME.into(),
            agency_business_id: GLOBEX.into(),
            permitted_tasks: nums(&[InstagramAssetTask::Advertise]),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(ok.success);
    let sent = last_sent(&gw);
    assert_eq!(sent.path, "/v26.0/6000000003/agencies");
    assert_eq!(sent.form_param("business"), Some(GLOBEX));
    assert_eq!(
        sent.header("authorization"),
        Some("Bearer sandbox-token-acme-admin")
    );

    let list = agencies(&mut c, "6000000003").await;
    assert_eq!(ids(&list, |a| &a.id), vec![GLOBEX]);
    assert_eq!(list[0].permitted_tasks, vec!["ADVERTISE"]);
    assert_eq!(list[0].access_status(), AccessStatus::Confirmed);
    assert_eq!(
        all(&mut c, GLOBEX).await,
        vec![
            ig("6000000001", "acmeretail"),
            ig("6000000002", "initechnews"),
            ig("6000000003", "acme.outlet")
        ]
    );
}

#[tokio::test]
async fn ig05_removes_an_agency_visible_in_ig03_and_the_agencys_ig02() {
    let (_gw, mut c) = start(Client::new).await;
    assert_eq!(agencies(&mut c, "6000000001").await.len(), 1);
    assert_eq!(all(&mut c, GLOBEX).await.len(), 2);

    let ok = remove_agency(&mut c, "6000000001", GLOBEX).await.unwrap();
    assert!(ok.success);
    assert!(agencies(&mut c, "6000000001").await.is_empty());
    assert_eq!(
        all(&mut c, GLOBEX).await,
        vec![ig("6000000002", "initechnews")]
    );

    // Initech is no agency of it.
    let st = remove_agency(&mut c, "6000000001", INITECH)
        .await
        .unwrap_err();
    assert_rule(&st, subcode::NOT_IN_BUSINESS);
}

#[tokio::test]
async fn ig06_removes_an_account_from_the_business() {
    let (gw, mut c) = start(Client::new).await;
    assert_eq!(owned(&mut c, ACME).await.len(), 2);
    assert!(remove_account(&mut c, "6000000003").await.unwrap().success);
    let sent = last_sent(&gw);
    assert_eq!(sent.method, "DELETE");
    assert_eq!(sent.query_param("instagram_account"), Some("6000000003"));
    assert_eq!(
        owned(&mut c, ACME).await,
        vec![ig("6000000001", "acmeretail")]
    );
    assert_eq!(
        all(&mut c, ACME).await,
        vec![ig("6000000001", "acmeretail")]
    );
}

#[tokio::test]
async fn ig07_lists_authorized_ad_accounts() {
    let (_gw, mut c) = start(Client::new).await;
    let list = authorized(&mut c, "6000000001").await;
    assert_eq!(ids(&list, |a| &a.id), vec!["act_2000000001"]);
    assert_eq!(list[0].account_id, "2000000001");
    assert_eq!(list[0].name, "Acme US Prospecting");
    assert_eq!(list[0].currency, "USD");
    assert!(authorized(&mut c, "6000000003").await.is_empty());
}

#[tokio::test]
async fn ig08_authorizes_an_ad_account_visible_in_ig07() {
    let (gw, mut c) = start(Client::new).await;
    assert_eq!(authorized(&mut c, "6000000001").await.len(), 1);
    let ok = authorize(&mut c, "6000000001", "2000000002").await.unwrap();
    assert!(ok.success);
    assert_eq!(
        last_sent(&gw).form_param("account_id"),
        Some("act_2000000002")
    );
    let list = authorized(&mut c, "6000000001").await;
    assert_eq!(
        ids(&list, |a| &a.id),
        vec!["act_2000000001", "act_2000000002"]
    );

    // Acme has no access to Initech's ad account.
    let st = authorize(&mut c, "6000000001", "act_2000000006")
        .await
        .unwrap_err();
    assert_rule(&st, subcode::NOT_IN_BUSINESS);
}

// ---------------------------------------------------------------------------
// IG09–IG13 (beyond the catalogue: issue 16)

rpc!(fn owned_assets(business_id: &str) -> Vec<InstagramBusinessAsset>
    = list_owned_instagram_assets(ListOwnedInstagramAssetsRequest).instagram_assets);
rpc!(fn client_assets(business_id: &str) -> Vec<InstagramBusinessAsset>
    = list_client_instagram_assets(ListClientInstagramAssetsRequest).instagram_assets);
// tasks is opt-in (not on Meta's AssignedUser), so the tests name it.
rpc!(fn users(instagram_account_id: &str, business: &str; read_mask = &["id", "name", "tasks"][..])
    -> Vec<InstagramAccountUser> = list_instagram_account_users(ListInstagramAccountUsersRequest).users);
rpc!(fn assign_user(instagram_account_id: &str, business: &str, user: &str, tasks: &[InstagramAssetTask])
    -> MutationResult = assign_instagram_account_user(AssignInstagramAccountUserRequest));
rpc!(fn remove_user(instagram_account_id: &str, business: &str, user: &str) -> MutationResult
    = remove_instagram_account_user(RemoveInstagramAccountUserRequest));

rpc!(fn client_assets_call(business_id: &str) -> ListClientInstagramAssetsResponse
    = list_client_instagram_assets(ListClientInstagramAssetsRequest));
rpc!(fn users_call(instagram_account_id: &str, business: &str) -> ListInstagramAccountUsersResponse
    = list_instagram_account_users(ListInstagramAccountUsersRequest));

fn asset(id: &str, username: &str) -> InstagramBusinessAsset {
    InstagramBusinessAsset {
        id: id.into(),
        ig_user_id: id.into(),
        ig_username: username.into(),
    }
}

fn ig_raw(t: &[InstagramAssetTask]) -> Vec<String> {
    spelled(t, |v| v.as_str_name(), "INSTAGRAM_ASSET_TASK_")
}

#[tokio::test]
async fn ig09_ig10_list_owned_and_client_assets_and_ig04_updates_the_client_list() {
    let (gw, mut c) = start(Client::new).await;
    assert_eq!(
        owned_assets(&mut c, ACME).await,
        vec![
            asset("6000000001", "acmeretail"),
            asset("6000000003", "acme.outlet")
        ]
    );
    let sent = last_sent(&gw);
    assert_eq!(sent.path, format!("/v26.0/{ACME}/owned_instagram_assets"));
    assert!(owned_assets(&mut c, GLOBEX).await.is_empty());
    // Globex is a confirmed agency of one Acme and one Initech account
    // (cached from here on).
    assert_eq!(
        client_assets(&mut c, GLOBEX).await,
        vec![
            asset("6000000001", "acmeretail"),
            asset("6000000002", "initechnews")
        ]
    );
    assert!(client_assets(&mut c, ACME).await.is_empty());

    c.add_instagram_account_agency(AddInstagramAccountAgencyRequest {
        instagram_account_id: "6000000003".into(),
        business_id: ACME.into(),
        agency_business_id: GLOBEX.into(),
        permitted_tasks: nums(&[InstagramAssetTask::Analyze]),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(
        ids(&client_assets(&mut c, GLOBEX).await, |a| &a.id),
        vec!["6000000001", "6000000002", "6000000003"]
    );

    let not_digits = client_assets_call(&mut c, "globex");
    assert_refused_before_graph(&gw, not_digits, &["business_id"]).await;
}

#[tokio::test]
async fn ig11_ig12_ig13_assign_list_and_remove_users_and_the_cached_list_follows() {
    use InstagramAssetTask::{Advertise, Analyze, Content, Messages};
    let (gw, mut c) = start(Client::new).await;
    // Nobody holds tasks on acmeretail yet (cached from here on).
    assert!(users(&mut c, "6000000001", ACME).await.is_empty());
    let sent = last_sent(&gw);
    assert_eq!(sent.path, "/v26.0/6000000001/assigned_users");
    assert_eq!(sent.param("business"), Some(ACME));

    let ok = assign_user(&mut c, "6000000001", ACME, BOB, &[Content, Analyze])
        .await
        .unwrap();
    assert!(ok.success);
    let sent = last_sent(&gw);
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.form_param("user"), Some(BOB));
    assert_eq!(sent.form_param("tasks"), Some(r#"["CONTENT","ANALYZE"]"#));
    assert_eq!(sent.form_param("business"), None, "not in Meta's spec");
    assert_eq!(
        users(&mut c, "6000000001", ACME).await,
        vec![InstagramAccountUser {
            id: BOB.into(),
            name: "Bob Employee".into(),
            tasks: nums(&[Content, Analyze]),
            tasks_raw: ig_raw(&[Content, Analyze]),
        }]
    );

    // Globex, an agency permitted ADVERTISE and ANALYZE, may give only those.
    let st = assign_user(&mut c, "6000000001", GLOBEX, FRANK, &[Messages])
        .await
        .unwrap_err();
    assert_rule(&st, subcode::TASKS_NOT_PERMITTED);
    assign_user(&mut c, "6000000001", GLOBEX, FRANK, &[Advertise])
        .await
        .unwrap();
    assert_eq!(
        ids(&users(&mut c, "6000000001", GLOBEX).await, |u| &u.id),
        vec![FRANK]
    );
    // Erin is in no business.
    let st = assign_user(&mut c, "6000000001", ACME, ERIN, &[Analyze])
        .await
        .unwrap_err();
    assert_rule(&st, subcode::USER_NOT_IN_BUSINESS);

    assert!(
        remove_user(&mut c, "6000000001", ACME, BOB)
            .await
            .unwrap()
            .success
    );
    let sent = last_sent(&gw);
    assert_eq!(sent.method, "DELETE");
    assert_eq!(sent.param("user"), Some(BOB));
    assert!(users(&mut c, "6000000001", ACME).await.is_empty());
    // Globex's own user is untouched.
    assert_eq!(
        ids(&users(&mut c, "6000000001", GLOBEX).await, |u| &u.id),
        vec![FRANK]
    );
}

#[tokio::test]
async fn ig11_to_ig13_invalid_requests_never_reach_graph() {
    let (gw, mut c) = start(Client::new).await;
    let no_tasks = assign_user(&mut c, "6000000001", ACME, BOB, &[]);
    assert_refused_before_graph(&gw, no_tasks, &["tasks"]).await;
    let bad = assign_user(&mut c, "ig", "", "bob", &[InstagramAssetTask::Analyze]);
    assert_refused_before_graph(&gw, bad, &["instagram_account_id", "business", "user"]).await;
    let bad = remove_user(&mut c, "6000000001", ACME, "");
    assert_refused_before_graph(&gw, bad, &["user"]).await;
    let bad = users_call(&mut c, "6000000001", "");
    assert_refused_before_graph(&gw, bad, &["business"]).await;
}

rpc!(fn business_accounts(business_id: &str) -> Vec<InstagramAccount>
    = list_instagram_business_accounts(ListInstagramBusinessAccountsRequest).instagram_accounts);

#[tokio::test]
async fn ig14_lists_business_accounts_and_ig06_updates_the_list() {
    let (gw, mut c) = start(Client::new).await;
    // Cached from here on.
    assert_eq!(
        business_accounts(&mut c, ACME).await,
        vec![
            ig("6000000001", "acmeretail"),
            ig("6000000003", "acme.outlet")
        ]
    );
    assert_eq!(
        last_sent(&gw).path,
        format!("/v26.0/{ACME}/instagram_business_accounts")
    );
    assert!(business_accounts(&mut c, GLOBEX).await.is_empty());
    assert!(remove_account(&mut c, "6000000003").await.unwrap().success);
    assert_eq!(
        business_accounts(&mut c, ACME).await,
        vec![ig("6000000001", "acmeretail")]
    );
}
