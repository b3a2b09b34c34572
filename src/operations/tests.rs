use std::time::Duration;

use super::*;

fn spec(name: &str, request_id: &str) -> Spec {
    Spec {
        name: name.to_string(),
        caller: Some("billing".into()),
        principal: None,
        request_id: request_id.to_string(),
        method: "/graphgateway.v1.AdAccountService/AssignAdAccountUser".into(),
        template: String::new(),
        target_field: "ad_account_id".into(),
        targets: vec!["act_1".into(), "act_2".into(), "act_3".into()],
        create_time_ms: 1,
    }
}

#[tokio::test]
async fn a_request_id_starts_one_operation() {
    let store = LocalStore::default();
    assert_eq!(
        store.create(&spec("operations/a", "r1")).await,
        Ok(Created::New)
    );
    assert_eq!(
        store.create(&spec("operations/b", "r1")).await,
        Ok(Created::Existing("operations/a".into()))
    );
    // Another caller's request_id is its own.
    let mut other = spec("operations/c", "r1");
    other.caller = Some("reader".into());
    assert_eq!(store.create(&other).await, Ok(Created::New));
    assert_eq!(
        store.list().await.unwrap(),
        vec!["operations/c".to_string(), "operations/a".to_string()]
    );
}

#[tokio::test]
async fn each_step_is_counted_once() {
    let store = LocalStore::default();
    store.create(&spec("operations/a", "r1")).await.unwrap();
    store.mark_sent("operations/a", &[0, 1]).await.unwrap();
    let failed = Step::Failed(Failure {
        code: 9,
        message: "no".into(),
        ..Failure::default()
    });
    let delta = Delta {
        batch_requests: 1,
        ..Delta::default()
    };
    store
        .record(
            "operations/a",
            &[(0, Step::Ok { by_read: false }), (1, failed.clone())],
            delta,
        )
        .await
        .unwrap();
    // A repeat of the same outcomes changes no counter.
    store
        .record(
            "operations/a",
            &[(0, Step::Ok { by_read: false }), (1, failed)],
            Delta::default(),
        )
        .await
        .unwrap();
    store
        .record(
            "operations/a",
            &[(2, Step::Ok { by_read: true })],
            Delta::default(),
        )
        .await
        .unwrap();
    let p = store.progress("operations/a").await.unwrap().unwrap();
    assert_eq!((p.succeeded, p.failed, p.settled_by_read), (2, 1, 1));
    assert_eq!(p.batch_requests, 1);
    assert_eq!(store.steps("operations/a").await.unwrap().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_lease_is_one_holders_until_it_lapses_or_is_given_up() {
    let store = LocalStore::default();
    store.create(&spec("operations/a", "r1")).await.unwrap();
    let ttl = Duration::from_secs(15);
    assert!(store.lease("operations/a", "one", ttl).await.unwrap());
    assert!(!store.lease("operations/a", "two", ttl).await.unwrap());
    assert!(
        store.lease("operations/a", "one", ttl).await.unwrap(),
        "renewed"
    );
    tokio::time::advance(ttl + Duration::from_millis(1)).await;
    assert!(
        store.lease("operations/a", "two", ttl).await.unwrap(),
        "lapsed"
    );
    store.release("operations/a", "one").await.unwrap();
    assert!(
        !store.lease("operations/a", "one", ttl).await.unwrap(),
        "not one's"
    );
    store.release("operations/a", "two").await.unwrap();
    assert!(store.lease("operations/a", "one", ttl).await.unwrap());
}

#[tokio::test(start_paused = true)]
async fn a_finished_operation_is_kept_then_forgotten() {
    let store = LocalStore::default();
    store.create(&spec("operations/a", "r1")).await.unwrap();
    assert!(store.request_cancel("operations/a").await.unwrap());
    assert!(!store.request_cancel("operations/none").await.unwrap());
    assert_eq!(store.active().await.unwrap().len(), 1);
    store
        .finish("operations/a", true, Duration::from_secs(60))
        .await
        .unwrap();
    let p = store.progress("operations/a").await.unwrap().unwrap();
    assert!(p.done && p.cancelled && p.cancel_requested);
    assert!(store.active().await.unwrap().is_empty());
    tokio::time::advance(Duration::from_secs(61)).await;
    assert_eq!(store.spec("operations/a").await.unwrap(), None);
    // Its request_id is free again.
    assert_eq!(
        store.create(&spec("operations/b", "r1")).await,
        Ok(Created::New)
    );
    assert!(store.delete("operations/b").await.unwrap());
    assert!(!store.delete("operations/b").await.unwrap());
}

#[test]
fn a_sent_step_is_stored_as_the_redis_script_expects() {
    // src/operations/redis.rs compares stored steps with this exact text.
    assert_eq!(
        serde_json::to_string(&Step::Sent).unwrap_or_default(),
        r#"{"s":"sent"}"#
    );
}
