//! The audit trail: a grant and a revoke (and a refused change, and a vault
//! admin call) each leave a structured record, in the log (target `audit`)
//! and, with Redis configured, in the audit stream; no secret in any.

use std::time::Duration;

use graph_gateway::proto::page_service_client::PageServiceClient;
use graph_gateway::proto::vault_service_client::VaultServiceClient;
use graph_gateway::proto::{
    AssignPageUserRequest, PageRolePreset, PutTokenRequest, RemovePageUserRequest, VaultTokenKind,
};
use serde_json::Value;
use tonic::service::interceptor::InterceptedService;

use super::*;
use crate::harness::{logs, TestGateway};
use crate::redis_server::RedisServer;

/// The log's audit events of `request_id`: their fields.
fn audit_events(request_id: &str) -> Vec<Value> {
    logs()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["target"] == "audit" && v["fields"]["request_id"] == request_id)
        .map(|v| v["fields"].clone())
        .collect()
}

/// The one audit event of `request_id`, waiting a little for it.
async fn one_event(request_id: &str) -> Value {
    for _ in 0..50 {
        let events = audit_events(request_id);
        if let Some(e) = events.first() {
            assert_eq!(events.len(), 1, "{events:#?}");
            return e.clone();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no audit event for {request_id}");
}

fn json_field(event: &Value, name: &str) -> Value {
    serde_json::from_str(event[name].as_str().unwrap_or("{}")).unwrap()
}

#[tokio::test]
async fn a_grant_and_a_revoke_leave_audit_records_in_the_log_and_the_stream() {
    let redis = RedisServer::start().await;
    let mut cfg = secured();
    let stream = format!("audit-test-{}", rand::random::<u32>());
    cfg.redis.url = Some(Secret::new(redis.url()));
    cfg.redis.key_prefix = format!("audit{}", rand::random::<u32>());
    cfg.audit.redis_stream.clone_from(&stream);
    let gw = TestGateway::sandbox_with(cfg).await;
    let run = rand::random::<u32>();
    let (grant_id, revoke_id, denied_id, vault_id) = (
        format!("grant-{run}"),
        format!("revoke-{run}"),
        format!("denied-{run}"),
        format!("vault-{run}"),
    );
    let client = |key: &str, id: &str| {
        let (key, id) = (key.to_string(), id.to_string());
        let gw = &gw;
        async move { InterceptedService::new(gw.channel().await, bearer_with_id(&key, &id)) }
    };

    // The grant: Alice becomes an editor of page 3000000002.
    let mut c = PageServiceClient::new(client(BILLING_KEY, &grant_id).await);
    c.assign_page_user(AssignPageUserRequest {
        page_id: "3000000002".into(),
        business: ACME.into(),
        user: "10001".into(),
        preset: PageRolePreset::Editor as i32,
        ..Default::default()
    })
    .await
    .unwrap();
    let grant = one_event(&grant_id).await;
    assert_eq!(grant["operation"], "PG07");
    assert_eq!(grant["rpc"], "/graphgateway.v1.PageService/AssignPageUser");
    assert_eq!(grant["caller"], "billing");
    assert_eq!(grant["auth"], "api_key");
    assert_eq!(grant["business"], ACME);
    assert_eq!(grant["outcome"], "OK");
    assert_eq!(grant["graph_call"], "POST /3000000002/assigned_users");
    assert_eq!(grant["token"], "sandbox-acme-admin");
    assert!(grant["time"].as_str().unwrap().ends_with('Z'));
    let changes = json_field(&grant, "changes");
    assert_eq!(
        changes["tasks"],
        serde_json::json!(["CREATE_CONTENT", "MODERATE", "ADVERTISE", "ANALYZE"])
    );
    let objects = json_field(&grant, "objects");
    assert_eq!(objects["user"], "10001");
    assert_eq!(objects["path[0]"], "3000000002");

    // The revoke: Bob loses page 3000000002.
    let mut c = PageServiceClient::new(client(BILLING_KEY, &revoke_id).await);
    c.remove_page_user(RemovePageUserRequest {
        page_id: "3000000002".into(),
        business_id: ACME.into(),
        user: "10002".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let revoke = one_event(&revoke_id).await;
    assert_eq!(revoke["operation"], "PG10");
    assert_eq!(revoke["graph_call"], "DELETE /3000000002/assigned_users");
    assert_eq!(json_field(&revoke, "objects")["user"], "10002");
    assert_eq!(revoke["outcome"], "OK");

    // A refused change is on record too.
    let mut c = PageServiceClient::new(client(READER_KEY, &denied_id).await);
    c.assign_page_user(AssignPageUserRequest {
        page_id: "3000000002".into(),
        business: ACME.into(),
        user: "10002".into(),
        preset: PageRolePreset::Admin as i32,
        ..Default::default()
    })
    .await
    .unwrap_err();
    let denied = one_event(&denied_id).await;
    assert_eq!(denied["caller"], "reader");
    assert_eq!(denied["outcome"], "PERMISSION_DENIED");
    assert_eq!(denied["reason"], "READ_ONLY");

    // A vault admin action: the token's name, never its value.
    let value = format!("EAAB-audited-secret-{run}");
    let mut c = VaultServiceClient::new(client(OPS_KEY, &vault_id).await);
    c.put_token(PutTokenRequest {
        name: "audited".into(),
        kind: VaultTokenKind::User as i32,
        business_ids: vec![ACME.into()],
        value: value.clone(),
        ..Default::default()
    })
    .await
    .unwrap();
    let put = one_event(&vault_id).await;
    assert_eq!(put["operation"], "PutToken");
    assert_eq!(put["caller"], "ops");
    assert_eq!(json_field(&put, "objects")["token"], "audited");
    assert!(!logs().contains(&value), "the token value is in the log");

    // The Redis stream has the same records, as JSON.
    let mut conn = redis.connection().await.unwrap();
    let mut records: Vec<Value> = Vec::new();
    for _ in 0..100 {
        let entries: Vec<(String, Vec<String>)> = redis::cmd("XRANGE")
            .arg(&stream)
            .arg("-")
            .arg("+")
            .query_async(&mut conn)
            .await
            .unwrap();
        records = entries
            .iter()
            .filter_map(|(_, fields)| fields.get(1))
            .filter_map(|json| serde_json::from_str(json).ok())
            .collect();
        if records.len() >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let by_id = |id: &str| {
        records
            .iter()
            .find(|r| r["request_id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} not in the stream: {records:#?}"))
    };
    let g = by_id(&grant_id);
    assert_eq!(g["operation"], "PG07");
    assert_eq!(g["changes"]["tasks"][0], "CREATE_CONTENT");
    assert_eq!(g["objects"]["user"], "10001");
    assert_eq!(by_id(&revoke_id)["operation"], "PG10");
    assert_eq!(by_id(&denied_id)["outcome"], "PERMISSION_DENIED");
    assert_eq!(by_id(&vault_id)["operation"], "PutToken");
    let raw = serde_json::to_string(&records).unwrap();
    assert!(!raw.contains(&value) && !raw.contains("sandbox-token-"));
}
