//! AppService: AP01–AP06, and AP07–AP08 beyond the catalogue.

use graph_gateway::proto::app_service_client::AppServiceClient as Client;
use graph_gateway::proto::*;

use super::*;

// access_status and permitted_tasks are opt-in (not on Meta's Application).
rpc!(fn owned(business_id: &str; read_mask = APP_FIELDS) -> Vec<App>
    = list_owned_apps(ListOwnedAppsRequest).apps);
rpc!(fn client_apps(business_id: &str; read_mask = APP_FIELDS) -> Vec<App>
    = list_client_apps(ListClientAppsRequest).apps);
rpc!(fn pending_client_requests(business_id: &str) -> Vec<AppRequest>
    = list_pending_client_apps(ListPendingClientAppsRequest).requests);

const APP_FIELDS: &[&str] = &[
    "id",
    "name",
    "category",
    "link",
    "access_status",
    "permitted_tasks",
];

/// The apps of AP03's pending requests (Meta's BusinessApplicationRequest).
async fn pending_client(c: &mut Client<tonic::transport::Channel>, business_id: &str) -> Vec<App> {
    let requests = pending_client_requests(c, business_id).await;
    for r in &requests {
        let app = r.application.as_ref().map(|a| a.id.as_str());
        assert!(!r.id.is_empty() && Some(r.id.as_str()) != app, "{r:?}");
    }
    requests.into_iter().filter_map(|r| r.application).collect()
}
rpc!(fn remove(app_id: &str; business_id = ACME) -> MutationResult = remove_app(RemoveAppRequest));
rpc!(fn claim(app_id: &str; business_id = ACME) -> ClaimResult = claim_app(ClaimAppRequest));
rpc!(fn claim_client(business_id: &str, app_id: &str) -> ClaimResult
    = claim_client_app(ClaimClientAppRequest));

#[tokio::test]
async fn ap01_lists_owned_apps() {
    let (_gw, mut c) = start(Client::new).await;
    let acme = owned(&mut c, ACME).await;
    assert_eq!(
        acme,
        vec![App {
            id: "4000000001".into(),
            name: "Acme Shop".into(),
            category: "Shopping".into(),
            link: "https://www.facebook.com/games/?app_id=4000000001".into(),
            access_status: AccessStatus::Confirmed as i32,
            access_status_raw: "CONFIRMED".into(),
            permitted_tasks: ["MANAGE", "DEVELOP", "TEST", "ADVERTISE", "ANALYZE"]
                .map(String::from)
                .to_vec(),
        }]
    );
    let globex = owned(&mut c, GLOBEX).await;
    assert_eq!(ids(&globex, |a| &a.id), vec!["4000000002"]);
    assert_eq!(globex[0].name, "Globex Insights");
}

#[tokio::test]
async fn ap02_lists_client_apps() {
    let (_gw, mut c) = start(Client::new).await;
    let acme = client_apps(&mut c, ACME).await;
    assert_eq!(ids(&acme, |a| &a.id), vec!["4000000002"]);
    let app = &acme[0];
    assert_eq!(app.name, "Globex Insights");
    assert_eq!(app.category, "Business");
    assert_eq!(app.access_status(), AccessStatus::Confirmed);
    assert_eq!(app.permitted_tasks, vec!["DEVELOP", "ANALYZE"]);
    assert!(client_apps(&mut c, GLOBEX).await.is_empty());
}

#[tokio::test]
async fn ap03_lists_pending_client_apps() {
    let (_gw, mut c) = start(Client::new).await;
    let acme = pending_client(&mut c, ACME).await;
    assert_eq!(ids(&acme, |a| &a.id), vec!["4000000003"]);
    assert_eq!(acme[0].name, "Initech Loyalty");
    assert_eq!(acme[0].category, "Lifestyle");
}

#[tokio::test]
async fn ap04_removes_a_client_app_and_a_pending_one() {
    let (_gw, mut c) = start(Client::new).await;
    assert_eq!(client_apps(&mut c, ACME).await.len(), 1);
    assert_eq!(pending_client(&mut c, ACME).await.len(), 1);

    let ok = remove(&mut c, "4000000002").await.unwrap();
    assert!(ok.success);
    assert!(client_apps(&mut c, ACME).await.is_empty());

    let ok = remove(&mut c, "4000000003").await.unwrap();
    assert!(ok.success);
    assert!(pending_client(&mut c, ACME).await.is_empty());

    // An app Acme has nothing to do with.
    let st = remove(&mut c, "4000000004").await.unwrap_err();
    assert_rule(&st, subcode::NOT_IN_BUSINESS);
}

