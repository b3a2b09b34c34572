//! Mutations under lost answers: callers retry with their request_id; the
//! sandbox's state holds no duplicate and every caller ends with the real
//! outcome. Also: request_id replay and reuse, concurrent duplicates, and a
//! mutation whose caller went away after it was sent.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use graph_gateway::grpc::server::ServeOptions;
use graph_gateway::proto::ad_account_service_client::AdAccountServiceClient;
use graph_gateway::proto::agency_service_client::AgencyServiceClient;
use graph_gateway::proto::page_service_client::PageServiceClient;
use graph_gateway::proto::{
    AdAccountTask, AddAdAccountAgencyRequest, AssignPageUserRequest, CreateAdAccountRequest,
    CreateAdAccountResponse, ListAdAccountAgenciesRequest, ListOwnedAdAccountsRequest, PageTask,
    RemoveAdAccountAgencyRequest,
};
use graph_gateway::sandbox::{FaultConfig, FaultKind, FaultRule};
use tonic::Code;

use super::{config, reason, timed, FaultGateway, ACME, INITECH};

/// Lost answers on a quarter of all mutations, failures before handling on
/// some more, and 10% of reads (the gateway's own look-ups) failing too.
fn lossy(seed: u64) -> FaultConfig {
    FaultConfig::seeded(
        seed,
        vec![
            FaultRule::new(FaultKind::LostResponse, 0.25).method("POST"),
            FaultRule::new(FaultKind::Http500, 0.05).method("POST"),
            FaultRule::new(FaultKind::LostResponse, 0.25).method("DELETE"),
            FaultRule::new(FaultKind::Http503, 0.05).method("DELETE"),
            FaultRule::new(FaultKind::Http503, 0.10).method("GET"),
        ],
    )
}

/// What a caller saw until it got an answer.
#[derive(Default, Debug)]
struct Tally {
    calls: u64,
    outcome_unknown: u64,
    other_unavailable: u64,
}

