//! PageStreamService (issue 16): every page of a list RPC as one server
//! stream, each page through the same pipeline as the list RPC; resumable
//! from any page's token; bad requests refused before any Graph call; an
//! error mid-stream ends it after the pages already sent.

use std::sync::Arc;

use graph_gateway::config::Config;
use graph_gateway::proto::page_service_client::PageServiceClient;
use graph_gateway::proto::page_stream_service_client::PageStreamServiceClient;
use graph_gateway::proto::{
    ListOwnedPagesRequest, ListOwnedPagesResponse, RenameBusinessAssetGroupRequest,
    StreamPagesRequest, StreamPagesResponse,
};
use graph_gateway::vault::MemoryVault;
use prost::Message as _;
use tonic::Code;
use tonic_types::StatusExt as _;

use crate::harness::{graph_error, token, Recorder, TestGateway};

const ACME: &str = "1000000001";
const LIST: &str = "graphgateway.v1.PageService/ListOwnedPages";

fn packed<M: prost::Message>(type_name: &str, m: &M) -> prost_types::Any {
    prost_types::Any {
        type_url: format!("type.googleapis.com/{type_name}"),
        value: m.encode_to_vec(),
    }
}

fn list(page_size: i32, page_token: &str) -> prost_types::Any {
    packed(
        "graphgateway.v1.ListOwnedPagesRequest",
        &ListOwnedPagesRequest {
            business_id: ACME.into(),
            page_size,
            page_token: page_token.into(),
            ..Default::default()
        },
    )
}

/// The stream's messages, and its final status (None: it ended with OK).
async fn drain(
    gw: &TestGateway,
    req: StreamPagesRequest,
) -> (Vec<StreamPagesResponse>, Option<tonic::Status>) {
    let mut c = PageStreamServiceClient::new(gw.channel().await);
    let mut stream = match c.stream_pages(req).await {
        Ok(r) => r.into_inner(),
        Err(st) => return (Vec::new(), Some(st)),
    };
    let mut out = Vec::new();
    loop {
        match stream.message().await {
            Ok(Some(m)) => out.push(m),
            Ok(None) => return (out, None),
            Err(st) => return (out, Some(st)),
        }
    }
}

fn page_ids(m: &StreamPagesResponse) -> Vec<String> {
    let any = m.page.as_ref().unwrap();
    assert_eq!(
        any.type_url,
        "type.googleapis.com/graphgateway.v1.ListOwnedPagesResponse"
    );
    let page = ListOwnedPagesResponse::decode(any.value.as_slice()).unwrap();
    assert_eq!(page.next_page_token, m.next_page_token);
    page.pages.into_iter().map(|p| p.id).collect()
}

fn no_cache() -> Config {
    let mut cfg = Config::default();
    cfg.cache.ttl_secs = 0;
    cfg
}

