use super::*;
use std::time::Duration;

fn keys<'a>(token: &'a str, business: Option<&'a str>) -> QuotaKeys<'a> {
    QuotaKeys {
        token,
        business,
        ad_account: None,
        class: QuotaClass::BusinessUseCase,
        write: false,
        caller: None,
    }
}

#[tokio::test(start_paused = true)]
async fn burst_then_paced() {
    let q = LocalQuota::new(10, 1000, 2);
    let k = keys("t", None);
    q.acquire(&k, None).await.unwrap();
    q.acquire(&k, None).await.unwrap();
    let start = Instant::now();
    q.acquire(&k, None).await.unwrap();
    // The third permit waits one emission interval (100 ms at 10/s).
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(90) && waited <= Duration::from_millis(110),
        "{waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn deadline_too_short_is_throttled_with_retry_delay() {
    let q = LocalQuota::new(1, 1000, 1);
    let k = keys("t", None);
    q.acquire(&k, None).await.unwrap();
    let deadline = Instant::now() + Duration::from_millis(100);
    match q.acquire(&k, Some(deadline)).await {
        Err(GatewayError::Throttled { retry_after, key }) => {
            assert!(retry_after > Duration::from_millis(900), "{retry_after:?}");
            assert_eq!(key, "token t");
        }
        other => panic!("expected Throttled, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn business_limit_is_shared_across_tokens() {
    let q = LocalQuota::new(1000, 1, 1);
    q.acquire(&keys("a", Some("b1")), None).await.unwrap();
    let deadline = Instant::now() + Duration::from_millis(10);
    assert!(q
        .acquire(&keys("other", Some("b1")), Some(deadline))
        .await
        .is_err());
    assert!(q
        .acquire(&keys("other", Some("b2")), Some(deadline))
        .await
        .is_ok());
}
