//! Error mapping end to end: Graph error objects become the right gRPC codes
//! with ErrorInfo (code, subcode, fbtrace_id) and RetryInfo; invalid requests
//! are refused with field violations before any Graph call.

use std::sync::Arc;

use graph_gateway::config::Config;
use graph_gateway::proto::business_asset_group_service_client::BusinessAssetGroupServiceClient;
use graph_gateway::proto::{AssignAssetGroupUserRequest, ListBusinessAssetGroupsRequest, PageTask};
use graph_gateway::vault::MemoryVault;
use tonic::Code;
use tonic_types::StatusExt as _;

use crate::harness::{graph_error, token, Recorder, TestGateway};

async fn call_with_upstream(status: u16, body: String) -> (tonic::Status, Recorder) {
    let rec = Recorder::start(vec![(status, vec![], body)]).await;
    let vault = Arc::new(MemoryVault::new(vec![token(
        "acme",
        "1000000001",
        "tok-errors",
    )]));
    let gw = TestGateway::upstream(&rec.url, vault, Config::default()).await;
    let mut c = BusinessAssetGroupServiceClient::new(gw.channel().await);
    let err = c
        .list_business_asset_groups(ListBusinessAssetGroupsRequest {
            business_id: "1000000001".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    (err, rec)
}

#[tokio::test]
async fn graph_errors_map_to_grpc_codes_with_error_info() {
    let cases = [
        (
            400,
            190,
            None,
            Code::FailedPrecondition,
            "GRAPH_TOKEN_INVALID",
        ),
        (
            403,
            200,
            None,
            Code::PermissionDenied,
            "GRAPH_PERMISSION_DENIED",
        ),
        (
            403,
            10,
            None,
            Code::PermissionDenied,
            "GRAPH_PERMISSION_DENIED",
        ),
        (400, 100, Some(33), Code::NotFound, "GRAPH_NOT_FOUND"),
        (
            400,
            100,
            None,
            Code::InvalidArgument,
            "GRAPH_INVALID_PARAMETER",
        ),
        (
            400,
            17,
            Some(2446079),
            Code::ResourceExhausted,
            "GRAPH_THROTTLED",
        ),
        (400, 80004, None, Code::ResourceExhausted, "GRAPH_THROTTLED"),
        (500, 2, None, Code::Unavailable, "GRAPH_UNAVAILABLE"),
    ];
    for (http, code, sub, want, reason) in cases {
        let (st, _) = call_with_upstream(http, graph_error(code, sub, "boom")).await;
        assert_eq!(st.code(), want, "Graph code {code}: {st:?}");
        let d = st.get_error_details();
        let info = d.error_info().expect("ErrorInfo");
        assert_eq!(info.reason, reason);
        assert_eq!(info.domain, "graph.facebook.com");
        assert_eq!(info.metadata["code"], code.to_string());
        assert_eq!(info.metadata["fbtrace_id"], "TraceAbc123");
        if let Some(s) = sub {
            assert_eq!(info.metadata["subcode"], s.to_string());
        }
        if want == Code::ResourceExhausted {
            assert!(
                d.retry_info().and_then(|r| r.retry_delay).is_some(),
                "throttling carries RetryInfo"
            );
        }
    }
}

#[tokio::test]
async fn non_graph_bodies_are_unavailable_not_panics() {
    let (st, _) = call_with_upstream(200, "{not json".into()).await;
    assert_eq!(st.code(), Code::Unavailable);
    assert_eq!(
        st.get_error_details().error_info().unwrap().reason,
        "UPSTREAM_MALFORMED"
    );
    let (st, _) = call_with_upstream(502, "<html>bad gateway</html>".into()).await;
    assert_eq!(st.code(), Code::Unavailable);
}

#[tokio::test]
async fn invalid_requests_never_reach_graph() {
    let rec = Recorder::start(vec![(200, vec![], "true".into())]).await;
    let vault = Arc::new(MemoryVault::new(vec![token(
        "acme",
        "1000000001",
        "tok-invalid",
    )]));
    let gw = TestGateway::upstream(&rec.url, vault, Config::default()).await;
    let mut c = BusinessAssetGroupServiceClient::new(gw.channel().await);

    let st = c
        .list_business_asset_groups(ListBusinessAssetGroupsRequest {
            business_id: "12ab".into(),
            page_size: -3,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::InvalidArgument);
    let fields: Vec<String> = st
        .get_error_details()
        .bad_request()
        .unwrap()
        .field_violations
        .iter()
        .map(|v| v.field.clone())
        .collect();
    assert_eq!(
        fields,
        vec!["business_id", "page_size"],
        "all violations at once"
    );

    let st = c
        .assign_asset_group_user(AssignAssetGroupUserRequest {
            asset_group_id: "55".into(),
            business: String::new(),
            user: "777".into(),
            page_tasks: vec![PageTask::Analyze as i32, PageTask::Unspecified as i32],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::InvalidArgument);
    let fields: Vec<String> = st
        .get_error_details()
        .bad_request()
        .unwrap()
        .field_violations
        .iter()
        .map(|v| v.field.clone())
        .collect();
    assert_eq!(fields, vec!["business", "page_tasks[1]"]);

    let st = c
        .list_business_asset_groups(ListBusinessAssetGroupsRequest {
            business_id: "1000000001".into(),
            page_token: "not-a-token".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::InvalidArgument);
    assert!(
        rec.requests().is_empty(),
        "no Graph call for invalid requests"
    );
}

#[tokio::test]
async fn unknown_business_is_failed_precondition_without_graph_call() {
    let rec = Recorder::start(vec![(200, vec![], r#"{"data":[]}"#.into())]).await;
    let vault = Arc::new(MemoryVault::new(vec![
        token("acme", "1000000001", "tok-a"),
        token("globex", "1000000002", "tok-b"),
    ]));
    let gw = TestGateway::upstream(&rec.url, vault, Config::default()).await;
    let mut c = BusinessAssetGroupServiceClient::new(gw.channel().await);
    let st = c
        .list_business_asset_groups(ListBusinessAssetGroupsRequest {
            business_id: "999".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::FailedPrecondition);
    assert_eq!(
        st.get_error_details().error_info().unwrap().reason,
        "NO_TOKEN"
    );
    assert!(rec.requests().is_empty());
}