#[tokio::test]
async fn every_page_is_streamed_and_a_stream_resumes_from_any_token() {
    let gw = TestGateway::sandbox_with(no_cache()).await;
    let all: Vec<String> = PageServiceClient::new(gw.channel().await)
        .list_owned_pages(ListOwnedPagesRequest {
            business_id: ACME.into(),
            page_size: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .pages
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert!(
        all.len() >= 3,
        "the demo business owns several pages: {all:?}"
    );

    let before = gw.sb().request_count();
    let (pages, end) = drain(
        &gw,
        StreamPagesRequest {
            method: LIST.into(),
            request: Some(list(1, "")),
            max_pages: 0,
        },
    )
    .await;
    assert!(end.is_none(), "{end:?}");
    assert_eq!(pages.len(), all.len());
    let streamed: Vec<String> = pages.iter().flat_map(page_ids).collect();
    assert_eq!(streamed, all);
    let numbers: Vec<i32> = pages.iter().map(|p| p.page_number).collect();
    assert_eq!(numbers, (1..=all.len() as i32).collect::<Vec<_>>());
    assert!(pages[..pages.len() - 1]
        .iter()
        .all(|p| !p.next_page_token.is_empty()));
    assert_eq!(pages.last().unwrap().next_page_token, "");
    // One Graph call per page: each went through the pipeline (and its quota).
    assert_eq!(gw.sb().request_count() - before, all.len() as u64);

    // Resumed after the first page: the rest, and nothing twice.
    let (rest, end) = drain(
        &gw,
        StreamPagesRequest {
            method: format!("/{LIST}"),
            request: Some(list(1, &pages[0].next_page_token)),
            max_pages: 0,
        },
    )
    .await;
    assert!(end.is_none(), "{end:?}");
    let resumed: Vec<String> = rest.iter().flat_map(page_ids).collect();
    assert_eq!(resumed, all[1..].to_vec());

    // max_pages stops early, with the token to go on from.
    let (two, end) = drain(
        &gw,
        StreamPagesRequest {
            method: LIST.into(),
            request: Some(list(1, "")),
            max_pages: 2,
        },
    )
    .await;
    assert!(end.is_none(), "{end:?}");
    assert_eq!(two.len(), 2);
    assert!(!two[1].next_page_token.is_empty());
}

#[tokio::test]
async fn bad_stream_requests_are_refused_before_any_graph_call() {
    let gw = TestGateway::sandbox().await;
    let before = gw.sb().request_count();
    let cases: Vec<(StreamPagesRequest, Vec<&str>)> = vec![
        (
            StreamPagesRequest {
                method: "graphgateway.v1.PageService/Nope".into(),
                request: Some(list(1, "")),
                max_pages: 0,
            },
            vec!["method"],
        ),
        (
            // A mutation is not a list.
            StreamPagesRequest {
                method: "graphgateway.v1.BusinessAssetGroupService/RenameBusinessAssetGroup".into(),
                request: Some(packed(
                    "graphgateway.v1.RenameBusinessAssetGroupRequest",
                    &RenameBusinessAssetGroupRequest::default(),
                )),
                max_pages: 0,
            },
            vec!["method"],
        ),
        (
            StreamPagesRequest {
                method: LIST.into(),
                request: Some(packed(
                    "graphgateway.v1.RenameBusinessAssetGroupRequest",
                    &RenameBusinessAssetGroupRequest::default(),
                )),
                max_pages: -1,
            },
            vec!["max_pages", "request"],
        ),
        (
            StreamPagesRequest {
                method: LIST.into(),
                request: None,
                max_pages: 0,
            },
            vec!["request"],
        ),
        (
            // The list RPC's own validation, on the first page.
            StreamPagesRequest {
                method: LIST.into(),
                request: Some(packed(
                    "graphgateway.v1.ListOwnedPagesRequest",
                    &ListOwnedPagesRequest {
                        business_id: "12ab".into(),
                        ..Default::default()
                    },
                )),
                max_pages: 0,
            },
            vec!["business_id"],
        ),
    ];
    for (req, want) in cases {
        let shown = format!("{req:?}");
        let (pages, end) = drain(&gw, req).await;
        assert!(pages.is_empty(), "{shown}");
        let st = end.unwrap_or_else(|| panic!("{shown} was accepted"));
        assert_eq!(st.code(), Code::InvalidArgument, "{shown}: {st:?}");
        let fields: Vec<String> = st
            .get_error_details()
            .bad_request()
            .unwrap()
            .field_violations
            .iter()
            .map(|v| v.field.clone())
            .collect();
        assert_eq!(fields, want, "{shown}");
    }
    assert_eq!(gw.sb().request_count(), before, "no Graph call");
}

#[tokio::test]
async fn an_error_mid_stream_ends_it_after_the_pages_sent() {
    let first = r#"{"data":[{"id":"3000000001","name":"P1"}],"paging":{"cursors":{"before":"QQ","after":"QUZURVI"},"next":"https://graph.facebook.com/v23.0/1000000001/owned_pages?after=QUZURVI"}}"#;
    let rec = Recorder::start(vec![
        (200, vec![], first.into()),
        (
            403,
            vec![],
            graph_error(200, None, "(#200) Requires business admin"),
        ),
    ])
    .await;
    let vault = Arc::new(MemoryVault::new(vec![token("acme", ACME, "tok-streams")]));
    let gw = TestGateway::upstream(&rec.url, vault, no_cache()).await;
    let (pages, end) = drain(
        &gw,
        StreamPagesRequest {
            method: LIST.into(),
            request: Some(list(1, "")),
            max_pages: 0,
        },
    )
    .await;
    assert_eq!(pages.len(), 1);
    assert_eq!(page_ids(&pages[0]), vec!["3000000001"]);
    let resume = pages[0].next_page_token.clone();
    assert!(!resume.is_empty());
    let st = end.expect("the stream ends in the page's error");
    assert_eq!(st.code(), Code::PermissionDenied, "{st:?}");
    let info = st.get_error_details().error_info().cloned().unwrap();
    assert_eq!(info.reason, "GRAPH_PERMISSION_DENIED");
    assert_eq!(info.metadata["fbtrace_id"], "TraceAbc123");
    let seen = rec.requests();
    assert_eq!(seen.len(), 2);
    assert!(seen[1].uri.contains("after=QUZURVI"), "{}", seen[1].uri);
}
