//! BusinessAssetGroupService: AG01–AG32.

use graph_gateway::proto::business_asset_group_service_client::BusinessAssetGroupServiceClient as Client;
use graph_gateway::proto::page_service_client::PageServiceClient;
use graph_gateway::proto::*;
use tonic::transport::Channel;
use PageRolePreset as Preset;

use super::pages::{page_users, user_pages};
use super::*;

/// Tasks given explicitly.
const NO_PRESET: Preset = Preset::Unspecified;

/// Acme Brand Team (Carol; one asset of every kind).
const BRAND: &str = "9000000001";
/// Acme Regional Team (only act_2000000001).
const REGIONAL: &str = "9000000002";
/// Globex Client Services (Frank).
const GLOBEX_GROUP: &str = "9000000003";

rpc!(fn list_groups(business_id: &str) -> Vec<BusinessAssetGroup>
    = list_business_asset_groups(ListBusinessAssetGroupsRequest).business_asset_groups);
rpc!(fn get_group(asset_group_id: &str, business_id: &str) -> BusinessAssetGroup
    = get_business_asset_group(GetBusinessAssetGroupRequest));
rpc!(fn rename_group(asset_group_id: &str, business_id: &str, name: &str) -> MutationResult
    = rename_business_asset_group(RenameBusinessAssetGroupRequest));
rpc!(fn delete_group(asset_group_id: &str; business_id = ACME) -> MutationResult
    = delete_business_asset_group(DeleteBusinessAssetGroupRequest));
// The per-type roles are opt-in (Meta's spec lists them on neither
// AssignedUser nor BusinessAssetGroup), so the tests name them.
const ROLE_FIELDS: &[&str] = &[
    "id",
    "name",
    "page_roles",
    "adaccount_roles",
    "pixel_roles",
    "offline_conversion_data_set_roles",
];
rpc!(fn group_users_of(asset_group_id: &str, business: &str; read_mask = ROLE_FIELDS) -> ListAssetGroupUsersResponse
    = list_asset_group_users(ListAssetGroupUsersRequest));
rpc!(fn user_groups_of(business_scoped_user_id: &str, business_id: &str; read_mask = ROLE_FIELDS)
    -> ListUserBusinessAssetGroupsResponse
    = list_user_business_asset_groups(ListUserBusinessAssetGroupsRequest));
rpc!(fn assign(user: &str, page_tasks: &[PageTask], page_role_preset: Preset;
    asset_group_id = BRAND, business = ACME) -> MutationResult
    = assign_asset_group_user(AssignAssetGroupUserRequest));
rpc!(fn remove_user(asset_group_id: &str, user: &str; business = ACME) -> MutationResult
    = remove_asset_group_user(RemoveAssetGroupUserRequest));

async fn group_users(c: &mut Client<Channel>, group: &str, business: &str) -> Vec<AssetGroupUser> {
    group_users_of(c, group, business).await.unwrap().users
}

async fn user_groups(
    c: &mut Client<Channel>,
    user: &str,
    business: &str,
) -> Vec<UserBusinessAssetGroup> {
    user_groups_of(c, user, business)
        .await
        .unwrap()
        .business_asset_groups
}

id_and! {
    group -> BusinessAssetGroup { name },
    page -> ContainedPage { name },
    catalog -> ContainedProductCatalog { name },
    instagram -> ContainedInstagramAccount { username },
    pixel -> ContainedPixel { name },
    conversion -> ContainedCustomConversion { name },
}

#[tokio::test]
async fn ag01_lists_each_business_groups() {
    let (_gw, mut c) = start(Client::new).await;
    assert_eq!(
        list_groups(&mut c, ACME).await,
        vec![
            group(BRAND, "Acme Brand Team"),
            group(REGIONAL, "Acme Regional Team"),
        ]
    );
    assert_eq!(
        list_groups(&mut c, GLOBEX).await,
        vec![group(GLOBEX_GROUP, "Globex Client Services")]
    );
    assert!(list_groups(&mut c, INITECH).await.is_empty());
}

#[tokio::test]
async fn ag01_pagination_walks_every_page() {
    let (gw, mut c) = start(Client::new).await;
    let seen = walk_pages(async |page_token| {
        let req = ListBusinessAssetGroupsRequest {
            business_id: ACME.into(),
            page_size: 1,
            page_token,
            ..Default::default()
        };
        let page = c
            .list_business_asset_groups(req)
            .await
            .unwrap()
            .into_inner();
        (
            ids(&page.business_asset_groups, |g| &g.id),
            page.next_page_token,
        )
    })
    .await;
    assert_eq!(seen, vec![BRAND, REGIONAL]);
    assert_eq!(
        gw.sb()
            .requests_to(&format!("/{ACME}/business_asset_groups")),
        2
    );
    assert_eq!(last_sent(&gw).query_param("limit"), Some("1"));
}

