use std::sync::atomic::{AtomicU32, Ordering};

use super::*;
use crate::graph::GraphError;

fn policy(max_attempts: u32, ratio: f64, min_per_sec: u32) -> RetryPolicy {
    RetryPolicy::new(&RetryConfig {
        max_attempts,
        base_ms: 10,
        max_ms: 80,
        budget_ratio: ratio,
        budget_min_per_sec: min_per_sec,
        attempt_timeout_ms: 0,
    })
}

fn graph(code: i64, http_status: u16, transient: bool) -> GatewayError {
    GatewayError::Graph(GraphError {
        code,
        subcode: None,
        error_type: "OAuthException".into(),
        message: "m".into(),
        is_transient: transient,
        fbtrace_id: None,
        http_status,
    })
}

#[test]
fn reads_retry_transient_failures_only() {
    let read = |e: GatewayError| retryable(CallClass::Read, &Failure::sent(e), true);
    assert!(read(GatewayError::Unavailable("reset".into())));
    assert!(read(GatewayError::NotSent("refused".into())));
    assert!(read(GatewayError::Malformed("html".into())));
    assert!(read(graph(1, 500, false)));
    assert!(read(graph(2, 503, false)));
    assert!(read(graph(100, 400, true)), "is_transient");
    assert!(read(graph(999, 502, false)), "HTTP 5xx");
    assert!(
        read(GatewayError::DeadlineExceeded),
        "an attempt's own timeout"
    );
    assert!(
        !retryable(
            CallClass::Read,
            &Failure::sent(GatewayError::DeadlineExceeded),
            false
        ),
        "the caller's deadline passed"
    );
    // Throttling goes to the quota engine; final errors are final.
    assert!(!read(graph(17, 400, true)));
    assert!(!read(graph(80004, 400, true)));
    assert!(!read(graph(100, 400, false)));
    assert!(!read(graph(190, 400, false)));
    assert!(!read(GatewayError::Throttled {
        key: "k".into(),
        retry_after: Duration::from_secs(1)
    }));
}

#[test]
fn mutations_retry_only_what_graph_never_received() {
    let m = |f: Failure| retryable(CallClass::Mutation, &f, true);
    assert!(m(Failure::sent(GatewayError::NotSent("connect".into()))));
    assert!(!m(Failure::sent(GatewayError::Unavailable("reset".into()))));
    assert!(!m(Failure::sent(graph(2, 500, true))));
    assert!(!m(Failure::sent(GatewayError::DeadlineExceeded)));
    assert!(!m(Failure::sent(GatewayError::Malformed("x".into()))));
}

#[test]
fn backoff_is_full_jitter_capped() {
    let p = policy(10, 1.0, 10);
    for retry in 1..=8 {
        let cap = Duration::from_millis((10u64 << (retry - 1)).min(80));
        for _ in 0..200 {
            assert!(p.backoff(retry) <= cap, "retry {retry}");
        }
    }
    // Full jitter: waits spread over the whole range, down to zero.
    let waits: Vec<Duration> = (0..500).map(|_| p.backoff(4)).collect();
    assert!(waits.iter().any(|w| *w < Duration::from_millis(20)));
    assert!(waits.iter().any(|w| *w > Duration::from_millis(60)));
    assert!(
        p.backoff(60) <= Duration::from_millis(80),
        "no overflow far out"
    );
}

#[tokio::test(start_paused = true)]
async fn retries_until_success_within_attempts() {
    let p = policy(5, 1.0, 10);
    let calls = AtomicU32::new(0);
    let deadline = Instant::now() + Duration::from_secs(10);
    let out = p
        .run(CallClass::Read, deadline, |n| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if n < 3 {
                    Err(Failure::sent(GatewayError::Unavailable("flaky".into())))
                } else {
                    Ok(n)
                }
            }
        })
        .await;
    assert_eq!(out.ok(), Some(3));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(p.stats().retries, 2);
}

#[tokio::test(start_paused = true)]
async fn gives_up_after_max_attempts_with_the_last_error() {
    let p = policy(3, 1.0, 10);
    let deadline = Instant::now() + Duration::from_secs(10);
    let out: Result<(), Failure> = p
        .run(CallClass::Read, deadline, |n| async move {
            Err(Failure::sent(GatewayError::Unavailable(format!("try {n}"))))
        })
        .await;
    let f = out.unwrap_err();
    assert!(f.error.to_string().contains("try 3"), "{}", f.error);
}

