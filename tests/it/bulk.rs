//! Bulk operations (issue 16, item 3): BulkService.StartBulkOperation and
//! google.longrunning.Operations. Every step through the pipeline, batched
//! into Graph batch requests; bad requests refused before any Graph call;
//! the same request_id answers the same operation; cancel; a restart in the
//! middle (state in Redis) completes with every target applied once; a step
//! whose answer was lost is settled by reading Graph, not sent twice.

use std::sync::Arc;
use std::time::Duration;

use graph_gateway::config::Config;
use graph_gateway::operations::{Spec, Step};
use graph_gateway::proto::bulk_service_client::BulkServiceClient;
use graph_gateway::proto::google::longrunning::operations_client::OperationsClient;
use graph_gateway::proto::google::longrunning::{
    operation, CancelOperationRequest, GetOperationRequest, ListOperationsRequest, Operation,
    WaitOperationRequest,
};
use graph_gateway::proto::{
    AdAccountTask, AssignAdAccountUserRequest, BulkOperationMetadata, BulkOperationResult,
    StartBulkOperationRequest,
};
use graph_gateway::sandbox::Sandbox;
use graph_gateway::vault::MemoryVault;
use prost::Message as _;
use tokio::net::TcpListener;
use tonic::Code;
use tonic_types::StatusExt as _;

use crate::harness::TestGateway;
use crate::redis_server::RedisServer;

const UMBRELLA: &str = "1000000004";
const UMA: &str = "10402";
const ASSIGN: &str = "graphgateway.v1.AdAccountService/AssignAdAccountUser";

fn account(n: u64) -> String {
    format!("act_{}", 2_200_000_000 + n)
}

fn template() -> prost_types::Any {
    prost_types::Any {
        type_url: "type.googleapis.com/graphgateway.v1.AssignAdAccountUserRequest".into(),
        value: AssignAdAccountUserRequest {
            business_id: UMBRELLA.into(),
            user: UMA.into(),
            tasks: vec![AdAccountTask::Analyze as i32],
            ..Default::default()
        }
        .encode_to_vec(),
    }
}

fn start_request(targets: Vec<String>, request_id: &str) -> StartBulkOperationRequest {
    StartBulkOperationRequest {
        method: ASSIGN.into(),
        template: Some(template()),
        target_field: "ad_account_id".into(),
        targets,
        request_id: request_id.into(),
    }
}

fn metadata(op: &Operation) -> BulkOperationMetadata {
    let any = op.metadata.as_ref().expect("metadata");
    assert_eq!(
        any.type_url,
        "type.googleapis.com/graphgateway.v1.BulkOperationMetadata"
    );
    BulkOperationMetadata::decode(any.value.as_slice()).unwrap()
}

fn result(op: &Operation) -> BulkOperationResult {
    match op.result.as_ref().expect("a finished operation") {
        operation::Result::Response(any) => {
            BulkOperationResult::decode(any.value.as_slice()).unwrap()
        }
        operation::Result::Error(st) => panic!("failed: {st:?}"),
    }
}

/// Waits (WaitOperation, bounded) until the operation is done.
async fn wait_done(ops: &mut OperationsClient<tonic::transport::Channel>, name: &str) -> Operation {
    for _ in 0..60 {
        let op = ops
            .wait_operation(WaitOperationRequest {
                name: name.into(),
                timeout: Some(prost_types::Duration {
                    seconds: 2,
                    nanos: 0,
                }),
            })
            .await
            .unwrap()
            .into_inner();
        if op.done {
            return op;
        }
    }
    let logs: Vec<String> = crate::harness::logs()
        .lines()
        .filter(|l| l.contains("bulk") && !l.contains("\"DEBUG\"") && !l.contains("TRACE"))
        .map(|l| l.chars().take(400).collect())
        .collect();
    panic!(
        "operation {name} not done in time; bulk logs:\n{}",
        logs[logs.len().saturating_sub(15)..].join("\n")
    );
}

/// Is `user` among the ad account's assigned users, per the sandbox?
async fn assigned(sb_url: &str, account: &str) -> bool {
    let body = reqwest::Client::new()
        .get(format!(
            "{sb_url}/v26.0/{account}/assigned_users?business={UMBRELLA}&fields=id"
        ))
        .bearer_auth("sandbox-token-umbrella-admin")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    body.contains(&format!("\"{UMA}\""))
}