#[tokio::test]
async fn ag02_reads_one_group_and_ag03_renames_it() {
    let (_gw, mut c) = start(Client::new).await;
    assert_eq!(
        get_group(&mut c, BRAND, ACME).await.unwrap(),
        group(BRAND, "Acme Brand Team")
    );
    // Warm the list cache too: the rename must invalidate both reads.
    assert!(list_groups(&mut c, ACME)
        .await
        .iter()
        .any(|g| g.name == "Acme Brand Team"));

    let renamed = rename_group(&mut c, BRAND, ACME, "Acme Brand & Social").await;
    assert!(renamed.unwrap().success);

    assert_eq!(
        get_group(&mut c, BRAND, ACME).await.unwrap().name,
        "Acme Brand & Social"
    );
    let names: Vec<String> = list_groups(&mut c, ACME)
        .await
        .into_iter()
        .map(|g| g.name)
        .collect();
    assert_eq!(names, vec!["Acme Brand & Social", "Acme Regional Team"]);

    // An unknown group is NOT_FOUND (Graph 100/33).
    let st = get_group(&mut c, "9999999999", ACME).await.unwrap_err();
    assert_not_found(&st);
}

#[tokio::test]
async fn ag04_deletes_a_group_and_its_users_lose_their_roles() {
    let (gw, mut c) = start(Client::new).await;
    assert_eq!(list_groups(&mut c, ACME).await.len(), 2);
    assert_eq!(group_users(&mut c, BRAND, ACME).await.len(), 1);
    assert_eq!(Pages::list(&mut c, BRAND).await.unwrap().len(), 1);

    assert!(delete_group(&mut c, BRAND).await.unwrap().success);

    assert_eq!(
        ids(&list_groups(&mut c, ACME).await, |g| &g.id),
        vec![REGIONAL]
    );
    let st = get_group(&mut c, BRAND, ACME).await.unwrap_err();
    assert_eq!(st.code(), Code::NotFound, "{st:?}");
    // The group's own edges, read before, are gone too.
    let st = Pages::list(&mut c, BRAND).await.unwrap_err();
    assert_eq!(st.code(), Code::NotFound, "{st:?}");
    let st = group_users_of(&mut c, BRAND, ACME).await.unwrap_err();
    assert_eq!(st.code(), Code::NotFound, "{st:?}");
    // Carol's page roles came from the deleted group.
    let mut pages = PageServiceClient::new(gw.channel().await);
    assert_eq!(
        ids(&page_users(&mut pages, "3000000001", ACME).await, |u| &u.id),
        vec![ALICE],
        "Carol's page roles came from the deleted group"
    );
}

