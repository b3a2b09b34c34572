//! PageService: PG01–PG11.

use graph_gateway::proto::page_service_client::PageServiceClient as Client;
use graph_gateway::proto::*;
use PageRolePreset as Preset;

use super::*;

/// Tasks given explicitly.
const NO_PRESET: Preset = Preset::Unspecified;

// The relationship fields (access status and type, tasks) are opt-in: Meta's
// spec does not list them on Page, so the tests name them.
rpc!(pub(super) fn owned(business_id: &str; read_mask = &["id", "name", "access_status", "access_type", "permitted_tasks", "tasks", "business"][..]) -> Vec<Page>
    = list_owned_pages(ListOwnedPagesRequest).pages);
rpc!(fn pending_owned_requests(business_id: &str) -> Vec<PageRequest>
    = list_pending_owned_pages(ListPendingOwnedPagesRequest).requests);
rpc!(pub(super) fn client_pages(business_id: &str; read_mask = &["id", "name", "access_status", "access_type", "permitted_tasks", "tasks", "business"][..]) -> Vec<Page>
    = list_client_pages(ListClientPagesRequest).pages);
rpc!(fn pending_client_requests(business_id: &str) -> Vec<PageRequest>
    = list_pending_client_pages(ListPendingClientPagesRequest).requests);
rpc!(pub(super) fn page_users(page_id: &str, business: &str; read_mask = &["id", "name", "tasks"][..])
    -> Vec<PageUser> = list_page_users(ListPageUsersRequest).users);
rpc!(pub(super) fn user_pages(business_scoped_user_id: &str, business_id: &str; read_mask = &["id", "name", "access_status", "access_type", "permitted_tasks", "tasks", "business"][..]) -> Vec<Page>
    = list_user_pages(ListUserPagesRequest).pages);

/// The pages of PG11's pending requests (Meta's BusinessPageRequest); each
/// request has its own id, distinct from the page's.
async fn pending_owned(c: &mut Client<tonic::transport::Channel>, business_id: &str) -> Vec<Page> {
    let requests = pending_owned_requests(c, business_id).await;
    for r in &requests {
        let page = r.page.as_ref().map(|p| p.id.as_str());
        assert!(!r.id.is_empty() && Some(r.id.as_str()) != page, "{r:?}");
    }
    requests.into_iter().filter_map(|r| r.page).collect()
}

/// The pages of PG03's pending agency requests.
async fn pending_client(c: &mut Client<tonic::transport::Channel>, business_id: &str) -> Vec<Page> {
    let requests = pending_client_requests(c, business_id).await;
    for r in &requests {
        assert!(!r.id.is_empty(), "{r:?}");
    }
    requests.into_iter().filter_map(|r| r.page).collect()
}

/// (id, name) of each page.
fn names(list: &[Page]) -> Vec<(&str, &str)> {
    list.iter()
        .map(|p| (p.id.as_str(), p.name.as_str()))
        .collect()
}
rpc!(fn claim(page_id: &str; business_id = ACME) -> ClaimResult = claim_page(ClaimPageRequest));
rpc!(fn remove_page(page_id: &str; business_id = ACME) -> MutationResult
    = remove_page(RemovePageRequest));
rpc!(fn assign(page_id: &str, user: &str, tasks: &[PageTask], preset: Preset; business = ACME)
    -> MutationResult = assign_page_user(AssignPageUserRequest));
rpc!(fn claim_client(page_id: &str, permitted_tasks: &[PageTask], preset: Preset;
    business_id = GLOBEX) -> ClaimResult = claim_client_page(ClaimClientPageRequest));
rpc!(fn remove_user(page_id: &str, user: &str; business_id = ACME) -> MutationResult
    = remove_page_user(RemovePageUserRequest));

fn all_page_tasks() -> Vec<i32> {
    nums(&[
        PageTask::Manage,
        PageTask::CreateContent,
        PageTask::Moderate,
        PageTask::Advertise,
        PageTask::Analyze,
    ])
}

fn all_page_tasks_raw() -> Vec<String> {
    [
        "MANAGE",
        "CREATE_CONTENT",
        "MODERATE",
        "ADVERTISE",
        "ANALYZE",
    ]
    .map(String::from)
    .to_vec()
}

