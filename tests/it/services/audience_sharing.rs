//! AudienceSharingService: AS01–AS04.

use std::sync::Arc;

use graph_gateway::config::Config;
use graph_gateway::proto::audience_sharing_service_client::AudienceSharingServiceClient as Client;
use graph_gateway::proto::*;
use graph_gateway::vault::MemoryVault;
use tonic::transport::Channel;
use tonic::Code;

use super::*;
use crate::harness::{token, Recorder};

/// Acme's custom audience "Acme Loyal Customers" (of act_2000000001).
const ACME_AUDIENCE: &str = "8200000001";
/// Initech's custom audience "Initech Subscribers" (of act_2000000006).
const INITECH_AUDIENCE: &str = "8200000002";
/// The demo relationship Initech -> Globex ("Agency"), IN_PROGRESS, waiting
/// to share INITECH_AUDIENCE with act_2000000007.
const DEMO_RELATIONSHIP: &str = "8300000001";
/// The id AS01 gives the first new relationship.
const NEW_RELATIONSHIP: &str = "8300000002";

fn client(ch: &Channel) -> Client<Channel> {
    Client::new(ch.clone())
}

/// A gateway that keeps nothing in its cache: for reads after a sandbox hook
/// (an answer given in Business Manager), which the gateway cannot see.
async fn start_uncached() -> (TestGateway, Channel) {
    let mut cfg = Config::default();
    cfg.cache.ttl_secs = 0;
    let gw = TestGateway::sandbox_with(cfg).await;
    let ch = gw.channel().await;
    (gw, ch)
}

async fn share(
    c: &mut Client<Channel>,
    audience: &str,
    business: &str,
    accounts: &[&str],
    types: &[AudienceRelationshipType],
) -> Result<ShareCustomAudienceResponse, tonic::Status> {
    c.share_custom_audience(ShareCustomAudienceRequest {
        custom_audience_id: audience.into(),
        business_id: business.into(),
        ad_account_ids: accounts.iter().map(|a| a.to_string()).collect(),
        relationship_type: nums(types),
        ..Default::default()
    })
    .await
    .map(|r| r.into_inner())
}

async fn respond(
    c: &mut Client<Channel>,
    relationship: &str,
    business: &str,
    decision: AudienceSharingDecision,
) -> Result<MutationResult, tonic::Status> {
    c.respond_to_audience_sharing_request(RespondToAudienceSharingRequestRequest {
        sharing_relationship_id: relationship.into(),
        business_id: business.into(),
        request_response: decision as i32,
        ..Default::default()
    })
    .await
    .map(|r| r.into_inner())
}

