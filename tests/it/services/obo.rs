//! OnBehalfOfService: OB01–OB06.

use graph_gateway::proto::on_behalf_of_service_client::OnBehalfOfServiceClient as Client;
use graph_gateway::proto::*;

use super::*;

/// The demo's OBO request: Globex -> Acme for act_2000000007, IN_PROGRESS.
const DEMO_REQUEST: &str = "8400000001";
/// The id OB01 gives the first new request.
const NEW_REQUEST: &str = "8400000002";
/// Globex's own ad account.
const GLOBEX_ACCOUNT: &str = "act_2000000007";

rpc!(fn create(business_id: &str, receiving_business_id: &str, ad_account_id: &str)
    -> CreateOnBehalfOfRequestResponse
    = create_on_behalf_of_request(CreateOnBehalfOfRequestRequest));
rpc!(fn get(obo_request_id: &str, business_id: &str) -> OnBehalfOfRequest
    = get_on_behalf_of_request(GetOnBehalfOfRequestRequest));
rpc!(fn cancel(obo_request_id: &str, business_id: &str) -> MutationResult
    = cancel_on_behalf_of_request(CancelOnBehalfOfRequestRequest));
rpc!(fn received(business_id: &str) -> Vec<OnBehalfOfRequest>
    = list_received_on_behalf_of_requests(ListReceivedOnBehalfOfRequestsRequest).requests);
rpc!(fn sent(business_id: &str) -> Vec<OnBehalfOfRequest>
    = list_sent_on_behalf_of_requests(ListSentOnBehalfOfRequestsRequest).requests);

rpc!(fn by_status(ad_account_id: &str, status: OnBehalfOfStatusFilter; business_id = GLOBEX)
    -> Vec<OnBehalfOfRequest>
    = list_ad_account_on_behalf_of_requests(ListAdAccountOnBehalfOfRequestsRequest).requests);
rpc!(fn list_by_status(ad_account_id: &str, status: i32; business_id = GLOBEX)
    -> ListAdAccountOnBehalfOfRequestsResponse
    = list_ad_account_on_behalf_of_requests(ListAdAccountOnBehalfOfRequestsRequest));

// ---------------------------------------------------------------------------
// OB01

#[tokio::test]
async fn ob01_creates_an_in_progress_request_and_the_cached_lists_follow() {
    let (gw, mut c) = start(Client::new).await;
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

    let id = create(&mut c, GLOBEX, INITECH, "2000000007")
        .await
        .unwrap()
        .id;
    assert_eq!(id, NEW_REQUEST);
    let req = last_sent_to(&gw, "POST", "/1000000002/sent_inprogress_onbehalf_requests");
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
            .unwrap()
            .id,
        NEW_REQUEST
    );
    assert_eq!(sent(&mut c, GLOBEX).await.len(), 2);
}

#[tokio::test]
async fn ob01_refusals() {
    let (gw, mut c) = start(Client::new).await;
    // Only the requesting business's own ad accounts.
    let st = create(&mut c, GLOBEX, INITECH, "act_2000000001")
        .await
        .unwrap_err();
    assert_rule(&st, subcode::NOT_IN_BUSINESS);
    // Not to itself.
    let st = create(&mut c, GLOBEX, GLOBEX, GLOBEX_ACCOUNT)
        .await
        .unwrap_err();
    assert_invalid_parameter(&st);
    assert_eq!(sent(&mut c, GLOBEX).await.len(), 1);

    // Invalid requests never reach Graph.
    let bad = create(&mut c, GLOBEX, "", "acct_2000000007");
    let fields = ["receiving_business_id", "ad_account_id"];
    assert_refused_before_graph(&gw, bad, &fields).await;
    let bad = create(&mut c, "", "initech", "");
    let fields = ["business_id", "receiving_business_id", "ad_account_id"];
    assert_refused_before_graph(&gw, bad, &fields).await;
}

// ---------------------------------------------------------------------------
// OB02

#[tokio::test]
async fn ob02_reads_a_request_for_either_business() {
    let (gw, mut c) = start(Client::new).await;
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
    let req = last_sent_to(&gw, "GET", "/8400000001");
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
    assert_not_found(&st);
    // Not an id.
    let not_an_id = get(&mut c, "obo-1", GLOBEX);
    assert_refused_before_graph(&gw, not_an_id, &["obo_request_id"]).await;
}

#[tokio::test]
async fn ob02_keeps_statuses_this_version_does_not_know() {
    let body = serde_json::json!({
        "id": DEMO_REQUEST,
        "status": "UNDER_REVIEW",
        "receiving_business": {"id": ACME, "name": "Acme Retail"},
        "requesting_business": {"id": GLOBEX, "name": "Globex Agency"},
        "business_owned_object": "2000000007",
    });
    let (_rec, _gw, mut c) = start_recorded(body, GLOBEX, Client::new).await;
    let r = get(&mut c, DEMO_REQUEST, GLOBEX).await.unwrap();
    assert_eq!(r.status(), OnBehalfOfRequestStatus::Unspecified);
    assert_eq!(r.status_raw, "UNDER_REVIEW");
    assert_eq!(r.business_owned_object, "2000000007");
}

