//! The governed pass-through (GraphPassthroughService.CallGraph, issue 16,
//! item 2): denied by default and allowed per path template (policy
//! `graph_paths`, or `passthrough.paths` while authentication is off),
//! validated before any Graph call, its answers screened for tokens, GET
//! cached on request and made stale by a write, writes once per request_id
//! and audited, and one quota shared with the typed RPCs.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use graph_gateway::config::{AuthCallers, CallerAuth, Config, Policies, PolicyAccess, PolicyRule};
use graph_gateway::proto::graph_passthrough_service_client::GraphPassthroughServiceClient;
use graph_gateway::proto::page_service_client::PageServiceClient;
use graph_gateway::proto::quota_service_client::QuotaServiceClient;
use graph_gateway::proto::{
    CallGraphRequest, CallGraphResponse, GetQuotaStatusRequest, HttpMethod, ListOwnedPagesRequest,
    QuotaClass,
};
use graph_gateway::secret::Secret;
use graph_gateway::vault::MemoryVault;
use prost_types::value::Kind;
use serde_json::Value;
use tonic::transport::Channel;
use tonic::Code;
use tonic_types::StatusExt as _;

use crate::harness::{graph_error, logs, token, Recorder, TestGateway};
use crate::security::{as_caller, key_sha256, PEPPER};

const ACME: &str = "1000000001";
const PAGE: &str = "3000000002";
const ALICE: &str = "10001";

const OWNED_PAGES: &str = "/{business_id}/owned_pages";
const PAGE_USERS: &str = "/{page_id}/assigned_users";

/// A caller whose grants allow everything but the pass-through.
const ALL_KEY: &str = "ggw_test-passthrough-all-7a6b5c4d3e2f1a0b";
/// A caller allowed GET OWNED_PAGES for Acme, and nothing else.
const PAGES_KEY: &str = "ggw_test-passthrough-pages-1b2c3d4e5f6a7b8c";
/// Acme's page PAGE only (a scoped grant), write, any method on PAGE_USERS
/// and GET OWNED_PAGES.
const WRITER_KEY: &str = "ggw_test-passthrough-writer-9c8d7e6f5a4b3c2d";
/// Acme, read only, any method on PAGE_USERS.
const READER_KEY: &str = "ggw_test-passthrough-reader-3d2c1b0a9f8e7d6c";

fn call(
    method: HttpMethod,
    template: &str,
    ids: &[(&str, &str)],
    params: &[(&str, &str)],
) -> CallGraphRequest {
    let map = |kv: &[(&str, &str)]| {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<HashMap<_, _>>()
    };
    CallGraphRequest {
        method: method as i32,
        path_template: template.into(),
        ids: map(ids),
        params: map(params),
        business_id: ACME.into(),
        ..Default::default()
    }
}

fn owned_pages() -> CallGraphRequest {
    call(HttpMethod::Get, OWNED_PAGES, &[("business_id", ACME)], &[])
}

/// The JSON body of an answer.
fn body(r: &CallGraphResponse) -> Value {
    fn json(v: &prost_types::Value) -> Value {
        match v.kind.as_ref() {
            Some(Kind::StringValue(s)) => Value::String(s.clone()),
            Some(Kind::NumberValue(n)) => serde_json::json!(n),
            Some(Kind::BoolValue(b)) => Value::Bool(*b),
            Some(Kind::ListValue(l)) => Value::Array(l.values.iter().map(json).collect()),
            Some(Kind::StructValue(s)) => {
                Value::Object(s.fields.iter().map(|(k, v)| (k.clone(), json(v))).collect())
            }
            Some(Kind::NullValue(_)) | None => Value::Null,
        }
    }
    json(r.body.as_ref().expect("a body"))
}

