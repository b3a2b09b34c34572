//! WhatsAppBusinessAccountService: WA01–WA05 (beyond the catalogue: issue 16).

use graph_gateway::proto::whats_app_business_account_service_client::WhatsAppBusinessAccountServiceClient as Client;
use graph_gateway::proto::*;
use WhatsAppBusinessAccountTask as Task;

use super::*;

/// Acme Support (Acme OWNER; Globex AGENCY [MANAGE_TEMPLATES,
/// VIEW_TEMPLATES, MESSAGING]; Bob VIEW_TEMPLATES/MESSAGING).
const SUPPORT: &str = "8700000001";
/// Acme Marketing (Acme OWNER).
const MARKETING: &str = "8700000002";
/// Initech Alerts (Initech OWNER; Globex AGENCY [DEVELOP, VIEW_COST]).
const ALERTS: &str = "8700000003";

rpc!(fn owned(business_id: &str) -> Vec<WhatsAppBusinessAccount>
    = list_owned_whats_app_business_accounts(ListOwnedWhatsAppBusinessAccountsRequest)
    .whatsapp_business_accounts);
rpc!(fn client(business_id: &str) -> Vec<WhatsAppBusinessAccount>
    = list_client_whats_app_business_accounts(ListClientWhatsAppBusinessAccountsRequest)
    .whatsapp_business_accounts);
rpc!(fn owned_call(business_id: &str) -> ListOwnedWhatsAppBusinessAccountsResponse
    = list_owned_whats_app_business_accounts(ListOwnedWhatsAppBusinessAccountsRequest));
// tasks is opt-in (not on Meta's AssignedUser), so the tests name it.
rpc!(fn users(whatsapp_business_account_id: &str, business: &str;
    read_mask = &["id", "name", "tasks"][..]) -> Vec<WhatsAppBusinessAccountUser>
    = list_whats_app_business_account_users(ListWhatsAppBusinessAccountUsersRequest).users);
rpc!(fn users_call(whatsapp_business_account_id: &str, business: &str)
    -> ListWhatsAppBusinessAccountUsersResponse
    = list_whats_app_business_account_users(ListWhatsAppBusinessAccountUsersRequest));
rpc!(fn assign(whatsapp_business_account_id: &str, business: &str, user: &str, tasks: &[Task])
    -> MutationResult
    = assign_whats_app_business_account_user(AssignWhatsAppBusinessAccountUserRequest));
rpc!(fn remove(whatsapp_business_account_id: &str, business: &str, user: &str) -> MutationResult
    = remove_whats_app_business_account_user(RemoveWhatsAppBusinessAccountUserRequest));

fn waba_raw(t: &[Task]) -> Vec<String> {
    spelled(t, |v| v.as_str_name(), "WHATS_APP_BUSINESS_ACCOUNT_TASK_")
}

fn user(id: &str, name: &str, tasks: &[Task]) -> WhatsAppBusinessAccountUser {
    WhatsAppBusinessAccountUser {
        id: id.into(),
        name: name.into(),
        tasks: nums(tasks),
        tasks_raw: waba_raw(tasks),
    }
}

#[tokio::test]
async fn wa01_lists_owned_accounts() {
    let (gw, mut c) = start(Client::new).await;
    let acme = owned(&mut c, ACME).await;
    let sent = last_sent(&gw);
    assert_eq!(
        sent.path,
        format!("/v26.0/{ACME}/owned_whatsapp_business_accounts")
    );
    assert_eq!(
        sent.header("authorization"),
        Some("Bearer sandbox-token-acme-admin")
    );
    assert_eq!(ids(&acme, |w| &w.id), vec![SUPPORT, MARKETING]);
    assert_eq!(
        acme[0],
        WhatsAppBusinessAccount {
            id: SUPPORT.into(),
            name: "Acme Support".into(),
            currency: "USD".into(),
            timezone_id: "1".into(),
            owner_business: Some(NodeRef {
                id: ACME.into(),
                name: "Acme Retail".into(),
            }),
        }
    );
    assert_eq!(ids(&owned(&mut c, INITECH).await, |w| &w.id), vec![ALERTS]);
    assert!(owned(&mut c, GLOBEX).await.is_empty());

    let not_digits = owned_call(&mut c, "acme");
    assert_refused_before_graph(&gw, not_digits, &["business_id"]).await;
}

#[tokio::test]
async fn wa02_lists_client_accounts() {
    let (_gw, mut c) = start(Client::new).await;
    let globex = client(&mut c, GLOBEX).await;
    assert_eq!(ids(&globex, |w| &w.id), vec![SUPPORT, ALERTS]);
    assert_eq!(globex[1].name, "Initech Alerts");
    assert_eq!(globex[1].currency, "EUR");
    assert_eq!(
        globex[1].owner_business.as_ref().map(|b| b.id.as_str()),
        Some(INITECH)
    );
    assert!(client(&mut c, ACME).await.is_empty());
}

