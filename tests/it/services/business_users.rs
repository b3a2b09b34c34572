//! BusinessUserService: BU01–BU06, beyond the catalogue (issue 16).

use graph_gateway::proto::business_user_service_client::BusinessUserServiceClient as Client;
use graph_gateway::proto::*;

use super::*;

rpc!(fn people(business_id: &str) -> Vec<BusinessUser>
    = list_business_users(ListBusinessUsersRequest).business_users);
rpc!(fn invite(business_id: &str, email: &str, role: BusinessRole)
    -> InviteBusinessUserResponse = invite_business_user(InviteBusinessUserRequest));
rpc!(fn pending(business_id: &str, email: &str) -> Vec<PendingBusinessUser>
    = list_pending_business_users(ListPendingBusinessUsersRequest).pending_users);
rpc!(fn pending_raw(business_id: &str, email: &str) -> ListPendingBusinessUsersResponse
    = list_pending_business_users(ListPendingBusinessUsersRequest));
rpc!(fn set_role(business_scoped_user_id: &str, business_id: &str, role: BusinessRole)
    -> MutationResult = update_business_user(UpdateBusinessUserRequest));
rpc!(fn cancel(business_role_request_id: &str, business_id: &str)
    -> MutationResult = cancel_business_user_invitation(CancelBusinessUserInvitationRequest));
rpc!(fn remove(business_scoped_user_id: &str, business_id: &str)
    -> MutationResult = remove_business_user(RemoveBusinessUserRequest));

/// The rule subcodes of these routes (`src/sandbox/wire.rs`).
const LAST_ADMIN: i64 = 1_690_009;
const ALREADY_INVITED: i64 = 1_690_010;

/// (id, role) of each person listed.
fn roles(list: &[BusinessUser]) -> Vec<(String, BusinessRole)> {
    list.iter().map(|u| (u.id.clone(), u.role())).collect()
}

#[tokio::test]
async fn bu01_lists_the_people_of_the_business_with_their_roles() {
    let (gw, mut c) = start(Client::new).await;
    let list = people(&mut c, ACME).await;
    // People only: Acme's system users are SystemUserService's.
    assert_eq!(
        roles(&list),
        vec![
            (ALICE.into(), BusinessRole::Admin),
            (BOB.into(), BusinessRole::Employee),
            (CAROL.into(), BusinessRole::Employee),
        ]
    );
    assert_eq!(list[0].name, "Alice Admin");
    assert_eq!(list[0].role_raw, "ADMIN");
    assert_eq!(list[0].business, node(ACME, "Acme Retail"));
    assert_eq!(list[0].first_name, "Alice");
    last_sent_to(&gw, "GET", &format!("/{ACME}/business_users"));
    // Each business through its own token.
    assert_eq!(
        roles(&people(&mut c, GLOBEX).await),
        vec![
            ("10004".into(), BusinessRole::Admin),
            (FRANK.into(), BusinessRole::Employee)
        ]
    );
}

#[tokio::test]
async fn bu02_invites_and_bu05_lists_the_invitation_at_once() {
    let (gw, mut c) = start(Client::new).await;
    // Nothing pending (and now cached).
    assert!(pending(&mut c, ACME, "").await.is_empty());
    let id = invite(
        &mut c,
        ACME,
        "New.Hire@example.com",
        BusinessRole::FinanceEditor,
    )
    .await
    .unwrap()
    .id;
    assert!(!id.is_empty());
    let sent = last_sent_to(&gw, "POST", &format!("/{ACME}/business_users"));
    assert_eq!(sent.param("email"), Some("New.Hire@example.com"));
    assert_eq!(sent.param("role"), Some("FINANCE_EDITOR"));
    // BU02 invalidates the pending list.
    let list = pending(&mut c, ACME, "").await;
    assert_eq!(ids(&list, |p| &p.id), vec![id.clone()]);
    let p = &list[0];
    assert_eq!(p.email, "new.hire@example.com");
    assert_eq!(p.role(), BusinessRole::FinanceEditor);
    assert_eq!(p.status, "PENDING");
    assert!(!p.created_time.is_empty() && !p.expiration_time.is_empty());
    assert_eq!(p.owner, node(ACME, "Acme Retail"));
    // Filtered by email.
    invite(
        &mut c,
        ACME,
        "second@example.com",
        BusinessRole::Unspecified,
    )
    .await
    .unwrap();
    let second = pending(&mut c, ACME, "second@example.com").await;
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].role(), BusinessRole::Employee, "Graph's default");
    assert_eq!(pending(&mut c, ACME, "").await.len(), 2);
    // One pending invitation per email.
    let st = invite(&mut c, ACME, "new.hire@example.com", BusinessRole::Admin)
        .await
        .unwrap_err();
    assert_rule(&st, ALREADY_INVITED);
    // Not a person yet.
    assert_eq!(people(&mut c, ACME).await.len(), 3);
}

