use super::*;

#[tokio::test(start_paused = true)]
async fn breaker_opens_after_consecutive_failures_and_half_opens_to_probe() {
    let b = Breaker::new(3, Duration::from_secs(5));
    // Interleaved successes reset the count.
    for _ in 0..10 {
        b.admit().unwrap().record(Health::Down);
        b.admit().unwrap().record(Health::Down);
        b.admit().unwrap().record(Health::Up);
    }
    assert_eq!(b.state(), CircuitState::Closed);
    for _ in 0..3 {
        b.admit().unwrap().record(Health::Down);
    }
    assert_eq!(b.state(), CircuitState::Open);
    assert_eq!(b.times_opened(), 1);
    let refusal = b.admit().err().unwrap();
    assert_eq!(refusal.reason, RefusalReason::CircuitOpen);
    assert!(refusal.retry_after.unwrap() <= Duration::from_secs(5));

    // After the cool-down one probe goes; others are refused meanwhile.
    tokio::time::advance(Duration::from_secs(5)).await;
    let probe = b.admit().unwrap();
    assert!(b.admit().is_err(), "one probe at a time");
    probe.record(Health::Down);
    assert_eq!(b.state(), CircuitState::Open, "a failed probe reopens");
    assert_eq!(b.times_opened(), 2);

    tokio::time::advance(Duration::from_secs(5)).await;
    b.admit().unwrap().record(Health::Up);
    assert_eq!(b.state(), CircuitState::Closed, "a good probe closes");
    b.admit().unwrap().record(Health::Up);
}

#[tokio::test(start_paused = true)]
async fn an_unanswered_probe_frees_its_slot() {
    let b = Breaker::new(1, Duration::from_secs(1));
    b.admit().unwrap().record(Health::Down);
    tokio::time::advance(Duration::from_secs(1)).await;
    drop(b.admit().unwrap());
    assert_eq!(b.state(), CircuitState::HalfOpen);
    b.admit().unwrap().record(Health::Unknown);
    b.admit().unwrap().record(Health::Up);
    assert_eq!(b.state(), CircuitState::Closed);
}

#[test]
fn throttling_and_unknowns_do_not_open_the_circuit() {
    let b = Breaker::new(2, Duration::from_secs(1));
    for _ in 0..100 {
        b.admit().unwrap().record(Health::Unknown);
    }
    assert_eq!(b.state(), CircuitState::Closed);
    let off = Breaker::new(0, Duration::from_secs(1));
    for _ in 0..100 {
        off.admit().unwrap().record(Health::Down);
    }
    assert_eq!(off.state(), CircuitState::Closed, "0 disables the breaker");
}

#[tokio::test]
async fn gate_sheds_beyond_its_limit_and_drains() {
    let gate = Gate::new(2);
    let a = gate.enter().unwrap();
    let b = gate.enter().unwrap();
    let refused = gate.enter().err().unwrap();
    assert_eq!(refused.reason, RefusalReason::Overloaded);
    assert_eq!(refused.reason.code(), tonic::Code::ResourceExhausted);
    assert!(refused.retry_after.is_some());
    assert_eq!(gate.shed_count(), 1);
    assert_eq!(gate.in_flight(), 2);
    drop(a);
    let c = gate.enter().unwrap();

    gate.start_draining();
    let refused = gate.enter().err().unwrap();
    assert_eq!(refused.reason, RefusalReason::ShuttingDown);
    assert_eq!(refused.reason.code(), tonic::Code::Unavailable);

    let idle = tokio::spawn({
        let gate = gate.clone();
        async move { gate.idle().await }
    });
    tokio::task::yield_now().await;
    assert!(!idle.is_finished());
    drop(b);
    drop(c);
    idle.await.unwrap();
    assert_eq!(gate.in_flight(), 0);
}

#[test]
fn unlimited_gate_admits_everything() {
    let gate = Gate::new(0);
    let passes: Vec<_> = (0..10_000).map(|_| gate.enter().unwrap()).collect();
    assert_eq!(gate.in_flight(), 10_000);
    drop(passes);
    assert_eq!(gate.in_flight(), 0);
}

#[test]
fn refusals_map_to_statuses_with_error_info() {
    let cases = [
        (
            RefusalReason::Overloaded,
            tonic::Code::ResourceExhausted,
            "OVERLOADED",
        ),
        (
            RefusalReason::CircuitOpen,
            tonic::Code::Unavailable,
            "GRAPH_CIRCUIT_OPEN",
        ),
        (
            RefusalReason::ShuttingDown,
            tonic::Code::Unavailable,
            "SHUTTING_DOWN",
        ),
        (
            RefusalReason::RequestIdReused,
            tonic::Code::AlreadyExists,
            "REQUEST_ID_REUSED",
        ),
        (
            RefusalReason::OutcomeUnknown,
            tonic::Code::Unavailable,
            "MUTATION_OUTCOME_UNKNOWN",
        ),
        (
            RefusalReason::Cancelled,
            tonic::Code::Cancelled,
            "CANCELLED",
        ),
    ];
    for (reason, code, label) in cases {
        use tonic_types::StatusExt as _;
        let r = Refusal::new(reason, "why")
            .retry_after(Duration::from_millis(250))
            .with("k", "v");
        let s = crate::grpc::status::to_status(&GatewayError::Refused(r));
        assert_eq!(s.code(), code, "{label}");
        let d = s.get_error_details();
        let info = d.error_info().unwrap();
        assert_eq!(info.reason, label);
        assert_eq!(info.domain, "graph-gateway");
        assert_eq!(info.metadata["k"], "v");
        assert!(d.retry_info().is_some());
    }
}
