//! Telemetry end to end: the metrics listener (`[metrics] listen`) serves
//! every family with sane values after a hit, a miss and an error, plus
//! `/livez` and `/readyz`; no secret ever appears in it.

use graph_gateway::config::Config;
use graph_gateway::proto::business_asset_group_service_client::BusinessAssetGroupServiceClient;
use graph_gateway::proto::{ListBusinessAssetGroupsRequest, ListContainedPagesRequest};

use crate::harness::TestGateway;

const ACME: &str = "1000000001";

/// The value of the first sample whose line starts with `prefix`.
fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn has_family(text: &str, name: &str, kind: &str) -> bool {
    text.lines().any(|l| l == format!("# TYPE {name} {kind}"))
}

#[tokio::test]
async fn metrics_endpoint_serves_every_family() {
    let mut cfg = Config::default();
    cfg.metrics.listen = Some("127.0.0.1:0".parse().unwrap());
    let gw = TestGateway::sandbox_with(cfg).await;
    let base = format!("http://{}", gw.metrics_addr.expect("metrics listener"));
    let http = reqwest::Client::new();

    let mut c = BusinessAssetGroupServiceClient::new(gw.channel().await);
    let list = ListBusinessAssetGroupsRequest {
        business_id: ACME.into(),
        ..Default::default()
    };
    // A miss, then a hit.
    c.list_business_asset_groups(list.clone()).await.unwrap();
    c.list_business_asset_groups(list).await.unwrap();
    // An error: an asset group Graph does not know.
    let err = c
        .list_contained_pages(ListContainedPagesRequest {
            asset_group_id: "9999999999".into(),
            business_id: ACME.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    // Token health, as the periodic check records it.
    graph_gateway::engine::token_health::check_all(&gw.engine, None).await;

    let resp = http.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let text = resp.text().await.unwrap();

    // Per-RPC latency and counts by gRPC code.
    let list_method = "/graphgateway.v1.BusinessAssetGroupService/ListBusinessAssetGroups";
    assert!(has_family(
        &text,
        "graph_gateway_rpc_duration_seconds",
        "histogram"
    ));
    assert!(
        sample(
            &text,
            &format!("graph_gateway_rpc_duration_seconds_count{{method=\"{list_method}\"}}")
        )
        .unwrap()
            >= 2.0,
        "{text}"
    );
    assert!(
        sample(
            &text,
            &format!("graph_gateway_rpcs_total{{method=\"{list_method}\",code=\"OK\"}}")
        )
        .unwrap()
            >= 2.0
    );
    let code = graph_gateway::metrics::code_name(err.code());
    assert!(
        sample(
            &text,
            &format!("graph_gateway_rpcs_total{{method=\"/graphgateway.v1.BusinessAssetGroupService/ListContainedPages\",code=\"{code}\"}}")
        )
        .unwrap()
            >= 1.0,
        "{code}: {text}"
    );
    // Upstream calls by route template (never the ids) and Graph error code.
    assert!(
        sample(
            &text,
            "graph_gateway_upstream_calls_total{route=\"/{business_id}/business_asset_groups\",result=\"ok\",graph_code=\"\"}"
        )
        .unwrap()
            >= 1.0,
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("graph_gateway_upstream_calls_total{route=\"/{asset_group_id}/contained_pages\",result=\"graph_error\",graph_code=\"")),
        "{text}"
    );
    // No raw ids in labels (values may hold any digits).
    assert!(!text.lines().any(|l| l
        .rsplit_once(' ')
        .is_some_and(|(labels, _)| labels.contains("9999999999"))));
    assert!(has_family(
        &text,
        "graph_gateway_upstream_duration_seconds",
        "histogram"
    ));
    // Cache.
    for result in ["hit", "miss"] {
        assert!(
            sample(
                &text,
                &format!("graph_gateway_cache_lookups_total{{result=\"{result}\"}}")
            )
            .unwrap()
                >= 1.0,
            "{result}: {text}"
        );
    }
    // Quota: waits, and the snapshot's numbers (mode, usage, holds).
    assert!(
        sample(
            &text,
            "graph_gateway_quota_wait_seconds_count{result=\"granted\"}"
        )
        .unwrap()
            >= 2.0
    );
    assert_eq!(
        sample(&text, "graph_gateway_quota_mode{mode=\"local\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "graph_gateway_quota_mode{mode=\"degraded\"}"),
        Some(0.0)
    );
    let app_usage = sample(
        &text,
        "graph_gateway_quota_reported_usage_percent{kind=\"app\"",
    )
    .expect("the sandbox reports X-App-Usage");
    assert!((0.0..=100.0).contains(&app_usage), "{app_usage}");
    assert_eq!(
        sample(&text, "graph_gateway_quota_hold_seconds{kind=\"app\""),
        Some(0.0)
    );
    // Vault tokens, by name.
    assert!(
        text.lines().any(
            |l| l.starts_with("graph_gateway_vault_token_state{token=\"")
                && l.contains("state=\"valid\"} 1")
        ),
        "{text}"
    );
    assert!(
        has_family(
            &text,
            "graph_gateway_vault_token_expires_in_seconds",
            "gauge"
        ) || !text.contains("graph_gateway_vault_token_expiry_timestamp_seconds")
    );
    assert_eq!(sample(&text, "graph_gateway_ready"), Some(1.0));
    for t in gw.sb().demo_tokens() {
        assert!(
            !text.contains(t.secret.expose()),
            "a token value leaked into metrics"
        );
    }

    let livez = http.get(format!("{base}/livez")).send().await.unwrap();
    assert_eq!(livez.status(), 200);
    let readyz = http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(readyz.status(), 200);
}

/// The caller's trace: its id and the caller's span.
const TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";
const CALLER_SPAN: &str = "b7ad6b7169203331";

#[tokio::test]
async fn spans_carry_the_callers_trace_to_the_collector_and_to_graph() {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use prost::Message as _;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::layer::SubscriberExt as _;

    // An OTLP/HTTP collector stand-in.
    let received: Arc<Mutex<Vec<ExportTraceServiceRequest>>> = Default::default();
    let sink = received.clone();
    let collector = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: axum::body::Bytes| {
            let sink = sink.clone();
            async move {
                sink.lock()
                    .unwrap()
                    .push(ExportTraceServiceRequest::decode(body).unwrap());
                [(axum::http::header::CONTENT_TYPE, "application/x-protobuf")]
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, collector).await.unwrap() });

    // This test's spans go to the exporter (the test runs on one thread, so
    // the gateway's tasks see this subscriber).
    let otel = graph_gateway::config::OtelConfig {
        endpoint: Some(endpoint),
        service_name: "gateway-under-test".into(),
    };
    let (layer, provider) = graph_gateway::telemetry::otel_layer(&otel)
        .unwrap()
        .unwrap();
    let _subscriber = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));

    let gw = TestGateway::sandbox().await;
    let mut c = BusinessAssetGroupServiceClient::new(gw.channel().await);
    let mut req = tonic::Request::new(ListBusinessAssetGroupsRequest {
        business_id: ACME.into(),
        ..Default::default()
    });
    req.metadata_mut().insert(
        "traceparent",
        format!("00-{TRACE_ID}-{CALLER_SPAN}-01").parse().unwrap(),
    );
    c.list_business_asset_groups(req).await.unwrap();

    // Graph got the trace too.
    let upstream = gw.sb().last_request().unwrap();
    let traceparent = upstream
        .header("traceparent")
        .expect("traceparent to Graph");
    assert!(
        traceparent.starts_with(&format!("00-{TRACE_ID}-")),
        "{traceparent}"
    );
    assert!(
        !traceparent.contains(CALLER_SPAN),
        "the gateway's span is the parent"
    );

    // Flush (the exporter blocks; the collector runs on this thread).
    let provider = tokio::task::spawn_blocking(move || {
        provider.force_flush().unwrap();
        provider
    })
    .await
    .unwrap();
    let spans: Vec<_> = received
        .lock()
        .unwrap()
        .iter()
        .flat_map(|r| r.resource_spans.clone())
        .inspect(|rs| {
            let service = rs
                .resource
                .as_ref()
                .unwrap()
                .attributes
                .iter()
                .find(|a| a.key == "service.name")
                .and_then(|a| a.value.clone())
                .unwrap();
            assert!(format!("{service:?}").contains("gateway-under-test"));
        })
        .flat_map(|rs| rs.scope_spans)
        .flat_map(|ss| ss.spans)
        .collect();
    let trace_id = hex::decode(TRACE_ID).unwrap();
    let rpc = spans
        .iter()
        .find(|s| s.name == "/graphgateway.v1.BusinessAssetGroupService/ListBusinessAssetGroups")
        .unwrap_or_else(|| panic!("no RPC span in {spans:#?}"));
    assert_eq!(rpc.trace_id, trace_id);
    assert_eq!(rpc.parent_span_id, hex::decode(CALLER_SPAN).unwrap());
    let graph = spans
        .iter()
        .find(|s| s.name == "graph")
        .expect("the upstream call's span");
    assert_eq!(graph.trace_id, trace_id);
    assert!(traceparent.contains(&hex::encode(&graph.span_id)));
    tokio::task::spawn_blocking(move || provider.shutdown().unwrap())
        .await
        .unwrap();
}