fn ids_in(v: &Value) -> Vec<String> {
    v["data"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn reason(st: &tonic::Status) -> String {
    st.get_error_details()
        .error_info()
        .map(|i| i.reason.clone())
        .unwrap_or_default()
}

fn violations(st: &tonic::Status) -> Vec<String> {
    st.get_error_details()
        .bad_request()
        .map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect())
        .unwrap_or_default()
}

/// Two callers: "all" (every business, write, every service, no
/// graph_paths) and "pages" (Acme, read, GET OWNED_PAGES only).
fn secured() -> Config {
    let mut cfg = Config::default();
    cfg.auth.pepper = Some(Secret::new(PEPPER));
    let caller = |name: &str, key: &str| CallerAuth {
        name: name.into(),
        key_sha256: vec![key_sha256(key)],
        cert_names: vec![],
        admin: false,
    };
    cfg.auth.callers = AuthCallers(vec![
        caller("all", ALL_KEY),
        caller("pages", PAGES_KEY),
        caller("writer", WRITER_KEY),
        caller("reader", READER_KEY),
    ]);
    cfg.policy = Policies(vec![
        PolicyRule {
            caller: "all".into(),
            businesses: vec!["*".into()],
            access: PolicyAccess::Write,
            ..PolicyRule::default()
        },
        PolicyRule {
            caller: "pages".into(),
            businesses: vec![ACME.into()],
            access: PolicyAccess::Read,
            graph_paths: vec![format!("GET {OWNED_PAGES}")],
            ..PolicyRule::default()
        },
        PolicyRule {
            caller: "writer".into(),
            businesses: vec![ACME.into()],
            access: PolicyAccess::Write,
            pages: vec![PAGE.into()],
            graph_paths: vec![format!("* {PAGE_USERS}"), format!("GET {OWNED_PAGES}")],
            ..PolicyRule::default()
        },
        PolicyRule {
            caller: "reader".into(),
            businesses: vec![ACME.into()],
            access: PolicyAccess::Read,
            graph_paths: vec![format!("* {PAGE_USERS}")],
            ..PolicyRule::default()
        },
    ]);
    cfg
}

#[tokio::test]
async fn denied_by_default_and_allowed_per_path_template() {
    let gw = TestGateway::sandbox_with(secured()).await;
    let sent = || gw.sb().request_count();

    // A caller every typed RPC is open to: the pass-through is not.
    let mut all = GraphPassthroughServiceClient::new(as_caller(&gw, ALL_KEY).await);
    PageServiceClient::new(as_caller(&gw, ALL_KEY).await)
        .list_owned_pages(ListOwnedPagesRequest {
            business_id: ACME.into(),
            ..Default::default()
        })
        .await
        .expect("typed RPCs are allowed");
    let before = sent();
    let st = all.call_graph(owned_pages()).await.unwrap_err();
    assert_eq!(st.code(), Code::PermissionDenied, "{st:?}");
    assert_eq!(reason(&st), "GRAPH_PATH_NOT_ALLOWED");
    let details = st.get_error_details();
    let info = details.error_info().unwrap();
    assert_eq!(info.metadata["caller"], "all");
    assert_eq!(info.metadata["graph_path"], format!("GET {OWNED_PAGES}"));
    assert!(st.message().contains("graph_paths"), "{}", st.message());
    assert_eq!(sent(), before, "a denied call reaches no Graph");

    // The template its grant lists: allowed.
    let mut pages = GraphPassthroughServiceClient::new(as_caller(&gw, PAGES_KEY).await);
    let ok = pages.call_graph(owned_pages()).await.unwrap().into_inner();
    assert_eq!(ok.graph_call, format!("GET /{ACME}/owned_pages"));
    assert!(!ok.cached);
    let got = body(&ok);
    assert!(ids_in(&got).contains(&"3000000001".to_string()), "{got}");
    assert_eq!(sent(), before + 1);

    // Only that method, that template as written, that business.
    let before = sent();
    let other_template = call(
        HttpMethod::Get,
        "/{business_id}/client_pages",
        &[("business_id", ACME)],
        &[],
    );
    let renamed = call(HttpMethod::Get, "/{id}/owned_pages", &[("id", ACME)], &[]);
    let mut post = owned_pages();
    post.method = HttpMethod::Post as i32;
    post.request_id = "post-owned-pages".into();
    let mut globex = owned_pages();
    globex.business_id = "1000000002".into();
    globex.ids.insert("business_id".into(), "1000000002".into());
    for (req, want) in [
        (other_template, "GRAPH_PATH_NOT_ALLOWED"),
        (renamed, "GRAPH_PATH_NOT_ALLOWED"),
        (post, "GRAPH_PATH_NOT_ALLOWED"),
        (globex, "BUSINESS_NOT_ALLOWED"),
    ] {
        let st = pages.call_graph(req).await.unwrap_err();
        assert_eq!(st.code(), Code::PermissionDenied, "{st:?}");
        assert_eq!(reason(&st), want, "{st:?}");
    }
    assert_eq!(sent(), before, "no refused call reached Graph");
}

#[tokio::test]
async fn grants_narrow_the_pass_through_by_asset_and_access() {
    let gw = TestGateway::sandbox_with(secured()).await;
    let users = |page: &str| {
        call(
            HttpMethod::Get,
            PAGE_USERS,
            &[("page_id", page)],
            &[("business", ACME)],
        )
    };
    let assign = |request_id: &str| {
        let mut r = call(
            HttpMethod::Post,
            PAGE_USERS,
            &[("page_id", PAGE)],
            &[("user", ALICE), ("tasks", r#"["ANALYZE"]"#)],
        );
        r.request_id = request_id.into();
        r
    };
    let mut writer = GraphPassthroughServiceClient::new(as_caller(&gw, WRITER_KEY).await);
    writer.call_graph(users(PAGE)).await.unwrap();
    let st = writer.call_graph(users("3000000001")).await.unwrap_err();
    assert_eq!(reason(&st), "ASSET_NOT_ALLOWED", "{st:?}");
    assert!(st.message().contains("3000000001"), "{}", st.message());
    // A path naming the business itself needs a business-wide grant.
    let st = writer.call_graph(owned_pages()).await.unwrap_err();
    assert_eq!(reason(&st), "BUSINESS_WIDE_REQUIRED", "{st:?}");
    writer.call_graph(assign("writer-assign-1")).await.unwrap();

    let mut reader = GraphPassthroughServiceClient::new(as_caller(&gw, READER_KEY).await);
    reader.call_graph(users("3000000001")).await.unwrap();
    let before = gw.sb().request_count();
    let mut req = tonic::Request::new(assign("reader-assign-1"));
    req.metadata_mut()
        .insert("x-request-id", "passthrough-refused-1".parse().unwrap());
    let st = reader.call_graph(req).await.unwrap_err();
    assert_eq!(st.code(), Code::PermissionDenied);
    assert_eq!(reason(&st), "READ_ONLY", "{st:?}");
    assert_eq!(gw.sb().request_count(), before);
    // The refused write is audited.
    let event = logs()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["target"] == "audit" && v["fields"]["request_id"] == "passthrough-refused-1")
        .expect("an audit record of the refusal")["fields"]
        .clone();
    assert_eq!(event["outcome"], "PERMISSION_DENIED");
    assert_eq!(event["reason"], "READ_ONLY");
    assert_eq!(event["caller"], "reader");
    assert_eq!(event["graph_call"], format!("POST {PAGE_USERS}"));
}

#[tokio::test]
async fn without_authentication_only_the_configured_paths_are_open() {
    let gw = TestGateway::sandbox().await;
    let mut c = GraphPassthroughServiceClient::new(gw.channel().await);
    let st = c.call_graph(owned_pages()).await.unwrap_err();
    assert_eq!(st.code(), Code::PermissionDenied);
    assert_eq!(reason(&st), "GRAPH_PATH_NOT_ALLOWED");
    assert!(
        st.message().contains("passthrough.paths"),
        "{}",
        st.message()
    );
    assert_eq!(gw.sb().request_count(), 0);

    let mut cfg = Config::default();
    cfg.passthrough.paths.0 = vec![format!("GET {OWNED_PAGES}")];
    let gw = TestGateway::sandbox_with(cfg).await;
    let mut c = GraphPassthroughServiceClient::new(gw.channel().await);
    let ok = c.call_graph(owned_pages()).await.unwrap().into_inner();
    assert!(!ids_in(&body(&ok)).is_empty());
    let st = c
        .call_graph(call(
            HttpMethod::Get,
            "/{business_id}/client_pages",
            &[("business_id", ACME)],
            &[],
        ))
        .await
        .unwrap_err();
    assert_eq!(reason(&st), "GRAPH_PATH_NOT_ALLOWED");
}

#[tokio::test]
async fn invalid_requests_are_refused_before_any_graph_call() {
    let mut cfg = Config::default();
    cfg.passthrough.paths.0 = vec![format!("* {PAGE_USERS}"), format!("GET {OWNED_PAGES}")];
    let gw = TestGateway::sandbox_with(cfg).await;
    let mut c = GraphPassthroughServiceClient::new(gw.channel().await);

    let mut no_method = owned_pages();
    no_method.method = 0;
    let mut bad_business = owned_pages();
    bad_business.business_id = "acme".into();
    let mut cached_write = call(
        HttpMethod::Post,
        PAGE_USERS,
        &[("page_id", PAGE)],
        &[("user", ALICE)],
    );
    cached_write.cache = true;
    cached_write.request_id = "cached-write".into();
    let cases: Vec<(CallGraphRequest, &str)> = vec![
        (no_method, "method"),
        (
            call(HttpMethod::Get, "/me/accounts", &[], &[]),
            "path_template",
        ),
        (
            call(HttpMethod::Get, "/{a}/access_tokens", &[("a", PAGE)], &[]),
            "path_template",
        ),
        (call(HttpMethod::Get, PAGE_USERS, &[], &[]), "ids[page_id]"),
        (
            call(HttpMethod::Get, PAGE_USERS, &[("page_id", "30000x")], &[]),
            "ids[page_id]",
        ),
        (
            call(
                HttpMethod::Get,
                PAGE_USERS,
                &[("page_id", PAGE), ("other", "1")],
                &[],
            ),
            "ids[other]",
        ),
        (
            call(
                HttpMethod::Get,
                PAGE_USERS,
                &[("page_id", PAGE)],
                &[("access_token", "EAAnothing")],
            ),
            "params[access_token]",
        ),
        (
            call(
                HttpMethod::Get,
                PAGE_USERS,
                &[("page_id", PAGE)],
                &[("method", "delete")],
            ),
            "params[method]",
        ),
        (
            call(
                HttpMethod::Get,
                "/{page_id}",
                &[("page_id", PAGE)],
                &[("fields", "name,access_token")],
            ),
            "params[fields]",
        ),
        (bad_business, "business_id"),
        (cached_write, "cache"),
        (
            call(
                HttpMethod::Delete,
                PAGE_USERS,
                &[("page_id", PAGE)],
                &[("user", ALICE)],
            ),
            "request_id",
        ),
    ];
    for (req, field) in cases {
        let st = c.call_graph(req).await.unwrap_err();
        assert_eq!(st.code(), Code::InvalidArgument, "{field}: {st:?}");
        assert!(
            violations(&st).contains(&field.to_string()),
            "{field}: {st:?}"
        );
    }
    assert_eq!(gw.sb().request_count(), 0, "nothing reached the sandbox");
}

#[tokio::test]
async fn an_answer_carrying_a_token_is_refused_and_paging_urls_are_dropped() {
    let value = "EAAPassthroughTokenValue7f3a9c2e1d0b";
    let vault_token = "tok-passthrough-vault-5c9e1a";
    let rec = Recorder::start(vec![
        (
            200,
            vec![],
            serde_json::json!({
                "data": [{"id": PAGE, "name": "Acme Shoes", "access_token": value}],
            })
            .to_string(),
        ),
        (
            200,
            vec![],
            serde_json::json!({
                "data": [{"id": PAGE, "name": "Acme Shoes"}],
                "paging": {
                    "cursors": {"before": "QVFI", "after": "QVFJ"},
                    "next": format!("https://graph.facebook.com/v26.0/{ACME}/owned_pages?access_token={vault_token}&after=QVFJ")
                }
            })
            .to_string(),
        ),
    ])
    .await;
    let vault = Arc::new(MemoryVault::new(vec![token("acme", ACME, vault_token)]));
    let mut cfg = Config::default();
    cfg.passthrough.paths.0 = vec![format!("GET {OWNED_PAGES}"), "GET /{page_id}".into()];
    cfg.graph.app_secret = Some(Secret::new("app-secret-passthrough-0123"));
    let gw = TestGateway::upstream(&rec.url, vault, cfg).await;
    let mut c = GraphPassthroughServiceClient::new(gw.channel().await);

    // Asked for up front: refused before Graph.
    let st = c
        .call_graph(call(
            HttpMethod::Get,
            "/{page_id}",
            &[("page_id", PAGE)],
            &[("fields", "id,access_token")],
        ))
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::InvalidArgument);
    assert!(rec.requests().is_empty());

    // Sent by Graph unasked: the whole answer is refused, naming the field.
    let st = c.call_graph(owned_pages()).await.unwrap_err();
    assert_eq!(st.code(), Code::PermissionDenied, "{st:?}");
    assert_eq!(reason(&st), "TOKEN_IN_RESPONSE");
    assert!(
        st.message().contains("data[0].access_token"),
        "{}",
        st.message()
    );
    let everything = format!("{st:?} {:?}", st.get_error_details());
    assert!(!everything.contains(value), "{everything}");
    assert!(!logs().contains(value), "the token value is in the log");

    // The call itself: the token in the header, appsecret_proof in the query.
    let seen = &rec.requests()[0];
    assert_eq!(
        seen.headers["authorization"].to_str().unwrap(),
        format!("Bearer {vault_token}")
    );
    assert!(seen.uri.contains("appsecret_proof="), "{}", seen.uri);
    assert!(!seen.uri.contains(vault_token), "{}", seen.uri);

    // Graph's paging URL carries the token: dropped, the cursors kept.
    let ok = c.call_graph(owned_pages()).await.unwrap().into_inner();
    let got = body(&ok);
    assert_eq!(got["paging"]["cursors"]["after"], "QVFJ");
    assert!(got["paging"].get("next").is_none(), "{got}");
    assert!(!format!("{ok:?}").contains(vault_token));
}

#[tokio::test]
async fn a_cached_read_is_made_stale_by_a_write_which_runs_once_and_is_audited() {
    let mut cfg = Config::default();
    cfg.passthrough.paths.0 = vec![format!("* {PAGE_USERS}")];
    let gw = TestGateway::sandbox_with(cfg).await;
    let mut c = GraphPassthroughServiceClient::new(gw.channel().await);
    let path = format!("/{PAGE}/assigned_users");
    let read = || {
        let mut r = call(
            HttpMethod::Get,
            PAGE_USERS,
            &[("page_id", PAGE)],
            &[("business", ACME)],
        );
        r.cache = true;
        r
    };

    let first = c.call_graph(read()).await.unwrap().into_inner();
    assert!(!first.cached);
    assert!(!ids_in(&body(&first)).contains(&ALICE.to_string()));
    let second = c.call_graph(read()).await.unwrap().into_inner();
    assert!(second.cached, "the second read is the cache's");
    assert_eq!(body(&second), body(&first));
    assert_eq!(
        gw.sb().requests_to(&path),
        1,
        "one Graph call for two reads"
    );

    // The write, with its request_id (and an x-request-id for the audit).
    let write = || {
        let mut r = call(
            HttpMethod::Post,
            PAGE_USERS,
            &[("page_id", PAGE)],
            &[("user", ALICE), ("tasks", r#"["ANALYZE"]"#)],
        );
        r.request_id = "assign-alice-1".into();
        let mut req = tonic::Request::new(r);
        req.metadata_mut()
            .insert("x-request-id", "passthrough-audit-1".parse().unwrap());
        req
    };
    let done = c.call_graph(write()).await.unwrap().into_inner();
    assert_eq!(done.graph_call, format!("POST {path}"));
    assert_eq!(body(&done)["success"], true, "{:?}", body(&done));
    assert_eq!(gw.sb().requests_to(&path), 2);
    // A repeat with the same request_id: the first outcome, no second call.
    let again = c.call_graph(write()).await.unwrap().into_inner();
    assert_eq!(body(&again), body(&done));
    assert_eq!(gw.sb().requests_to(&path), 2, "the repeat was not sent");

    // The cached read is stale now.
    let third = c.call_graph(read()).await.unwrap().into_inner();
    assert!(!third.cached);
    assert!(ids_in(&body(&third)).contains(&ALICE.to_string()));
    assert_eq!(gw.sb().requests_to(&path), 3);

    // The audit record: the call, its ids, the token's name, no values.
    // Written before the answer was sent: no waiting.
    let event = logs()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["target"] == "audit" && v["fields"]["request_id"] == "passthrough-audit-1");
    let event = event.expect("an audit record")["fields"].clone();
    assert_eq!(event["operation"], "PASSTHROUGH");
    assert_eq!(event["graph_call"], format!("POST {path}"));
    assert_eq!(event["business"], ACME);
    assert_eq!(event["outcome"], "OK");
    assert_eq!(event["token"], "sandbox-acme-admin");
    let objects: Value = serde_json::from_str(event["objects"].as_str().unwrap()).unwrap();
    assert_eq!(objects["path[0]"], PAGE);
    assert_eq!(objects["user"], ALICE);
    assert_eq!(objects["path_template"], PAGE_USERS);
}

async fn quota_used(ch: &Channel, kind: QuotaClass, id: &str, use_case: &str) -> f64 {
    let st = QuotaServiceClient::new(ch.clone())
        .get_quota_status(GetQuotaStatusRequest::default())
        .await
        .unwrap()
        .into_inner();
    st.keys
        .iter()
        .find(|k| k.kind == kind as i32 && k.id == id && k.use_case == use_case)
        .map(|k| k.used)
        .unwrap_or_else(|| panic!("no {kind:?} {id} {use_case} in {:#?}", st.keys))
}

#[tokio::test]
async fn pass_through_calls_and_typed_rpcs_draw_on_one_quota() {
    // Both count against the app and Acme's "pages" budget.
    let mut cfg = Config::default();
    cfg.cache.ttl_secs = 0;
    cfg.passthrough.paths.0 = vec![format!("GET {OWNED_PAGES}")];
    let gw = TestGateway::sandbox_with(cfg).await;
    let ch = gw.channel().await;
    PageServiceClient::new(ch.clone())
        .list_owned_pages(ListOwnedPagesRequest {
            business_id: ACME.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(quota_used(&ch, QuotaClass::App, "", "").await, 1.0);
    assert_eq!(
        quota_used(&ch, QuotaClass::BusinessUseCase, ACME, "pages").await,
        1.0
    );
    GraphPassthroughServiceClient::new(ch.clone())
        .call_graph(owned_pages())
        .await
        .unwrap();
    assert_eq!(quota_used(&ch, QuotaClass::App, "", "").await, 2.0);
    assert_eq!(
        quota_used(&ch, QuotaClass::BusinessUseCase, ACME, "pages").await,
        2.0,
        "the pass-through spent the typed RPC's budget"
    );

    // An act_ path counts against its ad account too (1 point for a read),
    // as the typed RPC of the same edge does.
    let mut cfg = Config::default();
    cfg.cache.ttl_secs = 0;
    cfg.passthrough.paths.0 = vec!["GET /act_{account}/assigned_users".into()];
    let gw = TestGateway::sandbox_with(cfg).await;
    let ch = gw.channel().await;
    let ok = GraphPassthroughServiceClient::new(ch.clone())
        .call_graph(call(
            HttpMethod::Get,
            "/act_{account}/assigned_users",
            &[("account", "act_2000000001")],
            &[("business", ACME)],
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ok.graph_call, "GET /act_2000000001/assigned_users");
    assert_eq!(
        quota_used(&ch, QuotaClass::AdAccount, "act_2000000001", "").await,
        1.0
    );
}

#[tokio::test]
async fn a_budget_a_typed_rpc_exhausted_holds_the_pass_through_too() {
    // Graph throttles Acme's "pages" budget (80001) on a typed call; the
    // pass-through call to a pages edge is then refused by the gateway
    // itself, with RetryInfo, and never sent; Graph's own errors map as for
    // typed RPCs.
    let usage = format!(
        r#"{{"{ACME}":[{{"type":"pages","call_count":100,"total_cputime":10,"total_time":10,"estimated_time_to_regain_access":2}}]}}"#
    );
    let rec = Recorder::start(vec![(
        400,
        vec![("x-business-use-case-usage", usage)],
        graph_error(80_001, None, "There have been too many calls to this Page"),
    )])
    .await;
    let vault = Arc::new(MemoryVault::new(vec![token("acme", ACME, "tok-held")]));
    let mut cfg = Config::default();
    cfg.cache.ttl_secs = 0;
    cfg.passthrough.paths.0 = vec![format!("GET {OWNED_PAGES}")];
    let gw = TestGateway::upstream(&rec.url, vault, cfg).await;
    let ch = gw.channel().await;
    let typed = PageServiceClient::new(ch.clone())
        .list_owned_pages(ListOwnedPagesRequest {
            business_id: ACME.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(typed.code(), Code::ResourceExhausted);
    assert_eq!(reason(&typed), "GRAPH_THROTTLED");
    assert_eq!(rec.requests().len(), 1);

    let mut req = tonic::Request::new(owned_pages());
    req.set_timeout(Duration::from_secs(2));
    let st = GraphPassthroughServiceClient::new(ch.clone())
        .call_graph(req)
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::ResourceExhausted, "{st:?}");
    let details = st.get_error_details();
    assert_eq!(details.error_info().unwrap().reason, "QUOTA_EXHAUSTED");
    assert_eq!(
        details.error_info().unwrap().metadata["quota_key"],
        format!("business {ACME} pages")
    );
    assert!(details.retry_info().is_some());
    assert_eq!(rec.requests().len(), 1, "the held budget sent nothing more");
}

#[tokio::test]
async fn graph_errors_map_as_for_typed_rpcs() {
    let rec = Recorder::start(vec![(
        400,
        vec![],
        graph_error(100, Some(33), "Unsupported get request"),
    )])
    .await;
    let vault = Arc::new(MemoryVault::new(vec![token("acme", ACME, "tok-errors")]));
    let mut cfg = Config::default();
    cfg.passthrough.paths.0 = vec![format!("GET {OWNED_PAGES}")];
    let gw = TestGateway::upstream(&rec.url, vault, cfg).await;
    let ch = gw.channel().await;
    let typed = PageServiceClient::new(ch.clone())
        .list_owned_pages(ListOwnedPagesRequest {
            business_id: ACME.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    let passed = GraphPassthroughServiceClient::new(ch)
        .call_graph(owned_pages())
        .await
        .unwrap_err();
    assert_eq!(passed.code(), typed.code());
    assert_eq!(passed.message(), typed.message());
    let (a, b) = (typed.get_error_details(), passed.get_error_details());
    let (ta, tb) = (a.error_info().unwrap(), b.error_info().unwrap());
    assert_eq!(
        (&ta.reason, &ta.domain, &ta.metadata),
        (&tb.reason, &tb.domain, &tb.metadata)
    );
    let info = tb;
    assert_eq!(info.metadata["code"], "100");
    assert_eq!(info.metadata["subcode"], "33");
    assert_eq!(info.metadata["fbtrace_id"], "TraceAbc123");
}

#[tokio::test]
async fn a_write_whose_answer_is_lost_is_never_sent_again() {
    // Graph received the POST and answered nothing usable: in doubt.
    let rec = Recorder::start(vec![(502, vec![], "<html>bad gateway</html>".into())]).await;
    let vault = Arc::new(MemoryVault::new(vec![token("acme", ACME, "tok-doubt")]));
    let mut cfg = Config::default();
    cfg.passthrough.paths.0 = vec![format!("POST {PAGE_USERS}")];
    let gw = TestGateway::upstream(&rec.url, vault, cfg).await;
    let mut c = GraphPassthroughServiceClient::new(gw.channel().await);
    let write = || {
        let mut r = call(
            HttpMethod::Post,
            PAGE_USERS,
            &[("page_id", PAGE)],
            &[("user", ALICE), ("tasks", r#"["ANALYZE"]"#)],
        );
        r.request_id = "lost-answer-1".into();
        r
    };
    for _ in 0..2 {
        let st = c.call_graph(write()).await.unwrap_err();
        assert_eq!(st.code(), Code::Unavailable, "{st:?}");
        assert_eq!(reason(&st), "MUTATION_OUTCOME_UNKNOWN");
    }
    assert_eq!(rec.requests().len(), 1, "sent once, never again");
}