#[tokio::test]
async fn ap05_claims_an_app_the_token_administers() {
    let (_gw, mut c) = start(Client::new).await;
    assert_eq!(owned(&mut c, ACME).await.len(), 1);
    let r = claim(&mut c, "4000000004").await.unwrap();
    assert_eq!(r.access_status(), AccessStatus::Confirmed);
    let list = owned(&mut c, ACME).await;
    assert_eq!(ids(&list, |a| &a.id), vec!["4000000001", "4000000004"]);
    assert_eq!(list[1].name, "Acme Scratch Game");
    assert_eq!(list[1].category, "Games");
    assert_eq!(list[1].link, "/instantgames/4000000004/");

    // Globex's app is owned elsewhere.
    let st = claim(&mut c, "4000000002").await.unwrap_err();
    assert_rule(&st, subcode::OWNED_ELSEWHERE);
}

#[tokio::test]
async fn ap06_agency_claim_is_pending_and_listed_by_ap03() {
    let (_gw, mut c) = start(Client::new).await;
    assert!(pending_client(&mut c, GLOBEX).await.is_empty());
    let r = claim_client(&mut c, GLOBEX, "4000000001").await.unwrap();
    assert_eq!(r.access_status(), AccessStatus::Pending);
    let pending = pending_client(&mut c, GLOBEX).await;
    assert_eq!(ids(&pending, |a| &a.id), vec!["4000000001"]);
    assert_eq!(pending[0].name, "Acme Shop");

    // An app no business owns cannot be claimed as an agency.
    let st = claim_client(&mut c, GLOBEX, "4000000004")
        .await
        .unwrap_err();
    assert_rule(&st, subcode::NOT_BUSINESS_OWNED);
    // Nor by its owner.
    let st = claim_client(&mut c, ACME, "4000000001").await.unwrap_err();
    assert_invalid_parameter(&st);
}

// ---------------------------------------------------------------------------
// AP07, AP08 (beyond the catalogue: issue 16)

rpc!(fn app_agencies(app_id: &str, business_id: &str) -> Vec<AgencyBusiness>
    = list_app_agencies(ListAppAgenciesRequest).agencies);
rpc!(fn authorized(app_id: &str, business: &str) -> ListAppAuthorizedAdAccountsResponse
    = list_app_authorized_ad_accounts(ListAppAuthorizedAdAccountsRequest));

#[tokio::test]
async fn ap07_lists_app_agencies_and_the_cached_list_follows_ap04_and_ap06() {
    let (gw, mut c) = start(Client::new).await;
    // Acme is the agency of Globex Insights (cached from here on).
    let list = app_agencies(&mut c, "4000000002", GLOBEX).await;
    assert_eq!(ids(&list, |a| &a.id), vec![ACME]);
    assert_eq!(list[0].name, "Acme Retail");
    last_sent_to(&gw, "GET", "/4000000002/agencies");
    // The agency gives the app up (AP04): the app's agency list follows.
    assert!(remove(&mut c, "4000000002").await.unwrap().success);
    assert!(app_agencies(&mut c, "4000000002", GLOBEX).await.is_empty());

    // Acme's own app has no agency until Globex asks for access (AP06).
    assert!(app_agencies(&mut c, "4000000001", ACME).await.is_empty());
    claim_client(&mut c, GLOBEX, "4000000001").await.unwrap();
    assert_eq!(
        ids(&app_agencies(&mut c, "4000000001", ACME).await, |a| &a.id),
        vec![GLOBEX]
    );

    // Bad input never reaches Graph.
    let bad = c.list_app_agencies(ListAppAgenciesRequest {
        app_id: "shop".into(),
        business_id: "acme".into(),
        ..Default::default()
    });
    assert_refused_before_graph(&gw, bad, &["app_id", "business_id"]).await;
}

#[tokio::test]
async fn ap08_lists_the_ad_accounts_authorized_for_an_app() {
    let (gw, mut c) = start(Client::new).await;
    let list = authorized(&mut c, "4000000001", ACME)
        .await
        .unwrap()
        .ad_accounts;
    assert_eq!(ids(&list, |a| &a.id), vec!["act_2000000001"]);
    assert_eq!(list[0].business, node(ACME, "Acme Retail"));
    let sent = last_sent_to(&gw, "GET", "/4000000001/authorized_adaccounts");
    assert_eq!(sent.param("business"), Some(ACME));
    // Globex's view of the app it has access to: none authorized for it.
    assert!(authorized(&mut c, "4000000002", GLOBEX)
        .await
        .unwrap()
        .ad_accounts
        .is_empty());
    // A business without access to the app is refused by Graph.
    let st = authorized(&mut c, "4000000001", INITECH).await.unwrap_err();
    assert_eq!(st.code(), tonic::Code::PermissionDenied, "{st:?}");
    // Bad input never reaches Graph.
    let bad = authorized(&mut c, "app", ACME);
    assert_refused_before_graph(&gw, bad, &["app_id"]).await;
}