/// Waits (without sleeping) until `cond` holds, bounded by wall-clock time.
async fn until<F: std::future::Future<Output = bool>>(mut cond: impl FnMut() -> F) {
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !cond().await {
        assert!(std::time::Instant::now() < give_up, "condition never held");
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn readyz_turns_503_while_the_gateway_drains() {
    use graph_gateway::grpc::server::{serve_with, ServeOptions};
    use graph_gateway::proto::page_service_client::PageServiceClient;
    use graph_gateway::proto::ListOwnedPagesRequest;
    use graph_gateway::sandbox::Sandbox;
    use graph_gateway::vault::MemoryVault;
    use std::sync::Arc;
    use tokio::net::TcpListener;

    let sandbox = Sandbox::demo();
    let sl = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = format!("http://{}", sl.local_addr().unwrap());
    tokio::spawn(sandbox.clone().serve(sl, std::future::pending()));
    let vault = Arc::new(MemoryVault::new(sandbox.demo_tokens()));
    let engine =
        Arc::new(graph_gateway::app::build_engine(&Config::default(), &upstream, vault).unwrap());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let metrics = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", metrics.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(serve_with(
        engine,
        listener,
        async move {
            let _ = stopped.await;
        },
        ServeOptions {
            metrics_listener: Some(Arc::new(metrics)),
            ..Default::default()
        },
    ));
    let http = reqwest::Client::new();
    let status = |path: &'static str| {
        let http = http.clone();
        let url = format!("{base}{path}");
        async move { http.get(url).send().await.map(|r| r.status().as_u16()) }
    };
    until(|| async { status("/readyz").await.is_ok_and(|s| s == 200) }).await;

    // One RPC in flight (held at the sandbox), then SIGTERM.
    sandbox.pause();
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut c = PageServiceClient::new(channel);
    let in_flight = tokio::spawn(async move {
        c.list_owned_pages(ListOwnedPagesRequest {
            business_id: ACME.into(),
            ..Default::default()
        })
        .await
    });
    until(|| async { sandbox.arrivals() >= 1 }).await;
    stop.send(()).unwrap();

    until(|| async { status("/readyz").await.is_ok_and(|s| s == 503) }).await;
    assert_eq!(status("/livez").await.unwrap(), 200, "alive while draining");
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(sample(&text, "graph_gateway_ready "), Some(0.0), "{text}");

    sandbox.resume();
    in_flight.await.unwrap().unwrap();
    served.await.unwrap().unwrap();
}
