//! AudienceSharingService: AS01–AS04, and AS05–AS06 beyond the catalogue.

use graph_gateway::proto::audience_sharing_service_client::AudienceSharingServiceClient as Client;
use graph_gateway::proto::*;
use tonic::transport::Channel;
use AudienceRelationshipType as Rel;
use AudienceSharingDecision as Decision;

use super::*;

/// Acme's custom audience "Acme Loyal Customers" (of act_2000000001).
const ACME_AUDIENCE: &str = "8200000001";
/// Initech's custom audience "Initech Subscribers" (of act_2000000006).
const INITECH_AUDIENCE: &str = "8200000002";
/// The demo relationship Initech -> Globex ("Agency"), IN_PROGRESS, waiting
/// to share INITECH_AUDIENCE with act_2000000007.
const DEMO_RELATIONSHIP: &str = "8300000001";
/// The id AS01 gives the first new relationship.
const NEW_RELATIONSHIP: &str = "8300000002";

rpc!(fn share(custom_audience_id: &str, business_id: &str, ad_account_ids: &[&str],
    relationship_type: &[Rel]) -> ShareCustomAudienceResponse
    = share_custom_audience(ShareCustomAudienceRequest));
rpc!(fn respond(sharing_relationship_id: &str, business_id: &str, request_response: Decision)
    -> MutationResult
    = respond_to_audience_sharing_request(RespondToAudienceSharingRequestRequest));
// custom_audiences is opt-in (not on Meta's BusinessAssetSharingAgreement).
const REQUEST_FIELDS: &[&str] = &[
    "id",
    "initiator",
    "recipient",
    "request_status",
    "relationship_type",
    "custom_audiences",
];
rpc!(fn received(business_id: &str; read_mask = REQUEST_FIELDS) -> Vec<AudienceSharingRequest>
    = list_received_audience_sharing_requests(ListReceivedAudienceSharingRequestsRequest).requests);
rpc!(fn initiated(business_id: &str; read_mask = REQUEST_FIELDS) -> Vec<AudienceSharingRequest>
    = list_initiated_audience_sharing_requests(ListInitiatedAudienceSharingRequestsRequest)
    .requests);

/// Shares `audience` with Globex's ad account alone, as `business`.
async fn share_with_globex(
    c: &mut Client<Channel>,
    audience: &str,
    business: &str,
    relationship: Rel,
) -> ShareCustomAudienceResponse {
    share(c, audience, business, &["2000000007"], &[relationship])
        .await
        .unwrap()
}

