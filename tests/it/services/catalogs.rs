//! ProductCatalogService: CT01–CT07, and CT08–CT09 beyond the catalogue.

use graph_gateway::proto::product_catalog_service_client::ProductCatalogServiceClient as Client;
use graph_gateway::proto::*;
use CatalogRolePreset as Preset;

use super::*;

/// Tasks given explicitly.
const NO_PRESET: Preset = Preset::Unspecified;

/// Acme Products (Acme OWNER; Globex AGENCY [ADVERTISE]; Bob ADVERTISE).
const PRODUCTS: &str = "7000000001";
/// Initech Catalog (Initech OWNER; Globex AGENCY [ADMIN]).
const INITECH_CATALOG: &str = "7000000002";

// access_status and the task lists are opt-in (not on Meta's ProductCatalog
// or AssignedUser), so the tests name them.
const CATALOG_FIELDS: &[&str] = &["id", "name", "access_status", "permitted_tasks", "tasks"];
rpc!(fn owned(business_id: &str; read_mask = CATALOG_FIELDS) -> Vec<ProductCatalog>
    = list_owned_product_catalogs(ListOwnedProductCatalogsRequest).product_catalogs);
rpc!(fn client_catalogs(business_id: &str; read_mask = CATALOG_FIELDS) -> Vec<ProductCatalog>
    = list_client_product_catalogs(ListClientProductCatalogsRequest).product_catalogs);
rpc!(fn users(catalog_id: &str, business: &str; read_mask = &["id", "name", "tasks"][..])
    -> Vec<ProductCatalogUser> = list_product_catalog_users(ListProductCatalogUsersRequest).users);
rpc!(fn user_catalogs(business_scoped_user_id: &str, business_id: &str; read_mask = CATALOG_FIELDS) -> Vec<ProductCatalog>
    = list_user_product_catalogs(ListUserProductCatalogsRequest).product_catalogs);
rpc!(fn assign(business: &str, user: &str, tasks: &[CatalogTask], preset: Preset;
    catalog_id = PRODUCTS) -> MutationResult
    = assign_product_catalog_user(AssignProductCatalogUserRequest));
rpc!(fn add_agency(catalog_id: &str, business_id: &str, agency_business_id: &str,
    permitted_tasks: &[CatalogTask], preset: Preset) -> MutationResult
    = add_product_catalog_agency(AddProductCatalogAgencyRequest));
rpc!(fn remove_user(catalog_id: &str, user: &str; business = ACME) -> MutationResult
    = remove_product_catalog_user(RemoveProductCatalogUserRequest));

#[tokio::test]
async fn ct01_lists_owned_catalogs() {
    let (_gw, mut c) = start(Client::new).await;
    assert_eq!(
        owned(&mut c, ACME).await,
        vec![ProductCatalog {
            id: PRODUCTS.into(),
            name: "Acme Products".into(),
            access_status: AccessStatus::Confirmed as i32,
            access_status_raw: "CONFIRMED".into(),
            permitted_tasks: nums(&[CatalogTask::Manage, CatalogTask::Advertise]),
            permitted_tasks_raw: catalog_raw(&[CatalogTask::Manage, CatalogTask::Advertise]),
            tasks: vec![],
            tasks_raw: vec![],
        }]
    );
    let initech = owned(&mut c, INITECH).await;
    assert_eq!(ids(&initech, |c| &c.id), vec![INITECH_CATALOG]);
    assert_eq!(initech[0].name, "Initech Catalog");
    assert!(owned(&mut c, GLOBEX).await.is_empty());
}

#[tokio::test]
async fn ct02_lists_client_catalogs() {
    let (_gw, mut c) = start(Client::new).await;
    let list = client_catalogs(&mut c, GLOBEX).await;
    assert_eq!(ids(&list, |c| &c.id), vec![PRODUCTS, INITECH_CATALOG]);
    assert_eq!(list[0].name, "Acme Products");
    assert_eq!(list[0].access_status(), AccessStatus::Confirmed);
    assert_eq!(list[0].permitted_tasks, nums(&[CatalogTask::Advertise]));
    assert_eq!(list[1].name, "Initech Catalog");
    assert_eq!(list[1].access_status(), AccessStatus::Confirmed);
    assert!(client_catalogs(&mut c, ACME).await.is_empty());
}

