//! PixelService: PX01–PX02, and PX03–PX10 beyond the catalogue.

use graph_gateway::proto::pixel_service_client::PixelServiceClient as Client;
use graph_gateway::proto::*;

use super::*;

rpc!(fn owned(business_id: &str) -> Vec<Pixel> = list_owned_pixels(ListOwnedPixelsRequest).pixels);
rpc!(fn client_pixels(business_id: &str) -> ListClientPixelsResponse
    = list_client_pixels(ListClientPixelsRequest));

id_and!(pixel -> Pixel { name });

#[tokio::test]
async fn px01_lists_owned_pixels() {
    let (_gw, mut c) = start(Client::new).await;
    assert_eq!(
        owned(&mut c, ACME).await,
        vec![pixel("5000000001", "Acme Website Pixel")]
    );
    assert_eq!(
        owned(&mut c, INITECH).await,
        vec![pixel("5000000002", "Initech Pixel")]
    );
    assert_eq!(
        owned(&mut c, GLOBEX).await,
        vec![pixel("5000000003", "Globex Pixel")]
    );
}

#[tokio::test]
async fn px02_lists_client_pixels() {
    let (gw, mut c) = start(Client::new).await;
    assert_eq!(
        client_pixels(&mut c, GLOBEX).await.unwrap().pixels,
        vec![pixel("5000000002", "Initech Pixel")]
    );
    assert!(client_pixels(&mut c, ACME).await.unwrap().pixels.is_empty());
    // A business id that is not digits never reaches Graph.
    let not_digits = client_pixels(&mut c, "globex");
    assert_refused_before_graph(&gw, not_digits, &["business_id"]).await;
}

// ---------------------------------------------------------------------------
// PX03, PX04 (beyond the catalogue: issue 16)

rpc!(fn pixel_agencies(pixel_id: &str, business_id: &str) -> Vec<AgencyBusiness>
    = list_pixel_agencies(ListPixelAgenciesRequest).agencies);
rpc!(fn remove_agency(pixel_id: &str, business_id: &str, agency_business_id: &str)
    -> MutationResult
    = remove_pixel_agency(RemovePixelAgencyRequest));

#[tokio::test]
async fn px03_lists_agencies_and_px04_removes_one_and_the_cached_lists_follow() {
    let (gw, mut c) = start(Client::new).await;
    // Globex is the demo agency of Initech's pixel (cached from here on).
    let before = pixel_agencies(&mut c, "5000000002", INITECH).await;
    assert_eq!(ids(&before, |a| &a.id), vec![GLOBEX]);
    assert!(!before[0].name.is_empty());
    assert_eq!(client_pixels(&mut c, GLOBEX).await.unwrap().pixels.len(), 1);

    assert!(
        remove_agency(&mut c, "5000000002", INITECH, GLOBEX)
            .await
            .unwrap()
            .success
    );
    let sent = last_sent(&gw);
    assert_eq!(sent.method, "DELETE");
    assert_eq!(sent.path, "/v26.0/5000000002/agencies");
    assert_eq!(sent.param("business"), Some(GLOBEX));
    // Both cached lists follow at once.
    assert!(pixel_agencies(&mut c, "5000000002", INITECH)
        .await
        .is_empty());
    assert!(client_pixels(&mut c, GLOBEX)
        .await
        .unwrap()
        .pixels
        .is_empty());

    // Removing it again: Graph's error (it is no agency now), mapped.
    let st = remove_agency(&mut c, "5000000002", INITECH, GLOBEX)
        .await
        .unwrap_err();
    assert_eq!(st.code(), tonic::Code::InvalidArgument, "{st:?}");
}

#[tokio::test]
async fn px04_invalid_requests_never_reach_graph() {
    let (gw, mut c) = start(Client::new).await;
    let bad = remove_agency(&mut c, "5000000002", INITECH, "");
    assert_refused_before_graph(&gw, bad, &["agency_business_id"]).await;
    let bad = remove_agency(&mut c, "px", INITECH, "g");
    assert_refused_before_graph(&gw, bad, &["pixel_id", "agency_business_id"]).await;
}

// ---------------------------------------------------------------------------
// PX10: a pixel's agency grant (beyond the catalogue: issue 16)

rpc!(fn add_agency(pixel_id: &str, business_id: &str, agency_business_id: &str,
    permitted_tasks: &[PixelAgencyTask]) -> MutationResult
    = add_pixel_agency(AddPixelAgencyRequest));