// ---------------------------------------------------------------------------
// The client answers (sandbox hook); OB02, OB04–OB06 show it.

#[tokio::test]
async fn ob_lifecycle_in_progress_then_approved_or_declined() {
    let (gw, mut c) = start_uncached(Client::new).await;
    let id = create(&mut c, GLOBEX, INITECH, GLOBEX_ACCOUNT)
        .await
        .unwrap()
        .id;
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
    assert_invalid_parameter(&st);
}

// ---------------------------------------------------------------------------
// OB03

#[tokio::test]
async fn ob03_cancels_a_request_and_the_cached_reads_follow() {
    let (gw, mut c) = start(Client::new).await;
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
    last_sent_to(&gw, "DELETE", "/8400000001");

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
    assert_invalid_parameter(&st);
    let no_id = cancel(&mut c, "", GLOBEX);
    assert_refused_before_graph(&gw, no_id, &["obo_request_id"]).await;
}

// ---------------------------------------------------------------------------
// OB04

#[tokio::test]
async fn ob04_lists_an_ad_accounts_requests_by_status() {
    let (gw, mut c) = start(Client::new).await;
    for account in [GLOBEX_ACCOUNT, "2000000007"] {
        let list = by_status(&mut c, account, OnBehalfOfStatusFilter::InProgress).await;
        assert_eq!(ids(&list, |r| &r.id), vec![DEMO_REQUEST]);
        assert_eq!(list[0].status(), OnBehalfOfRequestStatus::InProgress);
        assert_eq!(list[0].receiving_business, node(ACME, "Acme Retail"));
        assert_eq!(list[0].requesting_business, node(GLOBEX, "Globex Agency"));
        assert_eq!(list[0].business_owned_object, "2000000007");
    }
    let req = last_sent_to(&gw, "GET", "/act_2000000007/onbehalf_requests");
    assert_eq!(req.query_param("status"), Some("IN_PROGRESS"));
    assert!(
        by_status(&mut c, GLOBEX_ACCOUNT, OnBehalfOfStatusFilter::Approve)
            .await
            .is_empty()
    );
    assert_eq!(last_sent(&gw).query_param("status"), Some("APPROVE"));
    assert!(
        by_status(&mut c, GLOBEX_ACCOUNT, OnBehalfOfStatusFilter::Decline)
            .await
            .is_empty()
    );
    assert_eq!(last_sent(&gw).query_param("status"), Some("DECLINE"));
}

#[tokio::test]
async fn ob04_status_is_optional_and_ids_are_checked() {
    let (gw, mut c) = start(Client::new).await;
    // Meta's spec makes status optional: unset lists every status.
    list_by_status(&mut c, GLOBEX_ACCOUNT, 0).await.unwrap();
    assert_eq!(last_sent(&gw).query_param("status"), None);
    let bad_id = list_by_status(&mut c, "act_abc", OnBehalfOfStatusFilter::Approve as i32);
    assert_refused_before_graph(&gw, bad_id, &["ad_account_id"]).await;
    // A status number this version does not define.
    let unknown = list_by_status(&mut c, GLOBEX_ACCOUNT, 42);
    assert_refused_before_graph(&gw, unknown, &["status"]).await;
}

// ---------------------------------------------------------------------------
// OB05, OB06

#[tokio::test]
async fn ob05_lists_requests_received() {
    let (gw, mut c) = start(Client::new).await;
    let list = received(&mut c, ACME).await;
    assert_eq!(ids(&list, |r| &r.id), vec![DEMO_REQUEST]);
    assert_eq!(list[0].requesting_business, node(GLOBEX, "Globex Agency"));
    assert_eq!(list[0].status_raw, "IN_PROGRESS");
    last_sent_to(
        &gw,
        "GET",
        "/1000000001/received_inprogress_onbehalf_requests",
    );
    assert!(received(&mut c, GLOBEX).await.is_empty());
}

#[tokio::test]
async fn ob06_lists_requests_sent() {
    let (gw, mut c) = start(Client::new).await;
    let list = sent(&mut c, GLOBEX).await;
    assert_eq!(ids(&list, |r| &r.id), vec![DEMO_REQUEST]);
    assert_eq!(list[0].receiving_business, node(ACME, "Acme Retail"));
    assert_eq!(list[0].status(), OnBehalfOfRequestStatus::InProgress);
    last_sent_to(&gw, "GET", "/1000000002/sent_inprogress_onbehalf_requests");
    assert!(sent(&mut c, ACME).await.is_empty());
    let no_business =
        c.list_sent_on_behalf_of_requests(ListSentOnBehalfOfRequestsRequest::default());
    assert_refused_before_graph(&gw, no_business, &["business_id"]).await;
}
