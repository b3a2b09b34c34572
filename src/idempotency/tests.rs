use std::sync::atomic::{AtomicU32, Ordering};

use super::*;
use crate::graph::HttpMethod;

fn ok(body: &'static [u8]) -> Settled {
    Settled::Final(Ok(Bytes::from_static(body)))
}

fn graph_error(code: i64, http_status: u16, transient: bool) -> GatewayError {
    GatewayError::Graph(GraphError {
        code,
        subcode: Some(33),
        error_type: "OAuthException".into(),
        message: "nope".into(),
        is_transient: transient,
        fbtrace_id: Some("T".into()),
        http_status,
    })
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(5)
}

fn local() -> Idempotency {
    Idempotency::local(&IdempotencyConfig::default())
}

#[test]
fn fingerprints_ignore_parameter_order_and_see_every_change() {
    let req = |params: &[(&str, &str)]| GraphRequest {
        method: HttpMethod::Post,
        path: "/1/adaccount".into(),
        params: params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    let a = fingerprint("AA02", &req(&[("name", "x"), ("currency", "USD")]));
    let b = fingerprint("AA02", &req(&[("currency", "USD"), ("name", "x")]));
    assert_eq!(a, b);
    assert_ne!(
        a,
        fingerprint("AA02", &req(&[("name", "y"), ("currency", "USD")]))
    );
    assert_ne!(
        a,
        fingerprint("AA01", &req(&[("name", "x"), ("currency", "USD")]))
    );
    assert_ne!(
        key(Some("billing"), "AA02", "r1"),
        key(Some("ads"), "AA02", "r1"),
        "callers do not share request ids"
    );
}

#[tokio::test]
async fn first_outcome_is_stored_and_replayed_without_running_again() {
    let idem = local();
    let runs = AtomicU32::new(0);
    for _ in 0..3 {
        let out = idem
            .run("k", "fp", soon(), |prior| {
                runs.fetch_add(1, Ordering::SeqCst);
                assert!(prior.is_none());
                async { ok(b"first") }
            })
            .await
            .unwrap();
        assert_eq!(&out[..], b"first");
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_different_request_under_the_same_id_is_refused() {
    let idem = local();
    idem.run("k", "fp-1", soon(), |_| async { ok(b"x") })
        .await
        .unwrap();
    let err = idem
        .run("k", "fp-2", soon(), |_| async { ok(b"y") })
        .await
        .unwrap_err();
    let GatewayError::Refused(r) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(r.reason, RefusalReason::RequestIdReused);
    assert!(r.message.contains("different request"), "{}", r.message);
}

#[tokio::test]
async fn final_graph_errors_are_stored_transient_ones_are_not() {
    let idem = local();
    let runs = AtomicU32::new(0);
    for _ in 0..2 {
        let e = idem
            .run("final", "fp", soon(), |_| {
                runs.fetch_add(1, Ordering::SeqCst);
                async { Settled::Final(Err(graph_error(100, 400, false))) }
            })
            .await
            .unwrap_err();
        assert!(
            matches!(e, GatewayError::Graph(ref g) if g.code == 100 && g.fbtrace_id.as_deref() == Some("T"))
        );
    }
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "a final error is the outcome"
    );

    let runs = AtomicU32::new(0);
    for _ in 0..2 {
        let _ = idem
            .run("transient", "fp", soon(), |_| {
                runs.fetch_add(1, Ordering::SeqCst);
                async { Settled::NotApplied(GatewayError::NotSent("refused".into())) }
            })
            .await;
    }
    assert_eq!(runs.load(Ordering::SeqCst), 2, "not applied: run again");
}

#[tokio::test]
async fn in_doubt_is_kept_and_handed_to_the_retry() {
    let idem = local();
    let e = idem
        .run("k", "fp", soon(), |_| async {
            Settled::InDoubt {
                error: GatewayError::Unavailable("reset".into()),
                snapshot: Some(vec!["1".into(), "2".into()]),
            }
        })
        .await
        .unwrap_err();
    let GatewayError::Refused(r) = &e else {
        panic!("{e:?}")
    };
    assert_eq!(r.reason, RefusalReason::OutcomeUnknown);
    assert!(r.message.contains("same request_id"));

    // The retry gets the in-doubt record; a failure before anything was
    // sent puts it back.
    let e = idem
        .run("k", "fp", soon(), |prior| async move {
            assert!(
                matches!(prior, Some(Record::InDoubt { snapshot: Some(ref s), .. }) if s.len() == 2)
            );
            Settled::NotApplied(GatewayError::DeadlineExceeded)
        })
        .await
        .unwrap_err();
    assert!(matches!(e, GatewayError::DeadlineExceeded));
    let out = idem
        .run("k", "fp", soon(), |prior| async move {
            assert!(prior.is_some(), "still in doubt");
            ok(b"settled")
        })
        .await
        .unwrap();
    assert_eq!(&out[..], b"settled");
    let out = idem
        .run("k", "fp", soon(), |_| async { ok(b"never") })
        .await
        .unwrap();
    assert_eq!(&out[..], b"settled");
}

#[tokio::test]
async fn concurrent_duplicates_wait_for_the_first() {
    let idem = Arc::new(local());
    let runs = Arc::new(AtomicU32::new(0));
    let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
    let first = tokio::spawn({
        let (idem, runs) = (idem.clone(), runs.clone());
        async move {
            idem.run("k", "fp", soon(), |_| async move {
                runs.fetch_add(1, Ordering::SeqCst);
                let _ = release_rx.await;
                ok(b"one")
            })
            .await
        }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    let dups: Vec<_> = (0..8)
        .map(|_| {
            let (idem, runs) = (idem.clone(), runs.clone());
            tokio::spawn(async move {
                idem.run("k", "fp", soon(), |_| async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    ok(b"two")
                })
                .await
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(dups.iter().all(|d| !d.is_finished()), "duplicates wait");
    let _ = release_tx.send(());
    assert_eq!(&first.await.unwrap().unwrap()[..], b"one");
    for d in dups {
        assert_eq!(&d.await.unwrap().unwrap()[..], b"one");
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_waiting_duplicate_stops_at_its_deadline() {
    let idem = Arc::new(local());
    let (_hold, held) = tokio::sync::oneshot::channel::<()>();
    let first = tokio::spawn({
        let idem = idem.clone();
        async move {
            idem.run("k", "fp", soon(), |_| async move {
                let _ = held.await;
                ok(b"late")
            })
            .await
        }
    });
    tokio::time::sleep(Duration::from_millis(10)).await;
    let e = idem
        .run(
            "k",
            "fp",
            Instant::now() + Duration::from_millis(50),
            |_| async { ok(b"no") },
        )
        .await
        .unwrap_err();
    assert!(matches!(e, GatewayError::DeadlineExceeded), "{e:?}");
    first.abort();
}

#[tokio::test]
async fn a_dropped_call_releases_its_claim() {
    let idem = Arc::new(local());
    let task = tokio::spawn({
        let idem = idem.clone();
        async move {
            idem.run("k", "fp", soon(), |_| async {
                std::future::pending::<()>().await;
                ok(b"never")
            })
            .await
        }
    });
    tokio::time::sleep(Duration::from_millis(10)).await;
    task.abort();
    let _ = task.await;
    tokio::time::sleep(Duration::from_millis(10)).await;
    let out = idem
        .run("k", "fp", soon(), |_| async { ok(b"again") })
        .await
        .unwrap();
    assert_eq!(&out[..], b"again");
}

#[test]
fn records_round_trip_as_json() {
    let r = Record::Done {
        fp: "f".into(),
        outcome: Stored::of(&Err(graph_error(200, 403, false))).unwrap(),
    };
    let text = serde_json::to_string(&r).unwrap();
    assert!(text.contains(r#""state":"done""#), "{text}");
    assert_eq!(serde_json::from_str::<Record>(&text).unwrap(), r);
    assert!(Stored::of(&Err(graph_error(2, 500, true))).is_none());
    assert!(Stored::of(&Err(graph_error(17, 400, true))).is_none());
    assert!(Stored::of(&Err(GatewayError::Unavailable("x".into()))).is_none());
}

/// A redis-server on 127.0.0.1 for this test (scripts/test installs the
/// binary when it is missing; without it this test fails, it never skips).
struct RedisServer {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl RedisServer {
    fn start() -> Option<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let dir = tempfile::tempdir().ok()?;
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .arg("--dir")
            .arg(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("redis-server must be installed (scripts/test installs it)");
        Some(Self {
            child,
            port,
            _dir: dir,
        })
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn redis_store_shares_outcomes_between_replicas() {
    let server = RedisServer::start().expect("a free port and a temporary directory");
    let url = format!("redis://127.0.0.1:{}", server.port);
    let cfg = IdempotencyConfig::default();
    let redis_cfg = RedisConfig {
        url: Some(crate::secret::Secret::new(url)),
        key_prefix: format!("test{}", rand::random::<u32>()),
        ..RedisConfig::default()
    };
    // Wait for the server to listen.
    let mut up = false;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", server.port))
            .await
            .is_ok()
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(up, "redis-server did not start");
    let a = Idempotency::from_config(&cfg, &redis_cfg).unwrap();
    let b = Idempotency::from_config(&cfg, &redis_cfg).unwrap();
    let out = a
        .run("k", "fp", soon(), |_| async { ok(b"from a") })
        .await
        .unwrap();
    assert_eq!(&out[..], b"from a");
    let out = b
        .run("k", "fp", soon(), |_| async { ok(b"from b") })
        .await
        .unwrap();
    assert_eq!(&out[..], b"from a", "replica b answers a's outcome");
    let e = b
        .run("k", "other", soon(), |_| async { ok(b"x") })
        .await
        .unwrap_err();
    assert!(
        matches!(e, GatewayError::Refused(ref r) if r.reason == RefusalReason::RequestIdReused)
    );

    // In doubt on a, settled on b.
    let _ = a
        .run("d", "fp", soon(), |_| async {
            Settled::InDoubt {
                error: GatewayError::Unavailable("lost".into()),
                snapshot: Some(vec!["7".into()]),
            }
        })
        .await;
    let out = b
        .run("d", "fp", soon(), |prior| async move {
            assert!(matches!(prior, Some(Record::InDoubt { snapshot: Some(ref s), .. }) if s == &["7".to_string()]));
            ok(b"settled")
        })
        .await
        .unwrap();
    assert_eq!(&out[..], b"settled");

    // A duplicate on b waits for a's running call.
    let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
    let a = Arc::new(a);
    let first = tokio::spawn({
        let a = a.clone();
        async move {
            a.run("w", "fp", soon(), |_| async move {
                let _ = go_rx.await;
                ok(b"slow a")
            })
            .await
        }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let dup =
        tokio::spawn(async move { b.run("w", "fp", soon(), |_| async { ok(b"dup b") }).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!dup.is_finished());
    let _ = go_tx.send(());
    assert_eq!(&first.await.unwrap().unwrap()[..], b"slow a");
    assert_eq!(&dup.await.unwrap().unwrap()[..], b"slow a");

    // Redis gone: the mutation is not run, the caller is told to retry.
    drop(server);
    let ran = AtomicU32::new(0);
    let e = a
        .run("after", "fp", soon(), |_| {
            ran.fetch_add(1, Ordering::SeqCst);
            async { ok(b"local") }
        })
        .await
        .unwrap_err();
    assert_eq!(ran.load(Ordering::SeqCst), 0, "nothing is sent unconfirmed");
    match e {
        GatewayError::Refused(r) => {
            assert_eq!(r.reason, RefusalReason::IdempotencyUnavailable);
            assert!(r.retry_after.is_some());
        }
        other => panic!("expected IDEMPOTENCY_UNAVAILABLE, got {other:?}"),
    }
}
