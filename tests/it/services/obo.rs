//! OnBehalfOfService: OB01–OB06.

use std::sync::Arc;

use graph_gateway::config::Config;
use graph_gateway::proto::on_behalf_of_service_client::OnBehalfOfServiceClient as Client;
use graph_gateway::proto::*;
use graph_gateway::vault::MemoryVault;
use tonic::transport::Channel;
use tonic::Code;

use super::*;
use crate::harness::{token, Recorder};

/// The demo's OBO request: Globex -> Acme for act_2000000007, IN_PROGRESS.
const DEMO_REQUEST: &str = "8400000001";
/// The id OB01 gives the first new request.
const NEW_REQUEST: &str = "8400000002";
/// Globex's own ad account.
const GLOBEX_ACCOUNT: &str = "act_2000000007";

fn client(ch: &Channel) -> Client<Channel> {
    Client::new(ch.clone())
}

/// A gateway that keeps nothing in its cache: for reads after a sandbox hook
/// (the client answering in Business Manager), which the gateway cannot see.
async fn start_uncached() -> (TestGateway, Channel) {
    let mut cfg = Config::default();
    cfg.cache.ttl_secs = 0;
    let gw = TestGateway::sandbox_with(cfg).await;
    let ch = gw.channel().await;
    (gw, ch)
}

async fn create(
    c: &mut Client<Channel>,
    requesting: &str,
    receiving: &str,
    ad_account: &str,
) -> Result<String, tonic::Status> {
    c.create_on_behalf_of_request(CreateOnBehalfOfRequestRequest {
        business_id: requesting.into(),
        receiving_business_id: receiving.into(),
        ad_account_id: ad_account.into(),
        ..Default::default()
    })
    .await
    .map(|r| r.into_inner().id)
}

async fn get(
    c: &mut Client<Channel>,
    id: &str,
    business: &str,
) -> Result<OnBehalfOfRequest, tonic::Status> {
    c.get_on_behalf_of_request(GetOnBehalfOfRequestRequest {
        obo_request_id: id.into(),
        business_id: business.into(),
        ..Default::default()
    })
    .await
    .map(|r| r.into_inner())
}

async fn cancel(
    c: &mut Client<Channel>,
    id: &str,
    business: &str,
) -> Result<MutationResult, tonic::Status> {
    c.cancel_on_behalf_of_request(CancelOnBehalfOfRequestRequest {
        obo_request_id: id.into(),
        business_id: business.into(),
        ..Default::default()
    })
    .await
    .map(|r| r.into_inner())
}

