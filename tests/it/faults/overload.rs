//! Overload and a failing Graph: load shedding (fast RESOURCE_EXHAUSTED, no
//! pile-up, health still answers), the circuit breaker (opens, fails fast,
//! half-opens to probe, closes), and deadlines bounding the upstream call.

use std::time::{Duration, Instant};

use graph_gateway::grpc::server::ServeOptions;
use graph_gateway::proto::page_service_client::PageServiceClient;
use graph_gateway::proto::ListOwnedPagesRequest;
use graph_gateway::sandbox::{FaultConfig, FaultKind, FaultRule};
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use tonic_types::StatusExt as _;

use super::{config, reason, timed, FaultGateway, ACME};

fn list() -> ListOwnedPagesRequest {
    ListOwnedPagesRequest {
        business_id: ACME.into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn beyond_its_limit_the_gateway_sheds_at_once() {
    let opts = ServeOptions {
        max_concurrent_rpcs: 4,
        ..ServeOptions::default()
    };
    let gw = FaultGateway::start(config(), None, opts).await;
    gw.sandbox.pause();
    let channel = gw.channel().await;
    // Distinct page sizes: no coalescing, four upstream calls held.
    let held: Vec<_> = (1..=4)
        .map(|n| {
            let mut c = PageServiceClient::new(channel.clone());
            tokio::spawn(async move {
                c.list_owned_pages(ListOwnedPagesRequest {
                    page_size: n,
                    ..list()
                })
                .await
            })
        })
        .collect();
    while gw.sandbox.arrivals() < 4 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let started = Instant::now();
    let mut shed = 0;
    for _ in 0..50 {
        let st = PageServiceClient::new(channel.clone())
            .list_owned_pages(list())
            .await
            .unwrap_err();
        assert_eq!(st.code(), Code::ResourceExhausted, "{st:?}");
        assert_eq!(reason(&st), "OVERLOADED");
        assert!(st.get_error_details().retry_info().is_some());
        shed += 1;
    }
    let took = started.elapsed();
    eprintln!("FIGURE overload: {shed} calls over the limit refused in {took:?}");
    assert!(
        took < Duration::from_secs(2),
        "shedding is immediate: {took:?}"
    );
    assert_eq!(gw.sandbox.arrivals(), 4, "no pile-up upstream");
    // Health answers through the overload.
    let h = HealthClient::new(channel.clone())
        .check(HealthCheckRequest {
            service: "readiness".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(h.status, ServingStatus::Serving as i32);
    gw.sandbox.resume();
    for h in held {
        h.await.unwrap().unwrap();
    }
    PageServiceClient::new(channel)
        .list_owned_pages(list())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_circuit_opens_on_sustained_failure_and_half_opens_to_probe() {
    let mut cfg = config();
    cfg.retry.max_attempts = 1;
    cfg.breaker.failures = 5;
    cfg.breaker.cool_down_ms = 400;
    let gw = FaultGateway::start(cfg, None, ServeOptions::default()).await;
    gw.sandbox.set_faults(Some(FaultConfig::seeded(
        1,
        vec![FaultRule::new(FaultKind::Http503, 1.0)],
    )));
    let mut c = PageServiceClient::new(gw.channel().await);
    for _ in 0..5 {
        let st = c.list_owned_pages(list()).await.unwrap_err();
        assert_eq!(reason(&st), "UPSTREAM_UNAVAILABLE");
    }
    let upstream = gw.sandbox.request_count();
    let st = c.list_owned_pages(list()).await.unwrap_err();
    assert_eq!(st.code(), Code::Unavailable);
    assert_eq!(reason(&st), "GRAPH_CIRCUIT_OPEN", "{st:?}");
    let retry = st
        .get_error_details()
        .retry_info()
        .unwrap()
        .retry_delay
        .unwrap();
    assert!(retry <= Duration::from_millis(400));
    assert_eq!(
        gw.sandbox.request_count(),
        upstream,
        "open: nothing goes upstream"
    );
    assert_eq!(gw.engine.reliability().breaker.times_opened(), 1);

    // Graph recovers; after the cool-down one probe closes the circuit.
    gw.sandbox.set_faults(None);
    tokio::time::sleep(Duration::from_millis(450)).await;
    c.list_owned_pages(list()).await.unwrap();
    for _ in 0..3 {
        c.list_owned_pages(list()).await.unwrap();
    }
    assert_eq!(
        gw.engine.reliability().breaker.state(),
        graph_gateway::overload::CircuitState::Closed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_callers_deadline_bounds_the_upstream_call() {
    let gw = FaultGateway::start(config(), None, ServeOptions::default()).await;
    gw.sandbox.set_faults(Some(FaultConfig::seeded(
        1,
        vec![FaultRule::new(FaultKind::Slow(Duration::from_secs(3)), 1.0).method("GET")],
    )));
    let mut c = PageServiceClient::new(gw.channel().await);
    let started = Instant::now();
    let st = c
        .list_owned_pages(timed(list(), Duration::from_millis(250)))
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(st.code(), Code::DeadlineExceeded | Code::Cancelled),
        "{st:?}"
    );
    assert!(took < Duration::from_millis(1_500), "{took:?}");

    // A hung read is retried within the deadline (retry.attempt_timeout_ms).
    let mut cfg = config();
    cfg.retry.attempt_timeout_ms = 200;
    let gw = FaultGateway::start(cfg, None, ServeOptions::default()).await;
    gw.sandbox.set_faults(Some(FaultConfig::seeded(
        5,
        vec![FaultRule::new(FaultKind::Slow(Duration::from_secs(3)), 0.3).method("GET")],
    )));
    let mut c = PageServiceClient::new(gw.channel().await);
    for _ in 0..5 {
        c.list_owned_pages(timed(list(), Duration::from_secs(2)))
            .await
            .unwrap();
    }
}