#[tokio::test(start_paused = true)]
async fn never_waits_past_the_deadline() {
    let p = RetryPolicy::new(&RetryConfig {
        max_attempts: 100,
        base_ms: 1_000,
        max_ms: 1_000,
        budget_ratio: 10.0,
        budget_min_per_sec: 1_000,
        attempt_timeout_ms: 0,
    });
    let started = Instant::now();
    let deadline = started + Duration::from_millis(2_500);
    let calls = AtomicU32::new(0);
    let _: Result<(), Failure> = p
        .run(CallClass::Read, deadline, |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(Failure::sent(GatewayError::Unavailable("down".into()))) }
        })
        .await;
    assert!(Instant::now() <= deadline, "returned past the deadline");
    assert!(calls.load(Ordering::SeqCst) >= 1);
}

#[tokio::test(start_paused = true)]
async fn mutation_sent_once_even_when_its_answer_is_lost() {
    let p = policy(5, 1.0, 10);
    let calls = AtomicU32::new(0);
    let deadline = Instant::now() + Duration::from_secs(10);
    let out: Result<(), Failure> = p
        .run(CallClass::Mutation, deadline, |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(Failure::sent(GatewayError::Unavailable("reset".into()))) }
        })
        .await;
    assert!(out.unwrap_err().sent);
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // Connection refused: never sent, so sent again.
    let calls = AtomicU32::new(0);
    let out = p
        .run(CallClass::Mutation, deadline, |n| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 1 {
                    Err(Failure::sent(GatewayError::NotSent("refused".into())))
                } else {
                    Ok(())
                }
            }
        })
        .await;
    assert!(out.is_ok());
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn the_budget_caps_retries_when_everything_fails() {
    // 20% of calls plus 10 per second: with Graph down, 1000 calls over one
    // (virtual) second make at most ~200 + 10 + the initial 10 retries.
    let p = policy(5, 0.2, 10);
    let deadline = Instant::now() + Duration::from_secs(60);
    let attempts = AtomicU32::new(0);
    for _ in 0..1000 {
        let _: Result<(), Failure> = p
            .run(CallClass::Read, deadline, |_| {
                attempts.fetch_add(1, Ordering::SeqCst);
                async { Err(Failure::sent(GatewayError::Unavailable("down".into()))) }
            })
            .await;
        tokio::time::advance(Duration::from_millis(1)).await;
    }
    let extra = attempts.load(Ordering::SeqCst) - 1000;
    assert!(extra <= 1000 / 5 + 10 + 10 + 40, "{extra} retries");
    assert!(extra >= 150, "the budget allows its share: {extra}");
    assert!(p.stats().refused_by_budget > 0);
}

#[tokio::test(start_paused = true)]
async fn the_budget_floor_refills_over_time() {
    let b = RetryBudget::new(0.0, 10);
    let mut granted = 0;
    while b.withdraw() {
        granted += 1;
    }
    assert_eq!(granted, 10, "one second's worth at the start");
    tokio::time::advance(Duration::from_millis(500)).await;
    let mut again = 0;
    while b.withdraw() {
        again += 1;
    }
    assert_eq!(again, 5);
}

#[test]
fn attempt_timeouts_bound_reads_not_sent_mutations() {
    let p = RetryPolicy::new(&RetryConfig {
        attempt_timeout_ms: 300,
        ..RetryConfig::default()
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    let max = Duration::from_secs(30);
    assert_eq!(
        p.attempt_timeout(CallClass::Read, deadline, max),
        Duration::from_millis(300)
    );
    let soon = Instant::now() + Duration::from_millis(100);
    assert!(p.attempt_timeout(CallClass::Read, soon, max) <= Duration::from_millis(100));
    // A mutation Graph received runs to its end, whatever the caller does.
    assert_eq!(p.attempt_timeout(CallClass::Mutation, soon, max), max);
}

#[tokio::test]
async fn cancel_fires_when_the_guard_drops_unless_disarmed() {
    let (c, guard) = Cancel::new();
    assert!(!c.is_cancelled());
    guard.disarm();
    assert!(!c.is_cancelled());

    let (c, guard) = Cancel::new();
    let waiter = tokio::spawn({
        let c = c.clone();
        async move { c.cancelled().await }
    });
    drop(guard);
    assert!(c.is_cancelled());
    assert!(c.check().is_err());
    waiter.await.unwrap();
    assert!(!Cancel::default().is_cancelled());
}