/// The demo gives Globex the catalog agency role ADMIN on Initech Catalog;
/// whatever spelling Graph uses, the gateway must not turn it into
/// CATALOG_TASK_UNSPECIFIED (the proto's ADMIN preset is MANAGE + ADVERTISE).
#[tokio::test]
async fn ct02_agency_role_admin_is_not_lost() {
    let (_gw, mut c) = start(Client::new).await;
    let list = client_catalogs(&mut c, GLOBEX).await;
    let initech = list
        .iter()
        .find(|c| c.id == INITECH_CATALOG)
        .expect("Initech Catalog listed");
    assert_eq!(
        initech.permitted_tasks,
        nums(&[CatalogTask::Manage, CatalogTask::Advertise]),
        "{initech:?}"
    );
}

#[tokio::test]
async fn ct03_assigns_a_user_with_a_preset_visible_in_ct06_and_ct05() {
    let (gw, mut c) = start(Client::new).await;
    assert_eq!(
        ids(&users(&mut c, PRODUCTS, ACME).await, |u| &u.id),
        vec![BOB]
    );
    assert!(user_catalogs(&mut c, ALICE, ACME).await.is_empty());

    let ok = assign(&mut c, ACME, ALICE, &[], Preset::Admin)
        .await
        .unwrap();
    assert!(ok.success);
    assert_eq!(
        last_sent(&gw).form_param("tasks"),
        Some(r#"["MANAGE","ADVERTISE"]"#)
    );

    assert_eq!(
        users(&mut c, PRODUCTS, ACME).await,
        vec![
            ProductCatalogUser {
                id: ALICE.into(),
                name: "Alice Admin".into(),
                tasks: nums(&[CatalogTask::Manage, CatalogTask::Advertise]),
                tasks_raw: catalog_raw(&[CatalogTask::Manage, CatalogTask::Advertise]),
            },
            ProductCatalogUser {
                id: BOB.into(),
                name: "Bob Employee".into(),
                tasks: nums(&[CatalogTask::Advertise]),
                tasks_raw: catalog_raw(&[CatalogTask::Advertise]),
            },
        ]
    );
    let alice = user_catalogs(&mut c, ALICE, ACME).await;
    assert_eq!(ids(&alice, |c| &c.id), vec![PRODUCTS]);
    assert_eq!(
        alice[0].tasks,
        nums(&[CatalogTask::Manage, CatalogTask::Advertise])
    );
}

#[tokio::test]
async fn ct03_rules_and_validation() {
    let (gw, mut c) = start(Client::new).await;
    // Globex is only permitted ADVERTISE on Acme Products.
    let st = assign(&mut c, GLOBEX, FRANK, &[CatalogTask::Manage], NO_PRESET)
        .await
        .unwrap_err();
    assert_rule(&st, subcode::TASKS_NOT_PERMITTED);
    // ADVERTISE is fine, and shows in Globex's view only.
    assign(&mut c, GLOBEX, FRANK, &[], Preset::Advertiser)
        .await
        .unwrap();
    assert_eq!(
        users(&mut c, PRODUCTS, GLOBEX).await,
        vec![ProductCatalogUser {
            id: FRANK.into(),
            name: "Frank Planner".into(),
            tasks: nums(&[CatalogTask::Advertise]),
            tasks_raw: catalog_raw(&[CatalogTask::Advertise]),
        }]
    );
    assert_eq!(
        ids(&users(&mut c, PRODUCTS, ACME).await, |u| &u.id),
        vec![BOB]
    );
    // Erin is in no business.
    let st = assign(&mut c, ACME, ERIN, &[CatalogTask::Advertise], NO_PRESET)
        .await
        .unwrap_err();
    assert_rule(&st, subcode::USER_NOT_IN_BUSINESS);
    // Preset and tasks together: refused before Graph.
    let both = assign(
        &mut c,
        ACME,
        ALICE,
        &[CatalogTask::Advertise],
        Preset::Admin,
    );
    assert_refused_before_graph(&gw, both, &["preset"]).await;
}

#[tokio::test]
async fn ct04_removes_a_user_visible_in_ct06_and_ct05() {
    let (_gw, mut c) = start(Client::new).await;
    assert_eq!(
        ids(&users(&mut c, PRODUCTS, ACME).await, |u| &u.id),
        vec![BOB]
    );
    assert_eq!(user_catalogs(&mut c, BOB, ACME).await.len(), 1);
    assert!(remove_user(&mut c, PRODUCTS, BOB).await.unwrap().success);
    assert!(users(&mut c, PRODUCTS, ACME).await.is_empty());
    assert!(user_catalogs(&mut c, BOB, ACME).await.is_empty());
}

#[tokio::test]
async fn ct05_lists_a_users_catalogs() {
    let (_gw, mut c) = start(Client::new).await;
    let bob = user_catalogs(&mut c, BOB, ACME).await;
    assert_eq!(ids(&bob, |c| &c.id), vec![PRODUCTS]);
    assert_eq!(bob[0].name, "Acme Products");
    assert_eq!(bob[0].tasks, nums(&[CatalogTask::Advertise]));
    assert!(
        user_catalogs(&mut c, CAROL, ACME).await.is_empty(),
        "groups give no catalog roles"
    );
}

#[tokio::test]
async fn ct06_lists_catalog_users() {
    let (_gw, mut c) = start(Client::new).await;
    assert_eq!(
        users(&mut c, PRODUCTS, ACME).await,
        vec![ProductCatalogUser {
            id: BOB.into(),
            name: "Bob Employee".into(),
            tasks: nums(&[CatalogTask::Advertise]),
            tasks_raw: catalog_raw(&[CatalogTask::Advertise]),
        }]
    );
    assert!(users(&mut c, PRODUCTS, GLOBEX).await.is_empty());
}

#[tokio::test]
async fn ct07_adds_an_agency_listed_by_its_ct02() {
    let (gw, mut c) = start(Client::new).await;
    assert!(client_catalogs(&mut c, INITECH).await.is_empty());
    let ok = add_agency(&mut c, PRODUCTS, ACME, INITECH, &[], Preset::Advertiser)
        .await
        .unwrap();
    assert!(ok.success);
    let sent = last_sent(&gw);
    assert_eq!(sent.path, format!("/v26.0/{PRODUCTS}/agencies"));
    assert_eq!(sent.form_param("business"), Some(INITECH));
    assert_eq!(sent.form_param("permitted_tasks"), Some(r#"["ADVERTISE"]"#));

    let list = client_catalogs(&mut c, INITECH).await;
    assert_eq!(ids(&list, |c| &c.id), vec![PRODUCTS]);
    assert_eq!(list[0].access_status(), AccessStatus::Confirmed);
    assert_eq!(list[0].permitted_tasks, nums(&[CatalogTask::Advertise]));

    // Explicit tasks change the agency's permissions.
    add_agency(
        &mut c,
        PRODUCTS,
        ACME,
        INITECH,
        &[CatalogTask::Manage, CatalogTask::Advertise],
        NO_PRESET,
    )
    .await
    .unwrap();
    let list = client_catalogs(&mut c, INITECH).await;
    assert_eq!(
        list[0].permitted_tasks,
        nums(&[CatalogTask::Manage, CatalogTask::Advertise])
    );

    // Meta's permitted_roles and collaboration terms reach Graph as spelled.
    c.add_product_catalog_agency(AddProductCatalogAgencyRequest {
        catalog_id: PRODUCTS.into(),
        business_id: ACME.into(),
        agency_business_id: INITECH.into(),
        permitted_roles: nums(&[CatalogAgencyRole::Advertiser]),
        enabled_collab_terms: nums(&[CatalogCollabTerm::EnforceShareAdPerformanceAccess]),
        skip_defaults: Some(true),
        ..Default::default()
    })
    .await
    .unwrap();
    let sent = last_sent(&gw);
    assert_eq!(
        sent.form_param("permitted_roles"),
        Some(r#"["ADVERTISER"]"#)
    );
    assert_eq!(
        sent.form_param("enabled_collab_terms"),
        Some(r#"["ENFORCE_SHARE_AD_PERFORMANCE_ACCESS"]"#)
    );
    assert_eq!(sent.form_param("skip_defaults"), Some("true"));
    assert_eq!(sent.form_param("permitted_tasks"), None);

    // Only the owner can grant: Globex is just an agency of Initech Catalog.
    let st = add_agency(
        &mut c,
        INITECH_CATALOG,
        GLOBEX,
        ACME,
        &[CatalogTask::Advertise],
        NO_PRESET,
    )
    .await
    .unwrap_err();
    assert_permission_denied(&st);
}

// ---------------------------------------------------------------------------
// CT08, CT09 (beyond the catalogue: issue 16)

rpc!(fn catalog_agencies(catalog_id: &str, business_id: &str) -> Vec<AgencyBusiness>
    = list_product_catalog_agencies(ListProductCatalogAgenciesRequest).agencies);
rpc!(fn remove_agency(catalog_id: &str, business_id: &str, agency_business_id: &str)
    -> MutationResult
    = remove_product_catalog_agency(RemoveProductCatalogAgencyRequest));

#[tokio::test]
async fn ct08_lists_agencies_and_ct09_removes_one_and_the_cached_lists_follow() {
    let (gw, mut c) = start(Client::new).await;
    // Cached before the changes.
    let before = catalog_agencies(&mut c, PRODUCTS, ACME).await;
    assert!(!before.iter().any(|a| a.id == INITECH), "{before:?}");
    assert!(client_catalogs(&mut c, INITECH).await.is_empty());

    // CT07 adds Initech: both lists show it at once.
    add_agency(&mut c, PRODUCTS, ACME, INITECH, &[], Preset::Advertiser)
        .await
        .unwrap();
    let after = catalog_agencies(&mut c, PRODUCTS, ACME).await;
    let initech = after
        .iter()
        .find(|a| a.id == INITECH)
        .expect("Initech listed");
    assert_eq!(initech.name, "Initech Holdings");
    assert_eq!(after.len(), before.len() + 1);
    assert_eq!(
        ids(&client_catalogs(&mut c, INITECH).await, |c| &c.id),
        vec![PRODUCTS]
    );

    // CT09 removes it: sent as Graph wants it, and both lists follow.
    assert!(
        remove_agency(&mut c, PRODUCTS, ACME, INITECH)
            .await
            .unwrap()
            .success
    );
    let sent = last_sent(&gw);
    assert_eq!(sent.method, "DELETE");
    assert_eq!(sent.path, format!("/v26.0/{PRODUCTS}/agencies"));
    assert_eq!(sent.param("business"), Some(INITECH));
    let ids_now: Vec<String> = catalog_agencies(&mut c, PRODUCTS, ACME)
        .await
        .into_iter()
        .map(|a| a.id)
        .collect();
    let ids_before: Vec<String> = before.into_iter().map(|a| a.id).collect();
    assert_eq!(ids_now, ids_before);
    assert!(client_catalogs(&mut c, INITECH).await.is_empty());
}

#[tokio::test]
async fn ct09_invalid_requests_never_reach_graph() {
    let (gw, mut c) = start(Client::new).await;
    let bad = remove_agency(&mut c, PRODUCTS, ACME, "");
    assert_refused_before_graph(&gw, bad, &["agency_business_id"]).await;
    let bad = remove_agency(&mut c, "cat-1", ACME, "x");
    assert_refused_before_graph(&gw, bad, &["catalog_id", "agency_business_id"]).await;
}
