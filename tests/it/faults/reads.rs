//! 20% of upstream reads fail (500, 503, reset, truncated, malformed): the
//! gateway's retries make >= 99.9% of the callers' reads succeed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use graph_gateway::grpc::server::ServeOptions;
use graph_gateway::proto::ad_account_service_client::AdAccountServiceClient;
use graph_gateway::proto::page_service_client::PageServiceClient;
use graph_gateway::proto::{ListOwnedAdAccountsRequest, ListOwnedPagesRequest};
use graph_gateway::sandbox::{FaultConfig, FaultKind, FaultRule};

use super::{config, FaultGateway, ACME};

/// Reads sent; 10 000 so that the 99.9% bar is measured, not sampled.
const READS: u64 = 10_000;
/// Concurrent callers.
const CALLERS: u64 = 32;

fn twenty_percent_read_faults(seed: u64) -> FaultConfig {
    FaultConfig::seeded(
        seed,
        vec![
            FaultRule::new(FaultKind::Http500, 0.05).method("GET"),
            FaultRule::new(FaultKind::Http503, 0.05).method("GET"),
            FaultRule::new(FaultKind::Reset, 0.04).method("GET"),
            FaultRule::new(FaultKind::Truncated, 0.03).method("GET"),
            FaultRule::new(FaultKind::Malformed, 0.03).method("GET"),
        ],
    )
}

#[test]
fn reads_succeed_despite_twenty_percent_upstream_faults() {
    // 10 000 reads would fill the suite's trace-level log capture: this
    // test runs quiet.
    super::quiet_runtime().block_on(twenty_percent_faults());
}

async fn twenty_percent_faults() {
    let mut cfg = config();
    // 20% faults need ~25% retries (0.2 + 0.2^2 + ...): more than the
    // default 20% budget, which is meant to cap retry storms when Graph is
    // down, not to ride out a 20% failure rate. Default attempts (5).
    cfg.retry.budget_ratio = 0.5;
    let gw = FaultGateway::start(
        cfg,
        Some(twenty_percent_read_faults(6)),
        ServeOptions::default(),
    )
    .await;
    let channel = gw.channel().await;
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let next = Arc::new(AtomicU64::new(0));
    let started = std::time::Instant::now();
    let workers: Vec<_> = (0..CALLERS)
        .map(|_| {
            let (channel, ok, failed, next) =
                (channel.clone(), ok.clone(), failed.clone(), next.clone());
            tokio::spawn(async move {
                let mut pages = PageServiceClient::new(channel.clone());
                let mut accounts = AdAccountServiceClient::new(channel);
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= READS {
                        return;
                    }
                    // Different page sizes: different upstream calls (few
                    // callers share one, so one failure is one caller's).
                    let page_size = (i % 1000) as i32 + 1;
                    let r = if i % 2 == 0 {
                        pages
                            .list_owned_pages(ListOwnedPagesRequest {
                                business_id: ACME.into(),
                                page_size,
                                ..Default::default()
                            })
                            .await
                            .map(|_| ())
                    } else {
                        accounts
                            .list_owned_ad_accounts(ListOwnedAdAccountsRequest {
                                business_id: ACME.into(),
                                page_size,
                                ..Default::default()
                            })
                            .await
                            .map(|_| ())
                    };
                    match r {
                        Ok(()) => ok.fetch_add(1, Ordering::SeqCst),
                        Err(st) => {
                            eprintln!("read failed: {:?} {}", st.code(), st.message());
                            failed.fetch_add(1, Ordering::SeqCst)
                        }
                    };
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    let (ok, failed) = (ok.load(Ordering::SeqCst), failed.load(Ordering::SeqCst));
    let injected = gw.sandbox.faults_injected();
    let faults: u64 = injected.values().sum();
    let upstream = gw.sandbox.request_count();
    let stats = gw.engine.reliability().retry.stats();
    eprintln!(
        "FIGURE reads: {ok}/{READS} succeeded ({:.3}%), {failed} failed; upstream calls {upstream}, \
         faults injected {faults} ({:.1}% of upstream calls) {injected:?}; retries {}, refused by budget {}; {:?}",
        ok as f64 * 100.0 / READS as f64,
        faults as f64 * 100.0 / upstream as f64,
        stats.retries,
        stats.refused_by_budget,
        started.elapsed()
    );
    assert_eq!(ok + failed, READS);
    let rate = faults as f64 / upstream as f64;
    assert!((0.17..0.23).contains(&rate), "fault rate {rate}");
    assert!(
        ok * 1000 >= READS * 999,
        "{ok}/{READS} reads succeeded: below 99.9%"
    );
    // Bounded extra load: retries are the faults answered, and no more.
    assert!(
        stats.retries <= faults,
        "{} retries for {faults} faults",
        stats.retries
    );
    assert!(started.elapsed() < Duration::from_secs(120));
}