/// A caller that retries the SAME request (same request_id) while the
/// gateway answers UNAVAILABLE; returns the final answer.
async fn until_answered<T, F, Fut>(tally: &mut Tally, mut call: F) -> Result<T, tonic::Status>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    for _ in 0..60 {
        tally.calls += 1;
        match call().await {
            Ok(r) => return Ok(r.into_inner()),
            Err(st) if st.code() == Code::Unavailable => {
                if reason(&st) == "MUTATION_OUTCOME_UNKNOWN" {
                    tally.outcome_unknown += 1;
                } else {
                    tally.other_unavailable += 1;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(st) => return Err(st),
        }
    }
    panic!("no answer after 60 tries")
}

fn create_request(i: usize) -> CreateAdAccountRequest {
    CreateAdAccountRequest {
        business_id: ACME.into(),
        name: format!("Fault Suite Account {i}"),
        currency: "USD".into(),
        timezone_id: 1,
        end_advertiser: ACME.into(),
        media_agency: "NONE".into(),
        partner: "NONE".into(),
        request_id: format!("create-{i}"),
        ..Default::default()
    }
}

async fn owned_accounts(
    c: &mut AdAccountServiceClient<tonic::transport::Channel>,
) -> Vec<(String, String)> {
    let r = c
        .list_owned_ad_accounts(ListOwnedAdAccountsRequest {
            business_id: ACME.into(),
            page_size: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(r.next_page_token.is_empty());
    r.ad_accounts.into_iter().map(|a| (a.name, a.id)).collect()
}

async fn agencies(c: &mut AgencyServiceClient<tonic::transport::Channel>) -> Vec<String> {
    let mut tally = Tally::default();
    until_answered(&mut tally, || {
        let mut c = c.clone();
        async move {
            c.list_ad_account_agencies(ListAdAccountAgenciesRequest {
                ad_account_id: "act_2000000002".into(),
                business_id: ACME.into(),
                ..Default::default()
            })
            .await
        }
    })
    .await
    .unwrap()
    .agencies
    .into_iter()
    .map(|a| a.id)
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lost_answers_never_duplicate_mutations_and_callers_get_the_real_outcome() {
    let gw = FaultGateway::start(config(), Some(lossy(11)), ServeOptions::default()).await;
    let channel = gw.channel().await;

    // 1. Creations (AA02: every accepted call creates another ad account),
    //    eight callers at once.
    const CREATES: usize = 24;
    let tasks: Vec<_> = (0..CREATES)
        .map(|i| {
            let channel = channel.clone();
            tokio::spawn(async move {
                let c = AdAccountServiceClient::new(channel);
                let mut tally = Tally::default();
                let req = create_request(i);
                let r = until_answered(&mut tally, || {
                    let (mut c, req) = (c.clone(), req.clone());
                    async move { c.create_ad_account(req).await }
                })
                .await;
                (i, r, tally)
            })
        })
        .collect();
    let mut created: HashMap<String, CreateAdAccountResponse> = HashMap::new();
    let mut totals = Tally::default();
    for t in tasks {
        let (i, r, tally) = t.await.unwrap();
        let r = r.unwrap_or_else(|st| panic!("create {i}: {st:?}"));
        totals.calls += tally.calls;
        totals.outcome_unknown += tally.outcome_unknown;
        totals.other_unavailable += tally.other_unavailable;
        created.insert(create_request(i).name, r);
    }

    // 2. Grants and revokes of agency access, one after the other, each
    //    checked against the sandbox's state.
    let mut agency = AgencyServiceClient::new(channel.clone());
    let mut grant_tally = Tally::default();
    for round in 0..12 {
        let granted = until_answered(&mut grant_tally, || {
            let mut c = agency.clone();
            async move {
                c.add_ad_account_agency(AddAdAccountAgencyRequest {
                    ad_account_id: "act_2000000002".into(),
                    business_id: ACME.into(),
                    agency_business_id: INITECH.into(),
                    permitted_tasks: vec![
                        AdAccountTask::Advertise as i32,
                        AdAccountTask::Analyze as i32,
                    ],
                    request_id: format!("grant-{round}"),
                    ..Default::default()
                })
                .await
            }
        })
        .await
        .unwrap_or_else(|st| panic!("grant {round}: {st:?}"));
        assert!(granted.success, "grant {round}");
        assert!(agencies(&mut agency).await.contains(&INITECH.to_string()));
        let revoked = until_answered(&mut grant_tally, || {
            let mut c = agency.clone();
            async move {
                c.remove_ad_account_agency(RemoveAdAccountAgencyRequest {
                    ad_account_id: "act_2000000002".into(),
                    business_id: ACME.into(),
                    agency_business_id: INITECH.into(),
                    request_id: format!("revoke-{round}"),
                })
                .await
            }
        })
        .await
        .unwrap_or_else(|st| panic!("revoke {round}: {st:?}"));
        assert!(revoked.success, "revoke {round}");
        assert!(
            !agencies(&mut agency).await.contains(&INITECH.to_string()),
            "revoke {round} was not applied"
        );
    }

    // 3. The sandbox's state, read without faults.
    let injected = gw.sandbox.faults_injected();
    gw.sandbox.set_faults(None);
    let mut accounts = AdAccountServiceClient::new(channel.clone());
    let listed = owned_accounts(&mut accounts).await;
    let mut duplicates = 0;
    for (name, answer) in &created {
        let matching: Vec<&String> = listed
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, id)| id)
            .collect();
        duplicates += matching.len().saturating_sub(1);
        assert_eq!(matching.len(), 1, "{name}: {matching:?}");
        assert_eq!(
            matching[0], &answer.id,
            "{name}: the caller got the real account"
        );
        assert_eq!(answer.business_id, ACME);
    }
    eprintln!(
        "FIGURE mutations: {CREATES} creations in {} calls ({} answered MUTATION_OUTCOME_UNKNOWN, {} other UNAVAILABLE), \
         12 grant/revoke rounds in {} calls ({} outcome unknown); faults injected {injected:?}; duplicated mutations: {duplicates}",
        totals.calls,
        totals.outcome_unknown,
        totals.other_unavailable,
        grant_tally.calls,
        grant_tally.outcome_unknown,
    );
    assert_eq!(duplicates, 0);
    assert!(
        injected.get("lost_response").copied().unwrap_or_default() >= 5,
        "the suite lost answers: {injected:?}"
    );
    assert!(
        totals.outcome_unknown + grant_tally.outcome_unknown > 0 || totals.calls > CREATES as u64
    );
    // A repeat of a settled creation is answered from the store.
    let before = gw.sandbox.requests_to("/1000000001/adaccount");
    let again = accounts
        .create_ad_account(create_request(0))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, created[&create_request(0).name]);
    assert_eq!(gw.sandbox.requests_to("/1000000001/adaccount"), before);
}

#[tokio::test]
async fn request_id_replays_the_first_answer_and_refuses_reuse() {
    let gw = FaultGateway::start(config(), None, ServeOptions::default()).await;
    let mut pages = PageServiceClient::new(gw.channel().await);
    let assign = |user: &str| AssignPageUserRequest {
        page_id: "3000000001".into(),
        business: ACME.into(),
        user: user.into(),
        tasks: vec![PageTask::Analyze as i32],
        request_id: "assign-bob-1".into(),
        ..Default::default()
    };
    let first = pages
        .assign_page_user(assign("10002"))
        .await
        .unwrap()
        .into_inner();
    assert!(first.success);
    let calls = gw.sandbox.request_count();
    let again = pages
        .assign_page_user(assign("10002"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, first);
    assert_eq!(
        gw.sandbox.request_count(),
        calls,
        "answered without a Graph call"
    );

    let st = pages.assign_page_user(assign("10003")).await.unwrap_err();
    assert_eq!(st.code(), Code::AlreadyExists, "{st:?}");
    assert_eq!(reason(&st), "REQUEST_ID_REUSED");
    assert!(
        st.message().contains("different request"),
        "{}",
        st.message()
    );
    assert_eq!(gw.sandbox.request_count(), calls);

    // A final Graph error is the outcome too.
    let bad = AssignPageUserRequest {
        user: "99999".into(),
        request_id: "assign-unknown".into(),
        ..assign("99999")
    };
    let e1 = pages.assign_page_user(bad.clone()).await.unwrap_err();
    let calls = gw.sandbox.request_count();
    let e2 = pages.assign_page_user(bad).await.unwrap_err();
    assert_eq!((e1.code(), e1.message()), (e2.code(), e2.message()));
    assert_eq!(gw.sandbox.request_count(), calls);

    // request_id is validated like any field.
    let st = pages
        .assign_page_user(AssignPageUserRequest {
            request_id: "x".repeat(200),
            ..assign("10002")
        })
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::InvalidArgument);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_duplicates_wait_for_the_first_and_share_its_answer() {
    let slow = FaultConfig::seeded(
        1,
        vec![FaultRule::new(FaultKind::Slow(Duration::from_millis(300)), 1.0).method("POST")],
    );
    let gw = FaultGateway::start(config(), Some(slow), ServeOptions::default()).await;
    let channel = gw.channel().await;
    let dups: Vec<_> = (0..6)
        .map(|_| {
            let channel = channel.clone();
            tokio::spawn(async move {
                AdAccountServiceClient::new(channel)
                    .create_ad_account(create_request(900))
                    .await
                    .map(tonic::Response::into_inner)
            })
        })
        .collect();
    let mut ids = Vec::new();
    for d in dups {
        ids.push(d.await.unwrap().unwrap().id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(gw.sandbox.requests_to("/1000000001/adaccount"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sent_mutation_completes_after_its_caller_gave_up_and_is_kept() {
    let slow = FaultConfig::seeded(
        1,
        vec![FaultRule::new(FaultKind::Slow(Duration::from_millis(600)), 1.0).method("POST")],
    );
    let gw = FaultGateway::start(config(), Some(slow), ServeOptions::default()).await;
    let mut c = AdAccountServiceClient::new(gw.channel().await);
    let started = std::time::Instant::now();
    let st = c
        .create_ad_account(timed(create_request(700), Duration::from_millis(150)))
        .await
        .unwrap_err();
    assert!(
        matches!(st.code(), Code::DeadlineExceeded | Code::Cancelled),
        "{st:?}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "the caller waited its deadline only"
    );
    // The mutation was sent: it completes and its outcome is kept.
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(gw.sandbox.requests_to("/1000000001/adaccount"), 1);
    gw.sandbox.set_faults(None);
    let r = c
        .create_ad_account(create_request(700))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        gw.sandbox.requests_to("/1000000001/adaccount"),
        1,
        "no second creation"
    );
    let listed = owned_accounts(&mut c).await;
    let named: Vec<_> = listed
        .iter()
        .filter(|(n, _)| n == &create_request(700).name)
        .collect();
    assert_eq!(named.len(), 1);
    assert_eq!(named[0].1, r.id);
}