/// (ad account, business, status, raw status, errors) of each result.
fn results(r: &ShareCustomAudienceResponse) -> Vec<(&str, &str, AudienceShareStatus, &str, usize)> {
    r.sharing_data
        .iter()
        .map(|d| {
            (
                d.ad_acct_id.as_str(),
                d.business_id.as_str(),
                d.audience_share_status(),
                d.audience_share_status_raw.as_str(),
                d.errors.len(),
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------
// AS01

#[tokio::test]
async fn as01_answers_one_result_per_ad_account_and_partial_failure_is_normal() {
    let (gw, mut c) = start(Client::new).await;
    // Cache the request lists the share changes.
    assert!(initiated(&mut c, ACME).await.is_empty());
    assert_eq!(
        ids(&received(&mut c, GLOBEX).await, |r| &r.id),
        vec![DEMO_RELATIONSHIP]
    );

    let r = share(
        &mut c,
        ACME_AUDIENCE,
        ACME,
        // Acme's own, Globex's, and one no business owns.
        &["2000000002", "2000000007", "2000000004"],
        &[Rel::Agency, Rel::AdOptimizer],
    )
    .await
    .unwrap();
    assert!(r.success);
    assert_eq!(
        results(&r),
        vec![
            ("2000000002", ACME, AudienceShareStatus::Shared, "SHARED", 0),
            (
                "2000000007",
                GLOBEX,
                AudienceShareStatus::InProgress,
                "IN_PROGRESS",
                0
            ),
            (
                "2000000004",
                "",
                AudienceShareStatus::NotShared,
                "NOT_SHARED",
                1
            ),
        ]
    );
    assert!(
        r.sharing_data[2].errors[0].contains("not a business-owned ad account"),
        "{:?}",
        r.sharing_data[2]
    );
    let req = last_sent_to(&gw, "POST", "/8200000001/adaccounts");
    assert_eq!(
        req.form_param("adaccounts"),
        Some(r#"["2000000002","2000000007","2000000004"]"#)
    );
    assert_eq!(
        req.form_param("relationship_type"),
        Some(r#"["Agency","Ad Optimizer"]"#)
    );
    assert_eq!(req.form_param("business_id"), None);

    // A new relationship request, visible to both businesses at once.
    let sent = initiated(&mut c, ACME).await;
    assert_eq!(
        sent,
        vec![AudienceSharingRequest {
            id: NEW_RELATIONSHIP.into(),
            initiator: node(ACME, "Acme Retail"),
            recipient: node(GLOBEX, "Globex Agency"),
            request_status: AudienceSharingRequestStatus::InProgress as i32,
            request_status_raw: "IN_PROGRESS".into(),
            relationship_type: nums(&[Rel::Agency, Rel::AdOptimizer]),
            relationship_type_raw: vec!["Agency".into(), "Ad Optimizer".into()],
            custom_audiences: vec![SharedCustomAudience {
                id: ACME_AUDIENCE.into(),
                name: "Acme Loyal Customers".into(),
                share_account_name: "Globex House Account".into(),
                share_account_id: "2000000007".into(),
            }],
        }]
    );
    assert_eq!(
        ids(&received(&mut c, GLOBEX).await, |r| &r.id),
        vec![DEMO_RELATIONSHIP, NEW_RELATIONSHIP]
    );
}

#[tokio::test]
async fn as01_by_a_business_that_is_not_the_audiences_admin_shares_nothing() {
    let (_gw, mut c) = start(Client::new).await;
    // Globex's token: not an admin of Acme, which owns the audience.
    let r = share_with_globex(&mut c, ACME_AUDIENCE, GLOBEX, Rel::InformationManager).await;
    assert_eq!(
        results(&r),
        vec![(
            "2000000007",
            GLOBEX,
            AudienceShareStatus::NotShared,
            "NOT_SHARED",
            1
        )]
    );
    assert_eq!(
        r.sharing_data[0].errors,
        vec!["You don't have permission to initiate a sharing relationship for this ad account/business"]
    );
    assert!(initiated(&mut c, ACME).await.is_empty());
}

#[tokio::test]
async fn as01_joins_a_pending_relationship_and_shares_once_it_is_approved() {
    let (_gw, mut c) = start(Client::new).await;
    let r = share_with_globex(&mut c, INITECH_AUDIENCE, INITECH, Rel::AudienceInfoProvider).await;
    assert_eq!(
        results(&r),
        vec![(
            "2000000007",
            GLOBEX,
            AudienceShareStatus::InProgress,
            "IN_PROGRESS",
            0
        )]
    );
    // No second relationship: the audience waits on the demo one.
    assert_eq!(
        ids(&initiated(&mut c, INITECH).await, |r| &r.id),
        vec![DEMO_RELATIONSHIP]
    );

    // Globex approves (AS02); sharing again is immediate.
    assert!(
        respond(&mut c, DEMO_RELATIONSHIP, GLOBEX, Decision::Approve)
            .await
            .unwrap()
            .success
    );
    let r = share_with_globex(&mut c, INITECH_AUDIENCE, INITECH, Rel::AudienceInfoProvider).await;
    assert_eq!(
        r.sharing_data[0].audience_share_status(),
        AudienceShareStatus::Shared
    );
    assert_eq!(
        initiated(&mut c, INITECH).await[0].request_status(),
        AudienceSharingRequestStatus::Approve
    );
}

#[tokio::test]
async fn as01_invalid_requests_never_reach_graph() {
    let (gw, mut c) = start(Client::new).await;
    // relationship_type is required.
    let no_type = share(&mut c, ACME_AUDIENCE, ACME, &["2000000007"], &[]);
    assert_refused_before_graph(&gw, no_type, &["relationship_type"]).await;
    // Ad accounts are act_N or N (the README's promise); anything else is
    // refused, and UNSPECIFIED is no relationship type.
    let bad = share(
        &mut c,
        ACME_AUDIENCE,
        ACME,
        &["act_2000000002", "acct-2000000007"],
        &[Rel::Unspecified],
    );
    let fields = ["ad_account_ids[1]", "relationship_type[0]"];
    assert_refused_before_graph(&gw, bad, &fields).await;
    let bad = share(&mut c, "audience", ACME, &[], &[Rel::Agency]);
    let fields = ["custom_audience_id", "ad_account_ids"];
    assert_refused_before_graph(&gw, bad, &fields).await;
}

// ---------------------------------------------------------------------------
// AS02

#[tokio::test]
async fn as02_declines_a_request_and_the_cached_lists_follow() {
    let (gw, mut c) = start(Client::new).await;
    // Cache both sides.
    let inbox = received(&mut c, GLOBEX).await;
    assert_eq!(ids(&inbox, |r| &r.id), vec![DEMO_RELATIONSHIP]);
    assert_eq!(
        inbox[0].request_status(),
        AudienceSharingRequestStatus::InProgress
    );
    assert_eq!(
        initiated(&mut c, INITECH).await[0].request_status(),
        AudienceSharingRequestStatus::InProgress
    );

    // Only the recipient answers.
    let st = respond(&mut c, DEMO_RELATIONSHIP, INITECH, Decision::Approve)
        .await
        .unwrap_err();
    assert_permission_denied(&st);

    let r = respond(&mut c, DEMO_RELATIONSHIP, GLOBEX, Decision::Decline)
        .await
        .unwrap();
    assert!(r.success);
    let req = last_sent_to(&gw, "POST", "/8300000001");
    assert_eq!(req.form_param("request_response"), Some("decline"));

    let inbox = received(&mut c, GLOBEX).await;
    assert_eq!(
        inbox[0].request_status(),
        AudienceSharingRequestStatus::Decline
    );
    assert_eq!(inbox[0].request_status_raw, "DECLINE");
    assert_eq!(
        initiated(&mut c, INITECH).await[0].request_status(),
        AudienceSharingRequestStatus::Decline
    );

    // Answered already.
    let st = respond(&mut c, DEMO_RELATIONSHIP, GLOBEX, Decision::Approve)
        .await
        .unwrap_err();
    assert_invalid_parameter(&st);
    // No answer, or no id: refused before Graph.
    let no_answer = respond(&mut c, DEMO_RELATIONSHIP, GLOBEX, Decision::Unspecified);
    assert_refused_before_graph(&gw, no_answer, &["request_response"]).await;
    let no_id = respond(&mut c, "x", GLOBEX, Decision::Approve);
    assert_refused_before_graph(&gw, no_id, &["sharing_relationship_id"]).await;
}

#[tokio::test]
async fn as02_approve_is_sent_as_graph_spells_it() {
    let (gw, mut c) = start(Client::new).await;
    assert!(
        respond(&mut c, DEMO_RELATIONSHIP, GLOBEX, Decision::Approve)
            .await
            .unwrap()
            .success
    );
    assert_eq!(
        gw.sb()
            .last_request()
            .unwrap()
            .form_param("request_response"),
        Some("approve")
    );
    let inbox = received(&mut c, GLOBEX).await;
    assert_eq!(
        inbox[0].request_status(),
        AudienceSharingRequestStatus::Approve
    );
    assert_eq!(inbox[0].request_status_raw, "APPROVE");
}

// ---------------------------------------------------------------------------
// AS03, AS04

#[tokio::test]
async fn as03_lists_received_requests() {
    let (gw, mut c) = start(Client::new).await;
    let inbox = received(&mut c, GLOBEX).await;
    assert_eq!(
        inbox,
        vec![AudienceSharingRequest {
            id: DEMO_RELATIONSHIP.into(),
            initiator: node(INITECH, "Initech Holdings"),
            recipient: node(GLOBEX, "Globex Agency"),
            request_status: AudienceSharingRequestStatus::InProgress as i32,
            request_status_raw: "IN_PROGRESS".into(),
            relationship_type: nums(&[Rel::Agency]),
            relationship_type_raw: vec!["Agency".into()],
            custom_audiences: vec![SharedCustomAudience {
                id: INITECH_AUDIENCE.into(),
                name: "Initech Subscribers".into(),
                share_account_name: "Globex House Account".into(),
                share_account_id: "2000000007".into(),
            }],
        }]
    );
    let req = last_sent_to(&gw, "GET", "/1000000002/received_audience_sharing_requests");
    let fields = req.query_param("fields").unwrap();
    assert_eq!(fields.matches("request_status").count(), 1, "{fields}");
    assert_eq!(fields.matches("relationship_type").count(), 1, "{fields}");
    assert!(received(&mut c, INITECH).await.is_empty());
}

#[tokio::test]
async fn as04_lists_initiated_requests() {
    let (gw, mut c) = start(Client::new).await;
    let sent = initiated(&mut c, INITECH).await;
    assert_eq!(ids(&sent, |r| &r.id), vec![DEMO_RELATIONSHIP]);
    assert_eq!(sent[0].recipient, node(GLOBEX, "Globex Agency"));
    assert_eq!(sent[0].relationship_type_raw, vec!["Agency"]);
    last_sent_to(
        &gw,
        "GET",
        "/1000000003/initiated_audience_sharing_requests",
    );
    assert!(initiated(&mut c, GLOBEX).await.is_empty());
}

#[tokio::test]
async fn as03_as04_show_an_answer_given_in_business_manager() {
    let (gw, mut c) = start_uncached(Client::new).await;
    assert_eq!(
        received(&mut c, GLOBEX).await[0].request_status(),
        AudienceSharingRequestStatus::InProgress
    );
    // Globex approves in Business Manager, not through the gateway.
    assert!(gw.sb().respond(DEMO_RELATIONSHIP, true));
    assert_eq!(
        received(&mut c, GLOBEX).await[0].request_status(),
        AudienceSharingRequestStatus::Approve
    );
    assert_eq!(
        initiated(&mut c, INITECH).await[0].request_status_raw,
        "APPROVE"
    );
    // The waiting audience is now shared.
    let r = share_with_globex(&mut c, INITECH_AUDIENCE, INITECH, Rel::Agency).await;
    assert_eq!(
        r.sharing_data[0].audience_share_status(),
        AudienceShareStatus::Shared
    );
}

#[tokio::test]
async fn as03_keeps_values_this_version_does_not_know() {
    let body = serde_json::json!({"data": [{
        "id": DEMO_RELATIONSHIP,
        "initiator": {"id": INITECH, "name": "Initech Holdings"},
        "recipient": {"id": GLOBEX, "name": "Globex Agency"},
        "request_status": "UNDER_REVIEW",
        "relationship_type": ["Agency", "Data Partner"],
        "custom_audiences": [],
    }]});
    let (_rec, _gw, mut c) = start_recorded(body, GLOBEX, Client::new).await;
    let inbox = received(&mut c, GLOBEX).await;
    assert_eq!(
        inbox[0].request_status(),
        AudienceSharingRequestStatus::Unspecified
    );
    assert_eq!(inbox[0].request_status_raw, "UNDER_REVIEW");
    assert_eq!(
        inbox[0].relationship_type,
        vec![Rel::Agency as i32, Rel::Unspecified as i32]
    );
    assert_eq!(
        inbox[0].relationship_type_raw,
        vec!["Agency", "Data Partner"]
    );
}

#[tokio::test]
async fn as01_keeps_share_statuses_this_version_does_not_know() {
    let body = serde_json::json!({
        "success": true,
        "sharing_data": [{
            "ad_acct_id": "2000000007",
            "business_id": GLOBEX,
            "audience_share_status": "PENDING_TOS",
            "errors": [],
        }],
    });
    let (_rec, _gw, mut c) = start_recorded(body, ACME, Client::new).await;
    let r = share_with_globex(&mut c, ACME_AUDIENCE, ACME, Rel::Agency).await;
    assert_eq!(
        results(&r),
        vec![(
            "2000000007",
            GLOBEX,
            AudienceShareStatus::Unspecified,
            "PENDING_TOS",
            0
        )]
    );
}

// ---------------------------------------------------------------------------
// AS05, AS06 (beyond the catalogue: issue 16)

rpc!(fn shared_accounts(custom_audience_id: &str, business_id: &str)
    -> Vec<CustomAudienceAdAccount>
    = list_custom_audience_ad_accounts(ListCustomAudienceAdAccountsRequest).ad_accounts);
rpc!(fn unshare(custom_audience_id: &str, business_id: &str, ad_account_ids: &[&str])
    -> MutationResult
    = unshare_custom_audience(UnshareCustomAudienceRequest));

#[tokio::test]
async fn as05_lists_the_accounts_and_as06_unshares_and_the_cached_list_follows() {
    let (gw, mut c) = start(Client::new).await;
    // The audience's own account, before any share (and now cached).
    assert_eq!(
        ids(&shared_accounts(&mut c, ACME_AUDIENCE, ACME).await, |a| &a
            .id),
        vec!["2000000001"]
    );
    // Shared within Acme: listed at once (AS01 invalidates the list).
    let r = share(
        &mut c,
        ACME_AUDIENCE,
        ACME,
        &["act_2000000002"],
        &[Rel::InformationManager],
    )
    .await
    .unwrap();
    assert_eq!(
        r.sharing_data[0].audience_share_status(),
        AudienceShareStatus::Shared
    );
    // Waiting on a relationship (Globex): not listed.
    let r = share_with_globex(&mut c, ACME_AUDIENCE, ACME, Rel::Agency).await;
    assert_eq!(
        r.sharing_data[0].audience_share_status(),
        AudienceShareStatus::InProgress
    );
    assert_eq!(
        ids(&shared_accounts(&mut c, ACME_AUDIENCE, ACME).await, |a| &a
            .id),
        vec!["2000000001", "2000000002"]
    );

    // Unshared: gone from the list at once (AS06 invalidates it).
    assert!(
        unshare(&mut c, ACME_AUDIENCE, ACME, &["act_2000000002"])
            .await
            .unwrap()
            .success
    );
    let sent = gw.sb().last_request().unwrap();
    assert_eq!(sent.method, "DELETE");
    assert_eq!(sent.param("adaccounts"), Some(r#"["2000000002"]"#));
    assert_eq!(
        ids(&shared_accounts(&mut c, ACME_AUDIENCE, ACME).await, |a| &a
            .id),
        vec!["2000000001"]
    );

    // The audience's own account cannot be removed: Graph's error, mapped.
    let st = unshare(&mut c, ACME_AUDIENCE, ACME, &["2000000001"])
        .await
        .unwrap_err();
    assert_eq!(st.code(), tonic::Code::InvalidArgument, "{st:?}");
    assert!(st.message().contains("cannot be removed"), "{st:?}");
    // Only an admin of the audience's business may unshare; Globex's token
    // is refused by Graph.
    let st = unshare(&mut c, INITECH_AUDIENCE, GLOBEX, &["2000000006"])
        .await
        .unwrap_err();
    assert_eq!(st.code(), tonic::Code::PermissionDenied, "{st:?}");
}

#[tokio::test]
async fn as06_invalid_requests_never_reach_graph() {
    let (gw, mut c) = start(Client::new).await;
    let bad = unshare(&mut c, ACME_AUDIENCE, ACME, &[]);
    assert_refused_before_graph(&gw, bad, &["ad_account_ids"]).await;
    let bad = unshare(&mut c, "x", ACME, &["acct-1"]);
    let fields = ["custom_audience_id", "ad_account_ids[0]"];
    assert_refused_before_graph(&gw, bad, &fields).await;
}