#[tokio::test]
async fn bu06_withdraws_an_invitation_and_the_cached_list_follows() {
    let (gw, mut c) = start(Client::new).await;
    let id = invite(&mut c, ACME, "gone@example.com", BusinessRole::Employee)
        .await
        .unwrap()
        .id;
    assert_eq!(
        ids(&pending(&mut c, ACME, "").await, |p| &p.id),
        vec![id.clone()]
    );
    // Only an admin of the business it invites to.
    let st = cancel(&mut c, &id, GLOBEX).await.unwrap_err();
    assert_permission_denied(&st);
    assert!(cancel(&mut c, &id, ACME).await.unwrap().success);
    last_sent_to(&gw, "DELETE", &format!("/{id}"));
    assert!(pending(&mut c, ACME, "").await.is_empty());
    // Gone: a second withdrawal finds nothing; the email may be invited again.
    let st = cancel(&mut c, &id, ACME).await.unwrap_err();
    assert_not_found(&st);
    let again = invite(&mut c, ACME, "gone@example.com", BusinessRole::Employee)
        .await
        .unwrap()
        .id;
    assert_ne!(again, id);
    let bad = cancel(&mut c, "invite-1", "");
    assert_refused_before_graph(&gw, bad, &["business_role_request_id", "business_id"]).await;
}

#[tokio::test]
async fn bu03_changes_a_role_keeping_an_admin_and_the_cached_list_follows() {
    let (gw, mut c) = start(Client::new).await;
    let before = people(&mut c, ACME).await;
    assert_eq!(before[1].role(), BusinessRole::Employee);
    // Alice is Acme's only admin person: she stays admin.
    let st = set_role(&mut c, ALICE, ACME, BusinessRole::Employee)
        .await
        .unwrap_err();
    assert_rule(&st, LAST_ADMIN);
    assert!(
        set_role(&mut c, BOB, ACME, BusinessRole::Admin)
            .await
            .unwrap()
            .success
    );
    let sent = last_sent_to(&gw, "POST", &format!("/{BOB}"));
    assert_eq!(sent.param("role"), Some("ADMIN"));
    // Now Alice may step down; the list follows at once (invalidated).
    set_role(&mut c, ALICE, ACME, BusinessRole::Employee)
        .await
        .unwrap();
    assert_eq!(
        roles(&people(&mut c, ACME).await),
        vec![
            (ALICE.into(), BusinessRole::Employee),
            (BOB.into(), BusinessRole::Admin),
            (CAROL.into(), BusinessRole::Employee),
        ]
    );
    // Someone of another business: Graph refuses Globex's token.
    let st = set_role(&mut c, BOB, GLOBEX, BusinessRole::Employee)
        .await
        .unwrap_err();
    assert_permission_denied(&st);
}

#[tokio::test]
async fn bu04_removes_a_person_with_their_tasks_but_never_the_last_admin() {
    let (gw, mut c) = start(Client::new).await;
    assert_eq!(people(&mut c, ACME).await.len(), 3);
    assert!(remove(&mut c, BOB, ACME).await.unwrap().success);
    last_sent_to(&gw, "DELETE", &format!("/{BOB}"));
    assert_eq!(
        ids(&people(&mut c, ACME).await, |u| &u.id),
        vec![ALICE, CAROL]
    );
    // The tasks Acme gave Bob went with him.
    let mut accounts = ad_account_service_client::AdAccountServiceClient::new(gw.channel().await);
    let users = accounts
        .list_ad_account_users(ListAdAccountUsersRequest {
            ad_account_id: "act_2000000001".into(),
            business: ACME.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .users;
    assert_eq!(ids(&users, |u| &u.id), vec![ALICE]);
    // Bob is no longer Acme's: nothing to remove.
    let st = remove(&mut c, BOB, ACME).await.unwrap_err();
    assert_permission_denied(&st);
    // Alice is the last admin person.
    let st = remove(&mut c, ALICE, ACME).await.unwrap_err();
    assert_rule(&st, LAST_ADMIN);
}

#[tokio::test]
async fn invalid_requests_never_reach_graph() {
    let (gw, mut c) = start(Client::new).await;
    let bad = invite(&mut c, ACME, "not-an-email", BusinessRole::Employee);
    assert_refused_before_graph(&gw, bad, &["email"]).await;
    let bad = invite(&mut c, "acme", "", BusinessRole::Employee);
    assert_refused_before_graph(&gw, bad, &["business_id", "email"]).await;
    let bad = set_role(&mut c, "bob", ACME, BusinessRole::Unspecified);
    assert_refused_before_graph(&gw, bad, &["business_scoped_user_id", "role"]).await;
    let bad = remove(&mut c, BOB, "");
    assert_refused_before_graph(&gw, bad, &["business_id"]).await;
    let bad = pending_raw(&mut c, ACME, "a b@example.com");
    assert_refused_before_graph(&gw, bad, &["email"]).await;
}
