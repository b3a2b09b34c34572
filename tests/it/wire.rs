//! What the gateway puts on the wire towards Graph, checked by a recording
//! upstream: Authorization header, appsecret_proof, no token in any URL.

use std::sync::Arc;

use graph_gateway::config::Config;
use graph_gateway::graph::GraphClient;
use graph_gateway::proto::business_asset_group_service_client::BusinessAssetGroupServiceClient;
use graph_gateway::proto::{ListBusinessAssetGroupsRequest, RenameBusinessAssetGroupRequest};
use graph_gateway::secret::Secret;
use graph_gateway::vault::MemoryVault;

use crate::harness::{token, Recorder, TestGateway};

const TOKEN: &str = "EAAB-wire-test-token-7f3a";
const APP_SECRET: &str = "app-secret-wire-91c2";

async fn gateway(rec: &Recorder, app_secret: Option<&str>) -> TestGateway {
    let mut cfg = Config::default();
    cfg.graph.app_secret = app_secret.map(Secret::new);
    let vault = Arc::new(MemoryVault::new(vec![token("acme", "1000000001", TOKEN)]));
    TestGateway::upstream(&rec.url, vault, cfg).await
}

#[tokio::test]
async fn token_goes_in_authorization_header_with_appsecret_proof() {
    let rec = Recorder::start(vec![(
        200,
        vec![],
        r#"{"data":[{"id":"55","name":"North"}]}"#.into(),
    )])
    .await;
    let gw = gateway(&rec, Some(APP_SECRET)).await;
    let mut c = BusinessAssetGroupServiceClient::new(gw.channel().await);
    let resp = c
        .list_business_asset_groups(ListBusinessAssetGroupsRequest {
            business_id: "1000000001".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.business_asset_groups.len(), 1);
    assert_eq!(resp.business_asset_groups[0].name, "North");

    let seen = rec.requests();
    assert_eq!(seen.len(), 1);
    let r = &seen[0];
    assert_eq!(r.method, "GET");
    assert!(
        r.uri
            .starts_with("/v26.0/1000000001/business_asset_groups?"),
        "{}",
        r.uri
    );
    assert_eq!(
        r.headers.get("authorization").unwrap(),
        &format!("Bearer {TOKEN}")
    );
    let want = GraphClient::appsecret_proof(&Secret::new(APP_SECRET), &Secret::new(TOKEN));
    assert!(
        r.uri.contains(&format!("appsecret_proof={want}")),
        "{}",
        r.uri
    );
    assert!(r.uri.contains("fields=id%2Cname"), "{}", r.uri);
    assert!(
        !r.uri.contains(TOKEN) && !r.uri.contains("access_token"),
        "{}",
        r.uri
    );
}

#[tokio::test]
async fn mutations_send_a_form_body_and_no_token_in_it() {
    let rec = Recorder::start(vec![(200, vec![], "true".into())]).await;
    let gw = gateway(&rec, Some(APP_SECRET)).await;
    let mut c = BusinessAssetGroupServiceClient::new(gw.channel().await);
    let resp = c
        .rename_business_asset_group(RenameBusinessAssetGroupRequest {
            asset_group_id: "55".into(),
            business_id: "1000000001".into(),
            name: "South & East".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(resp.success);
    let r = &rec.requests()[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.uri, "/v26.0/55");
    assert!(r.body.contains("name=South+%26+East"), "{}", r.body);
    assert!(r.body.contains("appsecret_proof="), "{}", r.body);
    // business_id is a local token hint: never sent.
    assert!(!r.body.contains("business_id"), "{}", r.body);
    assert!(!r.body.contains(TOKEN));
    assert_eq!(
        r.headers.get("authorization").unwrap(),
        &format!("Bearer {TOKEN}")
    );
}

#[tokio::test]
async fn without_app_secret_no_proof_is_sent() {
    let rec = Recorder::start(vec![(200, vec![], r#"{"data":[]}"#.into())]).await;
    let gw = gateway(&rec, None).await;
    let mut c = BusinessAssetGroupServiceClient::new(gw.channel().await);
    c.list_business_asset_groups(ListBusinessAssetGroupsRequest {
        business_id: "1000000001".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    assert!(!rec.requests()[0].uri.contains("appsecret_proof"));
}

#[tokio::test]
async fn pagination_wraps_the_graph_cursor() {
    let page1 = r#"{"data":[{"id":"1","name":"a"}],"paging":{"cursors":{"before":"b0","after":"CURSOR1"},"next":"https://graph.example/next"}}"#;
    let page2 = r#"{"data":[{"id":"2","name":"b"}],"paging":{"cursors":{"before":"CURSOR1","after":"CURSOR2"}}}"#;
    let rec = Recorder::start(vec![
        (200, vec![], page1.into()),
        (200, vec![], page2.into()),
    ])
    .await;
    let gw = gateway(&rec, None).await;
    let mut c = BusinessAssetGroupServiceClient::new(gw.channel().await);
    let r1 = c
        .list_business_asset_groups(ListBusinessAssetGroupsRequest {
            business_id: "1000000001".into(),
            page_size: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!r1.next_page_token.is_empty());
    assert!(
        !r1.next_page_token.contains("CURSOR1"),
        "the token is opaque"
    );
    let r2 = c
        .list_business_asset_groups(ListBusinessAssetGroupsRequest {
            business_id: "1000000001".into(),
            page_size: 1,
            page_token: r1.next_page_token.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r2.business_asset_groups[0].id, "2");
    assert!(r2.next_page_token.is_empty(), "last page has no token");
    let uris: Vec<String> = rec.requests().into_iter().map(|s| s.uri).collect();
    assert!(uris[0].contains("limit=1"), "{uris:?}");
    assert!(uris[1].contains("after=CURSOR1"), "{uris:?}");
}

#[tokio::test]
async fn read_mask_narrows_graph_fields() {
    let rec = Recorder::start(vec![(200, vec![], r#"{"data":[{"id":"1"}]}"#.into())]).await;
    let gw = gateway(&rec, None).await;
    let mut c = BusinessAssetGroupServiceClient::new(gw.channel().await);
    c.list_business_asset_groups(ListBusinessAssetGroupsRequest {
        business_id: "1000000001".into(),
        read_mask: Some(prost_types::FieldMask {
            paths: vec!["id".into()],
        }),
        ..Default::default()
    })
    .await
    .unwrap();
    let uri = &rec.requests()[0].uri;
    assert!(uri.contains("fields=id") && !uri.contains("name"), "{uri}");
}

/// Issue 15: the ids a list answer shows (read by the streaming transcoder)
/// teach the gateway which business's token serves them, `act_` stripped.
#[tokio::test]
async fn a_list_teaches_whose_token_serves_the_ids_it_showed() {
    use graph_gateway::proto::ad_account_service_client::AdAccountServiceClient;
    use graph_gateway::proto::{
        AdAccountTask, AssignAdAccountUserRequest, ListOwnedAdAccountsRequest,
    };

    let rec = Recorder::start(vec![(
        200,
        vec![],
        r#"{"data":[{"id":"act_2000000042","name":"Acme 42"},{"id":"act_2000000043"}],"success":true}"#
            .into(),
    )])
    .await;
    let vault = Arc::new(MemoryVault::new(vec![
        token("globex", "1000000002", "tok-globex"),
        token("acme", "1000000001", TOKEN),
    ]));
    let gw = TestGateway::upstream(&rec.url, vault, Config::default()).await;
    let mut c = AdAccountServiceClient::new(gw.channel().await);
    let assign = |id: &str| AssignAdAccountUserRequest {
        ad_account_id: id.into(),
        user: "10002".into(),
        tasks: vec![AdAccountTask::Analyze as i32],
        ..Default::default()
    };
    // Nothing names the ad account's business yet: no token serves it.
    assert!(c
        .assign_ad_account_user(assign("2000000043"))
        .await
        .is_err());
    assert!(rec.requests().is_empty());

    let listed = c
        .list_owned_ad_accounts(ListOwnedAdAccountsRequest {
            business_id: "1000000001".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.ad_accounts.len(), 2);

    for id in ["act_2000000043", "2000000042"] {
        let r = c
            .assign_ad_account_user(assign(id))
            .await
            .unwrap()
            .into_inner();
        assert!(r.success);
        let seen = rec.requests();
        let last = seen.last().unwrap();
        assert_eq!(last.method, "POST");
        assert_eq!(
            last.headers.get("authorization").unwrap(),
            &format!("Bearer {TOKEN}"),
            "{id}: Acme's list showed it"
        );
    }
}

/// Graph-route RPCs are served as bytes (issue 15): a miss answers the
/// transcoder's encoding of Graph's JSON, a hit answers the very bytes the
/// miss answered (nothing decoded or encoded again), and those bytes are the
/// typed response a generated client expects.
#[tokio::test]
async fn a_cache_hit_answers_the_misses_bytes_which_decode_to_the_typed_response() {
    use graph_gateway::grpc::raw::RawCodec;
    use prost::Message as _;

    let rec = Recorder::start(vec![(
        200,
        vec![],
        r#"{"data":[{"id":"55","name":"North"},{"id":"56","name":"South"}],
            "paging":{"cursors":{"before":"QA","after":"QQ"},"next":"https://graph/next"}}"#
            .into(),
    )])
    .await;
    let mut cfg = Config::default();
    cfg.cache.ttl_secs = 3600;
    let vault = Arc::new(MemoryVault::new(vec![token("acme", "1000000001", TOKEN)]));
    let gw = TestGateway::upstream(&rec.url, vault, cfg).await;
    let mut grpc = tonic::client::Grpc::new(gw.channel().await);
    let path = http::uri::PathAndQuery::from_static(
        "/graphgateway.v1.BusinessAssetGroupService/ListBusinessAssetGroups",
    );
    let body = bytes::Bytes::from(
        ListBusinessAssetGroupsRequest {
            business_id: "1000000001".into(),
            ..Default::default()
        }
        .encode_to_vec(),
    );
    let mut answers = Vec::new();
    for _ in 0..2 {
        grpc.ready().await.unwrap();
        let a = grpc
            .unary(tonic::Request::new(body.clone()), path.clone(), RawCodec)
            .await
            .unwrap()
            .into_inner();
        answers.push(a);
    }
    assert_eq!(rec.requests().len(), 1, "the second call is a hit");
    assert_eq!(answers[0], answers[1], "a hit answers the miss's bytes");
    let typed =
        graph_gateway::proto::ListBusinessAssetGroupsResponse::decode(answers[1].clone()).unwrap();
    let names: Vec<&str> = typed
        .business_asset_groups
        .iter()
        .map(|g| g.name.as_str())
        .collect();
    assert_eq!(names, ["North", "South"]);
    assert_eq!(typed.business_asset_groups[0].id, "55");
    assert!(!typed.next_page_token.is_empty());
}