async fn by_status(
    c: &mut Client<Channel>,
    ad_account: &str,
    status: OnBehalfOfStatusFilter,
) -> Vec<OnBehalfOfRequest> {
    c.list_ad_account_on_behalf_of_requests(ListAdAccountOnBehalfOfRequestsRequest {
        ad_account_id: ad_account.into(),
        business_id: GLOBEX.into(),
        status: status as i32,
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .requests
}

async fn received(c: &mut Client<Channel>, business: &str) -> Vec<OnBehalfOfRequest> {
    c.list_received_on_behalf_of_requests(ListReceivedOnBehalfOfRequestsRequest {
        business_id: business.into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .requests
}

async fn sent(c: &mut Client<Channel>, business: &str) -> Vec<OnBehalfOfRequest> {
    c.list_sent_on_behalf_of_requests(ListSentOnBehalfOfRequestsRequest {
        business_id: business.into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .requests
}

fn node(id: &str, name: &str) -> Option<NodeRef> {
    Some(NodeRef {
        id: id.into(),
        name: name.into(),
    })
}

// ---------------------------------------------------------------------------
// OB01

#[tokio::test]
async fn ob01_creates_an_in_progress_request_and_the_cached_lists_follow() {
    let (gw, ch) = start().await;
    let mut c = client(&ch);
    // Cache every list the request changes.
    assert_eq!(
        ids(&sent(&mut c, GLOBEX).await, |r| &r.id),
        vec![DEMO_REQUEST]
    );
    assert!(received(&mut c, INITECH).await.is_empty());
    assert_eq!(
        ids(
            &by_status(&mut c, GLOBEX_ACCOUNT, OnBehalfOfStatusFilter::InProgress).await,
            |r| &r.id
        ),
        vec![DEMO_REQUEST]
    );

    let id = create(&mut c, GLOBEX, INITECH, "2000000007").await.unwrap();
    assert_eq!(id, NEW_REQUEST);
    let req = gw.sb().last_request().unwrap();
    assert_eq!(req.method, "POST");
    assert!(
        req.path
            .ends_with("/1000000002/sent_inprogress_onbehalf_requests"),
        "{}",
        req.path
    );
    assert_eq!(req.form_param("receiving_business"), Some(INITECH));
    assert_eq!(
        req.form_param("business_owned_object"),
        Some(GLOBEX_ACCOUNT)
    );

    assert_eq!(
        ids(&sent(&mut c, GLOBEX).await, |r| &r.id),
        vec![DEMO_REQUEST, NEW_REQUEST]
    );
    let inbox = received(&mut c, INITECH).await;
    assert_eq!(ids(&inbox, |r| &r.id), vec![NEW_REQUEST]);
    assert_eq!(inbox[0].status(), OnBehalfOfRequestStatus::InProgress);
    assert_eq!(inbox[0].requesting_business, node(GLOBEX, "Globex Agency"));
    assert_eq!(
        ids(
            &by_status(&mut c, GLOBEX_ACCOUNT, OnBehalfOfStatusFilter::InProgress).await,
            |r| &r.id
        ),
        vec![DEMO_REQUEST, NEW_REQUEST]
    );

    // Asking again while it is IN_PROGRESS answers the same request, whichever
    // way the ad account is written.
    assert_eq!(
        create(&mut c, GLOBEX, INITECH, GLOBEX_ACCOUNT)
            .await
            .unwrap(),
        NEW_REQUEST
    );
    assert_eq!(sent(&mut c, GLOBEX).await.len(), 2);
}

#[tokio::test]
async fn ob01_refusals() {
    let (gw, ch) = start().await;
    let mut c = client(&ch);
    // Only the requesting business's own ad accounts.
    let st = create(&mut c, GLOBEX, INITECH, "act_2000000001")
        .await
        .unwrap_err();
    assert_rule(&st, subcode::NOT_IN_BUSINESS);
    // Not to itself.
    let st = create(&mut c, GLOBEX, GLOBEX, GLOBEX_ACCOUNT)
        .await
        .unwrap_err();
    assert_graph_error(
        &st,
        Code::InvalidArgument,
        "GRAPH_INVALID_PARAMETER",
        100,
        None,
    );
    assert_eq!(sent(&mut c, GLOBEX).await.len(), 1);

    // Invalid requests never reach Graph.
    let before = gw.sb().request_count();
    let st = create(&mut c, GLOBEX, "", "acct_2000000007")
        .await
        .unwrap_err();
    assert_eq!(
        violations(&st),
        vec!["receiving_business_id", "ad_account_id"]
    );
    let st = create(&mut c, "", "initech", "").await.unwrap_err();
    assert_eq!(
        violations(&st),
        vec!["business_id", "receiving_business_id", "ad_account_id"]
    );
    assert_eq!(gw.sb().request_count(), before);
}

// ---------------------------------------------------------------------------
// OB02

#[tokio::test]
async fn ob02_reads_a_request_for_either_business() {
    let (gw, ch) = start().await;
    let mut c = client(&ch);
    let r = get(&mut c, DEMO_REQUEST, GLOBEX).await.unwrap();
    assert_eq!(
        r,
        OnBehalfOfRequest {
            id: DEMO_REQUEST.into(),
            receiving_business: node(ACME, "Acme Retail"),
            requesting_business: node(GLOBEX, "Globex Agency"),
            status: OnBehalfOfRequestStatus::InProgress as i32,
            status_raw: "IN_PROGRESS".into(),
            business_owned_object: "2000000007".into(),
        }
    );
    // The fields the seed names, each once.
    let req = gw.sb().last_request().unwrap();
    assert!(req.path.ends_with("/8400000001"), "{}", req.path);
    assert_eq!(
        req.query_param("fields"),
        Some("id,receiving_business{id,name},requesting_business{id,name},status,business_owned_object")
    );
    // The receiving business may read it too.
    assert_eq!(get(&mut c, DEMO_REQUEST, ACME).await.unwrap(), r);
    // A read mask narrows it (the id always comes back).
    let narrow = c
        .get_on_behalf_of_request(GetOnBehalfOfRequestRequest {
            obo_request_id: DEMO_REQUEST.into(),
            business_id: GLOBEX.into(),
            read_mask: Some(prost_types::FieldMask {
                paths: vec!["status_raw".into()],
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(narrow.id, DEMO_REQUEST);
    assert_eq!(narrow.status_raw, "IN_PROGRESS");
    assert_eq!(narrow.status(), OnBehalfOfRequestStatus::InProgress);
    assert_eq!(narrow.receiving_business, None);

    // Neither business: refused by Graph.
    let st = get(&mut c, DEMO_REQUEST, INITECH).await.unwrap_err();
    assert_permission_denied(&st);
    // No such request.
    let st = get(&mut c, "8400000099", GLOBEX).await.unwrap_err();
    assert_graph_error(&st, Code::NotFound, "GRAPH_NOT_FOUND", 100, Some(33));
    // Not an id.
    let before = gw.sb().request_count();
    let st = get(&mut c, "obo-1", GLOBEX).await.unwrap_err();
    assert_eq!(violations(&st), vec!["obo_request_id"]);
    assert_eq!(gw.sb().request_count(), before);
}

#[tokio::test]
async fn ob02_keeps_statuses_this_version_does_not_know() {
    let body = serde_json::json!({
        "id": DEMO_REQUEST,
        "status": "EXPIRED",
        "receiving_business": {"id": ACME, "name": "Acme Retail"},
        "requesting_business": {"id": GLOBEX, "name": "Globex Agency"},
        "business_owned_object": "2000000007",
    })
    .to_string();
    let rec = Recorder::start(vec![(200, vec![], body)]).await;
    let vault = Arc::new(MemoryVault::new(vec![token("globex", GLOBEX, "tok-1")]));
    let gw = TestGateway::upstream(&rec.url, vault, Config::default()).await;
    let mut c = client(&gw.channel().await);
    let r = get(&mut c, DEMO_REQUEST, GLOBEX).await.unwrap();
    assert_eq!(r.status(), OnBehalfOfRequestStatus::Unspecified);
    assert_eq!(r.status_raw, "EXPIRED");
    assert_eq!(r.business_owned_object, "2000000007");
}

// ---------------------------------------------------------------------------
// The client answers (sandbox hook); OB02, OB04–OB06 show it.

#[tokio::test]
async fn ob_lifecycle_in_progress_then_approved_or_declined() {
    let (gw, ch) = start_uncached().await;
    let mut c = client(&ch);
    let id = create(&mut c, GLOBEX, INITECH, GLOBEX_ACCOUNT)
        .await
        .unwrap();
    assert_eq!(
        get(&mut c, &id, GLOBEX).await.unwrap().status(),
        OnBehalfOfRequestStatus::InProgress
    );
    assert_eq!(
        ids(&received(&mut c, INITECH).await, |r| &r.id),
        vec![id.clone()]
    );

    // Initech approves in Business Manager.
    assert!(gw.sb().respond(&id, true));
    let r = get(&mut c, &id, INITECH).await.unwrap();
    assert_eq!(r.status(), OnBehalfOfRequestStatus::Approve);
    assert_eq!(r.status_raw, "APPROVE");
    let approved = by_status(&mut c, GLOBEX_ACCOUNT, OnBehalfOfStatusFilter::Approve).await;
    assert_eq!(ids(&approved, |r| &r.id), vec![id.clone()]);
    assert_eq!(
        approved[0].receiving_business,
        node(INITECH, "Initech Holdings")
    );
    assert_eq!(
        ids(
            &by_status(&mut c, GLOBEX_ACCOUNT, OnBehalfOfStatusFilter::InProgress).await,
            |r| &r.id
        ),
        vec![DEMO_REQUEST]
    );
    assert!(received(&mut c, INITECH).await.is_empty());
    assert_eq!(
        ids(&sent(&mut c, GLOBEX).await, |r| &r.id),
        vec![DEMO_REQUEST]
    );

    // Acme declines the demo request.
    assert!(gw.sb().respond(DEMO_REQUEST, false));
    let declined = by_status(&mut c, GLOBEX_ACCOUNT, OnBehalfOfStatusFilter::Decline).await;
    assert_eq!(ids(&declined, |r| &r.id), vec![DEMO_REQUEST]);
    assert_eq!(declined[0].status(), OnBehalfOfRequestStatus::Decline);
    assert!(
        by_status(&mut c, GLOBEX_ACCOUNT, OnBehalfOfStatusFilter::InProgress)
            .await
            .is_empty()
    );
    assert!(sent(&mut c, GLOBEX).await.is_empty());
    assert!(received(&mut c, ACME).await.is_empty());

    // An answered request can no longer be canceled.
    let st = cancel(&mut c, &id, GLOBEX).await.unwrap_err();
    assert_graph_error(
        &st,
        Code::InvalidArgument,
        "GRAPH_INVALID_PARAMETER",
        100,
        None,
    );
}

// ---------------------------------------------------------------------------
// OB03

#[tokio::test]
async fn ob03_cancels_a_request_and_the_cached_reads_follow() {
    let (gw, ch) = start().await;
    let mut c = client(&ch);
    // Cache every read the cancellation changes.
    assert_eq!(
        get(&mut c, DEMO_REQUEST, GLOBEX).await.unwrap().status(),
        OnBehalfOfRequestStatus::InProgress
    );
    assert_eq!(
        ids(&received(&mut c, ACME).await, |r| &r.id),
        vec![DEMO_REQUEST]
    );
    assert_eq!(
        ids(&sent(&mut c, GLOBEX).await, |r| &r.id),
        vec![DEMO_REQUEST]
    );
    assert_eq!(
        by_status(&mut c, GLOBEX_ACCOUNT, OnBehalfOfStatusFilter::InProgress)
            .await
            .len(),
        1
    );

    // The receiving business cannot cancel it.
    let st = cancel(&mut c, DEMO_REQUEST, ACME).await.unwrap_err();
    assert_permission_denied(&st);

    let r = cancel(&mut c, DEMO_REQUEST, GLOBEX).await.unwrap();
    assert!(r.success);
    let req = gw.sb().last_request().unwrap();
    assert_eq!(req.method, "DELETE");
    assert!(req.path.ends_with("/8400000001"), "{}", req.path);

    let r = get(&mut c, DEMO_REQUEST, GLOBEX).await.unwrap();
    assert_eq!(r.status(), OnBehalfOfRequestStatus::Canceled);
    assert_eq!(r.status_raw, "CANCELED");
    assert!(received(&mut c, ACME).await.is_empty());
    assert!(sent(&mut c, GLOBEX).await.is_empty());
    assert!(
        by_status(&mut c, GLOBEX_ACCOUNT, OnBehalfOfStatusFilter::InProgress)
            .await
            .is_empty()
    );

    // Only IN_PROGRESS requests can be canceled.
    let st = cancel(&mut c, DEMO_REQUEST, GLOBEX).await.unwrap_err();
    assert_graph_error(
        &st,
        Code::InvalidArgument,
        "GRAPH_INVALID_PARAMETER",
        100,
        None,
    );
    let before = gw.sb().request_count();
    let st = cancel(&mut c, "", GLOBEX).await.unwrap_err();
    assert_eq!(violations(&st), vec!["obo_request_id"]);
    assert_eq!(gw.sb().request_count(), before);
}

// ---------------------------------------------------------------------------
// OB04

#[tokio::test]
async fn ob04_lists_an_ad_accounts_requests_by_status() {
    let (gw, ch) = start().await;
    let mut c = client(&ch);
    for account in [GLOBEX_ACCOUNT, "2000000007"] {
        let list = by_status(&mut c, account, OnBehalfOfStatusFilter::InProgress).await;
        assert_eq!(ids(&list, |r| &r.id), vec![DEMO_REQUEST]);
        assert_eq!(list[0].status(), OnBehalfOfRequestStatus::InProgress);
        assert_eq!(list[0].receiving_business, node(ACME, "Acme Retail"));
        assert_eq!(list[0].requesting_business, node(GLOBEX, "Globex Agency"));
        assert_eq!(list[0].business_owned_object, "2000000007");
    }
    let req = gw.sb().last_request().unwrap();
    assert!(
        req.path.ends_with("/act_2000000007/onbehalf_requests"),
        "{}",
        req.path
    );
    assert_eq!(req.query_param("status"), Some("IN_PROGRESS"));
    assert!(
        by_status(&mut c, GLOBEX_ACCOUNT, OnBehalfOfStatusFilter::Approve)
            .await
            .is_empty()
    );
    assert_eq!(
        gw.sb().last_request().unwrap().query_param("status"),
        Some("APPROVE")
    );
    assert!(
        by_status(&mut c, GLOBEX_ACCOUNT, OnBehalfOfStatusFilter::Decline)
            .await
            .is_empty()
    );
    assert_eq!(
        gw.sb().last_request().unwrap().query_param("status"),
        Some("DECLINE")
    );
}

#[tokio::test]
async fn ob04_status_is_required_and_ids_are_checked() {
    let (gw, ch) = start().await;
    let mut c = client(&ch);
    let before = gw.sb().request_count();
    let st = c
        .list_ad_account_on_behalf_of_requests(ListAdAccountOnBehalfOfRequestsRequest {
            ad_account_id: GLOBEX_ACCOUNT.into(),
            business_id: GLOBEX.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violations(&st), vec!["status"]);
    let st = c
        .list_ad_account_on_behalf_of_requests(ListAdAccountOnBehalfOfRequestsRequest {
            ad_account_id: "act_abc".into(),
            business_id: GLOBEX.into(),
            status: OnBehalfOfStatusFilter::Approve as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violations(&st), vec!["ad_account_id"]);
    // A status number this version does not define.
    let st = c
        .list_ad_account_on_behalf_of_requests(ListAdAccountOnBehalfOfRequestsRequest {
            ad_account_id: GLOBEX_ACCOUNT.into(),
            business_id: GLOBEX.into(),
            status: 42,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violations(&st), vec!["status"]);
    assert_eq!(gw.sb().request_count(), before);
}

// ---------------------------------------------------------------------------
// OB05, OB06

#[tokio::test]
async fn ob05_lists_requests_received() {
    let (gw, ch) = start().await;
    let mut c = client(&ch);
    let list = received(&mut c, ACME).await;
    assert_eq!(ids(&list, |r| &r.id), vec![DEMO_REQUEST]);
    assert_eq!(list[0].requesting_business, node(GLOBEX, "Globex Agency"));
    assert_eq!(list[0].status_raw, "IN_PROGRESS");
    assert!(gw
        .sb()
        .last_request()
        .unwrap()
        .path
        .ends_with("/1000000001/received_inprogress_onbehalf_requests"));
    assert!(received(&mut c, GLOBEX).await.is_empty());
}

#[tokio::test]
async fn ob06_lists_requests_sent() {
    let (gw, ch) = start().await;
    let mut c = client(&ch);
    let list = sent(&mut c, GLOBEX).await;
    assert_eq!(ids(&list, |r| &r.id), vec![DEMO_REQUEST]);
    assert_eq!(list[0].receiving_business, node(ACME, "Acme Retail"));
    assert_eq!(list[0].status(), OnBehalfOfRequestStatus::InProgress);
    assert!(gw
        .sb()
        .last_request()
        .unwrap()
        .path
        .ends_with("/1000000002/sent_inprogress_onbehalf_requests"));
    assert!(sent(&mut c, ACME).await.is_empty());
    let before = gw.sb().request_count();
    let st = c
        .list_sent_on_behalf_of_requests(ListSentOnBehalfOfRequestsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(violations(&st), vec!["business_id"]);
    assert_eq!(gw.sb().request_count(), before);
}
