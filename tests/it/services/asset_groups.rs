//! BusinessAssetGroupService: AG01–AG32.

use graph_gateway::proto::business_asset_group_service_client::BusinessAssetGroupServiceClient as Client;
use graph_gateway::proto::*;
use tonic::transport::Channel;
use tonic::Code;

use super::*;

/// Acme Brand Team (Carol; one asset of every kind).
const BRAND: &str = "9000000001";
/// Acme Regional Team (only act_2000000001).
const REGIONAL: &str = "9000000002";
/// Globex Client Services (Frank).
const GLOBEX_GROUP: &str = "9000000003";

fn client(ch: &Channel) -> Client<Channel> {
    Client::new(ch.clone())
}

async fn list_groups(c: &mut Client<Channel>, business: &str) -> Vec<BusinessAssetGroup> {
    c.list_business_asset_groups(ListBusinessAssetGroupsRequest {
        business_id: business.into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .business_asset_groups
}

async fn get_group(c: &mut Client<Channel>, id: &str) -> Result<BusinessAssetGroup, tonic::Status> {
    c.get_business_asset_group(GetBusinessAssetGroupRequest {
        asset_group_id: id.into(),
        business_id: ACME.into(),
        ..Default::default()
    })
    .await
    .map(|r| r.into_inner())
}

async fn group_users(c: &mut Client<Channel>, group: &str, business: &str) -> Vec<AssetGroupUser> {
    c.list_asset_group_users(ListAssetGroupUsersRequest {
        asset_group_id: group.into(),
        business: business.into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .users
}

async fn user_groups(
    c: &mut Client<Channel>,
    user: &str,
    business: &str,
) -> Vec<UserBusinessAssetGroup> {
    c.list_user_business_asset_groups(ListUserBusinessAssetGroupsRequest {
        business_scoped_user_id: user.into(),
        business_id: business.into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .business_asset_groups
}

#[tokio::test]
async fn ag01_lists_each_business_groups() {
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
    let acme = list_groups(&mut c, ACME).await;
    assert_eq!(
        acme,
        vec![
            BusinessAssetGroup {
                id: BRAND.into(),
                name: "Acme Brand Team".into()
            },
            BusinessAssetGroup {
                id: REGIONAL.into(),
                name: "Acme Regional Team".into()
            },
        ]
    );
    let globex = list_groups(&mut c, GLOBEX).await;
    assert_eq!(
        globex,
        vec![BusinessAssetGroup {
            id: GLOBEX_GROUP.into(),
            name: "Globex Client Services".into()
        }]
    );
    assert!(list_groups(&mut c, INITECH).await.is_empty());
}

#[tokio::test]
async fn ag01_pagination_walks_every_page() {
    let (gw, ch) = start().await;
    let mut c = client(&ch);
    let mut seen = Vec::new();
    let mut token = String::new();
    for _ in 0..10 {
        let page = c
            .list_business_asset_groups(ListBusinessAssetGroupsRequest {
                business_id: ACME.into(),
                page_size: 1,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            page.business_asset_groups.len(),
            1,
            "page_size=1 gives one group per page"
        );
        seen.extend(page.business_asset_groups.into_iter().map(|g| g.id));
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    assert!(token.is_empty(), "the walk ended");
    assert_eq!(seen, vec![BRAND, REGIONAL]);
    assert_eq!(
        gw.sb()
            .requests_to(&format!("/{ACME}/business_asset_groups")),
        2
    );
    assert_eq!(
        gw.sb().last_request().unwrap().query_param("limit"),
        Some("1")
    );
}

#[tokio::test]
async fn ag02_reads_one_group_and_ag03_renames_it() {
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
    let g = get_group(&mut c, BRAND).await.unwrap();
    assert_eq!(
        g,
        BusinessAssetGroup {
            id: BRAND.into(),
            name: "Acme Brand Team".into()
        }
    );
    // Warm the list cache too: the rename must invalidate both reads.
    assert!(list_groups(&mut c, ACME)
        .await
        .iter()
        .any(|g| g.name == "Acme Brand Team"));

    let renamed = c
        .rename_business_asset_group(RenameBusinessAssetGroupRequest {
            asset_group_id: BRAND.into(),
            business_id: ACME.into(),
            name: "Acme Brand & Social".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(renamed.success);

    assert_eq!(
        get_group(&mut c, BRAND).await.unwrap().name,
        "Acme Brand & Social"
    );
    let names: Vec<String> = list_groups(&mut c, ACME)
        .await
        .into_iter()
        .map(|g| g.name)
        .collect();
    assert_eq!(names, vec!["Acme Brand & Social", "Acme Regional Team"]);

    // An unknown group is NOT_FOUND (Graph 100/33).
    let st = get_group(&mut c, "9999999999").await.unwrap_err();
    assert_graph_error(&st, Code::NotFound, "GRAPH_NOT_FOUND", 100, Some(33));
}

#[tokio::test]
async fn ag04_deletes_a_group_and_its_users_lose_their_roles() {
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
    assert_eq!(list_groups(&mut c, ACME).await.len(), 2);
    assert_eq!(group_users(&mut c, BRAND, ACME).await.len(), 1);
    let contained = ListContainedPagesRequest {
        asset_group_id: BRAND.into(),
        business_id: ACME.into(),
        ..Default::default()
    };
    assert_eq!(
        c.list_contained_pages(contained.clone())
            .await
            .unwrap()
            .into_inner()
            .pages
            .len(),
        1
    );

    let deleted = c
        .delete_business_asset_group(DeleteBusinessAssetGroupRequest {
            asset_group_id: BRAND.into(),
            business_id: ACME.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(deleted.success);

    assert_eq!(
        ids(&list_groups(&mut c, ACME).await, |g| &g.id),
        vec![REGIONAL]
    );
    let st = get_group(&mut c, BRAND).await.unwrap_err();
    assert_eq!(st.code(), Code::NotFound, "{st:?}");
    // The group's own edges, read before, are gone too.
    let st = c.list_contained_pages(contained.clone()).await.unwrap_err();
    assert_eq!(st.code(), Code::NotFound, "{st:?}");
    let st = c
        .list_asset_group_users(ListAssetGroupUsersRequest {
            asset_group_id: BRAND.into(),
            business: ACME.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::NotFound, "{st:?}");
    // Carol's page roles came from the deleted group.
    let mut pages = graph_gateway::proto::page_service_client::PageServiceClient::new(ch.clone());
    let users = pages
        .list_page_users(ListPageUsersRequest {
            page_id: "3000000001".into(),
            business: ACME.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .users;
    assert_eq!(
        ids(&users, |u| &u.id),
        vec![ALICE],
        "Carol's page roles came from the deleted group"
    );
}

#[tokio::test]
async fn ag05_lists_a_users_groups_with_roles() {
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
    let carol = user_groups(&mut c, CAROL, ACME).await;
    assert_eq!(
        carol,
        vec![UserBusinessAssetGroup {
            id: BRAND.into(),
            name: "Acme Brand Team".into(),
            page_roles: nums(&[PageTask::Advertise, PageTask::Analyze]),
            adaccount_roles: nums(&[AdAccountTask::Advertise, AdAccountTask::Analyze]),
            pixel_roles: vec!["ANALYZE".into()],
            offline_conversion_data_set_roles: vec!["UPLOAD".into()],
        }]
    );
    // Frank, seen by Globex's token.
    let frank = user_groups(&mut c, FRANK, GLOBEX).await;
    assert_eq!(ids(&frank, |g| &g.id), vec![GLOBEX_GROUP]);
    assert_eq!(frank[0].adaccount_roles, nums(&[AdAccountTask::Analyze]));
    assert!(frank[0].page_roles.is_empty());
    // Bob is in no group.
    assert!(user_groups(&mut c, BOB, ACME).await.is_empty());
    // Acme's token shares no business with Frank.
    let st = c
        .list_user_business_asset_groups(ListUserBusinessAssetGroupsRequest {
            business_scoped_user_id: FRANK.into(),
            business_id: ACME.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_permission_denied(&st);
}

#[tokio::test]
async fn ag06_lists_group_users_with_roles() {
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
    let users = group_users(&mut c, BRAND, ACME).await;
    assert_eq!(
        users,
        vec![AssetGroupUser {
            id: CAROL.into(),
            name: "Carol Analyst".into(),
            page_roles: nums(&[PageTask::Advertise, PageTask::Analyze]),
            adaccount_roles: nums(&[AdAccountTask::Advertise, AdAccountTask::Analyze]),
            pixel_roles: vec!["ANALYZE".into()],
            offline_conversion_data_set_roles: vec!["UPLOAD".into()],
        }]
    );
    assert!(group_users(&mut c, REGIONAL, ACME).await.is_empty());
    let globex = group_users(&mut c, GLOBEX_GROUP, GLOBEX).await;
    assert_eq!(ids(&globex, |u| &u.id), vec![FRANK]);
    assert_eq!(globex[0].name, "Frank Planner");
}

#[tokio::test]
async fn ag07_assigns_a_user_visible_in_ag06_and_ag05() {
    let (gw, ch) = start().await;
    let mut c = client(&ch);
    // Warm both reads the assignment must invalidate.
    assert_eq!(group_users(&mut c, BRAND, ACME).await.len(), 1);
    assert!(user_groups(&mut c, BOB, ACME).await.is_empty());

    let ok = c
        .assign_asset_group_user(AssignAssetGroupUserRequest {
            asset_group_id: BRAND.into(),
            business: ACME.into(),
            user: BOB.into(),
            page_role_preset: PageRolePreset::Analyst as i32,
            adaccount_roles: nums(&[AdAccountTask::Analyze]),
            pixel_roles: vec!["ANALYZE".into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(ok.success);
    let sent = gw.sb().last_request().unwrap();
    assert_eq!(sent.method, "POST");
    assert_eq!(
        sent.param("page_roles"),
        Some(r#"["ANALYZE"]"#),
        "the preset expanded"
    );
    assert_eq!(sent.param("adaccount_roles"), Some(r#"["ANALYZE"]"#));

    let users = group_users(&mut c, BRAND, ACME).await;
    assert_eq!(ids(&users, |u| &u.id), vec![BOB, CAROL]);
    let bob = &users[0];
    assert_eq!(bob.name, "Bob Employee");
    assert_eq!(bob.page_roles, nums(&[PageTask::Analyze]));
    assert_eq!(bob.adaccount_roles, nums(&[AdAccountTask::Analyze]));
    assert_eq!(bob.pixel_roles, vec!["ANALYZE"]);

    let bobs = user_groups(&mut c, BOB, ACME).await;
    assert_eq!(ids(&bobs, |g| &g.id), vec![BRAND]);
    assert_eq!(bobs[0].page_roles, nums(&[PageTask::Analyze]));

    // The same call changes roles of a user already in the group.
    c.assign_asset_group_user(AssignAssetGroupUserRequest {
        asset_group_id: BRAND.into(),
        business: ACME.into(),
        user: BOB.into(),
        page_roles: nums(&[PageTask::Moderate, PageTask::Analyze]),
        ..Default::default()
    })
    .await
    .unwrap();
    let bobs = user_groups(&mut c, BOB, ACME).await;
    assert_eq!(
        bobs[0].page_roles,
        nums(&[PageTask::Moderate, PageTask::Analyze])
    );
    assert_eq!(
        bobs[0].adaccount_roles,
        nums(&[AdAccountTask::Analyze]),
        "roles not given are kept"
    );

    // A user outside the business is refused by the sandbox's rule.
    let st = c
        .assign_asset_group_user(AssignAssetGroupUserRequest {
            asset_group_id: BRAND.into(),
            business: ACME.into(),
            user: ERIN.into(),
            page_roles: nums(&[PageTask::Analyze]),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_rule(&st, subcode::USER_NOT_IN_BUSINESS);
}

#[tokio::test]
async fn ag07_preset_and_roles_together_are_refused_before_graph() {
    let (gw, ch) = start().await;
    let mut c = client(&ch);
    let before = gw.sb().request_count();
    let st = c
        .assign_asset_group_user(AssignAssetGroupUserRequest {
            asset_group_id: BRAND.into(),
            business: ACME.into(),
            user: BOB.into(),
            page_roles: nums(&[PageTask::Analyze]),
            page_role_preset: PageRolePreset::Editor as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violations(&st), vec!["page_role_preset"]);
    assert_eq!(gw.sb().request_count(), before, "no Graph call");
}

#[tokio::test]
async fn ag08_removes_a_user_visible_in_ag06_and_ag05() {
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
    assert_eq!(
        ids(&group_users(&mut c, BRAND, ACME).await, |u| &u.id),
        vec![CAROL]
    );
    assert_eq!(user_groups(&mut c, CAROL, ACME).await.len(), 1);

    let ok = c
        .remove_asset_group_user(RemoveAssetGroupUserRequest {
            asset_group_id: BRAND.into(),
            business: ACME.into(),
            user: CAROL.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(ok.success);

    assert!(group_users(&mut c, BRAND, ACME).await.is_empty());
    assert!(user_groups(&mut c, CAROL, ACME).await.is_empty());
}

// --- contained assets: one test per edge (list, add, remove) ------------

#[tokio::test]
async fn ag09_ag10_ag11_contained_pages() {
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
    let list = |group: &str| ListContainedPagesRequest {
        asset_group_id: group.into(),
        business_id: ACME.into(),
        ..Default::default()
    };
    let brand = c
        .list_contained_pages(list(BRAND))
        .await
        .unwrap()
        .into_inner()
        .pages;
    assert_eq!(
        brand,
        vec![ContainedPage {
            id: "3000000001".into(),
            name: "Acme Retail".into()
        }]
    );
    assert!(c
        .list_contained_pages(list(REGIONAL))
        .await
        .unwrap()
        .into_inner()
        .pages
        .is_empty());

    let added = c
        .add_contained_page(AddContainedPageRequest {
            asset_group_id: REGIONAL.into(),
            business_id: ACME.into(),
            page_id: "3000000008".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(added.success);
    let regional = c
        .list_contained_pages(list(REGIONAL))
        .await
        .unwrap()
        .into_inner()
        .pages;
    assert_eq!(
        regional,
        vec![ContainedPage {
            id: "3000000008".into(),
            name: "Acme Careers".into()
        }]
    );

    let removed = c
        .remove_contained_page(RemoveContainedPageRequest {
            asset_group_id: BRAND.into(),
            business_id: ACME.into(),
            page_id: "3000000001".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(removed.success);
    assert!(c
        .list_contained_pages(list(BRAND))
        .await
        .unwrap()
        .into_inner()
        .pages
        .is_empty());

    // A page the business has no access to cannot be added.
    let st = c
        .add_contained_page(AddContainedPageRequest {
            asset_group_id: REGIONAL.into(),
            business_id: ACME.into(),
            page_id: "3000000005".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_rule(&st, subcode::NOT_IN_BUSINESS);
}

#[tokio::test]
async fn ag12_ag13_ag14_contained_ad_accounts() {
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
    let list = |group: &str| ListContainedAdAccountsRequest {
        asset_group_id: group.into(),
        business_id: ACME.into(),
        ..Default::default()
    };
    let brand = c
        .list_contained_ad_accounts(list(BRAND))
        .await
        .unwrap()
        .into_inner()
        .ad_accounts;
    assert_eq!(
        brand,
        vec![ContainedAdAccount {
            id: "act_2000000002".into(),
            account_id: "2000000002".into()
        }]
    );
    let regional = c
        .list_contained_ad_accounts(list(REGIONAL))
        .await
        .unwrap()
        .into_inner()
        .ad_accounts;
    assert_eq!(ids(&regional, |a| &a.id), vec!["act_2000000001"]);

    // Added as act_N...
    let added = c
        .add_contained_ad_account(AddContainedAdAccountRequest {
            asset_group_id: REGIONAL.into(),
            business_id: ACME.into(),
            ad_account_id: "act_2000000002".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(added.success);
    let regional = c
        .list_contained_ad_accounts(list(REGIONAL))
        .await
        .unwrap()
        .into_inner()
        .ad_accounts;
    assert_eq!(
        ids(&regional, |a| &a.id),
        vec!["act_2000000001", "act_2000000002"]
    );

    // ...removed as bare digits.
    let removed = c
        .remove_contained_ad_account(RemoveContainedAdAccountRequest {
            asset_group_id: BRAND.into(),
            business_id: ACME.into(),
            ad_account_id: "2000000002".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(removed.success);
    assert!(c
        .list_contained_ad_accounts(list(BRAND))
        .await
        .unwrap()
        .into_inner()
        .ad_accounts
        .is_empty());

    // Initech's ad account is not Acme's.
    let st = c
        .add_contained_ad_account(AddContainedAdAccountRequest {
            asset_group_id: REGIONAL.into(),
            business_id: ACME.into(),
            ad_account_id: "act_2000000006".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_rule(&st, subcode::NOT_IN_BUSINESS);
}

#[tokio::test]
async fn ag15_ag16_ag17_contained_product_catalogs() {
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
    let list = |group: &str| ListContainedProductCatalogsRequest {
        asset_group_id: group.into(),
        business_id: ACME.into(),
        ..Default::default()
    };
    let catalog = ContainedProductCatalog {
        id: "7000000001".into(),
        name: "Acme Products".into(),
    };
    assert_eq!(
        c.list_contained_product_catalogs(list(BRAND))
            .await
            .unwrap()
            .into_inner()
            .product_catalogs,
        vec![catalog.clone()]
    );
    assert!(c
        .list_contained_product_catalogs(list(REGIONAL))
        .await
        .unwrap()
        .into_inner()
        .product_catalogs
        .is_empty());

    let added = c
        .add_contained_product_catalog(AddContainedProductCatalogRequest {
            asset_group_id: REGIONAL.into(),
            business_id: ACME.into(),
            catalog_id: "7000000001".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(added.success);
    assert_eq!(
        c.list_contained_product_catalogs(list(REGIONAL))
            .await
            .unwrap()
            .into_inner()
            .product_catalogs,
        vec![catalog]
    );

    let removed = c
        .remove_contained_product_catalog(RemoveContainedProductCatalogRequest {
            asset_group_id: BRAND.into(),
            business_id: ACME.into(),
            catalog_id: "7000000001".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(removed.success);
    assert!(c
        .list_contained_product_catalogs(list(BRAND))
        .await
        .unwrap()
        .into_inner()
        .product_catalogs
        .is_empty());
}

#[tokio::test]
async fn ag18_ag19_ag20_contained_instagram_accounts() {
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
    let list = |group: &str| ListContainedInstagramAccountsRequest {
        asset_group_id: group.into(),
        business_id: ACME.into(),
        ..Default::default()
    };
    let brand = c
        .list_contained_instagram_accounts(list(BRAND))
        .await
        .unwrap()
        .into_inner()
        .instagram_accounts;
    assert_eq!(
        brand,
        vec![ContainedInstagramAccount {
            id: "6000000001".into(),
            username: "acmeretail".into()
        }]
    );
    assert!(c
        .list_contained_instagram_accounts(list(REGIONAL))
        .await
        .unwrap()
        .into_inner()
        .instagram_accounts
        .is_empty());

    let added = c
        .add_contained_instagram_account(AddContainedInstagramAccountRequest {
            asset_group_id: REGIONAL.into(),
            business_id: ACME.into(),
            instagram_account_id: "6000000003".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(added.success);
    let regional = c
        .list_contained_instagram_accounts(list(REGIONAL))
        .await
        .unwrap()
        .into_inner()
        .instagram_accounts;
    assert_eq!(
        regional,
        vec![ContainedInstagramAccount {
            id: "6000000003".into(),
            username: "acme.outlet".into()
        }]
    );

    let removed = c
        .remove_contained_instagram_account(RemoveContainedInstagramAccountRequest {
            asset_group_id: BRAND.into(),
            business_id: ACME.into(),
            instagram_account_id: "6000000001".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(removed.success);
    assert!(c
        .list_contained_instagram_accounts(list(BRAND))
        .await
        .unwrap()
        .into_inner()
        .instagram_accounts
        .is_empty());
}

#[tokio::test]
async fn ag21_ag22_ag23_contained_pixels() {
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
    let list = |group: &str| ListContainedPixelsRequest {
        asset_group_id: group.into(),
        business_id: ACME.into(),
        ..Default::default()
    };
    let pixel = ContainedPixel {
        id: "5000000001".into(),
        name: "Acme Website Pixel".into(),
    };
    assert_eq!(
        c.list_contained_pixels(list(BRAND))
            .await
            .unwrap()
            .into_inner()
            .pixels,
        vec![pixel.clone()]
    );
    assert!(c
        .list_contained_pixels(list(REGIONAL))
        .await
        .unwrap()
        .into_inner()
        .pixels
        .is_empty());

    let added = c
        .add_contained_pixel(AddContainedPixelRequest {
            asset_group_id: REGIONAL.into(),
            business_id: ACME.into(),
            pixel_id: "5000000001".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(added.success);
    assert_eq!(
        c.list_contained_pixels(list(REGIONAL))
            .await
            .unwrap()
            .into_inner()
            .pixels,
        vec![pixel]
    );

    let removed = c
        .remove_contained_pixel(RemoveContainedPixelRequest {
            asset_group_id: BRAND.into(),
            business_id: ACME.into(),
            pixel_id: "5000000001".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(removed.success);
    assert!(c
        .list_contained_pixels(list(BRAND))
        .await
        .unwrap()
        .into_inner()
        .pixels
        .is_empty());

    // Globex's pixel is not shared with Acme.
    let st = c
        .add_contained_pixel(AddContainedPixelRequest {
            asset_group_id: REGIONAL.into(),
            business_id: ACME.into(),
            pixel_id: "5000000003".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_rule(&st, subcode::NOT_IN_BUSINESS);
}

#[tokio::test]
async fn ag24_ag25_ag26_contained_offline_conversion_data_sets() {
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
    let list = |group: &str| ListContainedOfflineConversionDataSetsRequest {
        asset_group_id: group.into(),
        business_id: ACME.into(),
        ..Default::default()
    };
    let set = ContainedOfflineConversionDataSet {
        id: "8000000001".into(),
        name: "Acme Store Sales".into(),
        business: Some(NodeRef {
            id: ACME.into(),
            name: "Acme Retail".into(),
        }),
        enable_auto_assign_to_accounts: false,
        is_restricted_use: false,
    };
    assert_eq!(
        c.list_contained_offline_conversion_data_sets(list(BRAND))
            .await
            .unwrap()
            .into_inner()
            .offline_conversion_data_sets,
        vec![set.clone()]
    );
    assert!(c
        .list_contained_offline_conversion_data_sets(list(REGIONAL))
        .await
        .unwrap()
        .into_inner()
        .offline_conversion_data_sets
        .is_empty());

    let added = c
        .add_contained_offline_conversion_data_set(AddContainedOfflineConversionDataSetRequest {
            asset_group_id: REGIONAL.into(),
            business_id: ACME.into(),
            offline_conversion_data_set_id: "8000000001".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(added.success);
    assert_eq!(
        c.list_contained_offline_conversion_data_sets(list(REGIONAL))
            .await
            .unwrap()
            .into_inner()
            .offline_conversion_data_sets,
        vec![set]
    );

    let removed = c
        .remove_contained_offline_conversion_data_set(
            RemoveContainedOfflineConversionDataSetRequest {
                asset_group_id: BRAND.into(),
                business_id: ACME.into(),
                offline_conversion_data_set_id: "8000000001".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .into_inner();
    assert!(removed.success);
    assert!(c
        .list_contained_offline_conversion_data_sets(list(BRAND))
        .await
        .unwrap()
        .into_inner()
        .offline_conversion_data_sets
        .is_empty());
}

#[tokio::test]
async fn ag27_ag28_ag29_contained_applications() {
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
    let list = |group: &str| ListContainedApplicationsRequest {
        asset_group_id: group.into(),
        business_id: ACME.into(),
        ..Default::default()
    };
    let brand = c
        .list_contained_applications(list(BRAND))
        .await
        .unwrap()
        .into_inner()
        .applications;
    assert_eq!(
        brand,
        vec![ContainedApplication {
            id: "4000000001".into(),
            name: "Acme Shop".into(),
            category: "Shopping".into(),
            link: "https://www.facebook.com/games/?app_id=4000000001".into(),
        }]
    );
    assert!(c
        .list_contained_applications(list(REGIONAL))
        .await
        .unwrap()
        .into_inner()
        .applications
        .is_empty());

    // A shared app (Acme is Globex Insights' confirmed agency) can be added.
    let added = c
        .add_contained_application(AddContainedApplicationRequest {
            asset_group_id: REGIONAL.into(),
            business_id: ACME.into(),
            app_id: "4000000002".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(added.success);
    let regional = c
        .list_contained_applications(list(REGIONAL))
        .await
        .unwrap()
        .into_inner()
        .applications;
    assert_eq!(ids(&regional, |a| &a.id), vec!["4000000002"]);
    assert_eq!(regional[0].name, "Globex Insights");
    assert_eq!(regional[0].category, "Business");

    let removed = c
        .remove_contained_application(RemoveContainedApplicationRequest {
            asset_group_id: BRAND.into(),
            business_id: ACME.into(),
            app_id: "4000000001".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(removed.success);
    assert!(c
        .list_contained_applications(list(BRAND))
        .await
        .unwrap()
        .into_inner()
        .applications
        .is_empty());

    // Acme's access to Initech Loyalty is only PENDING.
    let st = c
        .add_contained_application(AddContainedApplicationRequest {
            asset_group_id: REGIONAL.into(),
            business_id: ACME.into(),
            app_id: "4000000003".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_rule(&st, subcode::NOT_IN_BUSINESS);
}

#[tokio::test]
async fn ag30_ag31_ag32_contained_custom_conversions() {
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
    let list = |group: &str| ListContainedCustomConversionsRequest {
        asset_group_id: group.into(),
        business_id: ACME.into(),
        ..Default::default()
    };
    let conversion = ContainedCustomConversion {
        id: "8100000001".into(),
        name: "Acme Purchase Over 100".into(),
    };
    assert_eq!(
        c.list_contained_custom_conversions(list(BRAND))
            .await
            .unwrap()
            .into_inner()
            .custom_conversions,
        vec![conversion.clone()]
    );
    assert!(c
        .list_contained_custom_conversions(list(REGIONAL))
        .await
        .unwrap()
        .into_inner()
        .custom_conversions
        .is_empty());

    let added = c
        .add_contained_custom_conversion(AddContainedCustomConversionRequest {
            asset_group_id: REGIONAL.into(),
            business_id: ACME.into(),
            custom_conversion_id: "8100000001".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(added.success);
    assert_eq!(
        c.list_contained_custom_conversions(list(REGIONAL))
            .await
            .unwrap()
            .into_inner()
            .custom_conversions,
        vec![conversion]
    );

    let removed = c
        .remove_contained_custom_conversion(RemoveContainedCustomConversionRequest {
            asset_group_id: BRAND.into(),
            business_id: ACME.into(),
            custom_conversion_id: "8100000001".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(removed.success);
    assert!(c
        .list_contained_custom_conversions(list(BRAND))
        .await
        .unwrap()
        .into_inner()
        .custom_conversions
        .is_empty());
}

#[tokio::test]
async fn ag_mutations_on_another_business_group_are_refused() {
    // Globex's group, acted on with Acme's token: the sandbox refuses.
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
    let st = c
        .rename_business_asset_group(RenameBusinessAssetGroupRequest {
            asset_group_id: GLOBEX_GROUP.into(),
            business_id: ACME.into(),
            name: "Taken over".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_permission_denied(&st);
    let g = c
        .get_business_asset_group(GetBusinessAssetGroupRequest {
            asset_group_id: GLOBEX_GROUP.into(),
            business_id: GLOBEX.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(g.name, "Globex Client Services", "unchanged");
}

// --- cross-view coherence: a group change is visible in the views it changes

/// AG04: "the group's users lose the roles the group gave them" — so a
/// member's own group list (AG05), read before, must not keep the group.
#[tokio::test]
async fn ag04_deleted_group_leaves_members_ag05() {
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
    assert_eq!(
        ids(&user_groups(&mut c, CAROL, ACME).await, |g| &g.id),
        vec![BRAND]
    );
    c.delete_business_asset_group(DeleteBusinessAssetGroupRequest {
        asset_group_id: BRAND.into(),
        business_id: ACME.into(),
        ..Default::default()
    })
    .await
    .unwrap();
    assert!(
        user_groups(&mut c, CAROL, ACME).await.is_empty(),
        "Carol's group list still shows the deleted group"
    );
}

/// AG07: "the roles apply to every page ... in the group" — so the users of
/// a contained page (PG09), read before, must show the new member.
#[tokio::test]
async fn ag07_new_member_visible_in_pg09_of_contained_page() {
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
    let mut pages = graph_gateway::proto::page_service_client::PageServiceClient::new(ch.clone());
    let req = ListPageUsersRequest {
        page_id: "3000000001".into(),
        business: ACME.into(),
        ..Default::default()
    };
    let before = pages
        .list_page_users(req.clone())
        .await
        .unwrap()
        .into_inner()
        .users;
    assert_eq!(ids(&before, |u| &u.id), vec![ALICE, CAROL]);
    c.assign_asset_group_user(AssignAssetGroupUserRequest {
        asset_group_id: BRAND.into(),
        business: ACME.into(),
        user: BOB.into(),
        page_roles: nums(&[PageTask::Analyze]),
        ..Default::default()
    })
    .await
    .unwrap();
    let after = pages.list_page_users(req).await.unwrap().into_inner().users;
    assert_eq!(
        ids(&after, |u| &u.id),
        vec![ALICE, BOB, CAROL],
        "PG09 of a page in the group misses the new member"
    );
}

/// AG11: "group users lose the roles the group gave them on the page" — so
/// a member's page list (PG08), read before, must drop the page.
#[tokio::test]
async fn ag11_removed_page_leaves_members_pg08() {
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
    let mut pages = graph_gateway::proto::page_service_client::PageServiceClient::new(ch.clone());
    let req = ListUserPagesRequest {
        business_scoped_user_id: CAROL.into(),
        business_id: ACME.into(),
        ..Default::default()
    };
    let before = pages
        .list_user_pages(req.clone())
        .await
        .unwrap()
        .into_inner()
        .pages;
    assert_eq!(ids(&before, |p| &p.id), vec!["3000000001"]);
    c.remove_contained_page(RemoveContainedPageRequest {
        asset_group_id: BRAND.into(),
        business_id: ACME.into(),
        page_id: "3000000001".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let after = pages.list_user_pages(req).await.unwrap().into_inner().pages;
    assert!(
        after.is_empty(),
        "Carol's PG08 still lists a page whose group role is gone: {after:?}"
    );
}