#[tokio::test]
async fn px10_grants_an_agency_listed_by_px03_and_px02_until_px04_removes_it() {
    let (gw, mut c) = start(Client::new).await;
    // Both lists are cached before the grant.
    assert!(pixel_agencies(&mut c, ACME_PIXEL, ACME).await.is_empty());
    assert!(client_pixels(&mut c, INITECH)
        .await
        .unwrap()
        .pixels
        .is_empty());

    let tasks = [PixelAgencyTask::Upload, PixelAgencyTask::Analyze];
    assert!(
        add_agency(&mut c, ACME_PIXEL, ACME, INITECH, &tasks)
            .await
            .unwrap()
            .success
    );
    let sent = last_sent_to(&gw, "POST", &format!("/{ACME_PIXEL}/agencies"));
    assert_eq!(sent.path, format!("/v26.0/{ACME_PIXEL}/agencies"));
    assert_eq!(sent.form_param("business"), Some(INITECH));
    assert_eq!(
        sent.form_param("permitted_tasks"),
        Some(r#"["UPLOAD","ANALYZE"]"#)
    );
    // Both cached lists follow at once.
    let agencies = pixel_agencies(&mut c, ACME_PIXEL, ACME).await;
    assert_eq!(
        agencies,
        vec![AgencyBusiness {
            id: INITECH.into(),
            name: "Initech Holdings".into(),
        }]
    );
    assert_eq!(
        client_pixels(&mut c, INITECH).await.unwrap().pixels,
        vec![pixel(ACME_PIXEL, "Acme Website Pixel")]
    );

    // PX04 takes it back: both lists follow again.
    assert!(
        remove_agency(&mut c, ACME_PIXEL, ACME, INITECH)
            .await
            .unwrap()
            .success
    );
    assert!(pixel_agencies(&mut c, ACME_PIXEL, ACME).await.is_empty());
    assert!(client_pixels(&mut c, INITECH)
        .await
        .unwrap()
        .pixels
        .is_empty());
}

#[tokio::test]
async fn px10_keeps_metas_rules() {
    let (_gw, mut c) = start(Client::new).await;
    let analyze = [PixelAgencyTask::Analyze];
    // Only the owner's admins grant: Globex is just an agency of Initech's
    // pixel.
    let st = add_agency(&mut c, INITECH_PIXEL, GLOBEX, ACME, &analyze)
        .await
        .unwrap_err();
    assert_permission_denied(&st);
    // The owner cannot be its own pixel's agency.
    let st = add_agency(&mut c, ACME_PIXEL, ACME, ACME, &analyze)
        .await
        .unwrap_err();
    assert_invalid_parameter(&st);
    // An agency that is no business.
    let st = add_agency(&mut c, ACME_PIXEL, ACME, "1999999999", &analyze)
        .await
        .unwrap_err();
    assert_invalid_parameter(&st);
    assert!(pixel_agencies(&mut c, ACME_PIXEL, ACME).await.is_empty());
}

#[tokio::test]
async fn px10_invalid_requests_never_reach_graph() {
    let (gw, mut c) = start(Client::new).await;
    // permitted_tasks is required (Meta's spec).
    let bad = add_agency(&mut c, ACME_PIXEL, ACME, INITECH, &[]);
    assert_refused_before_graph(&gw, bad, &["permitted_tasks"]).await;
    // Bad ids and an UNSPECIFIED task, reported together.
    let bad = add_agency(
        &mut c,
        "px",
        "acme",
        "initech",
        &[PixelAgencyTask::Unspecified],
    );
    let fields = [
        "pixel_id",
        "business_id",
        "agency_business_id",
        "permitted_tasks[0]",
    ];
    assert_refused_before_graph(&gw, bad, &fields).await;
}

// ---------------------------------------------------------------------------
// PX05, PX06: assigned users (beyond the catalogue: issue 16)

/// Acme Website Pixel (Acme OWNER; Carol ANALYZE via group 9000000001;
/// shared with act_2000000001 for Acme).
const ACME_PIXEL: &str = "5000000001";
/// Initech Pixel (Initech OWNER; Globex AGENCY [ANALYZE, ADVERTISE]).
const INITECH_PIXEL: &str = "5000000002";

/// Graph's spellings of pixel tasks.
fn pixel_raw(t: &[PixelTask]) -> Vec<String> {
    spelled(t, |v| v.as_str_name(), "PIXEL_TASK_")
}

// tasks is opt-in (not on Meta's AssignedUser), so the tests name it.
rpc!(fn pixel_users(pixel_id: &str, business: &str; read_mask = &["id", "name", "tasks"][..])
    -> Vec<PixelUser> = list_pixel_users(ListPixelUsersRequest).users);
rpc!(fn assign_user(pixel_id: &str, business: &str, user: &str, tasks: &[PixelTask])
    -> MutationResult = assign_pixel_user(AssignPixelUserRequest));

fn pixel_user(id: &str, name: &str, tasks: &[PixelTask]) -> PixelUser {
    PixelUser {
        id: id.into(),
        name: name.into(),
        tasks: nums(tasks),
        tasks_raw: pixel_raw(tasks),
    }
}

#[tokio::test]
async fn px05_lists_pixel_users_and_px06_assigns_one() {
    let (gw, mut c) = start(Client::new).await;
    // Carol's ANALYZE comes from the Acme Brand Team asset group.
    let carol = pixel_user(CAROL, "Carol Analyst", &[PixelTask::Analyze]);
    assert_eq!(
        pixel_users(&mut c, ACME_PIXEL, ACME).await,
        vec![carol.clone()]
    );
    let sent = last_sent_to(&gw, "GET", &format!("/{ACME_PIXEL}/assigned_users"));
    assert_eq!(sent.param("business"), Some(ACME));
    // Without a read_mask: id and name only.
    let plain = c
        .list_pixel_users(ListPixelUsersRequest {
            pixel_id: ACME_PIXEL.into(),
            business: ACME.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .users;
    assert_eq!(plain[0].id, CAROL);
    assert!(plain[0].tasks.is_empty());

    let tasks = [PixelTask::Upload, PixelTask::Analyze];
    assert!(
        assign_user(&mut c, ACME_PIXEL, ACME, BOB, &tasks)
            .await
            .unwrap()
            .success
    );
    let sent = last_sent_to(&gw, "POST", &format!("/{ACME_PIXEL}/assigned_users"));
    assert_eq!(sent.form_param("user"), Some(BOB));
    assert_eq!(sent.form_param("tasks"), Some(r#"["UPLOAD","ANALYZE"]"#));
    // `business` selects the token; Meta's spec has no such parameter here.
    assert_eq!(sent.form_param("business"), None);
    // The cached list follows at once, in Graph's task order.
    assert_eq!(
        pixel_users(&mut c, ACME_PIXEL, ACME).await,
        vec![
            pixel_user(
                BOB,
                "Bob Employee",
                &[PixelTask::Upload, PixelTask::Analyze]
            ),
            carol
        ]
    );
    // Another business's view of the pixel: Globex has no access to it.
    let st = c
        .list_pixel_users(ListPixelUsersRequest {
            pixel_id: ACME_PIXEL.into(),
            business: GLOBEX.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_permission_denied(&st);
}

#[tokio::test]
async fn px06_keeps_metas_rules() {
    let (gw, mut c) = start(Client::new).await;
    // Carol's permission comes from an asset group: change it there.
    let st = assign_user(&mut c, ACME_PIXEL, ACME, CAROL, &[PixelTask::Edit])
        .await
        .unwrap_err();
    assert_rule(&st, subcode::FROM_ASSET_GROUP);
    // Erin belongs to no business.
    let st = assign_user(&mut c, ACME_PIXEL, ACME, ERIN, &[PixelTask::Analyze])
        .await
        .unwrap_err();
    assert_rule(&st, subcode::USER_NOT_IN_BUSINESS);
    // An agency assigns within its permitted tasks only.
    let st = assign_user(&mut c, INITECH_PIXEL, GLOBEX, FRANK, &[PixelTask::Edit])
        .await
        .unwrap_err();
    assert_rule(&st, subcode::TASKS_NOT_PERMITTED);
    assign_user(&mut c, INITECH_PIXEL, GLOBEX, FRANK, &[PixelTask::Analyze])
        .await
        .unwrap();
    assert_eq!(
        pixel_users(&mut c, INITECH_PIXEL, GLOBEX).await,
        vec![pixel_user(FRANK, "Frank Planner", &[PixelTask::Analyze])]
    );
    assert!(pixel_users(&mut c, INITECH_PIXEL, INITECH).await.is_empty());

    // Bad input never reaches Graph.
    let bad = assign_user(&mut c, ACME_PIXEL, ACME, BOB, &[]);
    assert_refused_before_graph(&gw, bad, &["tasks"]).await;
    let bad = assign_user(&mut c, "px", ACME, "bob", &[PixelTask::Analyze]);
    assert_refused_before_graph(&gw, bad, &["pixel_id", "user"]).await;
    let bad = pixel_users_raw(&mut c, ACME_PIXEL, "");
    assert_refused_before_graph(&gw, bad, &["business"]).await;
}

rpc!(fn pixel_users_raw(pixel_id: &str, business: &str) -> ListPixelUsersResponse
    = list_pixel_users(ListPixelUsersRequest));

// ---------------------------------------------------------------------------
// PX07–PX09: shared ad accounts (beyond the catalogue: issue 16)

rpc!(fn shared(pixel_id: &str, business: &str) -> ListPixelSharedAdAccountsResponse
    = list_pixel_shared_ad_accounts(ListPixelSharedAdAccountsRequest));
rpc!(fn share(pixel_id: &str, business: &str, ad_account_id: &str) -> MutationResult
    = share_pixel_with_ad_account(SharePixelWithAdAccountRequest));
rpc!(fn unshare(pixel_id: &str, business: &str, ad_account_id: &str) -> MutationResult
    = unshare_pixel_from_ad_account(UnsharePixelFromAdAccountRequest));

async fn shared_ids(
    c: &mut Client<tonic::transport::Channel>,
    pixel: &str,
    biz: &str,
) -> Vec<String> {
    let list = shared(c, pixel, biz).await.unwrap().ad_accounts;
    ids(&list, |a| &a.id)
}

#[tokio::test]
async fn px07_lists_shared_accounts_px08_shares_and_px09_unshares() {
    let (gw, mut c) = start(Client::new).await;
    let list = shared(&mut c, ACME_PIXEL, ACME).await.unwrap().ad_accounts;
    assert_eq!(ids(&list, |a| &a.id), vec!["act_2000000001"]);
    assert_eq!(list[0].name, "Acme US Prospecting");
    assert_eq!(list[0].business, node(ACME, "Acme Retail"));
    let sent = last_sent_to(&gw, "GET", &format!("/{ACME_PIXEL}/shared_accounts"));
    assert_eq!(sent.param("business"), Some(ACME));

    // act_ or not, the account goes to Graph as digits.
    assert!(
        share(&mut c, ACME_PIXEL, ACME, "act_2000000002")
            .await
            .unwrap()
            .success
    );
    let sent = last_sent_to(&gw, "POST", &format!("/{ACME_PIXEL}/shared_accounts"));
    assert_eq!(sent.form_param("account_id"), Some("2000000002"));
    assert_eq!(sent.form_param("business"), Some(ACME));
    assert_eq!(
        shared_ids(&mut c, ACME_PIXEL, ACME).await,
        vec!["act_2000000001", "act_2000000002"]
    );

    assert!(
        unshare(&mut c, ACME_PIXEL, ACME, "2000000001")
            .await
            .unwrap()
            .success
    );
    let sent = last_sent_to(&gw, "DELETE", &format!("/{ACME_PIXEL}/shared_accounts"));
    assert_eq!(sent.param("account_id"), Some("2000000001"));
    assert_eq!(
        shared_ids(&mut c, ACME_PIXEL, ACME).await,
        vec!["act_2000000002"]
    );
    // Not shared any more: Graph's error, mapped.
    let st = unshare(&mut c, ACME_PIXEL, ACME, "2000000001")
        .await
        .unwrap_err();
    assert_eq!(st.code(), tonic::Code::InvalidArgument, "{st:?}");
}

#[tokio::test]
async fn px08_keeps_metas_rules() {
    let (gw, mut c) = start(Client::new).await;
    // An agency of the pixel shares it with its own ad account ...
    assert!(shared_ids(&mut c, INITECH_PIXEL, GLOBEX).await.is_empty());
    share(&mut c, INITECH_PIXEL, GLOBEX, "2000000007")
        .await
        .unwrap();
    assert_eq!(
        shared_ids(&mut c, INITECH_PIXEL, GLOBEX).await,
        vec!["act_2000000007"]
    );
    // ... and the owner's view is its own.
    assert!(shared_ids(&mut c, INITECH_PIXEL, INITECH).await.is_empty());
    // Not with an account it has no confirmed access to (pending agency).
    let st = share(&mut c, INITECH_PIXEL, GLOBEX, "2000000006")
        .await
        .unwrap_err();
    assert_rule(&st, subcode::NOT_IN_BUSINESS);
    // Not with a pixel its business cannot reach.
    let st = share(&mut c, "5000000003", ACME, "2000000001")
        .await
        .unwrap_err();
    assert_rule(&st, subcode::NOT_IN_BUSINESS);

    // Bad input never reaches Graph.
    let bad = share(&mut c, ACME_PIXEL, ACME, "");
    assert_refused_before_graph(&gw, bad, &["ad_account_id"]).await;
    let bad = unshare(&mut c, "px", "acme", "act_x");
    assert_refused_before_graph(&gw, bad, &["pixel_id", "business", "ad_account_id"]).await;
}
