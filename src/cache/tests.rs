use super::*;

fn key(path: &str, generation: u64) -> CacheKey {
    CacheKey {
        token: Arc::from("t"),
        operation: Arc::from("PG04"),
        path: Arc::from(path),
        params: Arc::from(""),
        generation,
    }
}

#[tokio::test]
async fn hit_after_miss_and_errors_not_cached() {
    let c = LocalCache::new(Duration::from_secs(60), 100);
    let err = c
        .get_or_fetch(
            key("/1/owned_pages", 0),
            Box::pin(async { Err(GatewayError::Unavailable("x".into())) }),
        )
        .await;
    assert!(err.is_err());
    let (v, s) = c
        .get_or_fetch(
            key("/1/owned_pages", 0),
            Box::pin(async { Ok(Bytes::from_static(b"a")) }),
        )
        .await
        .unwrap();
    assert_eq!((v.as_ref(), s), (&b"a"[..], Served::Miss));
    let (v, s) = c
        .get_or_fetch(
            key("/1/owned_pages", 0),
            Box::pin(async { Ok(Bytes::from_static(b"b")) }),
        )
        .await
        .unwrap();
    assert_eq!((v.as_ref(), s), (&b"a"[..], Served::Hit));
    assert_eq!(c.stats().misses, 1);
}

#[tokio::test]
async fn invalidation_bumps_generation() {
    let c = LocalCache::new(Duration::from_secs(60), 100);
    assert_eq!(c.generation("/1/owned_pages"), 0);
    c.invalidate(&["/1/owned_pages".to_string()]).await;
    let g = c.generation("/1/owned_pages");
    assert_ne!(g, 0);
    assert_eq!(c.generation("/2/owned_pages"), 0);
    c.invalidate(&["/1/owned_pages".to_string()]).await;
    assert_ne!(c.generation("/1/owned_pages"), g);
}

#[tokio::test(start_paused = true)]
async fn concurrent_misses_share_one_fetch() {
    let c = Arc::new(LocalCache::new(Duration::from_secs(60), 100));
    let calls = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (c, calls) = (c.clone(), calls.clone());
        tasks.push(tokio::spawn(async move {
            c.get_or_fetch(
                key("/1/owned_pages", 0),
                Box::pin(async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Ok(Bytes::from_static(b"v"))
                }),
            )
            .await
            .unwrap()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().0.as_ref(), b"v");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let s = c.stats();
    assert_eq!((s.misses, s.coalesced), (1, 49));
}

#[tokio::test]
async fn zero_ttl_keeps_nothing() {
    let c = LocalCache::new(Duration::ZERO, 100);
    c.get_or_fetch(
        key("/p", 0),
        Box::pin(async { Ok(Bytes::from_static(b"a")) }),
    )
    .await
    .unwrap();
    let (_, s) = c
        .get_or_fetch(
            key("/p", 0),
            Box::pin(async { Ok(Bytes::from_static(b"b")) }),
        )
        .await
        .unwrap();
    assert_eq!(s, Served::Miss);
}

#[tokio::test]
async fn edge_wildcards_invalidate_the_edge_under_every_node() {
    let c = LocalCache::new(Duration::from_secs(60), 100);
    let before = (
        c.generation("/1/assigned_users"),
        c.generation("/2/assigned_users"),
        c.generation("/1/owned_pages"),
    );
    c.invalidate(&["/*/assigned_users".to_string()]).await;
    assert_ne!(c.generation("/1/assigned_users"), before.0);
    assert_ne!(c.generation("/2/assigned_users"), before.1);
    assert_eq!(c.generation("/1/owned_pages"), before.2);
    // A later bump of one path still moves it forward.
    let g = c.generation("/1/assigned_users");
    c.invalidate(&["/1/assigned_users".to_string()]).await;
    assert!(c.generation("/1/assigned_users") > g);
}

#[tokio::test]
async fn wildcards_of_nested_edges_and_the_newest_bump_wins() {
    let c = LocalCache::new(Duration::from_secs(60), 100);
    c.invalidate(&["/1/assigned_users".to_string()]).await;
    let own = c.generation("/1/assigned_users");
    // A wildcard bump after the path's own makes the wildcard's the current
    // generation, for every node.
    c.invalidate(&["/*/assigned_users".to_string()]).await;
    assert!(c.generation("/1/assigned_users") > own);
    assert_eq!(
        c.generation("/1/assigned_users"),
        c.generation("/2/assigned_users")
    );
    // Nested edges: "/*/a/b" reaches "/1/a/b", not "/1/a" nor "/1/b".
    c.invalidate(&["/*/a/b".to_string()]).await;
    assert_ne!(c.generation("/7/a/b"), 0);
    assert_eq!(c.generation("/7/a"), 0);
    assert_eq!(c.generation("/7/b"), 0);
    // The wildcard path itself reads its own generation.
    assert_eq!(c.generation("/*/a/b"), c.generation("/7/a/b"));
    // Paths that are not "/node/edge" have no wildcard.
    assert_eq!(c.generation("/"), 0);
    assert_eq!(c.generation("relative/edge"), 0);
}
