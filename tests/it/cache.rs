//! The cache end to end: N concurrent identical reads make ONE upstream call;
//! a mutation invalidates what it changes; different tokens never share.

use graph_gateway::proto::business_asset_group_service_client::BusinessAssetGroupServiceClient;
use graph_gateway::proto::{
    AddContainedPageRequest, ListBusinessAssetGroupsRequest, ListContainedPagesRequest,
};

use crate::harness::TestGateway;

const ACME: &str = "1000000001";
const GROUP: &str = "9000000001";

/// Waits (without sleeping) until `cond` holds, yielding to other tasks;
/// bounded by wall-clock time, not by a count, so a loaded machine does not
/// make it flaky.
async fn until(mut cond: impl FnMut() -> bool) {
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !cond() {
        assert!(std::time::Instant::now() < give_up, "condition never held");
        tokio::task::yield_now().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_identical_reads_make_one_upstream_call() {
    const N: usize = 200;
    let gw = TestGateway::sandbox().await;
    let channel = gw.channel().await;
    let path = format!("/{ACME}/business_asset_groups");
    gw.sb().pause();
    let mut tasks = Vec::new();
    for _ in 0..N {
        let mut c = BusinessAssetGroupServiceClient::new(channel.clone());
        tasks.push(tokio::spawn(async move {
            c.list_business_asset_groups(ListBusinessAssetGroupsRequest {
                business_id: ACME.into(),
                ..Default::default()
            })
            .await
            .map(|r| r.into_inner())
        }));
    }
    // Every call has reached the cache and the one upstream call is held.
    let cache = gw.engine.cache().clone();
    until(|| cache.stats().lookups >= N as u64 && gw.sb().arrivals() >= 1).await;
    gw.sb().resume();
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap().unwrap());
    }
    assert_eq!(
        gw.sb().requests_to(&path),
        1,
        "{N} concurrent identical reads -> 1 upstream call"
    );
    assert!(answers.iter().all(|a| a == &answers[0]));
    assert!(!answers[0].business_asset_groups.is_empty());
    let s = gw.engine.cache().stats();
    assert_eq!(s.misses, 1);
    assert_eq!(s.coalesced + s.hits, N as u64 - 1);
}

#[tokio::test]
async fn reads_are_cached_and_mutations_invalidate_them() {
    let gw = TestGateway::sandbox().await;
    let mut c = BusinessAssetGroupServiceClient::new(gw.channel().await);
    let list = ListContainedPagesRequest {
        asset_group_id: GROUP.into(),
        business_id: ACME.into(),
        ..Default::default()
    };
    let path = format!("/{GROUP}/contained_pages");

    let before = c
        .list_contained_pages(list.clone())
        .await
        .unwrap()
        .into_inner();
    let again = c
        .list_contained_pages(list.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(before, again);
    assert_eq!(
        gw.sb().requests_to(&path),
        1,
        "second read served from the cache"
    );
    assert!(!before.pages.iter().any(|p| p.id == "3000000002"));

    let added = c
        .add_contained_page(AddContainedPageRequest {
            asset_group_id: GROUP.into(),
            business_id: ACME.into(),
            page_id: "3000000002".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(added.success);

    let after = c.list_contained_pages(list).await.unwrap().into_inner();
    // GET, POST (same path), and the GET the invalidation forced.
    assert_eq!(
        gw.sb().requests_to(&path),
        3,
        "the mutation invalidated the read"
    );
    assert!(
        after.pages.iter().any(|p| p.id == "3000000002"),
        "{after:?}"
    );
}

#[tokio::test]
async fn errors_are_not_cached() {
    let gw = TestGateway::sandbox().await;
    let mut c = BusinessAssetGroupServiceClient::new(gw.channel().await);
    // Acme's token cannot see a group that does not exist: an error, twice upstream.
    let req = ListContainedPagesRequest {
        asset_group_id: "9999999999".into(),
        business_id: ACME.into(),
        ..Default::default()
    };
    assert!(c.list_contained_pages(req.clone()).await.is_err());
    assert!(c.list_contained_pages(req).await.is_err());
    assert_eq!(gw.sb().requests_to("/9999999999/contained_pages"), 2);
}