async fn received(c: &mut Client<Channel>, business: &str) -> Vec<AudienceSharingRequest> {
    c.list_received_audience_sharing_requests(ListReceivedAudienceSharingRequestsRequest {
        business_id: business.into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .requests
}

async fn initiated(c: &mut Client<Channel>, business: &str) -> Vec<AudienceSharingRequest> {
    c.list_initiated_audience_sharing_requests(ListInitiatedAudienceSharingRequestsRequest {
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
    let (gw, ch) = start().await;
    let mut c = client(&ch);
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
        &[
            AudienceRelationshipType::Agency,
            AudienceRelationshipType::AdOptimizer,
        ],
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
    let req = gw.sb().last_request().unwrap();
    assert_eq!(req.method, "POST");
    assert!(req.path.ends_with("/8200000001/adaccounts"), "{}", req.path);
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
            relationship_type: nums(&[
                AudienceRelationshipType::Agency,
                AudienceRelationshipType::AdOptimizer
            ]),
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
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
    // Globex's token: not an admin of Acme, which owns the audience.
    let r = share(
        &mut c,
        ACME_AUDIENCE,
        GLOBEX,
        &["2000000007"],
        &[AudienceRelationshipType::InformationManager],
    )
    .await
    .unwrap();
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
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
    let r = share(
        &mut c,
        INITECH_AUDIENCE,
        INITECH,
        &["2000000007"],
        &[AudienceRelationshipType::AudienceInfoProvider],
    )
    .await
    .unwrap();
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
        respond(
            &mut c,
            DEMO_RELATIONSHIP,
            GLOBEX,
            AudienceSharingDecision::Approve
        )
        .await
        .unwrap()
        .success
    );
    let r = share(
        &mut c,
        INITECH_AUDIENCE,
        INITECH,
        &["2000000007"],
        &[AudienceRelationshipType::AudienceInfoProvider],
    )
    .await
    .unwrap();
    assert_eq!(
        r.sharing_data[0].audience_share_status(),
        AudienceShareStatus::Shared
    );
    assert_eq!(
        initiated(&mut c, INITECH).await[0].request_status(),
        AudienceSharingRequestStatus::Approved
    );
}

#[tokio::test]
async fn as01_invalid_requests_never_reach_graph() {
    let (gw, ch) = start().await;
    let mut c = client(&ch);
    let before = gw.sb().request_count();
    // relationship_type is required.
    let st = share(&mut c, ACME_AUDIENCE, ACME, &["2000000007"], &[])
        .await
        .unwrap_err();
    assert_eq!(violations(&st), vec!["relationship_type"]);
    // Ad accounts are numeric strings; UNSPECIFIED is no relationship type.
    let st = share(
        &mut c,
        ACME_AUDIENCE,
        ACME,
        &["2000000002", "act_2000000007"],
        &[AudienceRelationshipType::Unspecified],
    )
    .await
    .unwrap_err();
    assert_eq!(
        violations(&st),
        vec!["ad_account_ids[1]", "relationship_type[0]"]
    );
    let st = share(
        &mut c,
        "audience",
        ACME,
        &[],
        &[AudienceRelationshipType::Agency],
    )
    .await
    .unwrap_err();
    assert_eq!(
        violations(&st),
        vec!["custom_audience_id", "ad_account_ids"]
    );
    assert_eq!(gw.sb().request_count(), before);
}

// ---------------------------------------------------------------------------
// AS02

#[tokio::test]
async fn as02_declines_a_request_and_the_cached_lists_follow() {
    let (gw, ch) = start().await;
    let mut c = client(&ch);
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
    let st = respond(
        &mut c,
        DEMO_RELATIONSHIP,
        INITECH,
        AudienceSharingDecision::Approve,
    )
    .await
    .unwrap_err();
    assert_permission_denied(&st);

    let r = respond(
        &mut c,
        DEMO_RELATIONSHIP,
        GLOBEX,
        AudienceSharingDecision::Decline,
    )
    .await
    .unwrap();
    assert!(r.success);
    let req = gw.sb().last_request().unwrap();
    assert_eq!(req.method, "POST");
    assert!(req.path.ends_with("/8300000001"), "{}", req.path);
    assert_eq!(req.form_param("request_response"), Some("decline"));

    let inbox = received(&mut c, GLOBEX).await;
    assert_eq!(
        inbox[0].request_status(),
        AudienceSharingRequestStatus::Declined
    );
    assert_eq!(inbox[0].request_status_raw, "DECLINED");
    assert_eq!(
        initiated(&mut c, INITECH).await[0].request_status(),
        AudienceSharingRequestStatus::Declined
    );

    // Answered already.
    let st = respond(
        &mut c,
        DEMO_RELATIONSHIP,
        GLOBEX,
        AudienceSharingDecision::Approve,
    )
    .await
    .unwrap_err();
    assert_graph_error(
        &st,
        Code::InvalidArgument,
        "GRAPH_INVALID_PARAMETER",
        100,
        None,
    );
    // No answer, or no id: refused before Graph.
    let before = gw.sb().request_count();
    let st = respond(
        &mut c,
        DEMO_RELATIONSHIP,
        GLOBEX,
        AudienceSharingDecision::Unspecified,
    )
    .await
    .unwrap_err();
    assert_eq!(violations(&st), vec!["request_response"]);
    let st = respond(&mut c, "x", GLOBEX, AudienceSharingDecision::Approve)
        .await
        .unwrap_err();
    assert_eq!(violations(&st), vec!["sharing_relationship_id"]);
    assert_eq!(gw.sb().request_count(), before);
}

#[tokio::test]
async fn as02_approve_is_sent_as_graph_spells_it() {
    let (gw, ch) = start().await;
    let mut c = client(&ch);
    assert!(
        respond(
            &mut c,
            DEMO_RELATIONSHIP,
            GLOBEX,
            AudienceSharingDecision::Approve
        )
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
        AudienceSharingRequestStatus::Approved
    );
    assert_eq!(inbox[0].request_status_raw, "APPROVED");
}

// ---------------------------------------------------------------------------
// AS03, AS04

#[tokio::test]
async fn as03_lists_received_requests() {
    let (gw, ch) = start().await;
    let mut c = client(&ch);
    let inbox = received(&mut c, GLOBEX).await;
    assert_eq!(
        inbox,
        vec![AudienceSharingRequest {
            id: DEMO_RELATIONSHIP.into(),
            initiator: node(INITECH, "Initech Holdings"),
            recipient: node(GLOBEX, "Globex Agency"),
            request_status: AudienceSharingRequestStatus::InProgress as i32,
            request_status_raw: "IN_PROGRESS".into(),
            relationship_type: nums(&[AudienceRelationshipType::Agency]),
            relationship_type_raw: vec!["Agency".into()],
            custom_audiences: vec![SharedCustomAudience {
                id: INITECH_AUDIENCE.into(),
                name: "Initech Subscribers".into(),
                share_account_name: "Globex House Account".into(),
                share_account_id: "2000000007".into(),
            }],
        }]
    );
    let req = gw.sb().last_request().unwrap();
    assert!(
        req.path
            .ends_with("/1000000002/received_audience_sharing_requests"),
        "{}",
        req.path
    );
    let fields = req.query_param("fields").unwrap();
    assert_eq!(fields.matches("request_status").count(), 1, "{fields}");
    assert_eq!(fields.matches("relationship_type").count(), 1, "{fields}");
    assert!(received(&mut c, INITECH).await.is_empty());
}

#[tokio::test]
async fn as04_lists_initiated_requests() {
    let (gw, ch) = start().await;
    let mut c = client(&ch);
    let sent = initiated(&mut c, INITECH).await;
    assert_eq!(ids(&sent, |r| &r.id), vec![DEMO_RELATIONSHIP]);
    assert_eq!(sent[0].recipient, node(GLOBEX, "Globex Agency"));
    assert_eq!(sent[0].relationship_type_raw, vec!["Agency"]);
    assert!(gw
        .sb()
        .last_request()
        .unwrap()
        .path
        .ends_with("/1000000003/initiated_audience_sharing_requests"));
    assert!(initiated(&mut c, GLOBEX).await.is_empty());
}

#[tokio::test]
async fn as03_as04_show_an_answer_given_in_business_manager() {
    let (gw, ch) = start_uncached().await;
    let mut c = client(&ch);
    assert_eq!(
        received(&mut c, GLOBEX).await[0].request_status(),
        AudienceSharingRequestStatus::InProgress
    );
    // Globex approves in Business Manager, not through the gateway.
    assert!(gw.sb().respond(DEMO_RELATIONSHIP, true));
    assert_eq!(
        received(&mut c, GLOBEX).await[0].request_status(),
        AudienceSharingRequestStatus::Approved
    );
    assert_eq!(
        initiated(&mut c, INITECH).await[0].request_status_raw,
        "APPROVED"
    );
    // The waiting audience is now shared.
    let r = share(
        &mut c,
        INITECH_AUDIENCE,
        INITECH,
        &["2000000007"],
        &[AudienceRelationshipType::Agency],
    )
    .await
    .unwrap();
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
        "request_status": "EXPIRED",
        "relationship_type": ["Agency", "Data Partner"],
        "custom_audiences": [],
    }]})
    .to_string();
    let rec = Recorder::start(vec![(200, vec![], body)]).await;
    let vault = Arc::new(MemoryVault::new(vec![token("globex", GLOBEX, "tok-1")]));
    let gw = TestGateway::upstream(&rec.url, vault, Config::default()).await;
    let mut c = client(&gw.channel().await);
    let inbox = received(&mut c, GLOBEX).await;
    assert_eq!(
        inbox[0].request_status(),
        AudienceSharingRequestStatus::Unspecified
    );
    assert_eq!(inbox[0].request_status_raw, "EXPIRED");
    assert_eq!(
        inbox[0].relationship_type,
        vec![
            AudienceRelationshipType::Agency as i32,
            AudienceRelationshipType::Unspecified as i32
        ]
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
    })
    .to_string();
    let rec = Recorder::start(vec![(200, vec![], body)]).await;
    let vault = Arc::new(MemoryVault::new(vec![token("acme", ACME, "tok-1")]));
    let gw = TestGateway::upstream(&rec.url, vault, Config::default()).await;
    let mut c = client(&gw.channel().await);
    let r = share(
        &mut c,
        ACME_AUDIENCE,
        ACME,
        &["2000000007"],
        &[AudienceRelationshipType::Agency],
    )
    .await
    .unwrap();
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
