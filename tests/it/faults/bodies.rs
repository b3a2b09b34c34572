//! Broken upstream bodies: malformed, truncated and huge answers end as a
//! clear UNAVAILABLE with ErrorInfo; nothing panics and memory stays bounded
//! (the client stops reading at 16 MiB).

use std::time::Duration;

use graph_gateway::grpc::server::ServeOptions;
use graph_gateway::proto::page_service_client::PageServiceClient;
use graph_gateway::proto::{AssignPageUserRequest, ListOwnedPagesRequest, PageTask};
use graph_gateway::sandbox::{FaultConfig, FaultKind, FaultRule};
use tonic::Code;

use super::{config, reason, FaultGateway, ACME};

/// The process's peak resident memory, KiB (Linux; 0 elsewhere).
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

fn always(kind: FaultKind, method: &str) -> FaultConfig {
    FaultConfig::seeded(3, vec![FaultRule::new(kind, 1.0).method(method)])
}

async fn read(gw: &FaultGateway) -> tonic::Status {
    PageServiceClient::new(gw.channel().await)
        .list_owned_pages(ListOwnedPagesRequest {
            business_id: ACME.into(),
            ..Default::default()
        })
        .await
        .unwrap_err()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_truncated_and_huge_bodies_fail_cleanly() {
    let mut cfg = config();
    cfg.retry.max_attempts = 3;
    let gw = FaultGateway::start(cfg, None, ServeOptions::default()).await;
    let before = peak_rss_kib();
    let cases = [
        (FaultKind::Malformed, "invalid JSON"),
        (FaultKind::Truncated, "invalid JSON"),
        // 64 MiB streamed without a length: cut off at 16 MiB.
        (FaultKind::Huge(64 << 20), "larger than 16777216 bytes"),
        // Below the cap: read, then refused as JSON that never closes.
        (FaultKind::Huge(2 << 20), "invalid JSON"),
    ];
    for (kind, says) in cases {
        gw.sandbox.set_faults(Some(always(kind.clone(), "GET")));
        let st = read(&gw).await;
        eprintln!(
            "FIGURE body {:?}: {:?} {} / {}",
            kind,
            st.code(),
            reason(&st),
            st.message()
        );
        assert_eq!(st.code(), Code::Unavailable, "{kind:?}: {st:?}");
        assert_eq!(reason(&st), "UPSTREAM_MALFORMED", "{kind:?}");
        assert!(st.message().contains(says), "{kind:?}: {}", st.message());
        assert!(!st.message().contains("sandbox-token"), "no secrets");
    }
    let grown_mib = peak_rss_kib().saturating_sub(before) / 1024;
    eprintln!("FIGURE huge bodies: peak RSS grew {grown_mib} MiB for 3 attempts x 64 MiB answers");
    assert!(grown_mib < 256, "memory grew {grown_mib} MiB");

    // A mutation that got a broken answer: applied or not, Graph received
    // it; the gateway says so instead of guessing.
    gw.sandbox
        .set_faults(Some(always(FaultKind::Malformed, "POST")));
    let st = PageServiceClient::new(gw.channel().await)
        .assign_page_user(AssignPageUserRequest {
            page_id: "3000000001".into(),
            business: ACME.into(),
            user: "10002".into(),
            tasks: vec![PageTask::Analyze as i32],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::Unavailable);
    assert_eq!(reason(&st), "MUTATION_OUTCOME_UNKNOWN");
    assert!(st.message().contains("set request_id"), "{}", st.message());

    // The gateway is fine afterwards.
    gw.sandbox.set_faults(None);
    tokio::time::timeout(
        Duration::from_secs(5),
        PageServiceClient::new(gw.channel().await).list_owned_pages(ListOwnedPagesRequest {
            business_id: ACME.into(),
            ..Default::default()
        }),
    )
    .await
    .unwrap()
    .unwrap();
}

#[tokio::test]
async fn resets_and_5xx_on_every_attempt_end_as_unavailable_with_error_info() {
    let mut cfg = config();
    cfg.retry.max_attempts = 2;
    let gw = FaultGateway::start(cfg, None, ServeOptions::default()).await;
    for (kind, want) in [
        (FaultKind::Reset, "UPSTREAM_UNAVAILABLE"),
        (FaultKind::Http503, "UPSTREAM_UNAVAILABLE"),
        (FaultKind::Http500, "GRAPH_UNAVAILABLE"),
    ] {
        gw.sandbox.set_faults(Some(always(kind.clone(), "GET")));
        let st = read(&gw).await;
        assert_eq!(st.code(), Code::Unavailable, "{kind:?}");
        assert_eq!(reason(&st), want, "{kind:?}: {}", st.message());
    }
}