#[tokio::test]
async fn wa03_to_wa05_assign_list_and_remove_users_and_the_cached_list_follows() {
    let (gw, mut c) = start(Client::new).await;
    // Bob holds two tasks through Acme (cached from here on).
    assert_eq!(
        users(&mut c, SUPPORT, ACME).await,
        vec![user(
            BOB,
            "Bob Employee",
            &[Task::ViewTemplates, Task::Messaging]
        )]
    );
    let sent = last_sent(&gw);
    assert_eq!(sent.path, format!("/v26.0/{SUPPORT}/assigned_users"));
    assert_eq!(sent.param("business"), Some(ACME));

    let ok = assign(
        &mut c,
        SUPPORT,
        ACME,
        ALICE,
        &[Task::Manage, Task::ManageTemplates],
    )
    .await
    .unwrap();
    assert!(ok.success);
    let sent = last_sent(&gw);
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.form_param("user"), Some(ALICE));
    assert_eq!(
        sent.form_param("tasks"),
        Some(r#"["MANAGE","MANAGE_TEMPLATES"]"#)
    );
    assert_eq!(sent.form_param("business"), None, "not in Meta's spec");
    assert_eq!(
        users(&mut c, SUPPORT, ACME).await,
        vec![
            user(ALICE, "Alice Admin", &[Task::Manage, Task::ManageTemplates]),
            user(BOB, "Bob Employee", &[Task::ViewTemplates, Task::Messaging]),
        ]
    );

    // Replacing Bob's tasks, then removing him.
    assign(&mut c, SUPPORT, ACME, BOB, &[Task::ViewCost])
        .await
        .unwrap();
    assert_eq!(
        users(&mut c, SUPPORT, ACME).await[1],
        user(BOB, "Bob Employee", &[Task::ViewCost])
    );
    assert!(remove(&mut c, SUPPORT, ACME, BOB).await.unwrap().success);
    let sent = last_sent(&gw);
    assert_eq!(sent.method, "DELETE");
    assert_eq!(sent.param("user"), Some(BOB));
    assert_eq!(
        ids(&users(&mut c, SUPPORT, ACME).await, |u| &u.id),
        vec![ALICE]
    );
}

#[tokio::test]
async fn wa04_keeps_metas_rules() {
    let (_gw, mut c) = start(Client::new).await;
    // Globex, an agency permitted MANAGE_TEMPLATES, VIEW_TEMPLATES and
    // MESSAGING, may give only those.
    let st = assign(&mut c, SUPPORT, GLOBEX, FRANK, &[Task::Manage])
        .await
        .unwrap_err();
    assert_rule(&st, subcode::TASKS_NOT_PERMITTED);
    assign(&mut c, SUPPORT, GLOBEX, FRANK, &[Task::Messaging])
        .await
        .unwrap();
    assert_eq!(
        users(&mut c, SUPPORT, GLOBEX).await,
        vec![user(FRANK, "Frank Planner", &[Task::Messaging])]
    );
    // Acme's view is its own.
    assert_eq!(
        ids(&users(&mut c, SUPPORT, ACME).await, |u| &u.id),
        vec![BOB]
    );
    // Erin is in no business.
    let st = assign(&mut c, SUPPORT, ACME, ERIN, &[Task::Messaging])
        .await
        .unwrap_err();
    assert_rule(&st, subcode::USER_NOT_IN_BUSINESS);
    // Globex has no access to Acme Marketing: Graph refuses its admin.
    let st = assign(&mut c, MARKETING, GLOBEX, FRANK, &[Task::Messaging])
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::PermissionDenied, "{st:?}");
}

#[tokio::test]
async fn wa03_to_wa05_invalid_requests_never_reach_graph() {
    let (gw, mut c) = start(Client::new).await;
    let no_tasks = assign(&mut c, SUPPORT, ACME, BOB, &[]);
    assert_refused_before_graph(&gw, no_tasks, &["tasks"]).await;
    let bad = assign(&mut c, "waba", "", "bob", &[Task::Messaging]);
    assert_refused_before_graph(
        &gw,
        bad,
        &["whatsapp_business_account_id", "business", "user"],
    )
    .await;
    let bad = remove(&mut c, SUPPORT, ACME, "");
    assert_refused_before_graph(&gw, bad, &["user"]).await;
    let bad = users_call(&mut c, SUPPORT, "");
    assert_refused_before_graph(&gw, bad, &["business"]).await;
}