#[tokio::test]
async fn a_bulk_assignment_runs_every_step_once_in_batches() {
    let mut cfg = Config::default();
    cfg.bulk.batch_size = 50;
    let gw = TestGateway::sandbox_with(cfg).await;
    let mut bulk = BulkServiceClient::new(gw.channel().await);
    let mut ops = OperationsClient::new(gw.channel().await);
    // 101 targets: batches of 50, 50 and one (a batch's answer to a single
    // call is a one-element array, not an error).
    let targets: Vec<String> = (1..=101).map(account).collect();

    let op = bulk
        .start_bulk_operation(start_request(targets.clone(), "bulk-happy-1"))
        .await
        .unwrap()
        .into_inner();
    assert!(op.name.starts_with("operations/bulk-"), "{}", op.name);
    let meta = metadata(&op);
    assert_eq!(meta.total, 101);
    assert_eq!(meta.method, ASSIGN);
    assert!(meta.create_time.is_some());

    let done = wait_done(&mut ops, &op.name).await;
    let meta = metadata(&done);
    let res = result(&done);
    assert_eq!((res.succeeded, res.failed), (101, 0), "{res:?}");
    assert_eq!((meta.succeeded, meta.remaining), (101, 0));
    // Batches of at most 50: at least 3 round trips, far fewer than 101.
    assert!(
        (3..=30).contains(&meta.batch_requests),
        "{} batch requests",
        meta.batch_requests
    );
    let sb = gw.sb();
    assert_eq!(sb.requests_to("/"), meta.batch_requests as u64);
    // Every target applied exactly once.
    for t in &targets {
        assert_eq!(sb.requests_to(&format!("/{t}/assigned_users")), 1, "{t}");
    }
    let sb_url = format!("http://{}", sandbox_addr(&gw));
    assert!(assigned(&sb_url, &targets[0]).await);
    assert!(assigned(&sb_url, &targets[100]).await);
    assert!(!assigned(&sb_url, &account(102)).await);

    // Listed for its caller; a repeat of the request answers the same one.
    let list = ops
        .list_operations(ListOperationsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(list.operations.iter().any(|o| o.name == op.name));
    let again = bulk
        .start_bulk_operation(start_request(targets, "bulk-happy-1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.name, op.name);
    assert!(again.done);
    assert_eq!(
        sb.requests_to("/"),
        meta.batch_requests as u64,
        "no new call"
    );
}

/// The sandbox's address behind a TestGateway (from the engine's client).
fn sandbox_addr(gw: &TestGateway) -> String {
    gw.engine
        .graph()
        .base()
        .trim_start_matches("http://")
        .trim_end_matches("/v26.0")
        .to_string()
}

#[tokio::test]
async fn bad_bulk_requests_are_refused_before_any_graph_call() {
    let gw = TestGateway::sandbox().await;
    let mut bulk = BulkServiceClient::new(gw.channel().await);
    let before = gw.sb().request_count();
    let fields = |st: &tonic::Status| -> Vec<String> {
        st.get_details_bad_request()
            .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
            .unwrap_or_default()
    };

    // A read is no bulk method.
    let mut req = start_request(vec![account(1)], "bad-1");
    req.method = "graphgateway.v1.AdAccountService/ListAdAccountUsers".into();
    let st = bulk.start_bulk_operation(req).await.unwrap_err();
    assert_eq!(st.code(), Code::InvalidArgument);
    assert!(fields(&st).contains(&"method".to_string()), "{st:?}");

    // The template must be the RPC's request type.
    let mut req = start_request(vec![account(1)], "bad-2");
    req.template.as_mut().unwrap().type_url =
        "type.googleapis.com/graphgateway.v1.ListOwnedPagesRequest".into();
    let st = bulk.start_bulk_operation(req).await.unwrap_err();
    assert!(fields(&st).contains(&"template".to_string()), "{st:?}");

    // The target field must be a string field, not request_id.
    for field in ["nope", "request_id", "tasks"] {
        let mut req = start_request(vec![account(1)], "bad-3");
        req.target_field = field.into();
        let st = bulk.start_bulk_operation(req).await.unwrap_err();
        assert!(
            fields(&st).contains(&"target_field".to_string()),
            "{field}: {st:?}"
        );
    }

    // Duplicates, empty targets, malformed ids (each step validated), no
    // request_id.
    let req = start_request(
        vec![account(1), account(1), String::new(), "act_abc".into()],
        "",
    );
    let st = bulk.start_bulk_operation(req).await.unwrap_err();
    let f = fields(&st);
    for want in ["targets[1]", "targets[2]", "request_id"] {
        assert!(f.contains(&want.to_string()), "{want} in {f:?}");
    }
    let req = start_request(vec![account(1), "act_abc".into()], "bad-4");
    let st = bulk.start_bulk_operation(req).await.unwrap_err();
    assert_eq!(fields(&st), vec!["targets[1]".to_string()], "{st:?}");

    // At most 10,000 targets.
    let many: Vec<String> = (0..10_001)
        .map(|n| format!("act_{}", 3_000_000_000u64 + n))
        .collect();
    let st = bulk
        .start_bulk_operation(start_request(many, "bad-5"))
        .await
        .unwrap_err();
    assert!(fields(&st).contains(&"targets".to_string()), "{st:?}");

    assert_eq!(gw.sb().request_count(), before, "no Graph call");
    let mut ops = OperationsClient::new(gw.channel().await);
    let list = ops
        .list_operations(ListOperationsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(list.operations.is_empty(), "nothing started");
    let st = ops
        .get_operation(GetOperationRequest {
            name: "operations/bulk-00000000000000000000000000000000".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::NotFound);
    let st = ops
        .get_operation(GetOperationRequest {
            name: "../../etc".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn a_reused_request_id_with_another_request_is_refused() {
    let gw = TestGateway::sandbox().await;
    let mut bulk = BulkServiceClient::new(gw.channel().await);
    bulk.start_bulk_operation(start_request(vec![account(200)], "reuse-1"))
        .await
        .unwrap();
    let st = bulk
        .start_bulk_operation(start_request(vec![account(201)], "reuse-1"))
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::AlreadyExists, "{st:?}");
}

#[tokio::test]
async fn a_cancelled_operation_stops_before_its_next_batch() {
    let mut cfg = Config::default();
    cfg.bulk.batch_size = 10;
    let gw = TestGateway::sandbox_with(cfg).await;
    let sb = gw.sb().clone();
    let mut bulk = BulkServiceClient::new(gw.channel().await);
    let mut ops = OperationsClient::new(gw.channel().await);
    // The first batch is held at the sandbox while the cancel arrives.
    sb.pause();
    let targets: Vec<String> = (301..=400).map(account).collect();
    let op = bulk
        .start_bulk_operation(start_request(targets.clone(), "cancel-1"))
        .await
        .unwrap()
        .into_inner();
    for _ in 0..200 {
        if sb.arrivals() > 0 {
            break;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(sb.arrivals(), 1, "the first batch is in flight");
    ops.cancel_operation(CancelOperationRequest {
        name: op.name.clone(),
    })
    .await
    .unwrap();
    sb.resume();
    let done = wait_done(&mut ops, &op.name).await;
    let meta = metadata(&done);
    assert!(meta.cancel_requested);
    match done.result {
        Some(operation::Result::Error(st)) => {
            assert_eq!(st.code, Code::Cancelled as i32, "{st:?}");
            let res = BulkOperationResult::decode(st.details[0].value.as_slice()).unwrap();
            assert_eq!(res.succeeded, 10);
        }
        other => panic!("not cancelled: {other:?}"),
    }
    assert_eq!((meta.succeeded, meta.remaining), (10, 90));
    let applied: u64 = targets
        .iter()
        .map(|t| sb.requests_to(&format!("/{t}/assigned_users")))
        .sum();
    assert_eq!(applied, 10, "only the batch in flight ran");
}

/// Two gateways in turn on one Redis and one sandbox: the first stops
/// (SIGTERM's drain) in the middle of a 1,000-target operation; the second
/// takes it up and finishes it; every target applied exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operation_survives_a_restart_and_applies_each_target_once() {
    let redis = RedisServer::start().await;
    let sandbox = Sandbox::demo();
    let tokens = sandbox.demo_tokens();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (_sb_stop, sb_stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(sandbox.clone().serve(listener, async move {
        let _ = sb_stopped.await;
    }));
    let mut cfg = Config::default();
    cfg.redis.url = Some(graph_gateway::secret::Secret::new(redis.url()));
    cfg.redis.key_prefix = "bulk-restart".into();
    cfg.bulk.batch_size = 20;
    cfg.bulk.scan_interval_ms = 100;
    let vault = Arc::new(MemoryVault::new(tokens.clone()));
    let first = TestGateway::upstream(&url, vault, cfg.clone()).await;
    let mut bulk = BulkServiceClient::new(first.channel().await);
    let mut ops = OperationsClient::new(first.channel().await);
    let targets: Vec<String> = (1..=1000).map(account).collect();
    let op = bulk
        .start_bulk_operation(start_request(targets.clone(), "restart-1"))
        .await
        .unwrap()
        .into_inner();
    // Let it get some way, then stop the first gateway.
    let mut seen = 0;
    for _ in 0..600 {
        let now = ops
            .get_operation(GetOperationRequest {
                name: op.name.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        seen = metadata(&now).succeeded;
        if seen >= 100 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(seen >= 100, "progress before the restart: {seen}");
    drop(first);
    drop(bulk);
    drop(ops);
    // The drain stops the runner at a step boundary and gives its lease up.
    let lease = format!(
        "{{bulk-restart}}:op:{}:lease",
        op.name.trim_start_matches("operations/")
    );
    let mut conn = redis.connection().await.unwrap();
    let mut released = false;
    for _ in 0..250 {
        let held: bool = redis::AsyncCommands::exists(&mut conn, &lease)
            .await
            .unwrap();
        if !held {
            released = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(released, "the stopped gateway gave its lease up");
    let at_restart: u64 = targets
        .iter()
        .map(|t| sandbox.requests_to(&format!("/{t}/assigned_users")))
        .sum();
    assert!(
        at_restart < 1000,
        "stopped in the middle ({at_restart} applied)"
    );

    let vault = Arc::new(MemoryVault::new(tokens));
    let second = TestGateway::upstream(&url, vault, cfg).await;
    let mut ops = OperationsClient::new(second.channel().await);
    let done = wait_done(&mut ops, &op.name).await;
    let res = result(&done);
    assert_eq!((res.succeeded, res.failed), (1000, 0), "{res:?}");
    assert_eq!(
        metadata(&done).settled_by_read,
        0,
        "a clean stop leaves nothing in doubt"
    );
    for t in &targets {
        assert_eq!(
            sandbox.requests_to(&format!("/{t}/assigned_users")),
            1,
            "{t} applied once"
        );
    }
}

/// A step marked sent without an outcome (its replica died mid-call) is
/// settled by reading Graph: applied ones are not sent again, the others
/// are.
#[tokio::test]
async fn a_step_in_doubt_is_settled_by_reading_graph() {
    let mut cfg = Config::default();
    cfg.bulk.scan_interval_ms = 100;
    let gw = TestGateway::sandbox_with(cfg).await;
    let store = gw.engine.operations().clone();
    let (applied, not_applied) = (account(501), account(502));
    // One of the two was applied before the "crash".
    let mut accounts = graph_gateway::proto::ad_account_service_client::AdAccountServiceClient::new(
        gw.channel().await,
    );
    accounts
        .assign_ad_account_user(AssignAdAccountUserRequest {
            ad_account_id: applied.clone(),
            business_id: UMBRELLA.into(),
            user: UMA.into(),
            tasks: vec![AdAccountTask::Analyze as i32],
            ..Default::default()
        })
        .await
        .unwrap();
    let spec = Spec {
        name: "operations/bulk-0123456789abcdef0123456789abcdef".into(),
        caller: None,
        principal: None,
        request_id: "in-doubt-1".into(),
        method: format!("/{ASSIGN}"),
        template: base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            &template().value,
        ),
        target_field: "ad_account_id".into(),
        targets: vec![applied.clone(), not_applied.clone()],
        create_time_ms: 1,
    };
    store.create(&spec).await.unwrap();
    store.mark_sent(&spec.name, &[0, 1]).await.unwrap();
    let mut ops = OperationsClient::new(gw.channel().await);
    let done = wait_done(&mut ops, &spec.name).await;
    let res = result(&done);
    assert_eq!((res.succeeded, res.failed), (2, 0), "{res:?}");
    assert_eq!(metadata(&done).settled_by_read, 1);
    let steps = store.steps(&spec.name).await.unwrap();
    assert_eq!(steps.get(&0), Some(&Step::Ok { by_read: true }));
    assert_eq!(steps.get(&1), Some(&Step::Ok { by_read: false }));
    let sb = gw.sb();
    let sb_url = format!("http://{}", sandbox_addr(&gw));
    assert!(assigned(&sb_url, &not_applied).await);
    // The applied one: its POST and the settling read, no second POST.
    assert_eq!(sb.requests_to(&format!("/{applied}/assigned_users")), 2);
}
