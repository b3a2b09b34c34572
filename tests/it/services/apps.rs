//! AppService: AP01–AP06.

use graph_gateway::proto::app_service_client::AppServiceClient as Client;
use graph_gateway::proto::*;
use tonic::transport::Channel;

use super::*;

fn client(ch: &Channel) -> Client<Channel> {
    Client::new(ch.clone())
}

async fn owned(c: &mut Client<Channel>, business: &str) -> Vec<App> {
    c.list_owned_apps(ListOwnedAppsRequest {
        business_id: business.into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .apps
}

async fn client_apps(c: &mut Client<Channel>, business: &str) -> Vec<App> {
    c.list_client_apps(ListClientAppsRequest {
        business_id: business.into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .apps
}

async fn pending_client(c: &mut Client<Channel>, business: &str) -> Vec<App> {
    c.list_pending_client_apps(ListPendingClientAppsRequest {
        business_id: business.into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .apps
}

#[tokio::test]
async fn ap01_lists_owned_apps() {
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
    let acme = owned(&mut c, ACME).await;
    assert_eq!(
        acme,
        vec![App {
            id: "4000000001".into(),
            name: "Acme Shop".into(),
            category: "Shopping".into(),
            link: "https://www.facebook.com/games/?app_id=4000000001".into(),
            access_status: AccessStatus::Confirmed as i32,
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
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
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
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
    let acme = pending_client(&mut c, ACME).await;
    assert_eq!(ids(&acme, |a| &a.id), vec!["4000000003"]);
    assert_eq!(acme[0].name, "Initech Loyalty");
    assert_eq!(acme[0].category, "Lifestyle");
    assert_eq!(acme[0].access_status(), AccessStatus::Pending);
    assert_eq!(acme[0].permitted_tasks, vec!["ANALYZE"]);
}

#[tokio::test]
async fn ap04_removes_a_client_app_and_a_pending_one() {
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
    assert_eq!(client_apps(&mut c, ACME).await.len(), 1);
    assert_eq!(pending_client(&mut c, ACME).await.len(), 1);

    let ok = c
        .remove_app(RemoveAppRequest {
            business_id: ACME.into(),
            app_id: "4000000002".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(ok.success);
    assert!(client_apps(&mut c, ACME).await.is_empty());

    let ok = c
        .remove_app(RemoveAppRequest {
            business_id: ACME.into(),
            app_id: "4000000003".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(ok.success);
    assert!(pending_client(&mut c, ACME).await.is_empty());

    // An app Acme has nothing to do with.
    let st = c
        .remove_app(RemoveAppRequest {
            business_id: ACME.into(),
            app_id: "4000000004".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_rule(&st, subcode::NOT_IN_BUSINESS);
}

#[tokio::test]
async fn ap05_claims_an_app_the_token_administers() {
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
    assert_eq!(owned(&mut c, ACME).await.len(), 1);
    let r = c
        .claim_app(ClaimAppRequest {
            business_id: ACME.into(),
            app_id: "4000000004".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.access_status(), AccessStatus::Confirmed);
    let list = owned(&mut c, ACME).await;
    assert_eq!(ids(&list, |a| &a.id), vec!["4000000001", "4000000004"]);
    assert_eq!(list[1].name, "Acme Scratch Game");
    assert_eq!(list[1].category, "Games");
    assert_eq!(list[1].link, "/instantgames/4000000004/");

    // Globex's app is owned elsewhere.
    let st = c
        .claim_app(ClaimAppRequest {
            business_id: ACME.into(),
            app_id: "4000000002".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_rule(&st, subcode::OWNED_ELSEWHERE);
}

#[tokio::test]
async fn ap06_agency_claim_is_pending_and_listed_by_ap03() {
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
    assert!(pending_client(&mut c, GLOBEX).await.is_empty());
    let r = c
        .claim_client_app(ClaimClientAppRequest {
            business_id: GLOBEX.into(),
            app_id: "4000000001".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.access_status(), AccessStatus::Pending);
    let pending = pending_client(&mut c, GLOBEX).await;
    assert_eq!(ids(&pending, |a| &a.id), vec!["4000000001"]);
    assert_eq!(pending[0].name, "Acme Shop");
    assert_eq!(pending[0].access_status(), AccessStatus::Pending);

    // An app no business owns cannot be claimed as an agency.
    let st = c
        .claim_client_app(ClaimClientAppRequest {
            business_id: GLOBEX.into(),
            app_id: "4000000004".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_rule(&st, subcode::NOT_BUSINESS_OWNED);
    // Nor by its owner.
    let st = c
        .claim_client_app(ClaimClientAppRequest {
            business_id: ACME.into(),
            app_id: "4000000001".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_graph_error(
        &st,
        tonic::Code::InvalidArgument,
        "GRAPH_INVALID_PARAMETER",
        100,
        None,
    );
}
