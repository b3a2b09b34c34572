//! PageService: PG01–PG11.

use graph_gateway::proto::page_service_client::PageServiceClient as Client;
use graph_gateway::proto::*;
use tonic::transport::Channel;

use super::*;

fn client(ch: &Channel) -> Client<Channel> {
    Client::new(ch.clone())
}

async fn owned(c: &mut Client<Channel>, business: &str) -> Vec<Page> {
    c.list_owned_pages(ListOwnedPagesRequest {
        business_id: business.into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .pages
}

async fn pending_owned(c: &mut Client<Channel>, business: &str) -> Vec<Page> {
    c.list_pending_owned_pages(ListPendingOwnedPagesRequest {
        business_id: business.into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .pages
}

async fn client_pages(c: &mut Client<Channel>, business: &str) -> Vec<Page> {
    c.list_client_pages(ListClientPagesRequest {
        business_id: business.into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .pages
}

async fn pending_client(c: &mut Client<Channel>, business: &str) -> Vec<Page> {
    c.list_pending_client_pages(ListPendingClientPagesRequest {
        business_id: business.into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .pages
}

async fn page_users(c: &mut Client<Channel>, page: &str, business: &str) -> Vec<PageUser> {
    c.list_page_users(ListPageUsersRequest {
        page_id: page.into(),
        business: business.into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .users
}

async fn user_pages(c: &mut Client<Channel>, user: &str, business: &str) -> Vec<Page> {
    c.list_user_pages(ListUserPagesRequest {
        business_scoped_user_id: user.into(),
        business_id: business.into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .pages
}

async fn claim(c: &mut Client<Channel>, page: &str) -> Result<ClaimResult, tonic::Status> {
    c.claim_page(ClaimPageRequest {
        business_id: ACME.into(),
        page_id: page.into(),
        ..Default::default()
    })
    .await
    .map(|r| r.into_inner())
}

async fn remove_page(c: &mut Client<Channel>, page: &str) -> Result<MutationResult, tonic::Status> {
    c.remove_page(RemovePageRequest {
        business_id: ACME.into(),
        page_id: page.into(),
        ..Default::default()
    })
    .await
    .map(|r| r.into_inner())
}

async fn remove_user(
    c: &mut Client<Channel>,
    page: &str,
    user: &str,
) -> Result<MutationResult, tonic::Status> {
    c.remove_page_user(RemovePageUserRequest {
        page_id: page.into(),
        business_id: ACME.into(),
        user: user.into(),
        ..Default::default()
    })
    .await
    .map(|r| r.into_inner())
}

fn all_page_tasks() -> Vec<i32> {
    nums(&[
        PageTask::Manage,
        PageTask::CreateContent,
        PageTask::Moderate,
        PageTask::Advertise,
        PageTask::Analyze,
    ])
}

fn editor_tasks() -> Vec<i32> {
    nums(&[
        PageTask::CreateContent,
        PageTask::Moderate,
        PageTask::Advertise,
        PageTask::Analyze,
    ])
}

#[tokio::test]
async fn pg01_claim_confirmed_for_an_old_admin() {
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
    assert_eq!(owned(&mut c, ACME).await.len(), 3);
    let r = claim(&mut c, "3000000003").await.unwrap();
    assert_eq!(r.access_status(), AccessStatus::Confirmed);
    let list = owned(&mut c, ACME).await;
    assert_eq!(
        ids(&list, |p| &p.id),
        vec!["3000000001", "3000000002", "3000000003", "3000000008"]
    );
    assert_eq!(list[2].name, "Acme Seasonal Deals");
    assert_eq!(list[2].access_type(), AccessType::Owner);
}

#[tokio::test]
async fn pg01_claim_pending_for_a_new_admin_then_listed_by_pg11() {
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
    assert_eq!(
        ids(&pending_owned(&mut c, ACME).await, |p| &p.id),
        vec!["3000000007"]
    );
    let r = claim(&mut c, "3000000004").await.unwrap();
    assert_eq!(r.access_status(), AccessStatus::Pending);
    let pending = pending_owned(&mut c, ACME).await;
    assert_eq!(ids(&pending, |p| &p.id), vec!["3000000004", "3000000007"]);
    assert_eq!(pending[0].name, "Acme Pop-up Store");
    assert_eq!(pending[0].access_status(), AccessStatus::Pending);
    assert!(!ids(&owned(&mut c, ACME).await, |p| &p.id).contains(&"3000000004".to_string()));
}

#[tokio::test]
async fn pg01_claim_fails_without_page_permission() {
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
    let st = claim(&mut c, "3000000006").await.unwrap_err();
    assert_permission_denied(&st);
    assert_eq!(
        pending_owned(&mut c, ACME).await.len(),
        1,
        "no request was sent"
    );
    // Owned by Initech: refused by the rule.
    let st = claim(&mut c, "3000000005").await.unwrap_err();
    assert_rule(&st, subcode::OWNED_ELSEWHERE);
}

#[tokio::test]
async fn pg02_agency_claim_with_permitted_tasks_is_confirmed() {
    let (gw, ch) = start().await;
    let mut c = client(&ch);
    assert_eq!(
        ids(&client_pages(&mut c, GLOBEX).await, |p| &p.id),
        vec!["3000000002"]
    );
    let r = c
        .claim_client_page(ClaimClientPageRequest {
            business_id: GLOBEX.into(),
            page_id: "3000000009".into(),
            permitted_tasks: nums(&[PageTask::Advertise, PageTask::Analyze]),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.access_status(), AccessStatus::Confirmed);
    let sent = gw.sb().last_request().unwrap();
    assert_eq!(
        sent.form_param("permitted_tasks"),
        Some(r#"["ADVERTISE","ANALYZE"]"#)
    );

    let list = client_pages(&mut c, GLOBEX).await;
    assert_eq!(ids(&list, |p| &p.id), vec!["3000000002", "3000000009"]);
    let p = &list[1];
    assert_eq!(p.name, "Initech Careers");
    assert_eq!(p.access_type(), AccessType::Agency);
    assert_eq!(
        p.permitted_tasks,
        nums(&[PageTask::Advertise, PageTask::Analyze])
    );
    assert_eq!(
        p.business,
        Some(NodeRef {
            id: INITECH.into(),
            name: "Initech Holdings".into()
        })
    );
}

#[tokio::test]
async fn pg02_agency_claim_with_a_preset_is_pending_and_listed_by_pg03() {
    let (gw, ch) = start().await;
    let mut c = client(&ch);
    assert_eq!(
        ids(&pending_client(&mut c, GLOBEX).await, |p| &p.id),
        vec!["3000000005"]
    );
    let r = c
        .claim_client_page(ClaimClientPageRequest {
            business_id: GLOBEX.into(),
            page_id: "3000000001".into(),
            preset: PageRolePreset::Moderator as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.access_status(), AccessStatus::Pending);
    let sent = gw.sb().last_request().unwrap();
    assert_eq!(
        sent.form_param("permitted_tasks"),
        Some(r#"["MODERATE","ADVERTISE","ANALYZE"]"#)
    );

    let pending = pending_client(&mut c, GLOBEX).await;
    assert_eq!(ids(&pending, |p| &p.id), vec!["3000000001", "3000000005"]);
    assert_eq!(
        pending[0].permitted_tasks,
        nums(&[PageTask::Moderate, PageTask::Advertise, PageTask::Analyze])
    );
    assert_eq!(pending[0].access_status(), AccessStatus::Pending);
}

#[tokio::test]
async fn pg02_refusals() {
    let (gw, ch) = start().await;
    let mut c = client(&ch);
    // Not owned by a business.
    let st = c
        .claim_client_page(ClaimClientPageRequest {
            business_id: GLOBEX.into(),
            page_id: "3000000006".into(),
            permitted_tasks: nums(&[PageTask::Analyze]),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_rule(&st, subcode::NOT_BUSINESS_OWNED);
    // Both preset and tasks: refused before Graph.
    let before = gw.sb().request_count();
    let st = c
        .claim_client_page(ClaimClientPageRequest {
            business_id: GLOBEX.into(),
            page_id: "3000000001".into(),
            permitted_tasks: nums(&[PageTask::Analyze]),
            preset: PageRolePreset::Analyst as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violations(&st), vec!["preset"]);
    // Neither: permitted_tasks is required.
    let st = c
        .claim_client_page(ClaimClientPageRequest {
            business_id: GLOBEX.into(),
            page_id: "3000000001".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violations(&st), vec!["permitted_tasks"]);
    assert_eq!(gw.sb().request_count(), before);
}

#[tokio::test]
async fn pg03_lists_pending_client_pages() {
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
    let pending = pending_client(&mut c, GLOBEX).await;
    assert_eq!(ids(&pending, |p| &p.id), vec!["3000000005"]);
    assert_eq!(pending[0].name, "Initech News");
    assert_eq!(pending[0].access_status(), AccessStatus::Pending);
    assert_eq!(pending[0].access_type(), AccessType::Agency);
    assert_eq!(
        pending[0].permitted_tasks,
        nums(&[PageTask::Advertise, PageTask::Analyze])
    );
    assert!(pending_client(&mut c, ACME).await.is_empty());
}

#[tokio::test]
async fn pg04_lists_owned_pages_and_paginates() {
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
    let list = owned(&mut c, ACME).await;
    assert_eq!(
        list.iter()
            .map(|p| (p.id.as_str(), p.name.as_str()))
            .collect::<Vec<_>>(),
        vec![
            ("3000000001", "Acme Retail"),
            ("3000000002", "Acme Outlet"),
            ("3000000008", "Acme Careers")
        ]
    );
    for p in &list {
        assert_eq!(p.access_status(), AccessStatus::Confirmed);
        assert_eq!(p.access_type(), AccessType::Owner);
        assert_eq!(p.permitted_tasks, all_page_tasks());
        assert_eq!(
            p.business,
            Some(NodeRef {
                id: ACME.into(),
                name: "Acme Retail".into()
            })
        );
    }

    // page_size=1 walks all three pages.
    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let r = c
            .list_owned_pages(ListOwnedPagesRequest {
                business_id: ACME.into(),
                page_size: 1,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        pages += 1;
        assert_eq!(r.pages.len(), 1);
        seen.extend(r.pages.into_iter().map(|p| p.id));
        token = r.next_page_token;
        if token.is_empty() || pages == 10 {
            break;
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ids(&list, |p| &p.id));
}

#[tokio::test]
async fn pg05_lists_client_pages() {
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
    let list = client_pages(&mut c, GLOBEX).await;
    assert_eq!(ids(&list, |p| &p.id), vec!["3000000002"]);
    let p = &list[0];
    assert_eq!(p.name, "Acme Outlet");
    assert_eq!(p.access_status(), AccessStatus::Confirmed);
    assert_eq!(p.access_type(), AccessType::Agency);
    assert_eq!(
        p.permitted_tasks,
        nums(&[PageTask::Advertise, PageTask::Analyze])
    );
    assert_eq!(
        p.business,
        Some(NodeRef {
            id: ACME.into(),
            name: "Acme Retail".into()
        })
    );
}

#[tokio::test]
async fn pg06_removal_refused_while_a_user_remains() {
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
    let st = remove_page(&mut c, "3000000002").await.unwrap_err();
    assert_rule(&st, subcode::PAGE_HAS_PEOPLE);
    assert!(ids(&owned(&mut c, ACME).await, |p| &p.id).contains(&"3000000002".to_string()));

    // Remove Bob (PG10), then the page can go.
    assert!(
        remove_user(&mut c, "3000000002", BOB)
            .await
            .unwrap()
            .success
    );
    assert!(remove_page(&mut c, "3000000002").await.unwrap().success);
    assert_eq!(
        ids(&owned(&mut c, ACME).await, |p| &p.id),
        vec!["3000000001", "3000000008"]
    );
}

#[tokio::test]
async fn pg06_removal_allowed_for_the_page_with_nobody() {
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
    assert_eq!(owned(&mut c, ACME).await.len(), 3);
    let r = remove_page(&mut c, "3000000008").await.unwrap();
    assert!(r.success);
    assert_eq!(
        ids(&owned(&mut c, ACME).await, |p| &p.id),
        vec!["3000000001", "3000000002"]
    );
    let st = remove_page(&mut c, "3000000008").await.unwrap_err();
    assert_rule(&st, subcode::NOT_IN_BUSINESS);
}

#[tokio::test]
async fn pg07_assign_with_editor_preset_sends_its_tasks() {
    let (gw, ch) = start().await;
    let mut c = client(&ch);
    assert_eq!(
        ids(&page_users(&mut c, "3000000002", ACME).await, |u| &u.id),
        vec![BOB]
    );
    assert!(user_pages(&mut c, ALICE, ACME)
        .await
        .iter()
        .all(|p| p.id != "3000000002"));

    let ok = c
        .assign_page_user(AssignPageUserRequest {
            page_id: "3000000002".into(),
            business: ACME.into(),
            user: ALICE.into(),
            preset: PageRolePreset::Editor as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(ok.success);
    let sent = gw.sb().last_request().unwrap();
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.path, "/v25.0/3000000002/assigned_users");
    assert_eq!(
        sent.form_param("tasks"),
        Some(r#"["CREATE_CONTENT","MODERATE","ADVERTISE","ANALYZE"]"#)
    );
    assert_eq!(sent.form_param("business"), Some(ACME));
    assert_eq!(sent.form_param("user"), Some(ALICE));

    let users = page_users(&mut c, "3000000002", ACME).await;
    assert_eq!(
        users,
        vec![
            PageUser {
                id: ALICE.into(),
                name: "Alice Admin".into(),
                tasks: editor_tasks()
            },
            PageUser {
                id: BOB.into(),
                name: "Bob Employee".into(),
                tasks: editor_tasks()
            },
        ]
    );
    let alice = user_pages(&mut c, ALICE, ACME).await;
    assert_eq!(ids(&alice, |p| &p.id), vec!["3000000001", "3000000002"]);
    assert_eq!(alice[1].tasks, editor_tasks());

    // Explicit tasks replace the old list.
    c.assign_page_user(AssignPageUserRequest {
        page_id: "3000000002".into(),
        business: ACME.into(),
        user: BOB.into(),
        tasks: nums(&[PageTask::Analyze]),
        ..Default::default()
    })
    .await
    .unwrap();
    let users = page_users(&mut c, "3000000002", ACME).await;
    assert_eq!(users[1].tasks, nums(&[PageTask::Analyze]));
}

#[tokio::test]
async fn pg07_preset_and_tasks_together_are_refused_before_graph() {
    let (gw, ch) = start().await;
    let mut c = client(&ch);
    let before = gw.sb().request_count();
    let st = c
        .assign_page_user(AssignPageUserRequest {
            page_id: "3000000002".into(),
            business: ACME.into(),
            user: ALICE.into(),
            tasks: nums(&[PageTask::Analyze]),
            preset: PageRolePreset::Editor as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violations(&st), vec!["preset"]);
    let st = c
        .assign_page_user(AssignPageUserRequest {
            page_id: "3000000002".into(),
            business: ACME.into(),
            user: ALICE.into(),
            tasks: nums(&[PageTask::Unspecified]),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violations(&st), vec!["tasks[0]"]);
    assert_eq!(gw.sb().request_count(), before, "no Graph call");
}

#[tokio::test]
async fn pg07_refused_for_a_group_derived_user() {
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
    let st = c
        .assign_page_user(AssignPageUserRequest {
            page_id: "3000000001".into(),
            business: ACME.into(),
            user: CAROL.into(),
            tasks: nums(&[PageTask::Analyze]),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_rule(&st, subcode::FROM_ASSET_GROUP);
    // A user outside the business.
    let st = c
        .assign_page_user(AssignPageUserRequest {
            page_id: "3000000001".into(),
            business: ACME.into(),
            user: ERIN.into(),
            tasks: nums(&[PageTask::Analyze]),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_rule(&st, subcode::USER_NOT_IN_BUSINESS);
}

#[tokio::test]
async fn pg08_lists_a_users_pages() {
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
    let bob = user_pages(&mut c, BOB, ACME).await;
    assert_eq!(ids(&bob, |p| &p.id), vec!["3000000002"]);
    assert_eq!(bob[0].name, "Acme Outlet");
    assert_eq!(bob[0].tasks, editor_tasks());
    let carol = user_pages(&mut c, CAROL, ACME).await;
    assert_eq!(ids(&carol, |p| &p.id), vec!["3000000001"]);
    assert_eq!(
        carol[0].tasks,
        nums(&[PageTask::Advertise, PageTask::Analyze])
    );
    let alice = user_pages(&mut c, ALICE, ACME).await;
    assert_eq!(ids(&alice, |p| &p.id), vec!["3000000001"]);
    assert_eq!(alice[0].tasks, all_page_tasks());
}

#[tokio::test]
async fn pg09_lists_page_users_per_business() {
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
    let retail = page_users(&mut c, "3000000001", ACME).await;
    assert_eq!(
        retail,
        vec![
            PageUser {
                id: ALICE.into(),
                name: "Alice Admin".into(),
                tasks: all_page_tasks()
            },
            PageUser {
                id: CAROL.into(),
                name: "Carol Analyst".into(),
                tasks: nums(&[PageTask::Advertise, PageTask::Analyze]),
            },
        ]
    );
    let outlet_agency = page_users(&mut c, "3000000002", GLOBEX).await;
    assert_eq!(
        outlet_agency,
        vec![PageUser {
            id: FRANK.into(),
            name: "Frank Planner".into(),
            tasks: nums(&[PageTask::Analyze])
        }]
    );
    assert!(page_users(&mut c, "3000000008", ACME).await.is_empty());
}

#[tokio::test]
async fn pg10_removes_a_direct_user() {
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
    assert_eq!(
        ids(&page_users(&mut c, "3000000002", ACME).await, |u| &u.id),
        vec![BOB]
    );
    assert_eq!(user_pages(&mut c, BOB, ACME).await.len(), 1);
    assert!(
        remove_user(&mut c, "3000000002", BOB)
            .await
            .unwrap()
            .success
    );
    assert!(page_users(&mut c, "3000000002", ACME).await.is_empty());
    assert!(user_pages(&mut c, BOB, ACME).await.is_empty());
}

#[tokio::test]
async fn pg10_refused_for_a_group_derived_user() {
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
    let st = remove_user(&mut c, "3000000001", CAROL).await.unwrap_err();
    assert_rule(&st, subcode::FROM_ASSET_GROUP);
    assert_eq!(
        ids(&page_users(&mut c, "3000000001", ACME).await, |u| &u.id),
        vec![ALICE, CAROL]
    );
}

#[tokio::test]
async fn pg11_lists_pending_owned_pages() {
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
    let pending = pending_owned(&mut c, ACME).await;
    assert_eq!(ids(&pending, |p| &p.id), vec!["3000000007"]);
    assert_eq!(pending[0].name, "Acme Kiosk");
    assert_eq!(pending[0].access_status(), AccessStatus::Pending);
    assert_eq!(pending[0].access_type(), AccessType::Owner);
    assert!(pending_owned(&mut c, GLOBEX).await.is_empty());
}