fn editor_tasks_raw() -> Vec<String> {
    ["CREATE_CONTENT", "MODERATE", "ADVERTISE", "ANALYZE"]
        .map(String::from)
        .to_vec()
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
    let (_gw, mut c) = start(Client::new).await;
    assert_eq!(owned(&mut c, ACME).await.len(), 3);
    let r = claim(&mut c, "3000000003").await.unwrap();
    assert_eq!(r.access_status(), AccessStatus::Confirmed);
    use {AccessStatus::Confirmed, AccessType::Owner};
    assert_eq!(
        access(&owned(&mut c, ACME).await),
        vec![
            ("3000000001", "Acme Retail", Confirmed, Owner),
            ("3000000002", "Acme Outlet", Confirmed, Owner),
            ("3000000003", "Acme Seasonal Deals", Confirmed, Owner),
            ("3000000008", "Acme Careers", Confirmed, Owner),
        ]
    );
}

#[tokio::test]
async fn pg01_claim_pending_for_a_new_admin_then_listed_by_pg11() {
    let (_gw, mut c) = start(Client::new).await;
    assert_eq!(
        ids(&pending_owned(&mut c, ACME).await, |p| &p.id),
        vec!["3000000007"]
    );
    let r = claim(&mut c, "3000000004").await.unwrap();
    assert_eq!(r.access_status(), AccessStatus::Pending);
    assert_eq!(
        names(&pending_owned(&mut c, ACME).await),
        vec![
            ("3000000004", "Acme Pop-up Store"),
            ("3000000007", "Acme Kiosk"),
        ]
    );
    assert!(!ids(&owned(&mut c, ACME).await, |p| &p.id).contains(&"3000000004".to_string()));
}