#[tokio::test]
async fn ag05_lists_a_users_groups_with_roles() {
    let (_gw, mut c) = start(Client::new).await;
    let carol = user_groups(&mut c, CAROL, ACME).await;
    assert_eq!(
        carol,
        vec![UserBusinessAssetGroup {
            id: BRAND.into(),
            name: "Acme Brand Team".into(),
            page_roles: nums(&[PageTask::Advertise, PageTask::Analyze]),
            page_roles_raw: page_raw(&[PageTask::Advertise, PageTask::Analyze]),
            adaccount_roles: nums(&[AdAccountTask::Advertise, AdAccountTask::Analyze]),
            adaccount_roles_raw: ad_raw(&[AdAccountTask::Advertise, AdAccountTask::Analyze]),
            pixel_roles: nums(&[PixelTask::Analyze]),
            pixel_roles_raw: vec!["ANALYZE".into()],
            offline_conversion_data_set_roles: nums(&[OfflineConversionDataSetTask::Upload]),
            offline_conversion_data_set_roles_raw: vec!["UPLOAD".into()],
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
    let st = user_groups_of(&mut c, FRANK, ACME).await.unwrap_err();
    assert_permission_denied(&st);
}

#[tokio::test]
async fn ag06_lists_group_users_with_roles() {
    let (_gw, mut c) = start(Client::new).await;
    let users = group_users(&mut c, BRAND, ACME).await;
    assert_eq!(
        users,
        vec![AssetGroupUser {
            id: CAROL.into(),
            name: "Carol Analyst".into(),
            page_roles: nums(&[PageTask::Advertise, PageTask::Analyze]),
            page_roles_raw: page_raw(&[PageTask::Advertise, PageTask::Analyze]),
            adaccount_roles: nums(&[AdAccountTask::Advertise, AdAccountTask::Analyze]),
            adaccount_roles_raw: ad_raw(&[AdAccountTask::Advertise, AdAccountTask::Analyze]),
            pixel_roles: nums(&[PixelTask::Analyze]),
            pixel_roles_raw: vec!["ANALYZE".into()],
            offline_conversion_data_set_roles: nums(&[OfflineConversionDataSetTask::Upload]),
            offline_conversion_data_set_roles_raw: vec!["UPLOAD".into()],
        }]
    );
    assert!(group_users(&mut c, REGIONAL, ACME).await.is_empty());
    let globex = group_users(&mut c, GLOBEX_GROUP, GLOBEX).await;
    assert_eq!(ids(&globex, |u| &u.id), vec![FRANK]);
    assert_eq!(globex[0].name, "Frank Planner");
}

#[tokio::test]
async fn ag07_assigns_a_user_visible_in_ag06_and_ag05() {
    let (gw, mut c) = start(Client::new).await;
    // Warm both reads the assignment must invalidate.
    assert_eq!(group_users(&mut c, BRAND, ACME).await.len(), 1);
    assert!(user_groups(&mut c, BOB, ACME).await.is_empty());

    let ok = c
        .assign_asset_group_user(AssignAssetGroupUserRequest {
            asset_group_id: BRAND.into(),
            business: ACME.into(),
            user: BOB.into(),
            page_role_preset: Preset::Analyst as i32,
            adaccount_tasks: nums(&[AdAccountTask::Analyze]),
            pixel_tasks: nums(&[PixelTask::Analyze]),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(ok.success);
    let sent = last_sent_to(&gw, "POST", &format!("/{BRAND}/assigned_users"));
    assert_eq!(
        sent.param("page_tasks"),
        Some(r#"["ANALYZE"]"#),
        "the preset expanded, under Meta's name"
    );
    assert_eq!(sent.param("adaccount_tasks"), Some(r#"["ANALYZE"]"#));
    assert_eq!(sent.param("pixel_tasks"), Some(r#"["ANALYZE"]"#));
    assert_eq!(
        sent.param("page_roles"),
        None,
        "the seed's names are not sent"
    );
    assert_eq!(
        sent.param("business"),
        None,
        "Meta's edge takes no business"
    );

    let users = group_users(&mut c, BRAND, ACME).await;
    assert_eq!(ids(&users, |u| &u.id), vec![BOB, CAROL]);
    let bob = &users[0];
    assert_eq!(bob.name, "Bob Employee");
    assert_eq!(bob.page_roles, nums(&[PageTask::Analyze]));
    assert_eq!(bob.adaccount_roles, nums(&[AdAccountTask::Analyze]));
    assert_eq!(bob.pixel_roles, nums(&[PixelTask::Analyze]));
    assert_eq!(bob.pixel_roles_raw, vec!["ANALYZE"]);

    let bobs = user_groups(&mut c, BOB, ACME).await;
    assert_eq!(ids(&bobs, |g| &g.id), vec![BRAND]);
    assert_eq!(bobs[0].page_roles, nums(&[PageTask::Analyze]));

    // The same call changes roles of a user already in the group.
    let roles = [PageTask::Moderate, PageTask::Analyze];
    assign(&mut c, BOB, &roles, NO_PRESET).await.unwrap();
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
    let st = assign(&mut c, ERIN, &[PageTask::Analyze], NO_PRESET)
        .await
        .unwrap_err();
    assert_rule(&st, subcode::USER_NOT_IN_BUSINESS);
}

#[tokio::test]
async fn ag07_preset_and_roles_together_are_refused_before_graph() {
    let (gw, mut c) = start(Client::new).await;
    let both = assign(&mut c, BOB, &[PageTask::Analyze], Preset::Editor);
    assert_refused_before_graph(&gw, both, &["page_role_preset"]).await;
}

#[tokio::test]
async fn ag08_removes_a_user_visible_in_ag06_and_ag05() {
    let (_gw, mut c) = start(Client::new).await;
    assert_eq!(
        ids(&group_users(&mut c, BRAND, ACME).await, |u| &u.id),
        vec![CAROL]
    );
    assert_eq!(user_groups(&mut c, CAROL, ACME).await.len(), 1);

    assert!(remove_user(&mut c, BRAND, CAROL).await.unwrap().success);

    assert!(group_users(&mut c, BRAND, ACME).await.is_empty());
    assert!(user_groups(&mut c, CAROL, ACME).await.is_empty());
}

// --- contained assets: one table over the eight edges (list, add, remove) --

/// One `contained_*` edge of Acme's asset groups: its list, add and remove
/// RPCs.
trait Contained {
    type Item: PartialEq + Debug;
    async fn list(c: &mut Client<Channel>, group: &str) -> Result<Vec<Self::Item>, Status>;
    async fn add(c: &mut Client<Channel>, group: &str, id: &str) -> Result<MutationResult, Status>;
    async fn remove(
        c: &mut Client<Channel>,
        group: &str,
        id: &str,
    ) -> Result<MutationResult, Status>;
}

/// Implements [`Contained`] for each `Edge: Item = list(ListRequest).items,
/// add(AddRequest), remove(RemoveRequest) by id_field`.
macro_rules! contained {
    ($($Edge:ident: $Item:ident = $list:ident($ListReq:ident).$items:ident,
        $add:ident($AddReq:ident), $remove:ident($RemoveReq:ident) by $id:ident;)*) => {$(
        struct $Edge;

        impl Contained for $Edge {
            type Item = $Item;

            async fn list(c: &mut Client<Channel>, group: &str) -> Result<Vec<$Item>, Status> {
                let req = $ListReq {
                    asset_group_id: group.into(),
                    business_id: ACME.into(),
                    ..Default::default()
                };
                Ok(c.$list(req).await?.into_inner().$items)
            }

            async fn add(c: &mut Client<Channel>, group: &str, id: &str)
                -> Result<MutationResult, Status> {
                let req = $AddReq {
                    asset_group_id: group.into(),
                    business_id: ACME.into(),
                    $id: id.into(),
                    ..Default::default()
                };
                Ok(c.$add(req).await?.into_inner())
            }

            async fn remove(c: &mut Client<Channel>, group: &str, id: &str)
                -> Result<MutationResult, Status> {
                let req = $RemoveReq {
                    asset_group_id: group.into(),
                    business_id: ACME.into(),
                    $id: id.into(),
                    ..Default::default()
                };
                Ok(c.$remove(req).await?.into_inner())
            }
        }
    )*};
}

contained! {
    Pages: ContainedPage = list_contained_pages(ListContainedPagesRequest).pages,
        add_contained_page(AddContainedPageRequest),
        remove_contained_page(RemoveContainedPageRequest) by page_id;
    AdAccounts: ContainedAdAccount = list_contained_ad_accounts(ListContainedAdAccountsRequest)
        .ad_accounts,
        add_contained_ad_account(AddContainedAdAccountRequest),
        remove_contained_ad_account(RemoveContainedAdAccountRequest) by ad_account_id;
    ProductCatalogs: ContainedProductCatalog
        = list_contained_product_catalogs(ListContainedProductCatalogsRequest).product_catalogs,
        add_contained_product_catalog(AddContainedProductCatalogRequest),
        remove_contained_product_catalog(RemoveContainedProductCatalogRequest) by catalog_id;
    InstagramAccounts: ContainedInstagramAccount
        = list_contained_instagram_accounts(ListContainedInstagramAccountsRequest)
        .instagram_accounts,
        add_contained_instagram_account(AddContainedInstagramAccountRequest),
        remove_contained_instagram_account(RemoveContainedInstagramAccountRequest)
        by instagram_account_id;
    Pixels: ContainedPixel = list_contained_pixels(ListContainedPixelsRequest).pixels,
        add_contained_pixel(AddContainedPixelRequest),
        remove_contained_pixel(RemoveContainedPixelRequest) by pixel_id;
    OfflineConversionDataSets: ContainedOfflineConversionDataSet
        = list_contained_offline_conversion_data_sets(ListContainedOfflineConversionDataSetsRequest)
        .offline_conversion_data_sets,
        add_contained_offline_conversion_data_set(AddContainedOfflineConversionDataSetRequest),
        remove_contained_offline_conversion_data_set(RemoveContainedOfflineConversionDataSetRequest)
        by offline_conversion_data_set_id;
    Applications: ContainedApplication
        = list_contained_applications(ListContainedApplicationsRequest).applications,
        add_contained_application(AddContainedApplicationRequest),
        remove_contained_application(RemoveContainedApplicationRequest) by app_id;
    CustomConversions: ContainedCustomConversion
        = list_contained_custom_conversions(ListContainedCustomConversionsRequest)
        .custom_conversions,
        add_contained_custom_conversion(AddContainedCustomConversionRequest),
        remove_contained_custom_conversion(RemoveContainedCustomConversionRequest)
        by custom_conversion_id;
}

/// What one edge shows on the demo data: the Brand Team holds `brand` and
/// the Regional Team `regional`; adding `add` to the Regional Team makes it
/// `regional_after`; removing `remove` empties the Brand Team; and adding
/// `refused` (where given) to the Regional Team breaks NOT_IN_BUSINESS.
struct Edge<T> {
    name: &'static str,
    brand: Vec<T>,
    regional: Vec<T>,
    add: &'static str,
    regional_after: Vec<T>,
    remove: &'static str,
    refused: Option<&'static str>,
}

impl<T: Clone> Edge<T> {
    /// The Brand Team's only asset, `item` (of id `id`), added to the empty
    /// Regional Team and then removed from the Brand Team.
    fn moved(name: &'static str, id: &'static str, item: T, refused: Option<&'static str>) -> Self {
        Self {
            name,
            brand: vec![item.clone()],
            regional: vec![],
            add: id,
            regional_after: vec![item],
            remove: id,
            refused,
        }
    }
}

/// The answer of a call on edge `name`, which must succeed.
fn served<T>(name: &str, answer: Result<T, Status>) -> T {
    answer.unwrap_or_else(|st| panic!("{name}: {st:?}"))
}

/// Lists, adds to and removes from one edge on a gateway of its own, naming
/// the edge in every assertion.
async fn check_edge<E: Contained>(edge: Edge<E::Item>) {
    let (_gw, mut c) = start(Client::new).await;
    let name = edge.name;
    let brand = served(name, E::list(&mut c, BRAND).await);
    assert_eq!(brand, edge.brand, "{name}: Brand Team");
    let regional = served(name, E::list(&mut c, REGIONAL).await);
    assert_eq!(regional, edge.regional, "{name}: Regional Team");

    let added = served(name, E::add(&mut c, REGIONAL, edge.add).await);
    assert!(added.success, "{name}: adding {}", edge.add);
    let regional = served(name, E::list(&mut c, REGIONAL).await);
    assert_eq!(
        regional, edge.regional_after,
        "{name}: Regional Team after adding {}",
        edge.add
    );

    let removed = served(name, E::remove(&mut c, BRAND, edge.remove).await);
    assert!(removed.success, "{name}: removing {}", edge.remove);
    let brand = served(name, E::list(&mut c, BRAND).await);
    assert_eq!(
        brand,
        vec![],
        "{name}: Brand Team after removing {}",
        edge.remove
    );

    if let Some(refused) = edge.refused {
        let st = match E::add(&mut c, REGIONAL, refused).await {
            Ok(answer) => panic!("{name}: adding {refused} was served: {answer:?}"),
            Err(st) => st,
        };
        assert_eq!(
            GraphError::of(&st),
            GraphError::rule(subcode::NOT_IN_BUSINESS),
            "{name}: adding {refused}: {st:?}"
        );
    }
}

#[tokio::test]
async fn ag09_to_ag32_contained_assets_list_add_remove() {
    check_edge::<Pages>(Edge {
        name: "AG09–AG11 pages",
        brand: vec![page("3000000001", "Acme Retail")],
        regional: vec![],
        add: "3000000008",
        regional_after: vec![page("3000000008", "Acme Careers")],
        remove: "3000000001",
        // A page the business has no access to.
        refused: Some("3000000005"),
    })
    .await;

    let account = |id: &str| ContainedAdAccount {
        id: format!("act_{id}"),
        account_id: id.into(),
    };
    check_edge::<AdAccounts>(Edge {
        name: "AG12–AG14 ad accounts",
        brand: vec![account("2000000002")],
        regional: vec![account("2000000001")],
        // Added as act_N, removed as bare digits.
        add: "act_2000000002",
        regional_after: vec![account("2000000001"), account("2000000002")],
        remove: "2000000002",
        // Initech's ad account is not Acme's.
        refused: Some("act_2000000006"),
    })
    .await;

    let item = catalog("7000000001", "Acme Products");
    let edge = Edge::moved("AG15–AG17 product catalogs", "7000000001", item, None);
    check_edge::<ProductCatalogs>(edge).await;

    check_edge::<InstagramAccounts>(Edge {
        name: "AG18–AG20 instagram accounts",
        brand: vec![instagram("6000000001", "acmeretail")],
        regional: vec![],
        add: "6000000003",
        regional_after: vec![instagram("6000000003", "acme.outlet")],
        remove: "6000000001",
        refused: None,
    })
    .await;

    let item = pixel("5000000001", "Acme Website Pixel");
    // Globex's pixel is not shared with Acme.
    let edge = Edge::moved("AG21–AG23 pixels", "5000000001", item, Some("5000000003"));
    check_edge::<Pixels>(edge).await;

    let item = ContainedOfflineConversionDataSet {
        id: "8000000001".into(),
        name: "Acme Store Sales".into(),
        business: node(ACME, "Acme Retail"),
        enable_auto_assign_to_accounts: false,
        is_restricted_use: false,
    };
    let edge = Edge::moved(
        "AG24–AG26 offline conversion data sets",
        "8000000001",
        item,
        None,
    );
    check_edge::<OfflineConversionDataSets>(edge).await;

    let app = |id: &str, name: &str, category: &str| ContainedApplication {
        id: id.into(),
        name: name.into(),
        category: category.into(),
        link: format!("https://www.facebook.com/games/?app_id={id}"),
    };
    check_edge::<Applications>(Edge {
        name: "AG27–AG29 applications",
        brand: vec![app("4000000001", "Acme Shop", "Shopping")],
        regional: vec![],
        // A shared app (Acme is Globex Insights' confirmed agency).
        add: "4000000002",
        regional_after: vec![app("4000000002", "Globex Insights", "Business")],
        remove: "4000000001",
        // Acme's access to Initech Loyalty is only PENDING.
        refused: Some("4000000003"),
    })
    .await;

    let item = conversion("8100000001", "Acme Purchase Over 100");
    let edge = Edge::moved("AG30–AG32 custom conversions", "8100000001", item, None);
    check_edge::<CustomConversions>(edge).await;
}

#[tokio::test]
async fn ag_mutations_on_another_business_group_are_refused() {
    // Globex's group, acted on with Acme's token: the sandbox refuses.
    let (_gw, mut c) = start(Client::new).await;
    let st = rename_group(&mut c, GLOBEX_GROUP, ACME, "Taken over")
        .await
        .unwrap_err();
    assert_permission_denied(&st);
    let g = get_group(&mut c, GLOBEX_GROUP, GLOBEX).await.unwrap();
    assert_eq!(g.name, "Globex Client Services", "unchanged");
}

// --- cross-view coherence: a group change is visible in the views it changes

/// AG04: "the group's users lose the roles the group gave them" — so a
/// member's own group list (AG05), read before, must not keep the group.
#[tokio::test]
async fn ag04_deleted_group_leaves_members_ag05() {
    let (_gw, mut c) = start(Client::new).await;
    assert_eq!(
        ids(&user_groups(&mut c, CAROL, ACME).await, |g| &g.id),
        vec![BRAND]
    );
    delete_group(&mut c, BRAND).await.unwrap();
    assert!(
        user_groups(&mut c, CAROL, ACME).await.is_empty(),
        "Carol's group list still shows the deleted group"
    );
}

/// AG07: "the roles apply to every page ... in the group" — so the users of
/// a contained page (PG09), read before, must show the new member.
#[tokio::test]
async fn ag07_new_member_visible_in_pg09_of_contained_page() {
    let (gw, mut c) = start(Client::new).await;
    let mut pages = PageServiceClient::new(gw.channel().await);
    let before = page_users(&mut pages, "3000000001", ACME).await;
    assert_eq!(ids(&before, |u| &u.id), vec![ALICE, CAROL]);
    assign(&mut c, BOB, &[PageTask::Analyze], NO_PRESET)
        .await
        .unwrap();
    let after = page_users(&mut pages, "3000000001", ACME).await;
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
    let (gw, mut c) = start(Client::new).await;
    let mut pages = PageServiceClient::new(gw.channel().await);
    let before = user_pages(&mut pages, CAROL, ACME).await;
    assert_eq!(ids(&before, |p| &p.id), vec!["3000000001"]);
    Pages::remove(&mut c, BRAND, "3000000001").await.unwrap();
    let after = user_pages(&mut pages, CAROL, ACME).await;
    assert!(
        after.is_empty(),
        "Carol's PG08 still lists a page whose group role is gone: {after:?}"
    );
}
