//! ProductCatalogService: CT01–CT07.

use graph_gateway::proto::product_catalog_service_client::ProductCatalogServiceClient as Client;
use graph_gateway::proto::*;
use tonic::transport::Channel;

use super::*;

/// Acme Products (Acme OWNER; Globex AGENCY [ADVERTISE]; Bob ADVERTISE).
const PRODUCTS: &str = "7000000001";
/// Initech Catalog (Initech OWNER; Globex AGENCY [ADMIN]).
const INITECH_CATALOG: &str = "7000000002";

fn client(ch: &Channel) -> Client<Channel> {
    Client::new(ch.clone())
}

async fn owned(c: &mut Client<Channel>, business: &str) -> Vec<ProductCatalog> {
    c.list_owned_product_catalogs(ListOwnedProductCatalogsRequest {
        business_id: business.into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .product_catalogs
}

async fn client_catalogs(c: &mut Client<Channel>, business: &str) -> Vec<ProductCatalog> {
    c.list_client_product_catalogs(ListClientProductCatalogsRequest {
        business_id: business.into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .product_catalogs
}

async fn users(c: &mut Client<Channel>, catalog: &str, business: &str) -> Vec<ProductCatalogUser> {
    c.list_product_catalog_users(ListProductCatalogUsersRequest {
        catalog_id: catalog.into(),
        business: business.into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .users
}

async fn user_catalogs(c: &mut Client<Channel>, user: &str, business: &str) -> Vec<ProductCatalog> {
    c.list_user_product_catalogs(ListUserProductCatalogsRequest {
        business_scoped_user_id: user.into(),
        business_id: business.into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .product_catalogs
}

#[tokio::test]
async fn ct01_lists_owned_catalogs() {
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
    assert_eq!(
        owned(&mut c, ACME).await,
        vec![ProductCatalog {
            id: PRODUCTS.into(),
            name: "Acme Products".into(),
            access_status: AccessStatus::Confirmed as i32,
            permitted_tasks: nums(&[CatalogTask::Manage, CatalogTask::Advertise]),
            tasks: vec![],
        }]
    );
    let initech = owned(&mut c, INITECH).await;
    assert_eq!(ids(&initech, |c| &c.id), vec![INITECH_CATALOG]);
    assert_eq!(initech[0].name, "Initech Catalog");
    assert!(owned(&mut c, GLOBEX).await.is_empty());
}

#[tokio::test]
async fn ct02_lists_client_catalogs() {
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
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
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
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
    let (gw, ch) = start().await;
    let mut c = client(&ch);
    assert_eq!(
        ids(&users(&mut c, PRODUCTS, ACME).await, |u| &u.id),
        vec![BOB]
    );
    assert!(user_catalogs(&mut c, ALICE, ACME).await.is_empty());

    let ok = c
        .assign_product_catalog_user(AssignProductCatalogUserRequest {
            catalog_id: PRODUCTS.into(),
            business: ACME.into(),
            user: ALICE.into(),
            preset: CatalogRolePreset::Admin as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(ok.success);
    assert_eq!(
        gw.sb().last_request().unwrap().form_param("tasks"),
        Some(r#"["MANAGE","ADVERTISE"]"#)
    );

    assert_eq!(
        users(&mut c, PRODUCTS, ACME).await,
        vec![
            ProductCatalogUser {
                id: ALICE.into(),
                name: "Alice Admin".into(),
                tasks: nums(&[CatalogTask::Manage, CatalogTask::Advertise]),
            },
            ProductCatalogUser {
                id: BOB.into(),
                name: "Bob Employee".into(),
                tasks: nums(&[CatalogTask::Advertise])
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
    let (gw, ch) = start().await;
    let mut c = client(&ch);
    // Globex is only permitted ADVERTISE on Acme Products.
    let st = c
        .assign_product_catalog_user(AssignProductCatalogUserRequest {
            catalog_id: PRODUCTS.into(),
            business: GLOBEX.into(),
            user: FRANK.into(),
            tasks: nums(&[CatalogTask::Manage]),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_rule(&st, subcode::TASKS_NOT_PERMITTED);
    // ADVERTISE is fine, and shows in Globex's view only.
    c.assign_product_catalog_user(AssignProductCatalogUserRequest {
        catalog_id: PRODUCTS.into(),
        business: GLOBEX.into(),
        user: FRANK.into(),
        preset: CatalogRolePreset::Advertiser as i32,
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(
        users(&mut c, PRODUCTS, GLOBEX).await,
        vec![ProductCatalogUser {
            id: FRANK.into(),
            name: "Frank Planner".into(),
            tasks: nums(&[CatalogTask::Advertise])
        }]
    );
    assert_eq!(
        ids(&users(&mut c, PRODUCTS, ACME).await, |u| &u.id),
        vec![BOB]
    );
    // Erin is in no business.
    let st = c
        .assign_product_catalog_user(AssignProductCatalogUserRequest {
            catalog_id: PRODUCTS.into(),
            business: ACME.into(),
            user: ERIN.into(),
            tasks: nums(&[CatalogTask::Advertise]),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_rule(&st, subcode::USER_NOT_IN_BUSINESS);
    // Preset and tasks together: refused before Graph.
    let before = gw.sb().request_count();
    let st = c
        .assign_product_catalog_user(AssignProductCatalogUserRequest {
            catalog_id: PRODUCTS.into(),
            business: ACME.into(),
            user: ALICE.into(),
            tasks: nums(&[CatalogTask::Advertise]),
            preset: CatalogRolePreset::Admin as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violations(&st), vec!["preset"]);
    assert_eq!(gw.sb().request_count(), before);
}

#[tokio::test]
async fn ct04_removes_a_user_visible_in_ct06_and_ct05() {
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
    assert_eq!(
        ids(&users(&mut c, PRODUCTS, ACME).await, |u| &u.id),
        vec![BOB]
    );
    assert_eq!(user_catalogs(&mut c, BOB, ACME).await.len(), 1);
    let ok = c
        .remove_product_catalog_user(RemoveProductCatalogUserRequest {
            catalog_id: PRODUCTS.into(),
            business: ACME.into(),
            user: BOB.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(ok.success);
    assert!(users(&mut c, PRODUCTS, ACME).await.is_empty());
    assert!(user_catalogs(&mut c, BOB, ACME).await.is_empty());
}

#[tokio::test]
async fn ct05_lists_a_users_catalogs() {
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
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
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
    assert_eq!(
        users(&mut c, PRODUCTS, ACME).await,
        vec![ProductCatalogUser {
            id: BOB.into(),
            name: "Bob Employee".into(),
            tasks: nums(&[CatalogTask::Advertise])
        }]
    );
    assert!(users(&mut c, PRODUCTS, GLOBEX).await.is_empty());
}

#[tokio::test]
async fn ct07_adds_an_agency_listed_by_its_ct02() {
    let (gw, ch) = start().await;
    let mut c = client(&ch);
    assert!(client_catalogs(&mut c, INITECH).await.is_empty());
    let ok = c
        .add_product_catalog_agency(AddProductCatalogAgencyRequest {
            catalog_id: PRODUCTS.into(),
            business_id: ACME.into(),
            agency_business_id: INITECH.into(),
            preset: CatalogRolePreset::Advertiser as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(ok.success);
    let sent = gw.sb().last_request().unwrap();
    assert_eq!(sent.path, format!("/v25.0/{PRODUCTS}/agencies"));
    assert_eq!(sent.form_param("business"), Some(INITECH));
    assert_eq!(sent.form_param("permitted_tasks"), Some(r#"["ADVERTISE"]"#));

    let list = client_catalogs(&mut c, INITECH).await;
    assert_eq!(ids(&list, |c| &c.id), vec![PRODUCTS]);
    assert_eq!(list[0].access_status(), AccessStatus::Confirmed);
    assert_eq!(list[0].permitted_tasks, nums(&[CatalogTask::Advertise]));

    // Explicit tasks change the agency's permissions.
    c.add_product_catalog_agency(AddProductCatalogAgencyRequest {
        catalog_id: PRODUCTS.into(),
        business_id: ACME.into(),
        agency_business_id: INITECH.into(),
        permitted_tasks: nums(&[CatalogTask::Manage, CatalogTask::Advertise]),
        ..Default::default()
    })
    .await
    .unwrap();
    let list = client_catalogs(&mut c, INITECH).await;
    assert_eq!(
        list[0].permitted_tasks,
        nums(&[CatalogTask::Manage, CatalogTask::Advertise])
    );

    // Only the owner can grant: Globex is just an agency of Initech Catalog.
    let st = c
        .add_product_catalog_agency(AddProductCatalogAgencyRequest {
            catalog_id: INITECH_CATALOG.into(),
            business_id: GLOBEX.into(),
            agency_business_id: ACME.into(),
            permitted_tasks: nums(&[CatalogTask::Advertise]),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_permission_denied(&st);
}