#[tokio::test]
async fn pg01_claim_fails_without_page_permission() {
    let (_gw, mut c) = start(Client::new).await;
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
    let (gw, mut c) = start(Client::new).await;
    assert_eq!(
        ids(&client_pages(&mut c, GLOBEX).await, |p| &p.id),
        vec!["3000000002"]
    );
    let tasks = [PageTask::Advertise, PageTask::Analyze];
    let r = claim_client(&mut c, "3000000009", &tasks, NO_PRESET)
        .await
        .unwrap();
    assert_eq!(r.access_status(), AccessStatus::Confirmed);
    let sent = last_sent(&gw);
    assert_eq!(
        sent.form_param("permitted_tasks"),
        Some(r#"["ADVERTISE","ANALYZE"]"#)
    );

    use {AccessStatus::Confirmed, AccessType::Agency};
    let list = client_pages(&mut c, GLOBEX).await;
    assert_eq!(
        access(&list),
        vec![
            ("3000000002", "Acme Outlet", Confirmed, Agency),
            ("3000000009", "Initech Careers", Confirmed, Agency),
        ]
    );
    assert_eq!(list[1].permitted_tasks, nums(&tasks));
    assert_eq!(list[1].business, node(INITECH, "Initech Holdings"));
}

#[tokio::test]
async fn pg02_agency_claim_with_a_preset_is_pending_and_listed_by_pg03() {
    let (gw, mut c) = start(Client::new).await;
    assert_eq!(
        ids(&pending_client(&mut c, GLOBEX).await, |p| &p.id),
        vec!["3000000005"]
    );
    let r = claim_client(&mut c, "3000000001", &[], Preset::Moderator)
        .await
        .unwrap();
    assert_eq!(r.access_status(), AccessStatus::Pending);
    let sent = last_sent(&gw);
    assert_eq!(
        sent.form_param("permitted_tasks"),
        Some(r#"["MODERATE","ADVERTISE","ANALYZE"]"#)
    );

    let pending = pending_client(&mut c, GLOBEX).await;
    assert_eq!(ids(&pending, |p| &p.id), vec!["3000000001", "3000000005"]);
}

#[tokio::test]
async fn pg02_refusals() {
    let (gw, mut c) = start(Client::new).await;
    // Not owned by a business.
    let analyze = [PageTask::Analyze];
    let st = claim_client(&mut c, "3000000006", &analyze, NO_PRESET)
        .await
        .unwrap_err();
    assert_rule(&st, subcode::NOT_BUSINESS_OWNED);
    // Both preset and tasks: refused before Graph.
    let both = claim_client(&mut c, "3000000001", &analyze, Preset::Analyst);
    assert_refused_before_graph(&gw, both, &["preset"]).await;
    // Neither: permitted_tasks is required.
    let neither = claim_client(&mut c, "3000000001", &[], NO_PRESET);
    assert_refused_before_graph(&gw, neither, &["permitted_tasks"]).await;
}

#[tokio::test]
async fn pg03_lists_pending_client_pages() {
    let (gw, mut c) = start(Client::new).await;
    let pending = pending_client(&mut c, GLOBEX).await;
    assert_eq!(names(&pending), vec![("3000000005", "Initech News")]);
    assert!(pending_client(&mut c, ACME).await.is_empty());

    // The requested tasks are an opt-in field of the nested page: a dotted
    // read_mask path asks for them.
    let r = c
        .list_pending_client_pages(ListPendingClientPagesRequest {
            business_id: GLOBEX.into(),
            read_mask: Some(prost_types::FieldMask {
                paths: vec!["page".into(), "page.permitted_tasks".into()],
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let page = r.requests[0].page.clone().unwrap();
    assert_eq!(page.name, "Initech News");
    assert_eq!(
        page.permitted_tasks,
        nums(&[PageTask::Advertise, PageTask::Analyze])
    );
    assert_eq!(page.permitted_tasks_raw, vec!["ADVERTISE", "ANALYZE"]);
    let fields = last_sent(&gw).query_param("fields").unwrap().to_string();
    assert!(
        fields.contains("page{id,name,business{id,name},permitted_tasks}"),
        "{fields}"
    );
    // A repeated path is refused before Graph.
    let twice = c.list_pending_client_pages(ListPendingClientPagesRequest {
        business_id: GLOBEX.into(),
        read_mask: Some(prost_types::FieldMask {
            paths: vec!["page".into(), "page".into()],
        }),
        ..Default::default()
    });
    assert_refused_before_graph(&gw, twice, &["read_mask.paths[1]"]).await;
}

#[tokio::test]
async fn pg04_lists_owned_pages_and_paginates() {
    let (_gw, mut c) = start(Client::new).await;
    use {AccessStatus::Confirmed, AccessType::Owner};
    let list = owned(&mut c, ACME).await;
    assert_eq!(
        access(&list),
        vec![
            ("3000000001", "Acme Retail", Confirmed, Owner),
            ("3000000002", "Acme Outlet", Confirmed, Owner),
            ("3000000008", "Acme Careers", Confirmed, Owner),
        ]
    );
    for p in &list {
        assert_eq!(p.permitted_tasks, all_page_tasks());
        assert_eq!(p.business, node(ACME, "Acme Retail"));
    }

    // page_size=1 walks all three pages.
    let seen = walk_pages(async |page_token| {
        let req = ListOwnedPagesRequest {
            business_id: ACME.into(),
            page_size: 1,
            page_token,
            ..Default::default()
        };
        let page = c.list_owned_pages(req).await.unwrap().into_inner();
        (ids(&page.pages, |p| &p.id), page.next_page_token)
    })
    .await;
    assert_eq!(seen, ids(&list, |p| &p.id));
}

#[tokio::test]
async fn pg05_lists_client_pages() {
    let (_gw, mut c) = start(Client::new).await;
    let list = client_pages(&mut c, GLOBEX).await;
    assert_eq!(
        access(&list),
        vec![(
            "3000000002",
            "Acme Outlet",
            AccessStatus::Confirmed,
            AccessType::Agency
        )]
    );
    assert_eq!(
        list[0].permitted_tasks,
        nums(&[PageTask::Advertise, PageTask::Analyze])
    );
    assert_eq!(list[0].business, node(ACME, "Acme Retail"));
}

#[tokio::test]
async fn pg06_removal_refused_while_a_user_remains() {
    let (_gw, mut c) = start(Client::new).await;
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
    let (_gw, mut c) = start(Client::new).await;
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
    let (gw, mut c) = start(Client::new).await;
    assert_eq!(
        ids(&page_users(&mut c, "3000000002", ACME).await, |u| &u.id),
        vec![BOB]
    );
    assert!(user_pages(&mut c, ALICE, ACME)
        .await
        .iter()
        .all(|p| p.id != "3000000002"));

    let ok = assign(&mut c, "3000000002", ALICE, &[], Preset::Editor).await;
    assert!(ok.unwrap().success);
    let sent = last_sent(&gw);
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.path, "/v26.0/3000000002/assigned_users");
    assert_eq!(
        sent.form_param("tasks"),
        Some(r#"["CREATE_CONTENT","MODERATE","ADVERTISE","ANALYZE"]"#)
    );
    assert_eq!(
        sent.form_param("business"),
        None,
        "Meta's Page/assigned_users takes no business"
    );
    assert_eq!(sent.form_param("user"), Some(ALICE));

    let users = page_users(&mut c, "3000000002", ACME).await;
    assert_eq!(
        users,
        vec![
            PageUser {
                id: ALICE.into(),
                name: "Alice Admin".into(),
                tasks: editor_tasks(),
                tasks_raw: editor_tasks_raw(),
            },
            PageUser {
                id: BOB.into(),
                name: "Bob Employee".into(),
                tasks: editor_tasks(),
                tasks_raw: editor_tasks_raw(),
            },
        ]
    );
    let alice = user_pages(&mut c, ALICE, ACME).await;
    assert_eq!(ids(&alice, |p| &p.id), vec!["3000000001", "3000000002"]);
    assert_eq!(alice[1].tasks, editor_tasks());

    // Explicit tasks replace the old list.
    assign(&mut c, "3000000002", BOB, &[PageTask::Analyze], NO_PRESET)
        .await
        .unwrap();
    let users = page_users(&mut c, "3000000002", ACME).await;
    assert_eq!(users[1].tasks, nums(&[PageTask::Analyze]));
}

#[tokio::test]
async fn pg07_preset_and_tasks_together_are_refused_before_graph() {
    let (gw, mut c) = start(Client::new).await;
    let analyze = [PageTask::Analyze];
    let both = assign(&mut c, "3000000002", ALICE, &analyze, Preset::Editor);
    assert_refused_before_graph(&gw, both, &["preset"]).await;
    let unspecified = assign(
        &mut c,
        "3000000002",
        ALICE,
        &[PageTask::Unspecified],
        NO_PRESET,
    );
    assert_refused_before_graph(&gw, unspecified, &["tasks[0]"]).await;
}

#[tokio::test]
async fn pg07_refused_for_a_group_derived_user() {
    let (_gw, mut c) = start(Client::new).await;
    let st = assign(&mut c, "3000000001", CAROL, &[PageTask::Analyze], NO_PRESET)
        .await
        .unwrap_err();
    assert_rule(&st, subcode::FROM_ASSET_GROUP);
    // A user outside the business.
    let st = assign(&mut c, "3000000001", ERIN, &[PageTask::Analyze], NO_PRESET)
        .await
        .unwrap_err();
    assert_rule(&st, subcode::USER_NOT_IN_BUSINESS);
}

#[tokio::test]
async fn pg08_lists_a_users_pages() {
    let (_gw, mut c) = start(Client::new).await;
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
    let (_gw, mut c) = start(Client::new).await;
    let retail = page_users(&mut c, "3000000001", ACME).await;
    assert_eq!(
        retail,
        vec![
            PageUser {
                id: ALICE.into(),
                name: "Alice Admin".into(),
                tasks: all_page_tasks(),
                tasks_raw: all_page_tasks_raw(),
            },
            PageUser {
                id: CAROL.into(),
                name: "Carol Analyst".into(),
                tasks: nums(&[PageTask::Advertise, PageTask::Analyze]),
                tasks_raw: page_raw(&[PageTask::Advertise, PageTask::Analyze]),
            },
        ]
    );
    let outlet_agency = page_users(&mut c, "3000000002", GLOBEX).await;
    assert_eq!(
        outlet_agency,
        vec![PageUser {
            id: FRANK.into(),
            name: "Frank Planner".into(),
            tasks: nums(&[PageTask::Analyze]),
            tasks_raw: page_raw(&[PageTask::Analyze]),
        }]
    );
    assert!(page_users(&mut c, "3000000008", ACME).await.is_empty());
}

#[tokio::test]
async fn pg10_removes_a_direct_user() {
    let (_gw, mut c) = start(Client::new).await;
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
    let (_gw, mut c) = start(Client::new).await;
    let st = remove_user(&mut c, "3000000001", CAROL).await.unwrap_err();
    assert_rule(&st, subcode::FROM_ASSET_GROUP);
    assert_eq!(
        ids(&page_users(&mut c, "3000000001", ACME).await, |u| &u.id),
        vec![ALICE, CAROL]
    );
}

#[tokio::test]
async fn pg11_lists_pending_owned_pages() {
    let (_gw, mut c) = start(Client::new).await;
    assert_eq!(
        names(&pending_owned(&mut c, ACME).await),
        vec![("3000000007", "Acme Kiosk")]
    );
    assert!(pending_owned(&mut c, GLOBEX).await.is_empty());
}
