//! Unit tests of the sandbox, driving the axum router like an HTTP client.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::body::Body;
use axum::http::{HeaderMap, Request};
use serde_json::{json, Value};
use tonic::codegen::Service as _;

use super::*;

const ACME_ADMIN: &str = "sandbox-token-acme-admin";
const GLOBEX_ADMIN: &str = "sandbox-token-globex-admin";
const INITECH_ADMIN: &str = "sandbox-token-initech-admin";
const ACME_EMPLOYEE: &str = "sandbox-token-acme-employee";
const CAROL: &str = "sandbox-token-carol";
const ERIN: &str = "sandbox-token-erin";

const ACME: &str = "1000000001";
const GLOBEX: &str = "1000000002";

/// One answer.
struct Resp {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

impl Resp {
    /// The body of a 200 answer.
    fn ok(&self) -> &Value {
        assert_eq!(self.status, 200, "expected success, got {}", self.body);
        &self.body
    }

    /// `(code, subcode)` of an error answer.
    fn err(&self) -> (u64, Option<u64>) {
        assert!(self.status >= 400, "expected an error, got {}", self.body);
        let e = &self.body["error"];
        (
            e["code"].as_u64().unwrap_or_default(),
            e["error_subcode"].as_u64(),
        )
    }

    fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or_default()
    }

    /// Ids of a list answer's `data`.
    fn ids(&self) -> Vec<String> {
        self.ok()["data"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|i| i["id"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Ids of the asset inside each request object of a pending_* list
    /// (`ad_account`, `page` or `application`).
    fn asset_ids(&self, field: &str) -> Vec<String> {
        self.ok()["data"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|i| i[field]["id"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Sends one request through the router.
async fn send(
    sb: &Sandbox,
    method: &str,
    uri: &str,
    token: Option<&str>,
    form: &[(&str, &str)],
) -> Resp {
    let mut builder = Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "sandbox.test");
    if let Some(token) = token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    let body = if form.is_empty() {
        Body::empty()
    } else {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in form {
            ser.append_pair(k, v);
        }
        builder = builder.header("content-type", "application/x-www-form-urlencoded");
        Body::from(ser.finish())
    };
    let request = builder.body(body).expect("request");
    let response = sb.router().call(request).await.expect("infallible");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    let body = serde_json::from_slice(&bytes).expect("json body");
    Resp {
        status,
        headers,
        body,
    }
}

async fn get(sb: &Sandbox, token: &str, path: &str) -> Resp {
    send(sb, "GET", &format!("/v26.0{path}"), Some(token), &[]).await
}

async fn post(sb: &Sandbox, token: &str, path: &str, form: &[(&str, &str)]) -> Resp {
    send(sb, "POST", &format!("/v26.0{path}"), Some(token), form).await
}

async fn delete(sb: &Sandbox, token: &str, path: &str) -> Resp {
    send(sb, "DELETE", &format!("/v26.0{path}"), Some(token), &[]).await
}

/// The seed's edge-context fields the sandbox serves (tasks, permitted
/// tasks, access status and type, group roles, business permissions,
/// audiences of a sharing request): Meta's spec lacks them on the return
/// types, so they are served only where `graph-exceptions.tsv` has a
/// `field` row for the operation (the main engineer adds the rows the
/// gateway needs). These tests exercise the rules through those fields, so
/// they add such rows for every operation.
const EDGE_CONTEXT_FIELDS: &[&str] = &[
    "access_status",
    "access_type",
    "permitted_tasks",
    "tasks",
    "page_roles",
    "adaccount_roles",
    "pixel_roles",
    "offline_conversion_data_set_roles",
    "page_permissions",
    "adaccount_permissions",
    "custom_audiences",
    "username",
];

/// The demo sandbox with `field` exception rows for the edge-context fields
/// on every catalogue operation.
fn demo() -> Sandbox {
    let sb = Sandbox::demo();
    let ops = include_str!("../../tests/data/graph-routes.tsv");
    let mut rows = String::new();
    for op in ops
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("op\t"))
        .filter_map(|l| l.split('\t').next())
    {
        for field in EDGE_CONTEXT_FIELDS {
            rows.push_str(&format!("{op}\tfield\t{field}\tsandbox test\n"));
        }
    }
    sb.add_exceptions(&rows);
    sb
}

// --- identity, auth, wire --------------------------------------------------

#[tokio::test]
async fn me_answers_the_tokens_user() {
    let sb = demo();
    let r = get(&sb, ACME_ADMIN, "/me").await;
    assert_eq!(
        r.ok(),
        &json!({"id": "10101", "name": "Acme Admin System User"})
    );
    let r = get(&sb, CAROL, "/me?fields=id").await;
    assert_eq!(r.ok(), &json!({"id": "10003"}));
}

#[tokio::test]
async fn missing_or_unknown_token_is_code_190() {
    let sb = demo();
    let r = send(&sb, "GET", "/v26.0/me", None, &[]).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.err(), (190, None));
    assert_eq!(r.message(), "Invalid OAuth access token.");
    assert_eq!(r.body["error"]["type"], "OAuthException");
    assert!(r.body["error"]["fbtrace_id"]
        .as_str()
        .is_some_and(|t| !t.is_empty()));
    assert_eq!(r.body["error"]["is_transient"], false);
    assert!(r.header("www-authenticate").is_some());
    let r = get(&sb, "not-a-token", "/me").await;
    assert_eq!(r.err(), (190, None));
}

#[tokio::test]
async fn access_token_parameter_is_accepted() {
    let sb = demo();
    let r = send(
        &sb,
        "GET",
        "/v26.0/me?access_token=sandbox-token-erin",
        None,
        &[],
    )
    .await;
    assert_eq!(r.ok()["id"], "10005");
    let r = send(
        &sb,
        "POST",
        "/v19.0/me",
        None,
        &[("access_token", ERIN), ("method", "get")],
    )
    .await;
    assert_eq!(r.ok()["id"], "10005");
    // Unversioned paths work too, as on Graph.
    let r = send(&sb, "GET", "/me", Some(ERIN), &[]).await;
    assert_eq!(r.ok()["id"], "10005");
}

#[tokio::test]
async fn expired_token_is_code_190_subcode_463() {
    let sb = demo();
    assert!(sb.expire_token("sandbox-erin"));
    assert!(!sb.expire_token("no-such-token"));
    let r = get(&sb, ERIN, "/me").await;
    assert_eq!(r.err(), (190, Some(463)));
}

fn proof(secret: &str, token: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(token.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

#[tokio::test]
async fn appsecret_proof_is_enforced_when_configured() {
    let sb = Sandbox::demo().with_app_secret(Secret::new("app-secret"));
    let r = get(&sb, ACME_ADMIN, "/me").await;
    assert_eq!(r.err().0, 100);
    assert!(r.message().contains("appsecret_proof"), "{}", r.message());
    let r = get(&sb, ACME_ADMIN, "/me?appsecret_proof=00ff").await;
    assert_eq!(r.err(), (100, None));
    assert_eq!(
        r.message(),
        "Invalid appsecret_proof provided in the API argument"
    );
    let wrong = proof("other-secret", ACME_ADMIN);
    let r = get(&sb, ACME_ADMIN, &format!("/me?appsecret_proof={wrong}")).await;
    assert_eq!(
        r.message(),
        "Invalid appsecret_proof provided in the API argument"
    );
    let good = proof("app-secret", ACME_ADMIN);
    let r = get(&sb, ACME_ADMIN, &format!("/me?appsecret_proof={good}")).await;
    assert_eq!(r.ok()["id"], "10101");
    // In a POST body too.
    let r = post(
        &sb,
        ACME_ADMIN,
        "/9000000002",
        &[("name", "Renamed"), ("appsecret_proof", &good)],
    )
    .await;
    assert_eq!(r.ok(), &json!({"success": true}));
    // A proof made for another token does not pass.
    let r = get(&sb, ERIN, &format!("/me?appsecret_proof={good}")).await;
    assert_eq!(r.err(), (100, None));
}

#[tokio::test]
async fn unknown_objects_edges_and_methods() {
    let sb = demo();
    let r = get(&sb, ACME_ADMIN, "/999999").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.err(), (100, Some(33)));
    assert!(r
        .message()
        .starts_with("Unsupported get request. Object with ID '999999' does not exist"));
    assert_eq!(r.body["error"]["type"], "GraphMethodException");
    // Ad accounts only answer as act_N.
    assert_eq!(
        get(&sb, ACME_ADMIN, "/2000000001").await.err(),
        (100, Some(33))
    );
    assert_eq!(
        get(&sb, ACME_ADMIN, "/act_999").await.err(),
        (100, Some(33))
    );
    let r = get(&sb, ACME_ADMIN, &format!("/{ACME}/no_such_edge")).await;
    assert_eq!(r.err(), (2500, None));
    assert_eq!(r.message(), "Unknown path components: /no_such_edge");
    let r = delete(&sb, ACME_ADMIN, &format!("/{ACME}/owned_pages")).await;
    assert_eq!(r.err(), (100, Some(33)));
    assert!(r.message().starts_with("Unsupported delete request"));
    assert_eq!(get(&sb, ACME_ADMIN, "/somealias").await.err(), (803, None));
}

#[tokio::test]
async fn fields_are_honoured() {
    let sb = demo();
    // Without fields: id and name.
    let r = get(&sb, ACME_ADMIN, &format!("/{ACME}/owned_pages")).await;
    assert_eq!(
        r.ok()["data"][0],
        json!({"id": "3000000001", "name": "Acme Retail"})
    );
    // Only the requested fields, nested selection honoured.
    let r = get(
        &sb,
        ACME_ADMIN,
        &format!("/{ACME}/owned_ad_accounts?fields=id,access_type,business%7Bname%7D"),
    )
    .await;
    assert_eq!(
        r.ok()["data"][0],
        json!({"id": "act_2000000001", "access_type": "OWNER", "business": {"name": "Acme Retail"}})
    );
    // A nested object without a selection shows its defaults.
    let r = get(
        &sb,
        ACME_ADMIN,
        "/act_2000000001?fields=business,currency,timezone_id,account_id",
    )
    .await;
    assert_eq!(
        r.ok(),
        &json!({"business": {"id": ACME, "name": "Acme Retail"}, "currency": "USD", "timezone_id": 1, "account_id": "2000000001"})
    );
    // Known fields that do not apply are omitted (no access fields on a node read).
    let r = get(&sb, ACME_ADMIN, "/3000000001?fields=id,access_status").await;
    assert_eq!(r.ok(), &json!({"id": "3000000001"}));
    // Unknown fields are Graph's error 100.
    let r = get(
        &sb,
        ACME_ADMIN,
        &format!("/{ACME}/owned_pages?fields=id,xyz"),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.err(), (100, None));
    assert_eq!(
        r.message(),
        "(#100) Tried accessing nonexisting field (xyz) on node type (Page)"
    );
    let r = get(&sb, ACME_ADMIN, "/act_2000000001?fields=business{id,foo}").await;
    assert_eq!(
        r.message(),
        "(#100) Tried accessing nonexisting field (foo) on node type (Business)"
    );
    // Even on an empty list.
    let r = get(
        &sb,
        ACME_ADMIN,
        &format!("/{ACME}/client_pixels?fields=nope"),
    )
    .await;
    assert_eq!(
        r.message(),
        "(#100) Tried accessing nonexisting field (nope) on node type (AdsPixel)"
    );
}

#[tokio::test]
async fn lists_page_with_cursors_and_never_leak_the_token() {
    let sb = demo();
    let first = send(
        &sb,
        "GET",
        &format!("/v26.0/{ACME}/owned_pages?limit=2&fields=id&access_token={ACME_ADMIN}"),
        None,
        &[],
    )
    .await;
    assert_eq!(first.ids(), vec!["3000000001", "3000000002"]);
    let next = first.ok()["paging"]["next"]
        .as_str()
        .expect("next")
        .to_string();
    assert!(!next.contains(ACME_ADMIN), "{next}");
    assert!(!next.contains("access_token"), "{next}");
    assert!(
        next.starts_with(&format!("http://sandbox.test/v26.0/{ACME}/owned_pages?")),
        "{next}"
    );
    assert!(
        next.contains("fields=id") && next.contains("limit=2"),
        "{next}"
    );
    let after = first.ok()["paging"]["cursors"]["after"]
        .as_str()
        .expect("after")
        .to_string();
    let second = get(
        &sb,
        ACME_ADMIN,
        &format!("/{ACME}/owned_pages?limit=2&fields=id&after={after}"),
    )
    .await;
    assert_eq!(second.ids(), vec!["3000000008"]);
    assert!(second.ok()["paging"].get("next").is_none());
    assert!(second.ok()["paging"]["previous"].is_string());
    // Following `next` as given (plus the bearer token) gives the same page.
    let path = next.trim_start_matches("http://sandbox.test");
    let followed = send(&sb, "GET", path, Some(ACME_ADMIN), &[]).await;
    assert_eq!(followed.ids(), vec!["3000000008"]);
    // Default limit is 25: everything fits, no next.
    let all = get(&sb, ACME_ADMIN, &format!("/{ACME}/owned_pages")).await;
    assert_eq!(all.ids().len(), 3);
    assert!(all.ok()["paging"].get("next").is_none());
    // Empty lists have no paging.
    let empty = get(&sb, ACME_ADMIN, &format!("/{ACME}/client_pixels")).await;
    assert_eq!(empty.ok(), &json!({"data": []}));
    let bad = get(
        &sb,
        ACME_ADMIN,
        &format!("/{ACME}/owned_pages?after=garbage"),
    )
    .await;
    assert_eq!(bad.err(), (100, None));
}

#[tokio::test(start_paused = true)]
async fn usage_headers_are_on_every_answer() {
    let sb = Sandbox::demo().with_scoring(ScoringConfig {
        app_calls: 10,
        buc_calls: 4,
        max_points: 2,
        ..ScoringConfig::development()
    });
    let r = get(&sb, ACME_ADMIN, "/me").await;
    let app: Value =
        serde_json::from_str(r.header("x-app-usage").expect("app usage")).expect("json");
    assert_eq!(
        app,
        json!({"call_count": 10, "total_cputime": 10, "total_time": 10})
    );
    assert!(r.header("x-business-use-case-usage").is_none());
    let r = get(&sb, ACME_ADMIN, &format!("/{ACME}/owned_pages")).await;
    let buc: Value =
        serde_json::from_str(r.header("x-business-use-case-usage").expect("buc")).expect("json");
    assert_eq!(buc[ACME][0]["type"], "pages");
    assert_eq!(buc[ACME][0]["call_count"], 25);
    assert_eq!(buc[ACME][0]["estimated_time_to_regain_access"], 0);
    let r = get(&sb, ACME_ADMIN, "/act_2000000001/assigned_users").await;
    let acc: Value =
        serde_json::from_str(r.header("x-ad-account-usage").expect("ad account usage"))
            .expect("json");
    assert_eq!(acc["acc_id_util_pct"], 50.0);
    assert_eq!(acc["reset_time_duration"], 300);
    assert_eq!(acc["ads_api_access_tier"], "development_access");
    let buc: Value =
        serde_json::from_str(r.header("x-business-use-case-usage").expect("buc")).expect("json");
    assert_eq!(buc[ACME][0]["type"], "ads_management");
    // Errors carry them too.
    let r = get(&sb, "bad", "/me").await;
    assert!(r.header("x-app-usage").is_some());
}

#[tokio::test]
async fn list_parameters_accept_json_quoted_and_comma_forms() {
    let sb = demo();
    for tasks in [
        r#"["ANALYZE","ADVERTISE"]"#,
        "['ANALYZE', 'ADVERTISE']",
        "ANALYZE,ADVERTISE",
    ] {
        let r = post(
            &sb,
            ACME_ADMIN,
            "/act_2000000002/assigned_users",
            &[("user", "10002"), ("tasks", tasks)],
        )
        .await;
        assert_eq!(r.ok(), &json!({"success": true}), "{tasks}");
        let users = get(
            &sb,
            ACME_ADMIN,
            &format!("/act_2000000002/assigned_users?business={ACME}&fields=id,tasks"),
        )
        .await;
        let bob = users.ok()["data"]
            .as_array()
            .and_then(|d| d.iter().find(|u| u["id"] == "10002").cloned())
            .expect("bob");
        assert_eq!(bob["tasks"], json!(["ADVERTISE", "ANALYZE"]));
    }
    let r = post(
        &sb,
        ACME_ADMIN,
        "/act_2000000002/assigned_users",
        &[("user", "10002"), ("tasks", "[\"A\"")],
    )
    .await;
    assert_eq!(r.err().0, 100);
}

#[tokio::test]
async fn multipart_and_json_bodies_are_read() {
    let sb = demo();
    let boundary = "XyZ";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nMultipart Name\r\n--{boundary}--\r\n"
    );
    let request = Request::builder()
        .method("POST")
        .uri("/v26.0/9000000002")
        .header("authorization", format!("Bearer {ACME_ADMIN}"))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(Body::from(body))
        .expect("request");
    let response = sb.router().call(request).await.expect("infallible");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        get(&sb, ACME_ADMIN, "/9000000002").await.ok()["name"],
        "Multipart Name"
    );
    let request = Request::builder()
        .method("POST")
        .uri("/v26.0/9000000002")
        .header("authorization", format!("Bearer {ACME_ADMIN}"))
        .header("content-type", "application/json")
        .body(Body::from(r#"{"name":"Json Name"}"#))
        .expect("request");
    let response = sb.router().call(request).await.expect("infallible");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        get(&sb, ACME_ADMIN, "/9000000002").await.ok()["name"],
        "Json Name"
    );
}

// --- permissions -------------------------------------------------------------

#[tokio::test]
async fn callers_without_access_get_code_200() {
    let sb = demo();
    let r = get(&sb, GLOBEX_ADMIN, &format!("/{ACME}/owned_pages")).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.err(), (200, None));
    assert!(r.message().starts_with("(#200)"));
    // Employees read but do not change.
    assert_eq!(
        get(&sb, ACME_EMPLOYEE, &format!("/{ACME}/owned_pages"))
            .await
            .status,
        200
    );
    let r = post(
        &sb,
        ACME_EMPLOYEE,
        &format!("/{ACME}/owned_ad_accounts"),
        &[("adaccount_id", "act_2000000005")],
    )
    .await;
    assert_eq!(r.err(), (200, None));
    // Assets of others.
    assert_eq!(get(&sb, ERIN, "/act_2000000001").await.err(), (200, None));
    assert_eq!(
        get(&sb, ERIN, "/act_2000000004?fields=id").await.ok(),
        &json!({"id": "act_2000000004"})
    );
    // Another business's asset group.
    assert_eq!(
        get(&sb, GLOBEX_ADMIN, "/9000000001").await.err(),
        (200, None)
    );
}

// --- ad accounts -------------------------------------------------------------

#[tokio::test]
async fn aa01_claim_is_confirmed_for_an_ad_account_admin() {
    let sb = demo();
    let r = post(
        &sb,
        ACME_ADMIN,
        &format!("/{ACME}/owned_ad_accounts"),
        &[("adaccount_id", "act_2000000005")],
    )
    .await;
    assert_eq!(r.ok(), &json!({"access_status": "CONFIRMED"}));
    let owned = get(&sb, ACME_ADMIN, &format!("/{ACME}/owned_ad_accounts")).await;
    assert!(owned.ids().contains(&"act_2000000005".to_string()));
}

#[tokio::test]
async fn aa01_claim_is_pending_otherwise_and_listed_as_pending() {
    let sb = demo();
    let r = post(
        &sb,
        ACME_ADMIN,
        &format!("/{ACME}/owned_ad_accounts"),
        &[("adaccount_id", "act_2000000004")],
    )
    .await;
    assert_eq!(r.ok(), &json!({"access_status": "PENDING"}));
    let pending = get(
        &sb,
        ACME_ADMIN,
        &format!(
            "/{ACME}/pending_owned_ad_accounts?fields=id,ad_account{{id,access_status,access_type}}"
        ),
    )
    .await;
    // Meta's spec: the items are BusinessAdAccountRequest {id, ad_account}.
    assert_eq!(
        pending.asset_ids("ad_account"),
        vec!["act_2000000003", "act_2000000004"]
    );
    assert_eq!(
        pending.ok()["data"][1]["ad_account"]["access_status"],
        "PENDING"
    );
    let owned = get(&sb, ACME_ADMIN, &format!("/{ACME}/owned_ad_accounts")).await;
    assert!(!owned.ids().contains(&"act_2000000004".to_string()));
    // An account another business owns cannot be claimed.
    let r = post(
        &sb,
        ACME_ADMIN,
        &format!("/{ACME}/owned_ad_accounts"),
        &[("adaccount_id", "act_2000000006")],
    )
    .await;
    assert_eq!(
        r.err(),
        (100, Some(u64::from(wire::subcode::OWNED_ELSEWHERE)))
    );
    let r = post(
        &sb,
        ACME_ADMIN,
        &format!("/{ACME}/owned_ad_accounts"),
        &[("adaccount_id", "act_42")],
    )
    .await;
    assert_eq!(r.err(), (100, None));
    let r = post(&sb, ACME_ADMIN, &format!("/{ACME}/owned_ad_accounts"), &[]).await;
    assert_eq!(r.message(), "(#100) The parameter adaccount_id is required");
}

#[tokio::test]
async fn aa02_creates_a_new_ad_account_each_time() {
    let sb = demo();
    let form = [
        ("name", "New Account"),
        ("currency", "USD"),
        ("timezone_id", "1"),
        ("end_advertiser", ACME),
        ("media_agency", "NONE"),
        ("partner", "NONE"),
    ];
    let first = post(&sb, ACME_ADMIN, &format!("/{ACME}/adaccount"), &form).await;
    assert_eq!(
        first.ok(),
        &json!({
            "id": "act_2000000101",
            "account_id": "2000000101",
            "business_id": ACME,
            "end_advertiser_id": ACME,
            "media_agency_id": "NONE",
            "partner_id": "NONE",
        })
    );
    let second = post(&sb, ACME_ADMIN, &format!("/{ACME}/adaccount"), &form).await;
    assert_eq!(second.ok()["id"], "act_2000000102");
    let r = get(
        &sb,
        ACME_ADMIN,
        "/act_2000000102?fields=name,currency,business{id}",
    )
    .await;
    assert_eq!(
        r.ok(),
        &json!({"name": "New Account", "currency": "USD", "business": {"id": ACME}})
    );
    let owned = get(&sb, ACME_ADMIN, &format!("/{ACME}/owned_ad_accounts")).await;
    assert!(owned.ids().contains(&"act_2000000101".to_string()));
    for missing in [
        "name",
        "currency",
        "timezone_id",
        "end_advertiser",
        "media_agency",
        "partner",
    ] {
        let partial: Vec<(&str, &str)> = form
            .iter()
            .copied()
            .filter(|(k, _)| *k != missing)
            .collect();
        let r = post(&sb, ACME_ADMIN, &format!("/{ACME}/adaccount"), &partial).await;
        assert_eq!(
            r.message(),
            format!("(#100) The parameter {missing} is required")
        );
    }
    let r = post(&sb, ACME_EMPLOYEE, &format!("/{ACME}/adaccount"), &form).await;
    assert_eq!(r.err(), (200, None));
    let mut bad = form;
    bad[2] = ("timezone_id", "Europe/Paris");
    assert_eq!(
        post(&sb, ACME_ADMIN, &format!("/{ACME}/adaccount"), &bad)
            .await
            .err(),
        (100, None)
    );
}

#[tokio::test]
async fn aa03_aa10_aa11_show_relationship_fields() {
    let sb = demo();
    let r = get(
        &sb,
        ACME_ADMIN,
        &format!("/{ACME}/owned_ad_accounts?fields=id,access_type,access_status,permitted_tasks"),
    )
    .await;
    assert_eq!(
        r.ok()["data"][0],
        json!({"id": "act_2000000001", "access_type": "OWNER", "access_status": "CONFIRMED", "permitted_tasks": ["MANAGE", "ADVERTISE", "ANALYZE"]})
    );
    let r = get(
        &sb,
        GLOBEX_ADMIN,
        &format!("/{GLOBEX}/client_ad_accounts?fields=id,access_type,permitted_tasks"),
    )
    .await;
    assert_eq!(
        r.ok()["data"],
        json!([{"id": "act_2000000001", "access_type": "AGENCY", "permitted_tasks": ["ADVERTISE", "ANALYZE"]}])
    );
    let r = get(
        &sb,
        GLOBEX_ADMIN,
        &format!("/{GLOBEX}/pending_client_ad_accounts"),
    )
    .await;
    assert_eq!(r.asset_ids("ad_account"), vec!["act_2000000006"]);
}

#[tokio::test]
async fn aa05_refuses_owned_confirmed_and_allows_pending_or_agency() {
    let sb = demo();
    let r = delete(
        &sb,
        ACME_ADMIN,
        &format!("/{ACME}/ad_accounts?adaccount_id=act_2000000001"),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.err(),
        (100, Some(u64::from(wire::subcode::OWNED_AND_CONFIRMED)))
    );
    assert!(r.message().contains(
        "You cannot remove an ad account your business owns and has confirmed access to"
    ));
    let r = delete(
        &sb,
        ACME_ADMIN,
        &format!("/{ACME}/ad_accounts?adaccount_id=act_2000000003"),
    )
    .await;
    assert_eq!(r.ok(), &json!({"success": true}));
    assert!(get(
        &sb,
        ACME_ADMIN,
        &format!("/{ACME}/pending_owned_ad_accounts")
    )
    .await
    .asset_ids("ad_account")
    .is_empty());
    let r = delete(
        &sb,
        GLOBEX_ADMIN,
        &format!("/{GLOBEX}/ad_accounts?adaccount_id=act_2000000001"),
    )
    .await;
    assert_eq!(r.ok(), &json!({"success": true}));
    assert!(
        get(&sb, GLOBEX_ADMIN, &format!("/{GLOBEX}/client_ad_accounts"))
            .await
            .ids()
            .is_empty()
    );
    // The agency's people and group containment went with it.
    let r = get(&sb, GLOBEX_ADMIN, "/9000000003/contained_adaccounts").await;
    assert!(r.ids().is_empty());
    let r = delete(
        &sb,
        GLOBEX_ADMIN,
        &format!("/{GLOBEX}/ad_accounts?adaccount_id=act_2000000001"),
    )
    .await;
    assert_eq!(
        r.err(),
        (100, Some(u64::from(wire::subcode::NOT_IN_BUSINESS)))
    );
}

#[tokio::test]
async fn aa06_aa07_show_direct_and_group_tasks() {
    let sb = demo();
    let r = get(
        &sb,
        ACME_ADMIN,
        "/act_2000000002/assigned_users?business=1000000001&fields=id,name,tasks",
    )
    .await;
    assert_eq!(
        r.ok()["data"],
        json!([
            {"id": "10002", "name": "Bob Employee", "tasks": ["ANALYZE"]},
            {"id": "10003", "name": "Carol Analyst", "tasks": ["ADVERTISE", "ANALYZE"]},
        ])
    );
    let r = get(
        &sb,
        ACME_ADMIN,
        "/10003/assigned_ad_accounts?fields=id,tasks",
    )
    .await;
    assert_eq!(
        r.ok()["data"],
        json!([{"id": "act_2000000002", "tasks": ["ADVERTISE", "ANALYZE"]}])
    );
    let r = get(&sb, CAROL, "/me/assigned_pages?fields=id,tasks").await;
    assert_eq!(
        r.ok()["data"],
        json!([{"id": "3000000001", "tasks": ["ADVERTISE", "ANALYZE"]}])
    );
    // A user of another business is not visible.
    assert_eq!(
        get(&sb, GLOBEX_ADMIN, "/10003/assigned_ad_accounts")
            .await
            .err(),
        (200, None)
    );
}

#[tokio::test]
async fn aa08_aa09_fail_when_the_permission_comes_from_an_asset_group() {
    let sb = demo();
    let r = post(
        &sb,
        ACME_ADMIN,
        "/act_2000000002/assigned_users",
        &[("user", "10003"), ("tasks", r#"["ANALYZE"]"#)],
    )
    .await;
    assert_eq!(
        r.err(),
        (100, Some(u64::from(wire::subcode::FROM_ASSET_GROUP)))
    );
    assert!(
        r.message().contains("business asset group 9000000001"),
        "{}",
        r.message()
    );
    assert!(
        r.message().contains("must be changed there"),
        "{}",
        r.message()
    );
    let r = delete(&sb, ACME_ADMIN, "/act_2000000002/assigned_users?user=10003").await;
    assert_eq!(
        r.err(),
        (100, Some(u64::from(wire::subcode::FROM_ASSET_GROUP)))
    );
    // The seed's procedure: remove the user from the group, then change it.
    // Meta's spec puts `contained_asset_id` on the user's groups (AG05), not
    // on the business's (AG01).
    let groups = get(
        &sb,
        ACME_ADMIN,
        "/10003/assigned_business_asset_groups?contained_asset_id=act_2000000002",
    )
    .await;
    assert_eq!(groups.ids(), vec!["9000000001"]);
    let r = get(
        &sb,
        ACME_ADMIN,
        &format!("/{ACME}/business_asset_groups?contained_asset_id=act_2000000002"),
    )
    .await;
    assert_eq!(r.err(), (100, None));
    assert_eq!(
        r.message(),
        "(#100) Param contained_asset_id is not a valid parameter"
    );
    // AG08 takes `user` only.
    let r = delete(
        &sb,
        ACME_ADMIN,
        &format!("/9000000001/assigned_users?business={ACME}&user=10003"),
    )
    .await;
    assert_eq!(
        r.message(),
        "(#100) Param business is not a valid parameter"
    );
    let r = delete(&sb, ACME_ADMIN, "/9000000001/assigned_users?user=10003").await;
    assert_eq!(r.ok(), &json!({"success": true}));
    let r = post(
        &sb,
        ACME_ADMIN,
        "/act_2000000002/assigned_users",
        &[("user", "10003"), ("tasks", r#"["ANALYZE"]"#)],
    )
    .await;
    assert_eq!(r.ok(), &json!({"success": true}));
    let r = delete(&sb, ACME_ADMIN, "/act_2000000002/assigned_users?user=10003").await;
    assert_eq!(r.ok(), &json!({"success": true}));
    let r = get(
        &sb,
        ACME_ADMIN,
        &format!("/act_2000000002/assigned_users?business={ACME}"),
    )
    .await;
    assert_eq!(r.ids(), vec!["10002"]);
}

#[tokio::test]
async fn aa08_validates_tasks_users_and_permitted_tasks() {
    let sb = demo();
    let path = "/act_2000000001/assigned_users";
    let r = post(
        &sb,
        ACME_ADMIN,
        path,
        &[("user", "10002"), ("tasks", r#"["CREATE_CONTENT"]"#)],
    )
    .await;
    assert_eq!(r.err(), (100, None));
    assert!(r.message().contains("CREATE_CONTENT"));
    assert_eq!(
        post(&sb, ACME_ADMIN, path, &[("user", "10002")])
            .await
            .message(),
        "(#100) The parameter tasks is required"
    );
    // Not a member of the business.
    let r = post(
        &sb,
        ACME_ADMIN,
        path,
        &[("user", "10005"), ("tasks", "['ANALYZE']")],
    )
    .await;
    assert_eq!(
        r.err(),
        (100, Some(u64::from(wire::subcode::USER_NOT_IN_BUSINESS)))
    );
    // An agency can only give its permitted tasks.
    let r = post(
        &sb,
        GLOBEX_ADMIN,
        path,
        &[("user", "10006"), ("tasks", "['MANAGE']")],
    )
    .await;
    assert_eq!(
        r.err(),
        (100, Some(u64::from(wire::subcode::TASKS_NOT_PERMITTED)))
    );
    // Employees cannot assign.
    let r = post(
        &sb,
        ACME_EMPLOYEE,
        path,
        &[("user", "10002"), ("tasks", "['ANALYZE']")],
    )
    .await;
    assert_eq!(r.err(), (200, None));
    // Admin role: all three tasks.
    let r = post(
        &sb,
        ACME_ADMIN,
        path,
        &[
            ("user", "10003"),
            ("tasks", "['MANAGE','ADVERTISE','ANALYZE']"),
        ],
    )
    .await;
    assert_eq!(r.ok(), &json!({"success": true}));
}

// --- pages -------------------------------------------------------------------

#[tokio::test]
async fn pg01_claim_depends_on_how_long_the_caller_has_been_page_admin() {
    let sb = demo();
    let path = format!("/{ACME}/owned_pages");
    let r = post(&sb, ACME_ADMIN, &path, &[("page_id", "3000000003")]).await;
    assert_eq!(r.ok(), &json!({"access_status": "CONFIRMED"}));
    let r = post(&sb, ACME_ADMIN, &path, &[("page_id", "3000000004")]).await;
    assert_eq!(r.ok(), &json!({"access_status": "PENDING"}));
    let pending = get(&sb, ACME_ADMIN, &format!("/{ACME}/pending_owned_pages")).await;
    assert_eq!(pending.asset_ids("page"), vec!["3000000004", "3000000007"]);
    let owned = get(&sb, ACME_ADMIN, &path).await;
    assert!(owned.ids().contains(&"3000000003".to_string()));
    // Not the page's admin: fails, and no request is created.
    let r = post(&sb, ACME_ADMIN, &path, &[("page_id", "3000000006")]).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.err(), (200, None));
    let pending = get(&sb, ACME_ADMIN, &format!("/{ACME}/pending_owned_pages")).await;
    assert!(!pending
        .asset_ids("page")
        .contains(&"3000000006".to_string()));
    // Admin for 2 days + 6 more = 8 days: now confirmed.
    sb.advance_clock(std::time::Duration::from_secs(6 * 24 * 3600));
    let r = post(&sb, ACME_ADMIN, &path, &[("page_id", "3000000004")]).await;
    assert_eq!(r.ok(), &json!({"access_status": "CONFIRMED"}));
}

#[tokio::test]
async fn pg01_seven_days_or_less_is_still_pending() {
    let sb = demo();
    sb.advance_clock(std::time::Duration::from_secs(5 * 24 * 3600 - 60));
    let r = post(
        &sb,
        ACME_ADMIN,
        &format!("/{ACME}/owned_pages"),
        &[("page_id", "3000000004")],
    )
    .await;
    assert_eq!(r.ok(), &json!({"access_status": "PENDING"}));
}

#[tokio::test]
async fn pg02_agency_claim_rules() {
    let sb = demo();
    let path = format!("/{GLOBEX}/client_pages");
    let r = post(&sb, GLOBEX_ADMIN, &path, &[("page_id", "3000000001")]).await;
    assert_eq!(r.err(), (100, None));
    assert!(
        r.message().contains("permitted_tasks is required"),
        "{}",
        r.message()
    );
    let r = post(
        &sb,
        GLOBEX_ADMIN,
        &path,
        &[("page_id", "3000000001"), ("permitted_tasks", "['DANCE']")],
    )
    .await;
    assert_eq!(r.err(), (100, None));
    let r = post(
        &sb,
        GLOBEX_ADMIN,
        &path,
        &[
            ("page_id", "3000000006"),
            ("permitted_tasks", "['ANALYZE']"),
        ],
    )
    .await;
    assert_eq!(
        r.err(),
        (100, Some(u64::from(wire::subcode::NOT_BUSINESS_OWNED)))
    );
    let r = post(
        &sb,
        GLOBEX_ADMIN,
        &path,
        &[
            ("page_id", "3000000001"),
            ("permitted_tasks", "['ADVERTISE','ANALYZE']"),
        ],
    )
    .await;
    assert_eq!(r.ok(), &json!({"access_status": "PENDING"}));
    let pending = get(
        &sb,
        GLOBEX_ADMIN,
        &format!(
            "/{GLOBEX}/pending_client_pages?fields=id,page{{id,access_status,permitted_tasks}}"
        ),
    )
    .await;
    // Meta's spec: the items are BusinessPageRequest {id, page}.
    assert_eq!(
        pending.ok()["data"][0]["page"],
        json!({"id": "3000000001", "access_status": "PENDING", "permitted_tasks": ["ADVERTISE", "ANALYZE"]})
    );
    assert_eq!(pending.asset_ids("page"), vec!["3000000001", "3000000005"]);
    // Another business's request for the same page is also pending.
    let r = post(
        &sb,
        INITECH_ADMIN,
        "/1000000003/client_pages",
        &[
            ("page_id", "3000000001"),
            ("permitted_tasks", "['ANALYZE']"),
        ],
    )
    .await;
    assert_eq!(r.ok(), &json!({"access_status": "PENDING"}));
    // The owner cannot be its own agency.
    let r = post(
        &sb,
        ACME_ADMIN,
        &format!("/{ACME}/client_pages"),
        &[
            ("page_id", "3000000001"),
            ("permitted_tasks", "['ANALYZE']"),
        ],
    )
    .await;
    assert_eq!(r.err(), (100, None));
    assert!(r.message().contains("already owns"));
}

#[tokio::test]
async fn pg02_is_confirmed_when_the_caller_is_page_admin() {
    let sb = demo();
    let r = post(
        &sb,
        GLOBEX_ADMIN,
        &format!("/{GLOBEX}/client_pages"),
        &[
            ("page_id", "3000000009"),
            ("permitted_tasks", r#"["ADVERTISE","ANALYZE"]"#),
        ],
    )
    .await;
    assert_eq!(r.ok(), &json!({"access_status": "CONFIRMED"}));
    let r = get(
        &sb,
        GLOBEX_ADMIN,
        &format!("/{GLOBEX}/client_pages?fields=id,access_type,access_status"),
    )
    .await;
    assert_eq!(
        r.ok()["data"],
        json!([
            {"id": "3000000002", "access_type": "AGENCY", "access_status": "CONFIRMED"},
            {"id": "3000000009", "access_type": "AGENCY", "access_status": "CONFIRMED"},
        ])
    );
}

#[tokio::test]
async fn pg03_pg04_pg05_pg11_lists() {
    let sb = demo();
    assert_eq!(
        get(
            &sb,
            GLOBEX_ADMIN,
            &format!("/{GLOBEX}/pending_client_pages")
        )
        .await
        .asset_ids("page"),
        vec!["3000000005"]
    );
    assert_eq!(
        get(&sb, GLOBEX_ADMIN, &format!("/{GLOBEX}/client_pages"))
            .await
            .ids(),
        vec!["3000000002"]
    );
    assert_eq!(
        get(&sb, ACME_ADMIN, &format!("/{ACME}/owned_pages"))
            .await
            .ids(),
        vec!["3000000001", "3000000002", "3000000008"]
    );
    assert_eq!(
        get(&sb, ACME_ADMIN, &format!("/{ACME}/pending_owned_pages"))
            .await
            .asset_ids("page"),
        vec!["3000000007"]
    );
    let r = get(
        &sb,
        ACME_ADMIN,
        &format!("/{ACME}/owned_pages?fields=id,business{{id,name}},access_type"),
    )
    .await;
    assert_eq!(
        r.ok()["data"][0],
        json!({"id": "3000000001", "business": {"id": ACME, "name": "Acme Retail"}, "access_type": "OWNER"})
    );
}

#[tokio::test]
async fn pg06_needs_the_pages_people_removed_first() {
    let sb = demo();
    let r = delete(
        &sb,
        ACME_ADMIN,
        &format!("/{ACME}/pages?page_id=3000000002"),
    )
    .await;
    assert_eq!(
        r.err(),
        (100, Some(u64::from(wire::subcode::PAGE_HAS_PEOPLE)))
    );
    assert!(r.message().contains("10002"), "{}", r.message());
    let people = get(
        &sb,
        ACME_ADMIN,
        &format!("/3000000002/assigned_users?business={ACME}"),
    )
    .await;
    assert_eq!(people.ids(), vec!["10002"]);
    let r = delete(&sb, ACME_ADMIN, "/3000000002/assigned_users?user=10002").await;
    assert_eq!(r.ok(), &json!({"success": true}));
    let r = delete(
        &sb,
        ACME_ADMIN,
        &format!("/{ACME}/pages?page_id=3000000002"),
    )
    .await;
    assert_eq!(r.ok(), &json!({"success": true}));
    assert!(!get(&sb, ACME_ADMIN, &format!("/{ACME}/owned_pages"))
        .await
        .ids()
        .contains(&"3000000002".to_string()));
    // A page without people goes at once.
    let r = delete(
        &sb,
        ACME_ADMIN,
        &format!("/{ACME}/pages?page_id=3000000008"),
    )
    .await;
    assert_eq!(r.ok(), &json!({"success": true}));
}

#[tokio::test]
async fn pg07_pg10_asset_group_limitation_and_task_validation() {
    let sb = demo();
    let r = post(
        &sb,
        ACME_ADMIN,
        "/3000000001/assigned_users",
        &[("user", "10003"), ("tasks", "['ANALYZE']")],
    )
    .await;
    assert_eq!(
        r.err(),
        (100, Some(u64::from(wire::subcode::FROM_ASSET_GROUP)))
    );
    assert!(r.message().contains("9000000001"));
    let r = delete(&sb, ACME_ADMIN, "/3000000001/assigned_users?user=10003").await;
    assert_eq!(
        r.err(),
        (100, Some(u64::from(wire::subcode::FROM_ASSET_GROUP)))
    );
    let r = post(
        &sb,
        ACME_ADMIN,
        "/3000000001/assigned_users",
        &[("user", "10002"), ("tasks", "['MANAGE','SELL']")],
    )
    .await;
    assert_eq!(r.err(), (100, None));
    let r = post(
        &sb,
        ACME_ADMIN,
        "/3000000001/assigned_users",
        &[
            ("user", "10002"),
            (
                "tasks",
                "['CREATE_CONTENT','MODERATE','ADVERTISE','ANALYZE']",
            ),
        ],
    )
    .await;
    assert_eq!(r.ok(), &json!({"success": true}));
    let r = get(
        &sb,
        ACME_ADMIN,
        &format!("/3000000001/assigned_users?business={ACME}&fields=id,tasks"),
    )
    .await;
    assert_eq!(
        r.ok()["data"],
        json!([
            {"id": "10001", "tasks": ["MANAGE", "CREATE_CONTENT", "MODERATE", "ADVERTISE", "ANALYZE"]},
            {"id": "10002", "tasks": ["CREATE_CONTENT", "MODERATE", "ADVERTISE", "ANALYZE"]},
            {"id": "10003", "tasks": ["ADVERTISE", "ANALYZE"]},
        ])
    );
    // Meta's spec gives PG07 no `business`: the acting business is the
    // caller's with access to the page.
    let r = post(
        &sb,
        ACME_ADMIN,
        "/3000000001/assigned_users",
        &[
            ("user", "10002"),
            ("tasks", "['ANALYZE']"),
            ("business", ACME),
        ],
    )
    .await;
    assert_eq!(
        r.message(),
        "(#100) Param business is not a valid parameter"
    );
    // A caller whose business has no access to the page.
    let r = post(
        &sb,
        GLOBEX_ADMIN,
        "/3000000001/assigned_users",
        &[("user", "10006"), ("tasks", "['ANALYZE']")],
    )
    .await;
    assert_eq!(r.err(), (200, None));
    // Every page task of Meta's spec is accepted.
    let r = post(
        &sb,
        ACME_ADMIN,
        "/3000000001/assigned_users",
        &[
            ("user", "10002"),
            (
                "tasks",
                "['MANAGE_LEADS','PROFILE_PLUS_FULL_CONTROL','ANALYZE']",
            ),
        ],
    )
    .await;
    assert_eq!(r.ok(), &json!({"success": true}));
}

#[tokio::test]
async fn page_tokens_are_issued_to_page_people() {
    let sb = demo();
    let r = get(
        &sb,
        "sandbox-token-alice",
        "/3000000001?fields=id,access_token",
    )
    .await;
    let token = r.ok()["access_token"]
        .as_str()
        .expect("page token")
        .to_string();
    let r = get(&sb, &token, "/me").await;
    assert_eq!(r.ok()["id"], "10001");
    // Without tasks on the page, the field is omitted.
    let r = get(&sb, ACME_EMPLOYEE, "/3000000001?fields=id,access_token").await;
    assert_eq!(r.ok(), &json!({"id": "3000000001"}));
}

// --- business asset groups ----------------------------------------------------

#[tokio::test]
async fn ag01_to_ag04_groups() {
    let sb = demo();
    let r = get(&sb, ACME_ADMIN, &format!("/{ACME}/business_asset_groups")).await;
    assert_eq!(
        r.ok()["data"],
        json!([{"id": "9000000001", "name": "Acme Brand Team"}, {"id": "9000000002", "name": "Acme Regional Team"}])
    );
    assert_eq!(
        get(&sb, ACME_ADMIN, "/9000000002").await.ok(),
        &json!({"id": "9000000002", "name": "Acme Regional Team"})
    );
    assert_eq!(
        post(&sb, ACME_ADMIN, "/9000000002", &[("name", "West")])
            .await
            .ok(),
        &json!({"success": true})
    );
    assert_eq!(
        get(&sb, ACME_ADMIN, "/9000000002?fields=name").await.ok(),
        &json!({"name": "West"})
    );
    assert_eq!(
        post(&sb, ACME_ADMIN, "/9000000002", &[]).await.err(),
        (100, None)
    );
    assert_eq!(
        post(&sb, ACME_EMPLOYEE, "/9000000002", &[("name", "x")])
            .await
            .err(),
        (200, None)
    );
    assert_eq!(
        delete(&sb, ACME_ADMIN, "/9000000002").await.ok(),
        &json!({"success": true})
    );
    assert_eq!(
        get(&sb, ACME_ADMIN, "/9000000002").await.err(),
        (100, Some(33))
    );
}

#[tokio::test]
async fn ag05_to_ag08_group_users() {
    let sb = demo();
    let r = get(&sb, ACME_ADMIN, "/10003/assigned_business_asset_groups?fields=id,name,page_roles,adaccount_roles,pixel_roles,offline_conversion_data_set_roles").await;
    assert_eq!(
        r.ok()["data"],
        json!([{
            "id": "9000000001",
            "name": "Acme Brand Team",
            "page_roles": ["ADVERTISE", "ANALYZE"],
            "adaccount_roles": ["ADVERTISE", "ANALYZE"],
            "pixel_roles": ["ANALYZE"],
            "offline_conversion_data_set_roles": ["UPLOAD"],
        }])
    );
    // AG07 takes Meta's spec names: user and *_tasks, no business.
    let r = post(
        &sb,
        ACME_ADMIN,
        "/9000000002/assigned_users",
        &[
            ("user", "10002"),
            ("adaccount_tasks", "['ANALYZE']"),
            ("page_tasks", r#"["ANALYZE"]"#),
        ],
    )
    .await;
    assert_eq!(r.ok(), &json!({"success": true}));
    let r = get(
        &sb,
        ACME_ADMIN,
        &format!("/9000000002/assigned_users?business={ACME}&fields=id,adaccount_roles,page_roles"),
    )
    .await;
    assert_eq!(
        r.ok()["data"],
        json!([{"id": "10002", "adaccount_roles": ["ANALYZE"], "page_roles": ["ANALYZE"]}])
    );
    // Bob now holds ANALYZE on act_2000000001 through the group as well.
    let r = delete(&sb, ACME_ADMIN, "/act_2000000001/assigned_users?user=10002").await;
    assert_eq!(
        r.err(),
        (100, Some(u64::from(wire::subcode::FROM_ASSET_GROUP)))
    );
    // A task outside the spec's enum.
    let r = post(
        &sb,
        ACME_ADMIN,
        "/9000000002/assigned_users",
        &[("user", "10002"), ("page_tasks", "['FLY']")],
    )
    .await;
    assert_eq!(r.err(), (100, None));
    assert!(
        r.message().starts_with(
            "(#100) Param page_tasks[0] must be one of {ADVERTISE, ANALYZE, CASHIER_ROLE,"
        ),
        "{}",
        r.message()
    );
    // The seed's names are not parameters of the edge any more.
    for (name, value) in [
        ("page_roles", "['ANALYZE']"),
        ("adaccount_roles", "['ANALYZE']"),
        ("pixel_roles", "['ANALYZE']"),
        ("offline_conversion_data_set_roles", "['UPLOAD']"),
        ("business", ACME),
    ] {
        let r = post(
            &sb,
            ACME_ADMIN,
            "/9000000002/assigned_users",
            &[("user", "10002"), (name, value)],
        )
        .await;
        assert_eq!(
            r.message(),
            format!("(#100) Param {name} is not a valid parameter")
        );
    }
    let r = post(
        &sb,
        ACME_ADMIN,
        "/9000000002/assigned_users",
        &[("user", "10005")],
    )
    .await;
    assert_eq!(
        r.err(),
        (100, Some(u64::from(wire::subcode::USER_NOT_IN_BUSINESS)))
    );
    // Another business's admin cannot assign in Acme's group.
    let r = post(
        &sb,
        GLOBEX_ADMIN,
        "/9000000002/assigned_users",
        &[("user", "10006")],
    )
    .await;
    assert_eq!(r.err(), (200, None));
    // AG06 requires `business` (Meta's spec).
    let r = get(&sb, ACME_ADMIN, "/9000000002/assigned_users").await;
    assert_eq!(r.message(), "(#100) The parameter business is required");
    assert_eq!(
        delete(&sb, ACME_ADMIN, "/9000000002/assigned_users?user=10002")
            .await
            .ok(),
        &json!({"success": true})
    );
    assert!(get(
        &sb,
        ACME_ADMIN,
        &format!("/9000000002/assigned_users?business={ACME}")
    )
    .await
    .ids()
    .is_empty());
}

#[tokio::test]
async fn ag09_to_ag32_contained_assets() {
    let sb = demo();
    let g = "/9000000001";
    assert_eq!(
        get(&sb, ACME_ADMIN, &format!("{g}/contained_pages"))
            .await
            .ok()["data"],
        json!([{"id": "3000000001", "name": "Acme Retail"}])
    );
    assert_eq!(
        get(&sb, ACME_ADMIN, &format!("{g}/contained_adaccounts"))
            .await
            .ok()["data"],
        json!([{"id": "act_2000000002", "account_id": "2000000002"}])
    );
    assert_eq!(
        get(&sb, ACME_ADMIN, &format!("{g}/contained_product_catalogs"))
            .await
            .ok()["data"],
        json!([{"id": "7000000001", "name": "Acme Products"}])
    );
    assert_eq!(
        get(
            &sb,
            ACME_ADMIN,
            &format!("{g}/contained_instagram_accounts")
        )
        .await
        .ok()["data"],
        json!([{"id": "6000000001"}])
    );
    assert_eq!(
        get(&sb, ACME_ADMIN, &format!("{g}/contained_pixels"))
            .await
            .ok()["data"],
        json!([{"id": "5000000001"}])
    );
    assert_eq!(
        get(
            &sb,
            ACME_ADMIN,
            &format!("{g}/contained_offline_conversion_data_sets")
        )
        .await
        .ok()["data"],
        json!([{"id": "8000000001", "name": "Acme Store Sales", "business": {"id": ACME, "name": "Acme Retail"}, "enable_auto_assign_to_accounts": false, "is_restricted_use": false}])
    );
    assert_eq!(
        get(&sb, ACME_ADMIN, &format!("{g}/contained_applications"))
            .await
            .ok()["data"],
        json!([{"id": "4000000001", "name": "Acme Shop", "category": "Shopping", "link": "https://www.facebook.com/games/?app_id=4000000001"}])
    );
    assert_eq!(
        get(
            &sb,
            ACME_ADMIN,
            &format!("{g}/contained_custom_conversions")
        )
        .await
        .ok()["data"],
        json!([{"id": "8100000001"}])
    );
    assert_eq!(
        get(
            &sb,
            ACME_ADMIN,
            &format!("{g}/contained_pixels?fields=id,name")
        )
        .await
        .ok()["data"],
        json!([{"id": "5000000001", "name": "Acme Website Pixel"}])
    );

    // Add and remove, per kind.
    let cases = [
        ("contained_pages", "3000000008"),
        ("contained_adaccounts", "act_2000000001"),
        ("contained_product_catalogs", "7000000001"),
        ("contained_instagram_accounts", "6000000003"),
        ("contained_pixels", "5000000001"),
        ("contained_offline_conversion_data_sets", "8000000001"),
        ("contained_applications", "4000000002"),
        ("contained_custom_conversions", "8100000001"),
    ];
    for (edge, asset) in cases {
        let path = format!("/9000000002/{edge}");
        assert_eq!(
            post(&sb, ACME_ADMIN, &path, &[("asset_id", asset)])
                .await
                .ok(),
            &json!({"success": true}),
            "{edge}"
        );
        assert!(
            get(&sb, ACME_ADMIN, &path)
                .await
                .ids()
                .contains(&asset.to_string()),
            "{edge}"
        );
        assert_eq!(
            delete(&sb, ACME_ADMIN, &format!("{path}?asset_id={asset}"))
                .await
                .ok(),
            &json!({"success": true}),
            "{edge}"
        );
        assert!(
            !get(&sb, ACME_ADMIN, &path)
                .await
                .ids()
                .contains(&asset.to_string()),
            "{edge}"
        );
    }
    // Only assets the business owns or has shared with it; only of the edge's kind.
    let r = post(
        &sb,
        ACME_ADMIN,
        "/9000000002/contained_pages",
        &[("asset_id", "3000000005")],
    )
    .await;
    assert_eq!(
        r.err(),
        (100, Some(u64::from(wire::subcode::NOT_IN_BUSINESS)))
    );
    let r = post(
        &sb,
        ACME_ADMIN,
        "/9000000002/contained_pages",
        &[("asset_id", "5000000001")],
    )
    .await;
    assert_eq!(r.err(), (100, None));
    let r = post(
        &sb,
        ACME_EMPLOYEE,
        "/9000000002/contained_pages",
        &[("asset_id", "3000000001")],
    )
    .await;
    assert_eq!(r.err(), (200, None));
    // A shared page goes in the agency's group.
    let r = post(
        &sb,
        GLOBEX_ADMIN,
        "/9000000003/contained_pages",
        &[("asset_id", "3000000002")],
    )
    .await;
    assert_eq!(r.ok(), &json!({"success": true}));
}

// --- apps, pixels, Instagram, catalogs -------------------------------------------

#[tokio::test]
async fn ap01_to_ap06_apps() {
    let sb = demo();
    let b = format!("/{ACME}");
    assert_eq!(
        get(&sb, ACME_ADMIN, &format!("{b}/owned_apps")).await.ids(),
        vec!["4000000001"]
    );
    let r = get(
        &sb,
        ACME_ADMIN,
        &format!("{b}/client_apps?fields=id,access_status,permitted_tasks"),
    )
    .await;
    assert_eq!(
        r.ok()["data"],
        json!([{"id": "4000000002", "access_status": "CONFIRMED", "permitted_tasks": ["DEVELOP", "ANALYZE"]}])
    );
    assert_eq!(
        get(&sb, ACME_ADMIN, &format!("{b}/pending_client_apps"))
            .await
            .asset_ids("application"),
        vec!["4000000003"]
    );
    let r = post(
        &sb,
        ACME_ADMIN,
        &format!("{b}/owned_apps"),
        &[("app_id", "4000000004")],
    )
    .await;
    assert_eq!(r.ok(), &json!({"access_status": "CONFIRMED"}));
    assert_eq!(
        get(&sb, ACME_ADMIN, &format!("{b}/owned_apps")).await.ids(),
        vec!["4000000001", "4000000004"]
    );
    let r = post(
        &sb,
        GLOBEX_ADMIN,
        &format!("/{GLOBEX}/client_apps"),
        &[("app_id", "4000000001")],
    )
    .await;
    assert_eq!(r.ok(), &json!({"access_status": "PENDING"}));
    assert_eq!(
        get(&sb, GLOBEX_ADMIN, &format!("/{GLOBEX}/pending_client_apps"))
            .await
            .asset_ids("application"),
        vec!["4000000001"]
    );
    let r = post(
        &sb,
        ACME_ADMIN,
        &format!("{b}/owned_apps"),
        &[("app_id", "4000000002")],
    )
    .await;
    assert_eq!(
        r.err(),
        (100, Some(u64::from(wire::subcode::OWNED_ELSEWHERE)))
    );
    assert_eq!(
        delete(&sb, ACME_ADMIN, &format!("{b}/apps?app_id=4000000002"))
            .await
            .ok(),
        &json!({"success": true})
    );
    assert!(get(&sb, ACME_ADMIN, &format!("{b}/client_apps"))
        .await
        .ids()
        .is_empty());
    assert_eq!(
        delete(&sb, ACME_ADMIN, &format!("{b}/apps?app_id=4000000002"))
            .await
            .err()
            .0,
        100
    );
}

#[tokio::test]
async fn px01_px02_pixels() {
    let sb = demo();
    assert_eq!(
        get(&sb, ACME_ADMIN, &format!("/{ACME}/owned_pixels"))
            .await
            .ok()["data"],
        json!([{"id": "5000000001", "name": "Acme Website Pixel"}])
    );
    assert_eq!(
        get(&sb, GLOBEX_ADMIN, &format!("/{GLOBEX}/client_pixels"))
            .await
            .ids(),
        vec!["5000000002"]
    );
    assert_eq!(
        get(&sb, GLOBEX_ADMIN, &format!("/{GLOBEX}/owned_pixels"))
            .await
            .ids(),
        vec!["5000000003"]
    );
}

#[tokio::test]
async fn px10_grants_a_pixel_agency_as_metas_spec_has_it() {
    let sb = demo();
    let initech = "1000000003";
    let acme_pixel = "/5000000001/agencies";
    // The owner's admin makes Initech an agency of Acme's pixel ...
    let r = post(
        &sb,
        ACME_ADMIN,
        acme_pixel,
        &[
            ("business", initech),
            ("permitted_tasks", "['UPLOAD','ANALYZE']"),
        ],
    )
    .await;
    assert_eq!(r.ok(), &json!({"success": true}));
    // ... listed among the pixel's agencies (PX03), CONFIRMED, with its
    // tasks in Graph's order, and among Initech's client pixels (PX02).
    let r = get(
        &sb,
        ACME_ADMIN,
        "/5000000001/agencies?fields=id,name,permitted_tasks,access_status",
    )
    .await;
    assert_eq!(
        r.ok()["data"],
        json!([{"id": initech, "name": "Initech Holdings", "permitted_tasks": ["UPLOAD", "ANALYZE"], "access_status": "CONFIRMED"}])
    );
    assert_eq!(
        get(&sb, INITECH_ADMIN, &format!("/{initech}/client_pixels"))
            .await
            .ids(),
        vec!["5000000001"]
    );
    // Granting again replaces the tasks.
    let r = post(
        &sb,
        ACME_ADMIN,
        acme_pixel,
        &[("business", initech), ("permitted_tasks", "['ADVERTISE']")],
    )
    .await;
    assert_eq!(r.ok(), &json!({"success": true}));
    let r = get(
        &sb,
        ACME_ADMIN,
        "/5000000001/agencies?fields=id,permitted_tasks",
    )
    .await;
    assert_eq!(
        r.ok()["data"],
        json!([{"id": initech, "permitted_tasks": ["ADVERTISE"]}])
    );

    // Meta's pixel agency tasks: ADVERTISE, ANALYZE, EDIT, UPLOAD only.
    for bad in ["['AA_ANALYZE']", "['MANAGE']"] {
        let r = post(
            &sb,
            ACME_ADMIN,
            acme_pixel,
            &[("business", GLOBEX), ("permitted_tasks", bad)],
        )
        .await;
        assert_eq!(r.err(), (100, None), "{bad}");
        assert!(
            r.message()
                .starts_with("(#100) Param permitted_tasks[0] must be one of"),
            "{}",
            r.message()
        );
    }
    // permitted_tasks is required.
    let r = post(&sb, ACME_ADMIN, acme_pixel, &[("business", GLOBEX)]).await;
    assert_eq!(r.err(), (100, None));
    assert!(r.message().contains("permitted_tasks"), "{}", r.message());
    // Not the owner itself, and not a business that does not exist.
    for biz in [ACME, "1999999999"] {
        let r = post(
            &sb,
            ACME_ADMIN,
            acme_pixel,
            &[("business", biz), ("permitted_tasks", "['ANALYZE']")],
        )
        .await;
        assert_eq!(r.err(), (100, None), "{biz}");
    }
    // Only the owner's admins grant: Globex is just an agency of Initech's
    // pixel.
    let r = post(
        &sb,
        GLOBEX_ADMIN,
        "/5000000002/agencies",
        &[("business", ACME), ("permitted_tasks", "['ANALYZE']")],
    )
    .await;
    assert_eq!(r.err(), (200, None));
    assert_eq!(
        get(&sb, INITECH_ADMIN, "/5000000002/agencies").await.ids(),
        vec![GLOBEX]
    );

    // PX04 takes the grant back.
    assert_eq!(
        delete(
            &sb,
            ACME_ADMIN,
            &format!("/5000000001/agencies?business={initech}")
        )
        .await
        .ok(),
        &json!({"success": true})
    );
    assert!(get(&sb, ACME_ADMIN, "/5000000001/agencies")
        .await
        .ids()
        .is_empty());
    assert!(
        get(&sb, INITECH_ADMIN, &format!("/{initech}/client_pixels"))
            .await
            .ids()
            .is_empty()
    );
}

#[tokio::test]
async fn ig01_to_ig08_instagram() {
    let sb = demo();
    let r = get(
        &sb,
        ACME_ADMIN,
        &format!("/{ACME}/owned_instagram_accounts?fields=id,username"),
    )
    .await;
    assert_eq!(
        r.ok()["data"],
        json!([{"id": "6000000001", "username": "acmeretail"}, {"id": "6000000003", "username": "acme.outlet"}])
    );
    assert_eq!(
        get(&sb, GLOBEX_ADMIN, &format!("/{GLOBEX}/instagram_accounts"))
            .await
            .ids(),
        vec!["6000000001", "6000000002"]
    );
    let r = get(
        &sb,
        ACME_ADMIN,
        "/6000000001/agencies?fields=id,name,permitted_tasks,access_status",
    )
    .await;
    assert_eq!(
        r.ok()["data"],
        json!([{"id": GLOBEX, "name": "Globex Agency", "permitted_tasks": ["ADVERTISE", "ANALYZE"], "access_status": "CONFIRMED"}])
    );
    // Only the owner grants.
    let r = post(
        &sb,
        GLOBEX_ADMIN,
        "/6000000003/agencies",
        &[("business", GLOBEX), ("permitted_tasks", "['ADVERTISE']")],
    )
    .await;
    assert_eq!(r.err(), (200, None));
    // Meta's spec enumerates the Instagram tasks (IG04 lives on
    // InstagramBusinessAsset; the sandbox takes the account's id).
    let r = post(
        &sb,
        ACME_ADMIN,
        "/6000000003/agencies",
        &[("business", GLOBEX), ("permitted_tasks", "['bad task']")],
    )
    .await;
    assert_eq!(r.err(), (100, None));
    assert!(
        r.message()
            .contains("must be one of {ADVERTISE, ANALYZE, COMMUNITY_ACTIVITY, CONTENT, MESSAGES}"),
        "{}",
        r.message()
    );
    let r = post(
        &sb,
        ACME_ADMIN,
        "/6000000003/agencies",
        &[("business", GLOBEX)],
    )
    .await;
    assert_eq!(
        r.message(),
        "(#100) The parameter permitted_tasks is required"
    );
    let r = post(
        &sb,
        ACME_ADMIN,
        "/6000000003/agencies",
        &[
            ("business", GLOBEX),
            ("permitted_tasks", "['ADVERTISE','COMMUNITY_ACTIVITY']"),
        ],
    )
    .await;
    assert_eq!(r.ok(), &json!({"success": true}));
    assert_eq!(
        get(&sb, GLOBEX_ADMIN, &format!("/{GLOBEX}/instagram_accounts"))
            .await
            .ids(),
        vec!["6000000001", "6000000002", "6000000003"]
    );
    assert_eq!(
        delete(
            &sb,
            ACME_ADMIN,
            &format!("/6000000003/agencies?business={GLOBEX}")
        )
        .await
        .ok(),
        &json!({"success": true})
    );
    assert_eq!(
        delete(
            &sb,
            ACME_ADMIN,
            &format!("/6000000003/agencies?business={GLOBEX}")
        )
        .await
        .err()
        .0,
        100
    );
    // Authorized ad accounts.
    let r = get(
        &sb,
        ACME_ADMIN,
        &format!("/6000000001/authorized_adaccounts?business={ACME}&fields=id"),
    )
    .await;
    assert_eq!(r.ok()["data"], json!([{"id": "act_2000000001"}]));
    let r = post(
        &sb,
        ACME_ADMIN,
        "/6000000001/authorized_adaccounts",
        &[("account_id", "2000000002"), ("business", ACME)],
    )
    .await;
    assert_eq!(r.ok(), &json!({"success": true}));
    assert_eq!(
        get(
            &sb,
            ACME_ADMIN,
            &format!("/6000000001/authorized_adaccounts?business={ACME}")
        )
        .await
        .ids(),
        vec!["act_2000000001", "act_2000000002"]
    );
    // IG07/IG08 require `business` (Meta's spec).
    let r = get(&sb, ACME_ADMIN, "/6000000001/authorized_adaccounts").await;
    assert_eq!(r.message(), "(#100) The parameter business is required");
    let r = post(
        &sb,
        ACME_ADMIN,
        "/6000000001/authorized_adaccounts",
        &[("account_id", "2000000002")],
    )
    .await;
    assert_eq!(r.message(), "(#100) The parameter business is required");
    let r = post(
        &sb,
        ACME_ADMIN,
        "/6000000001/authorized_adaccounts",
        &[("account_id", "act_2000000006"), ("business", ACME)],
    )
    .await;
    assert_eq!(
        r.err(),
        (100, Some(u64::from(wire::subcode::NOT_IN_BUSINESS)))
    );
    // IG06: remove from the business.
    let r = delete(
        &sb,
        ACME_ADMIN,
        &format!("/{ACME}/instagram_accounts?instagram_account=6000000003"),
    )
    .await;
    assert_eq!(r.ok(), &json!({"success": true}));
    assert_eq!(
        get(
            &sb,
            ACME_ADMIN,
            &format!("/{ACME}/owned_instagram_accounts")
        )
        .await
        .ids(),
        vec!["6000000001"]
    );
}

#[tokio::test]
async fn ct01_to_ct07_catalogs() {
    let sb = demo();
    assert_eq!(
        get(&sb, ACME_ADMIN, &format!("/{ACME}/owned_product_catalogs"))
            .await
            .ids(),
        vec!["7000000001"]
    );
    let r = get(
        &sb,
        GLOBEX_ADMIN,
        &format!("/{GLOBEX}/client_product_catalogs?fields=id,permitted_tasks"),
    )
    .await;
    assert_eq!(
        r.ok()["data"],
        json!([{"id": "7000000001", "permitted_tasks": ["ADVERTISE"]}, {"id": "7000000002", "permitted_tasks": ["MANAGE", "ADVERTISE"]}])
    );
    let c = "/7000000001/assigned_users";
    assert_eq!(
        get(
            &sb,
            ACME_ADMIN,
            &format!("{c}?business={ACME}&fields=id,tasks")
        )
        .await
        .ok()["data"],
        json!([{"id": "10002", "tasks": ["ADVERTISE"]}])
    );
    let r = post(
        &sb,
        ACME_ADMIN,
        c,
        &[("user", "10003"), ("tasks", "['ADVERTISE','MANAGE']")],
    )
    .await;
    assert_eq!(r.ok(), &json!({"success": true}));
    let r = post(
        &sb,
        ACME_ADMIN,
        c,
        &[("user", "10003"), ("tasks", "['ANALYZE']")],
    )
    .await;
    assert_eq!(r.err(), (100, None));
    // Meta's spec gives CT03/CT04 no `business`.
    let r = post(
        &sb,
        ACME_ADMIN,
        c,
        &[
            ("user", "10003"),
            ("business", ACME),
            ("tasks", "['ADVERTISE']"),
        ],
    )
    .await;
    assert_eq!(
        r.message(),
        "(#100) Param business is not a valid parameter"
    );
    let r = get(
        &sb,
        ACME_ADMIN,
        "/10003/assigned_product_catalogs?fields=id,tasks",
    )
    .await;
    assert_eq!(
        r.ok()["data"],
        json!([{"id": "7000000001", "tasks": ["MANAGE", "ADVERTISE"]}])
    );
    assert_eq!(
        delete(&sb, ACME_ADMIN, &format!("{c}?user=10003"))
            .await
            .ok(),
        &json!({"success": true})
    );
    assert!(get(&sb, ACME_ADMIN, "/10003/assigned_product_catalogs")
        .await
        .ids()
        .is_empty());
    // CT07: owner grants an agency; Meta's spec takes the ADMIN role in
    // `permitted_roles` (the seed's permitted_tasks=['ADMIN'] is outside
    // the spec's task enum), stored as the tasks it stands for.
    let r = post(
        &sb,
        ACME_ADMIN,
        "/7000000001/agencies",
        &[("business", "1000000003"), ("permitted_tasks", "['ADMIN']")],
    )
    .await;
    assert_eq!(r.err(), (100, None));
    let r = post(
        &sb,
        ACME_ADMIN,
        "/7000000001/agencies",
        &[
            ("business", "1000000003"),
            ("permitted_roles", "['ADMIN']"),
            ("enabled_collab_terms", "['ENFORCE_CREATE_NEW_AD_ACCOUNT']"),
            ("skip_defaults", "true"),
            ("utm_settings", r#"{"utm_source":"x"}"#),
        ],
    )
    .await;
    assert_eq!(r.ok(), &json!({"success": true}));
    let r = get(
        &sb,
        INITECH_ADMIN,
        "/1000000003/client_product_catalogs?fields=id,permitted_tasks",
    )
    .await;
    assert_eq!(
        r.ok()["data"],
        json!([{"id": "7000000001", "permitted_tasks": ["MANAGE", "ADVERTISE"]}])
    );
    // An agency with the ADMIN role may give its people MANAGE.
    let r = post(
        &sb,
        GLOBEX_ADMIN,
        "/7000000002/assigned_users",
        &[("user", "10006"), ("tasks", "['MANAGE']")],
    )
    .await;
    assert_eq!(r.ok(), &json!({"success": true}));
    let r = post(
        &sb,
        GLOBEX_ADMIN,
        "/7000000001/agencies",
        &[("business", "1000000003"), ("permitted_roles", "['ADMIN']")],
    )
    .await;
    assert_eq!(r.err(), (200, None));
    // The spec's catalog tasks, MANAGE_AR and AA_ANALYZE included.
    let r = post(
        &sb,
        ACME_ADMIN,
        "/7000000001/agencies",
        &[
            ("business", GLOBEX),
            ("permitted_tasks", "['ADVERTISE','MANAGE_AR','AA_ANALYZE']"),
        ],
    )
    .await;
    assert_eq!(r.ok(), &json!({"success": true}));
}

// --- test hooks and serving ------------------------------------------------------

#[tokio::test]
async fn hooks_count_and_record_requests() {
    let sb = demo();
    assert_eq!(sb.request_count(), 0);
    get(&sb, ACME_ADMIN, &format!("/{ACME}/owned_pages")).await;
    send(
        &sb,
        "GET",
        &format!("/v19.0/{ACME}/owned_pages?limit=1"),
        Some(ACME_ADMIN),
        &[],
    )
    .await;
    post(
        &sb,
        ACME_ADMIN,
        &format!("/{ACME}/owned_pages"),
        &[("page_id", "3000000003")],
    )
    .await;
    get(&sb, "bad-token", "/me").await;
    assert_eq!(sb.request_count(), 4);
    assert_eq!(sb.arrivals(), 4);
    assert_eq!(sb.requests_to(&format!("/{ACME}/owned_pages")), 3);
    assert_eq!(sb.requests_to("/me"), 1);
    assert_eq!(sb.requests_to("/nothing"), 0);
    post(&sb, ACME_ADMIN, "/9000000002?x=1", &[("name", "Hooked")]).await;
    let last = sb.last_request().expect("recorded");
    assert_eq!(last.method, "POST");
    assert_eq!(last.path, "/v26.0/9000000002");
    assert_eq!(last.version.as_deref(), Some("v26.0"));
    assert_eq!(last.query_param("x"), Some("1"));
    assert_eq!(last.form_param("name"), Some("Hooked"));
    assert_eq!(last.param("name"), Some("Hooked"));
    assert_eq!(
        last.header("Authorization"),
        Some("Bearer sandbox-token-acme-admin")
    );
}

#[tokio::test]
async fn pause_holds_requests_until_resume() {
    let sb = demo();
    sb.pause();
    let sb2 = sb.clone();
    let held = tokio::spawn(async move { get(&sb2, ACME_ADMIN, "/me").await.status });
    let mut notified = 0;
    while sb.arrivals() == 0 {
        tokio::task::yield_now().await;
        notified += 1;
        assert!(notified < 100_000, "request never arrived");
    }
    assert_eq!(sb.request_count(), 0);
    assert_eq!(sb.arrivals(), 1);
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    assert!(!held.is_finished());
    assert_eq!(sb.request_count(), 0);
    sb.resume();
    assert_eq!(held.await.expect("task"), 200);
    assert_eq!(sb.request_count(), 1);
}

#[tokio::test]
async fn serve_answers_over_tcp_and_shuts_down() {
    let sb = demo();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(sb.clone().serve(listener, async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    let response = client
        .get(format!("http://{addr}/v26.0/me"))
        .bearer_auth(GLOBEX_ADMIN)
        .send()
        .await
        .expect("response");
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.headers().contains_key("x-app-usage"));
    let bytes = response.bytes().await.expect("body");
    let body: Value = serde_json::from_slice(&bytes).expect("json");
    assert_eq!(body["id"], "10201");
    let _ = stop.send(());
    server.await.expect("join").expect("serve");
    assert_eq!(sb.request_count(), 1);
}

#[test]
fn demo_tokens_lead_with_business_admin_system_users() {
    let sb = demo();
    let tokens = sb.demo_tokens();
    let names: Vec<&str> = tokens.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        &names[..4],
        &[
            "sandbox-acme-admin",
            "sandbox-globex-admin",
            "sandbox-initech-admin",
            "sandbox-umbrella-admin"
        ]
    );
    assert_eq!(tokens[0].kind, crate::vault::TokenKind::SystemUser);
    // Acme's admin system user also serves Acme's child business.
    assert_eq!(
        tokens[0].businesses,
        vec![ACME.to_string(), demo::ACME_OUTLETS.to_string()]
    );
    assert_eq!(tokens[0].secret.expose(), ACME_ADMIN);
    assert!(tokens.iter().skip(4).all(|t| t.businesses.is_empty()));
}

#[test]
fn fields_parser_handles_nesting_and_modifiers() {
    let parsed =
        wire::parse_fields("id, name,business{id,name},owned_pages.limit(5){id}").expect("parse");
    let names: Vec<&str> = parsed.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, vec!["id", "name", "business", "owned_pages"]);
    assert_eq!(parsed[2].sub.as_ref().map(Vec::len), Some(2));
    assert!(wire::parse_fields("business{id").is_err());
    assert!(wire::parse_fields("id}").is_err());
}

#[test]
fn list_parser_forms() {
    assert_eq!(
        wire::parse_list(r#"["MANAGE","ANALYZE"]"#),
        Some(vec!["MANAGE".into(), "ANALYZE".into()])
    );
    assert_eq!(
        wire::parse_list("['MANAGE', 'ANALYZE',]"),
        Some(vec!["MANAGE".into(), "ANALYZE".into()])
    );
    assert_eq!(
        wire::parse_list("MANAGE, ANALYZE"),
        Some(vec!["MANAGE".into(), "ANALYZE".into()])
    );
    assert_eq!(wire::parse_list("[]"), Some(vec![]));
    assert_eq!(wire::parse_list("['A'"), None);
}

// --- business to business (BB), on behalf of (OB), audience sharing (AS) ---------

#[tokio::test]
async fn bb01_requests_agency_access_to_an_ad_account() {
    let sb = demo();
    let path = format!("/{GLOBEX}/client_ad_accounts");
    let r = post(
        &sb,
        GLOBEX_ADMIN,
        &path,
        &[("adaccount_id", "act_2000000002")],
    )
    .await;
    assert_eq!(r.message(), "(#100) The parameter permitted_tasks is required: permitted_tasks is required for AGENCY access requests");
    let r = post(
        &sb,
        GLOBEX_ADMIN,
        &path,
        &[
            ("adaccount_id", "act_2000000002"),
            ("permitted_tasks", "['ADVERTISE','ANALYZE']"),
        ],
    )
    .await;
    assert_eq!(r.ok(), &json!({"access_status": "PENDING"}));
    assert_eq!(
        get(
            &sb,
            GLOBEX_ADMIN,
            &format!("/{GLOBEX}/pending_client_ad_accounts")
        )
        .await
        .asset_ids("ad_account"),
        vec!["act_2000000002", "act_2000000006"]
    );
    // The owner's admins accept in Business Manager (test hook).
    assert!(sb.approve_access("act_2000000002", GLOBEX));
    assert!(!sb.approve_access("act_2000000002", GLOBEX));
    assert_eq!(
        get(&sb, GLOBEX_ADMIN, &format!("/{GLOBEX}/client_ad_accounts"))
            .await
            .ids(),
        vec!["act_2000000001", "act_2000000002"]
    );
}

#[tokio::test]
async fn bb02_clients_show_permissions_and_client_response_pending() {
    let sb = demo();
    let r = get(&sb, GLOBEX_ADMIN, &format!("/{GLOBEX}/clients")).await;
    let data = r.ok()["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(data.len(), 2);
    assert_eq!(data[0]["id"], ACME);
    assert_eq!(data[0]["name"], "Acme Retail");
    assert_eq!(data[0]["page_permissions"][0]["id"], "3000000002");
    assert_eq!(data[0]["page_permissions"][0]["access_status"], "CONFIRMED");
    assert_eq!(data[0]["adaccount_permissions"][0]["id"], "act_2000000001");
    let t = data[0]["page_permissions"][0]["access_requested_time"]
        .as_str()
        .unwrap_or_default();
    assert!(
        t.len() == 24 && t.ends_with("+0000") && t.as_bytes()[10] == b'T',
        "{t}"
    );
    assert_eq!(data[1]["id"], "1000000003");
    assert_eq!(
        data[1]["page_permissions"][0]["access_status"],
        "CLIENT_RESPONSE_PENDING"
    );
    assert_eq!(
        data[1]["page_permissions"][0]["permitted_tasks"],
        json!(["ADVERTISE", "ANALYZE"])
    );
}

#[tokio::test]
async fn bb03_only_the_owner_grants_and_manage_needs_review() {
    let sb = demo();
    let r = post(
        &sb,
        GLOBEX_ADMIN,
        "/act_2000000001/agencies",
        &[
            ("business", "1000000003"),
            ("permitted_tasks", "['ANALYZE']"),
        ],
    )
    .await;
    assert_eq!(r.err(), (200, None));
    let r = post(
        &sb,
        ACME_ADMIN,
        "/act_2000000001/agencies",
        &[
            ("business", "1000000003"),
            ("permitted_tasks", "['ANALYZE']"),
        ],
    )
    .await;
    assert_eq!(r.ok(), &json!({"success": true}));
    let r = post(
        &sb,
        ACME_ADMIN,
        "/act_2000000002/agencies",
        &[
            ("business", "1000000003"),
            ("permitted_tasks", "['MANAGE','ADVERTISE','ANALYZE']"),
        ],
    )
    .await;
    assert_eq!(
        r.ok(),
        &json!({"success": true, "requires_admin_approval": true})
    );
    let r = get(
        &sb,
        ACME_ADMIN,
        "/act_2000000002/agencies?fields=id,access_status",
    )
    .await;
    assert_eq!(
        r.ok()["data"],
        json!([{"id": "1000000003", "access_status": "PENDING"}])
    );
    let r = get(
        &sb,
        ACME_ADMIN,
        "/act_2000000001/agencies?fields=id,permitted_tasks",
    )
    .await;
    assert_eq!(
        r.ok()["data"],
        json!([{"id": GLOBEX, "permitted_tasks": ["ADVERTISE", "ANALYZE"]}, {"id": "1000000003", "permitted_tasks": ["ANALYZE"]}])
    );
    assert_eq!(
        get(&sb, INITECH_ADMIN, "/1000000003/client_ad_accounts")
            .await
            .ids(),
        vec!["act_2000000001"]
    );
}

#[tokio::test]
async fn bb04_page_grants_need_a_page_token() {
    let sb = demo();
    let form = [
        ("business", "1000000003"),
        ("permitted_tasks", "['MODERATE','ADVERTISE','ANALYZE']"),
    ];
    let r = post(&sb, ACME_ADMIN, "/3000000001/agencies", &form).await;
    assert_eq!(r.err(), (210, None));
    let token = get(
        &sb,
        "sandbox-token-alice",
        "/3000000001?fields=access_token",
    )
    .await
    .ok()["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    // A page token of another page does not do.
    let r = post(&sb, &token, "/3000000002/agencies", &form).await;
    assert_eq!(r.err(), (210, None));
    let r = post(&sb, &token, "/3000000001/agencies", &form).await;
    assert_eq!(r.ok(), &json!({"success": true}));
    let r = get(
        &sb,
        ACME_ADMIN,
        "/3000000001/agencies?fields=id,access_status,permitted_tasks",
    )
    .await;
    assert_eq!(
        r.ok()["data"],
        json!([{"id": "1000000003", "access_status": "CONFIRMED", "permitted_tasks": ["MODERATE", "ADVERTISE", "ANALYZE"]}])
    );
}

#[tokio::test]
async fn bb05_to_bb11_removals_and_listings() {
    let sb = demo();
    // BB09: who has access to Acme's assets.
    let r = get(&sb, ACME_ADMIN, &format!("/{ACME}/agencies?fields=id,name")).await;
    assert_eq!(
        r.ok()["data"],
        json!([{"id": GLOBEX, "name": "Globex Agency"}])
    );
    // BB05: remove Globex from one ad account.
    assert_eq!(
        delete(
            &sb,
            ACME_ADMIN,
            &format!("/act_2000000001/agencies?business={GLOBEX}")
        )
        .await
        .ok(),
        &json!({"success": true})
    );
    assert!(get(&sb, ACME_ADMIN, "/act_2000000001/agencies")
        .await
        .ids()
        .is_empty());
    // BB06: the agency itself may leave a page.
    assert_eq!(
        delete(
            &sb,
            GLOBEX_ADMIN,
            &format!("/3000000002/agencies?business={GLOBEX}")
        )
        .await
        .ok(),
        &json!({"success": true})
    );
    assert_eq!(
        delete(
            &sb,
            GLOBEX_ADMIN,
            &format!("/3000000002/agencies?business={GLOBEX}")
        )
        .await
        .err()
        .0,
        100
    );
    // BB10: remove Globex from everything else of Acme's.
    assert_eq!(
        delete(
            &sb,
            ACME_ADMIN,
            &format!("/{ACME}/agencies?business={GLOBEX}")
        )
        .await
        .ok(),
        &json!({"success": true})
    );
    assert!(get(&sb, ACME_ADMIN, &format!("/{ACME}/agencies"))
        .await
        .ids()
        .is_empty());
    assert_eq!(
        delete(
            &sb,
            ACME_ADMIN,
            &format!("/{ACME}/agencies?business={GLOBEX}")
        )
        .await
        .err()
        .0,
        100
    );
    // BB11: Globex stops being Initech's agency.
    assert_eq!(
        delete(
            &sb,
            GLOBEX_ADMIN,
            &format!("/{GLOBEX}/clients?business=1000000003")
        )
        .await
        .ok(),
        &json!({"success": true})
    );
    assert!(get(&sb, GLOBEX_ADMIN, &format!("/{GLOBEX}/clients"))
        .await
        .ids()
        .is_empty());
    assert!(
        get(&sb, GLOBEX_ADMIN, &format!("/{GLOBEX}/instagram_accounts"))
            .await
            .ids()
            .is_empty()
    );
}

#[tokio::test]
async fn ob01_to_ob06_on_behalf_of_requests() {
    let sb = demo();
    let r = get(
        &sb,
        ACME_ADMIN,
        &format!("/{ACME}/received_inprogress_onbehalf_requests"),
    )
    .await;
    assert_eq!(r.ok()["data"], json!([{"id": "8400000001"}]));
    let r = post(
        &sb,
        GLOBEX_ADMIN,
        &format!("/{GLOBEX}/sent_inprogress_onbehalf_requests"),
        &[
            ("receiving_business", "1000000003"),
            ("business_owned_object", "act_2000000007"),
        ],
    )
    .await;
    assert_eq!(r.ok(), &json!({"id": "8400000002"}));
    let r = post(
        &sb,
        GLOBEX_ADMIN,
        &format!("/{GLOBEX}/sent_inprogress_onbehalf_requests"),
        &[
            ("receiving_business", "1000000003"),
            ("business_owned_object", "act_2000000001"),
        ],
    )
    .await;
    assert_eq!(
        r.err(),
        (100, Some(u64::from(wire::subcode::NOT_IN_BUSINESS)))
    );
    let r = get(
        &sb,
        GLOBEX_ADMIN,
        "/8400000002?fields=id,receiving_business,requesting_business,status,business_owned_object",
    )
    .await;
    assert_eq!(
        r.ok(),
        &json!({
            "id": "8400000002",
            "receiving_business": {"id": "1000000003", "name": "Initech Holdings"},
            "requesting_business": {"id": GLOBEX, "name": "Globex Agency"},
            "status": "IN_PROGRESS",
            "business_owned_object": "2000000007",
        })
    );
    assert_eq!(
        get(
            &sb,
            GLOBEX_ADMIN,
            &format!("/{GLOBEX}/sent_inprogress_onbehalf_requests")
        )
        .await
        .ids(),
        vec!["8400000001", "8400000002"]
    );
    assert!(sb.respond("8400000001", true));
    let r = get(
        &sb,
        GLOBEX_ADMIN,
        "/act_2000000007/onbehalf_requests?status=APPROVE&fields=id,status",
    )
    .await;
    assert_eq!(
        r.ok()["data"],
        json!([{"id": "8400000001", "status": "APPROVE"}])
    );
    assert_eq!(
        get(
            &sb,
            GLOBEX_ADMIN,
            "/act_2000000007/onbehalf_requests?status=NOPE"
        )
        .await
        .err(),
        (100, None)
    );
    assert_eq!(
        delete(&sb, GLOBEX_ADMIN, "/8400000002").await.ok(),
        &json!({"success": true})
    );
    assert_eq!(
        delete(&sb, GLOBEX_ADMIN, "/8400000002").await.err(),
        (100, None)
    );
    assert!(get(
        &sb,
        GLOBEX_ADMIN,
        &format!("/{GLOBEX}/sent_inprogress_onbehalf_requests")
    )
    .await
    .ids()
    .is_empty());
    assert_eq!(get(&sb, ERIN, "/8400000001").await.err(), (200, None));
}

#[tokio::test]
async fn as01_to_as04_audience_sharing() {
    let sb = demo();
    let form = [
        (
            "adaccounts",
            r#"["2000000002","act_2000000007","2000000006","999"]"#,
        ),
        ("relationship_type", r#"["Agency"]"#),
    ];
    let r = post(&sb, ACME_ADMIN, "/8200000001/adaccounts", &form).await;
    let data = r.ok()["sharing_data"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let statuses: Vec<&str> = data
        .iter()
        .filter_map(|d| d["audience_share_status"].as_str())
        .collect();
    assert_eq!(
        statuses,
        vec!["SHARED", "IN_PROGRESS", "IN_PROGRESS", "NOT_SHARED"]
    );
    assert_eq!(data[1]["business_id"], GLOBEX);
    // Non-admins get NOT_SHARED with the seed's error.
    let r = post(&sb, ACME_EMPLOYEE, "/8200000001/adaccounts", &form).await;
    assert_eq!(
        r.ok()["sharing_data"][1]["errors"][0],
        "You don't have permission to initiate a sharing relationship for this ad account/business"
    );
    let r = post(
        &sb,
        ACME_ADMIN,
        "/8200000001/adaccounts",
        &[
            ("adaccounts", "['2000000007']"),
            ("relationship_type", "['Friends']"),
        ],
    )
    .await;
    assert_eq!(r.err(), (100, None));
    // Globex received two requests (Initech's and Acme's new one).
    let r = get(
        &sb,
        GLOBEX_ADMIN,
        &format!("/{GLOBEX}/received_audience_sharing_requests"),
    )
    .await;
    let ids = r.ids();
    assert_eq!(ids.len(), 2);
    assert_eq!(ids[0], "8300000001");
    assert_eq!(r.ok()["data"][0]["custom_audiences"][0]["id"], "8200000002");
    assert_eq!(r.ok()["data"][0]["initiator"]["name"], "Initech Holdings");
    let acme_rel = ids[1].clone();
    assert_eq!(
        get(
            &sb,
            ACME_ADMIN,
            &format!("/{ACME}/initiated_audience_sharing_requests")
        )
        .await
        .ids()
        .len(),
        2
    );
    // AS02: Globex approves; sharing again is immediate.
    assert_eq!(
        post(
            &sb,
            ACME_ADMIN,
            &format!("/{acme_rel}"),
            &[("request_response", "approve")]
        )
        .await
        .err(),
        (200, None)
    );
    assert_eq!(
        post(
            &sb,
            GLOBEX_ADMIN,
            &format!("/{acme_rel}"),
            &[("request_response", "approve")]
        )
        .await
        .ok(),
        &json!({"success": true})
    );
    assert_eq!(
        post(
            &sb,
            GLOBEX_ADMIN,
            &format!("/{acme_rel}"),
            &[("request_response", "approve")]
        )
        .await
        .err(),
        (100, None)
    );
    let r = post(
        &sb,
        ACME_ADMIN,
        "/8200000001/adaccounts",
        &[
            ("adaccounts", "['2000000007']"),
            ("relationship_type", "['Agency']"),
        ],
    )
    .await;
    assert_eq!(r.ok()["sharing_data"][0]["audience_share_status"], "SHARED");
    let r = get(
        &sb,
        GLOBEX_ADMIN,
        &format!("/{acme_rel}?fields=request_status"),
    )
    .await;
    assert_eq!(r.ok(), &json!({"request_status": "APPROVE"}));
    assert!(sb.respond("8300000001", false));
    assert!(!sb.respond("8300000001", true));
}

// --- rate limits (Meta's scoring model) ------------------------------------------

const ACCOUNT: &str = "/act_2000000001";

/// A usage header as JSON.
fn usage(r: &Resp, name: &str) -> Value {
    serde_json::from_str(r.header(name).unwrap_or_else(|| panic!("no {name}"))).expect("json")
}

/// Asserts a throttling answer: HTTP 400, `code`/`subcode`, transient.
fn assert_throttled(r: &Resp, code: u64, subcode: Option<u64>) {
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.err(), (code, subcode));
    assert_eq!(r.body["error"]["type"], "OAuthException");
    assert_eq!(r.body["error"]["is_transient"], true);
    assert!(r.body["error"]["fbtrace_id"].is_string());
}

fn secs(n: u64) -> std::time::Duration {
    std::time::Duration::from_secs(n)
}

#[tokio::test(start_paused = true)]
async fn demo_scores_on_the_standard_tier() {
    let sb = demo();
    let r = get(&sb, ACME_ADMIN, ACCOUNT).await;
    r.ok();
    let acc = usage(&r, "x-ad-account-usage");
    assert_eq!(
        acc,
        json!({"acc_id_util_pct": 0.01, "reset_time_duration": 300, "ads_api_access_tier": "standard_access"})
    );
    assert_eq!(sb.points_spent("act_2000000001"), 1);
    assert_eq!(sb.calls_admitted(), 1);
}

#[tokio::test(start_paused = true)]
async fn reads_cost_one_point_and_writes_three() {
    let sb = Sandbox::demo().with_scoring(ScoringConfig::development());
    let r = get(&sb, ACME_ADMIN, ACCOUNT).await;
    r.ok();
    assert_eq!(sb.points_spent("act_2000000001"), 1);
    assert_eq!(usage(&r, "x-ad-account-usage")["acc_id_util_pct"], 1.67);
    // A write, even one Graph refuses, costs 3.
    let r = post(
        &sb,
        ACME_ADMIN,
        &format!("{ACCOUNT}/assigned_users"),
        &[("user", "10003"), ("tasks", "['ANALYZE']")],
    )
    .await;
    assert_eq!(sb.points_spent("2000000001"), 4);
    assert_eq!(usage(&r, "x-ad-account-usage")["acc_id_util_pct"], 6.67);
    delete(
        &sb,
        ACME_ADMIN,
        &format!("{ACCOUNT}/assigned_users?user=10003"),
    )
    .await;
    assert_eq!(sb.points_spent("act_2000000001"), 7);
    // `method=delete` on a GET is a write too.
    get(
        &sb,
        ACME_ADMIN,
        &format!("{ACCOUNT}/assigned_users?user=10003&method=delete"),
    )
    .await;
    assert_eq!(sb.points_spent("act_2000000001"), 10);
    assert!((sb.score("act_2000000001") - 16.67).abs() < 1e-9);
    // Other accounts have their own score; non-act_ calls score nothing.
    get(&sb, ACME_ADMIN, "/act_2000000002").await.ok();
    get(&sb, ACME_ADMIN, &format!("/{ACME}/owned_pages"))
        .await
        .ok();
    assert_eq!(sb.points_spent("act_2000000002"), 1);
    assert_eq!(sb.points_spent("act_2000000001"), 10);
    assert_eq!(sb.calls_admitted(), 6);
    assert_eq!(sb.throttled_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn the_score_decays_after_the_window() {
    let sb = Sandbox::demo().with_scoring(ScoringConfig::development());
    for _ in 0..10 {
        get(&sb, ACME_ADMIN, ACCOUNT).await.ok();
    }
    // tokio's clock and the sandbox's advance_clock both move the meter.
    tokio::time::advance(secs(100)).await;
    sb.advance_clock(secs(100));
    for _ in 0..5 {
        get(&sb, ACME_ADMIN, ACCOUNT).await.ok();
    }
    assert!((sb.score(ACCOUNT.trim_start_matches('/')) - 25.0).abs() < 1e-9);
    // The first ten points stop counting 300 s after they were spent.
    tokio::time::advance(secs(99)).await;
    assert!((sb.score("act_2000000001") - 25.0).abs() < 1e-9);
    tokio::time::advance(secs(1)).await;
    assert!((sb.score("act_2000000001") - 8.33).abs() < 1e-9);
    let r = get(&sb, ACME_ADMIN, ACCOUNT).await;
    let acc = usage(&r, "x-ad-account-usage");
    assert_eq!(acc["acc_id_util_pct"], 10.0);
    assert_eq!(acc["reset_time_duration"], 300);
    tokio::time::advance(secs(300)).await;
    assert_eq!(sb.score("act_2000000001"), 0.0);
    assert_eq!(sb.points_spent("act_2000000001"), 16);
}

#[tokio::test(start_paused = true)]
async fn going_over_the_score_is_code_17_and_blocks_the_account() {
    let sb = Sandbox::demo().with_scoring(ScoringConfig {
        block_duration: secs(60),
        ..ScoringConfig::development()
    });
    for _ in 0..58 {
        get(&sb, ACME_ADMIN, ACCOUNT).await.ok();
    }
    // 58 + 3 > 60: refused, nothing spent, the account is blocked.
    let r = post(
        &sb,
        ACME_ADMIN,
        &format!("{ACCOUNT}/assigned_users"),
        &[("user", "10002"), ("tasks", "['ANALYZE']")],
    )
    .await;
    assert_throttled(&r, 17, Some(2_446_079));
    assert_eq!(r.message(), "(#17) User request limit reached");
    let acc = usage(&r, "x-ad-account-usage");
    assert_eq!(acc["acc_id_util_pct"], 96.67);
    assert_eq!(acc["reset_time_duration"], 300);
    assert_eq!(sb.points_spent("act_2000000001"), 58);
    // Blocked: even a read that would fit is refused.
    tokio::time::advance(secs(59)).await;
    let r = get(&sb, ACME_ADMIN, ACCOUNT).await;
    assert_throttled(&r, 17, Some(2_446_079));
    // Other accounts are not blocked.
    get(&sb, ACME_ADMIN, "/act_2000000002").await.ok();
    assert_eq!(sb.throttled_count(), 2);
    // The block ends after block_duration: reads fit again up to the max.
    tokio::time::advance(secs(1)).await;
    get(&sb, ACME_ADMIN, ACCOUNT).await.ok();
    let r = get(&sb, ACME_ADMIN, ACCOUNT).await;
    assert_eq!(usage(&r, "x-ad-account-usage")["acc_id_util_pct"], 100.0);
    let r = get(&sb, ACME_ADMIN, ACCOUNT).await;
    assert_throttled(&r, 17, Some(2_446_079));
    assert_eq!(sb.points_spent("act_2000000001"), 60);
    assert_eq!(sb.throttled_count(), 3);
    // Once the points have decayed and the block is over, all is well.
    tokio::time::advance(secs(300)).await;
    let r = get(&sb, ACME_ADMIN, ACCOUNT).await;
    r.ok();
    assert_eq!(usage(&r, "x-ad-account-usage")["acc_id_util_pct"], 1.67);
}

#[tokio::test(start_paused = true)]
async fn reset_time_is_the_later_of_decay_and_block() {
    let sb = Sandbox::demo().with_scoring(ScoringConfig {
        max_points: 2,
        decay_window: secs(30),
        block_duration: secs(120),
        ..ScoringConfig::development()
    });
    get(&sb, ACME_ADMIN, ACCOUNT).await.ok();
    tokio::time::advance(secs(10)).await;
    let r = get(&sb, ACME_ADMIN, ACCOUNT).await;
    assert_eq!(
        usage(&r, "x-ad-account-usage"),
        json!({"acc_id_util_pct": 100.0, "reset_time_duration": 30, "ads_api_access_tier": "development_access"})
    );
    let r = get(&sb, ACME_ADMIN, ACCOUNT).await;
    assert_throttled(&r, 17, Some(2_446_079));
    assert_eq!(usage(&r, "x-ad-account-usage")["reset_time_duration"], 120);
    // The score is back to 0 after 30 s, the block lasts 120 s.
    tokio::time::advance(secs(30)).await;
    let r = get(&sb, ACME_ADMIN, ACCOUNT).await;
    assert_throttled(&r, 17, Some(2_446_079));
    assert_eq!(
        usage(&r, "x-ad-account-usage"),
        json!({"acc_id_util_pct": 0.0, "reset_time_duration": 90, "ads_api_access_tier": "development_access"})
    );
    sb.advance_clock(secs(90));
    get(&sb, ACME_ADMIN, ACCOUNT).await.ok();
}

#[tokio::test(start_paused = true)]
async fn a_reset_score_returns_to_zero_a_window_after_its_first_point_and_rounds_down() {
    let sb = Sandbox::demo().with_scoring(ScoringConfig {
        max_points: 4,
        decay_window: secs(10),
        decay: Decay::Reset,
        block_duration: secs(10),
        ..ScoringConfig::development()
    });
    let ms = std::time::Duration::from_millis;
    get(&sb, ACME_ADMIN, ACCOUNT).await.ok();
    tokio::time::advance(ms(2_500)).await;
    let r = get(&sb, ACME_ADMIN, ACCOUNT).await;
    // The window opened with the first point: 7.5 s left, said as 7.
    assert_eq!(
        usage(&r, "x-ad-account-usage"),
        json!({"acc_id_util_pct": 50.0, "reset_time_duration": 7, "ads_api_access_tier": "development_access"})
    );
    get(&sb, ACME_ADMIN, ACCOUNT).await.ok();
    get(&sb, ACME_ADMIN, ACCOUNT).await.ok();
    assert_eq!(sb.score("act_2000000001"), 100.0);
    // A client that waits the reported 7 s is early: the score is still
    // full, and going over blocks the account.
    tokio::time::advance(secs(7)).await;
    assert_eq!(sb.score("act_2000000001"), 100.0);
    // Half a second later the whole score is gone at once.
    tokio::time::advance(ms(500)).await;
    assert_eq!(sb.score("act_2000000001"), 0.0);
    let r = get(&sb, ACME_ADMIN, ACCOUNT).await;
    r.ok();
    assert_eq!(usage(&r, "x-ad-account-usage")["reset_time_duration"], 10);
    assert_eq!(sb.points_spent("act_2000000001"), 5);
    assert_eq!(sb.throttled_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn all_three_headers_carry_the_numbers() {
    let sb = Sandbox::demo().with_scoring(ScoringConfig {
        app_calls: 20,
        buc_calls: 10,
        ..ScoringConfig::development()
    });
    get(&sb, ACME_ADMIN, &format!("/{ACME}/owned_ad_accounts"))
        .await
        .ok();
    let r = get(&sb, ACME_ADMIN, ACCOUNT).await;
    r.ok();
    // Two calls: 10% of the app, 20% of Acme's ads_management budget.
    assert_eq!(
        usage(&r, "x-app-usage"),
        json!({"call_count": 10, "total_cputime": 10, "total_time": 10})
    );
    assert_eq!(
        usage(&r, "x-business-use-case-usage"),
        json!({ACME: [{
            "type": "ads_management",
            "call_count": 20,
            "total_cputime": 20,
            "total_time": 20,
            "estimated_time_to_regain_access": 0,
        }]})
    );
    assert_eq!(
        usage(&r, "x-ad-account-usage"),
        json!({"acc_id_util_pct": 1.67, "reset_time_duration": 300, "ads_api_access_tier": "development_access"})
    );
    // Each use case of a business has its own budget.
    let r = get(&sb, ACME_ADMIN, &format!("/{ACME}/business_asset_groups")).await;
    let buc = usage(&r, "x-business-use-case-usage");
    assert_eq!(buc[ACME][0]["type"], "business_management");
    assert_eq!(buc[ACME][0]["call_count"], 10);
    // An hour later, the windows are empty again.
    tokio::time::advance(secs(3600)).await;
    let r = get(&sb, ACME_ADMIN, &format!("/{ACME}/owned_pages")).await;
    assert_eq!(usage(&r, "x-app-usage")["call_count"], 5);
    assert_eq!(
        usage(&r, "x-business-use-case-usage")[ACME][0]["type"],
        "pages"
    );
    assert_eq!(
        usage(&r, "x-business-use-case-usage")[ACME][0]["call_count"],
        10
    );
}

#[tokio::test(start_paused = true)]
async fn business_use_cases_throttle_with_their_own_code() {
    let cases = [
        (
            format!("/{ACME}/owned_ad_accounts"),
            "ads_management",
            80_004,
        ),
        (format!("/{ACME}/owned_pages"), "pages", 80_001),
        (
            format!("/{ACME}/owned_instagram_accounts"),
            "instagram",
            80_002,
        ),
        (
            format!("/{ACME}/owned_product_catalogs"),
            "catalog_management",
            80_009,
        ),
        ("/8200000001".to_string(), "custom_audience", 80_003),
        ("/9000000001".to_string(), "business_management", 80_000),
        (format!("/{ACME}/owned_apps"), "business_management", 80_000),
    ];
    for (path, use_case, code) in cases {
        let sb = Sandbox::demo().with_scoring(ScoringConfig {
            buc_calls: 2,
            ..ScoringConfig::development()
        });
        get(&sb, ACME_ADMIN, &path).await.ok();
        get(&sb, ACME_ADMIN, &path).await.ok();
        let r = get(&sb, ACME_ADMIN, &path).await;
        assert_throttled(&r, code, None);
        assert!(
            r.message()
                .starts_with(&format!("(#{code}) There have been too many calls")),
            "{}",
            r.message()
        );
        let buc = usage(&r, "x-business-use-case-usage");
        assert_eq!(buc[ACME][0]["type"], use_case, "{path}");
        assert_eq!(buc[ACME][0]["call_count"], 100);
        assert_eq!(buc[ACME][0]["estimated_time_to_regain_access"], 5);
        assert_eq!(sb.throttled_count(), 1);
        assert_eq!(sb.calls_admitted(), 2);
    }
}

#[tokio::test(start_paused = true)]
async fn a_throttled_use_case_is_blocked_then_recovers() {
    let sb = Sandbox::demo().with_scoring(ScoringConfig {
        buc_calls: 2,
        buc_window: secs(600),
        ..ScoringConfig::development()
    });
    let path = format!("/{ACME}/owned_ad_accounts");
    get(&sb, ACME_ADMIN, &path).await.ok();
    get(&sb, ACME_ADMIN, ACCOUNT).await.ok(); // Acme's ads_management too.
    let r = get(&sb, ACME_ADMIN, &path).await;
    assert_throttled(&r, 80_004, None);
    assert_eq!(
        r.message(),
        "(#80004) There have been too many calls to this ad-account. Wait a bit and try again."
    );
    // The same business's other use cases, and other businesses, still run.
    get(&sb, ACME_ADMIN, &format!("/{ACME}/owned_pages"))
        .await
        .ok();
    get(&sb, GLOBEX_ADMIN, &format!("/{GLOBEX}/owned_ad_accounts"))
        .await
        .ok();
    // 299 s into the 300 s block: 1 minute to go.
    tokio::time::advance(secs(299)).await;
    let r = get(&sb, ACME_ADMIN, ACCOUNT).await;
    assert_throttled(&r, 80_004, None);
    assert_eq!(
        usage(&r, "x-business-use-case-usage")[ACME][0]["estimated_time_to_regain_access"],
        1
    );
    // The block is over but the window still holds 2 calls: blocked again.
    tokio::time::advance(secs(1)).await;
    assert_throttled(&get(&sb, ACME_ADMIN, &path).await, 80_004, None);
    // Once the calls left the window and the block ended, calls run again.
    tokio::time::advance(secs(300)).await;
    let r = get(&sb, ACME_ADMIN, &path).await;
    r.ok();
    let buc = usage(&r, "x-business-use-case-usage");
    assert_eq!(buc[ACME][0]["call_count"], 50);
    assert_eq!(buc[ACME][0]["estimated_time_to_regain_access"], 0);
    assert_eq!(sb.throttled_count(), 3);
}

#[tokio::test(start_paused = true)]
async fn the_app_limit_is_code_4() {
    let sb = Sandbox::demo().with_scoring(ScoringConfig {
        app_calls: 3,
        app_window: secs(60),
        app_block: secs(120),
        ..ScoringConfig::development()
    });
    for _ in 0..3 {
        get(&sb, ACME_ADMIN, "/me").await.ok();
    }
    let r = get(&sb, ACME_ADMIN, "/me").await;
    assert_throttled(&r, 4, None);
    assert_eq!(r.message(), "(#4) Application request limit reached");
    assert_eq!(
        usage(&r, "x-app-usage"),
        json!({"call_count": 100, "total_cputime": 100, "total_time": 100})
    );
    // Every token and path of the app is refused during the block.
    let r = get(&sb, GLOBEX_ADMIN, &format!("/{GLOBEX}/owned_pages")).await;
    assert_throttled(&r, 4, None);
    tokio::time::advance(secs(119)).await;
    assert_throttled(&get(&sb, ACME_ADMIN, "/me").await, 4, None);
    tokio::time::advance(secs(1)).await;
    let r = get(&sb, ACME_ADMIN, "/me").await;
    r.ok();
    assert_eq!(usage(&r, "x-app-usage")["call_count"], 33);
    assert_eq!(sb.throttled_count(), 3);
    assert_eq!(sb.calls_admitted(), 4);
}

#[tokio::test(start_paused = true)]
async fn headers_only_mode_never_refuses() {
    let sb = Sandbox::demo().with_scoring(ScoringConfig {
        app_calls: 50,
        buc_calls: 50,
        ..ScoringConfig::development().headers_only()
    });
    let mut last = None;
    for _ in 0..100 {
        last = Some(get(&sb, ACME_ADMIN, ACCOUNT).await);
        last.as_ref().map(Resp::ok);
    }
    let r = last.expect("answers");
    assert_eq!(usage(&r, "x-app-usage")["call_count"], 200);
    let acc = usage(&r, "x-ad-account-usage");
    assert_eq!(acc["acc_id_util_pct"], 166.67);
    assert_eq!(acc["reset_time_duration"], 300);
    let buc = usage(&r, "x-business-use-case-usage");
    assert_eq!(buc[ACME][0]["call_count"], 200);
    assert_eq!(buc[ACME][0]["estimated_time_to_regain_access"], 0);
    assert_eq!(sb.throttled_count(), 0);
    assert_eq!(sb.calls_admitted(), 100);
    assert_eq!(sb.points_spent("act_2000000001"), 100);
}

#[tokio::test(start_paused = true)]
async fn calls_failing_authentication_spend_nothing() {
    let sb = Sandbox::demo().with_scoring(ScoringConfig::development());
    let r = get(&sb, "bad", ACCOUNT).await;
    assert_eq!(r.err(), (190, None));
    assert_eq!(usage(&r, "x-app-usage")["call_count"], 0);
    assert_eq!(sb.calls_admitted(), 0);
    assert_eq!(sb.points_spent("act_2000000001"), 0);
}

// --- Meta's published spec (tests/data/graph-spec.json) -------------------------

/// The demo sandbox with only the `edge` rows of the exceptions (the edges
/// gone from the spec), so that these tests see the spec's own answers
/// whatever `field`, `param` and `value` rows the embedded file has.
fn bare() -> Sandbox {
    let sb = Sandbox::demo();
    let rows: String = [
        "AG04", "AG24", "AG25", "AG26", "AP04", "BB01", "OB01", "OB03", "OB05", "OB06",
    ]
    .iter()
    .map(|op| format!("{op}\tedge\t-\tgone from the spec\n"))
    .collect();
    sb.set_exceptions(&rows);
    sb
}

#[tokio::test]
async fn unknown_params_are_refused_as_graph_does() {
    let sb = bare();
    let r = get(&sb, ACME_ADMIN, &format!("/{ACME}/owned_pages?colour=red")).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.err(), (100, None));
    assert_eq!(r.message(), "(#100) Param colour is not a valid parameter");
    assert_eq!(r.body["error"]["type"], "OAuthException");
    assert!(r.body["error"]["fbtrace_id"].is_string());
    // Always-allowed parameters pass everywhere.
    let r = get(
        &sb,
        ACME_ADMIN,
        &format!("/{ACME}/owned_pages?limit=1&summary=true&pretty=0&locale=en_US&fields=id&access_token={ACME_ADMIN}"),
    )
    .await;
    assert_eq!(r.ids(), vec!["3000000001"]);
    // PG01 takes page_id, code and entry_point; the seed's ig_password is
    // not a parameter of the edge.
    let path = format!("/{ACME}/owned_pages");
    let r = post(
        &sb,
        ACME_ADMIN,
        &path,
        &[("page_id", "3000000003"), ("ig_password", "x")],
    )
    .await;
    assert_eq!(
        r.message(),
        "(#100) Param ig_password is not a valid parameter"
    );
    let r = post(
        &sb,
        ACME_ADMIN,
        &path,
        &[
            ("page_id", "3000000003"),
            ("code", "123456"),
            ("entry_point", "BM"),
        ],
    )
    .await;
    assert_eq!(r.ok(), &json!({"access_status": "CONFIRMED"}));
    // Spec-required parameters.
    let r = post(&sb, ACME_ADMIN, &path, &[]).await;
    assert_eq!(r.message(), "(#100) The parameter page_id is required");
    // A param exception row for the operation lets it through.
    sb.add_exceptions("PG01\tparam\tig_password\ttest\n");
    let r = post(
        &sb,
        ACME_ADMIN,
        &path,
        &[("page_id", "3000000003"), ("ig_password", "x")],
    )
    .await;
    assert_eq!(r.ok(), &json!({"access_status": "CONFIRMED"}));
    // Calls outside the table keep their behaviour (/debug_token, /me).
    let r = get(
        &sb,
        ACME_ADMIN,
        &format!("/debug_token?input_token={CAROL}"),
    )
    .await;
    assert_eq!(r.ok()["data"]["user_id"], "10003");
}

#[tokio::test]
async fn enum_params_take_every_spec_value_and_nothing_else() {
    let sb = bare();
    // Ad account tasks of the spec, DRAFT and AA_ANALYZE included.
    let r = post(
        &sb,
        ACME_ADMIN,
        "/act_2000000001/assigned_users",
        &[
            ("user", "10002"),
            ("tasks", "['DRAFT','AA_ANALYZE','ANALYZE']"),
        ],
    )
    .await;
    assert_eq!(r.ok(), &json!({"success": true}));
    let r = post(
        &sb,
        ACME_ADMIN,
        "/act_2000000001/assigned_users",
        &[("user", "10002"), ("tasks", "['ANALYZE','FLY']")],
    )
    .await;
    assert_eq!(
        r.message(),
        "(#100) Param tasks[1] must be one of {AA_ANALYZE, ADVERTISE, ANALYZE, DRAFT, MANAGE} - got \"FLY\""
    );
    // A value exception row lets an outside value through.
    sb.add_exceptions("AA08\tvalue\ttasks=FLY\ttest\n");
    let r = post(
        &sb,
        ACME_ADMIN,
        "/act_2000000001/assigned_users",
        &[("user", "10002"), ("tasks", "['FLY']")],
    )
    .await;
    assert_eq!(r.err(), (100, None));
    assert!(r.message().contains("invalid task"), "{}", r.message());
    // A single-valued enum (OB04 status).
    let r = get(
        &sb,
        GLOBEX_ADMIN,
        "/act_2000000007/onbehalf_requests?status=MAYBE",
    )
    .await;
    assert!(
        r.message()
            .starts_with("(#100) Param status must be one of {APPROVE, CANCELED,"),
        "{}",
        r.message()
    );
    // Every AG07 task list takes the spec's values.
    let r = post(
        &sb,
        ACME_ADMIN,
        "/9000000002/assigned_users",
        &[
            ("user", "10002"),
            ("page_tasks", "['MANAGE_JOBS','VIEW_MONETIZATION_INSIGHTS']"),
            ("adaccount_tasks", "['DRAFT','AA_ANALYZE']"),
            ("pixel_tasks", "['EDIT','AA_ANALYZE']"),
            ("offline_conversion_data_set_tasks", "['VIEW','AA_ANALYZE']"),
        ],
    )
    .await;
    assert_eq!(r.ok(), &json!({"success": true}));
    let r = post(
        &sb,
        ACME_ADMIN,
        "/9000000002/assigned_users",
        &[("user", "10002"), ("pixel_tasks", "['MANAGE']")],
    )
    .await;
    assert!(r
        .message()
        .starts_with("(#100) Param pixel_tasks[0] must be one of"));
}

#[tokio::test]
async fn fields_are_checked_against_the_spec_types_and_exceptions() {
    let sb = bare();
    // Spec fields the sandbox does not model are accepted (and omitted).
    let r = get(
        &sb,
        ACME_ADMIN,
        &format!("/{ACME}/owned_ad_accounts?fields=id,name,amount_spent&limit=1"),
    )
    .await;
    assert_eq!(
        r.ok()["data"],
        json!([{"id": "act_2000000001", "name": "Acme US Prospecting"}])
    );
    // A field neither in Meta's type nor in an exception row is refused.
    let r = get(
        &sb,
        ACME_ADMIN,
        &format!("/{ACME}/owned_ad_accounts?fields=id,favourite_colour"),
    )
    .await;
    assert_eq!(
        r.message(),
        "(#100) Tried accessing nonexisting field (favourite_colour) on node type (AdAccount)"
    );
    // Nested selections are checked against the nested type.
    let r = get(
        &sb,
        ACME_ADMIN,
        &format!("/{ACME}/owned_ad_accounts?fields=id,business{{id,colour}}"),
    )
    .await;
    assert_eq!(
        r.message(),
        "(#100) Tried accessing nonexisting field (colour) on node type (Business)"
    );
    let r = get(
        &sb,
        ACME_ADMIN,
        &format!("/{ACME}/owned_ad_accounts?fields=id,business{{id,name}}&limit=1"),
    )
    .await;
    assert_eq!(
        r.ok()["data"],
        json!([{"id": "act_2000000001", "business": {"id": ACME, "name": "Acme Retail"}}])
    );
    // Without fields=, edge-context defaults are dropped unless excepted
    // (this sandbox has no field rows): BB02's page_permissions.
    let r = get(&sb, GLOBEX_ADMIN, &format!("/{GLOBEX}/clients")).await;
    assert!(
        r.ok()["data"][0].get("page_permissions").is_none(),
        "{}",
        r.body
    );
    // A type-wide row (`*  field  Type.field`) serves it on every edge.
    sb.add_exceptions("*\tfield\tAdAccount.access_type\ttest\n");
    let r = get(
        &sb,
        ACME_ADMIN,
        &format!("/{ACME}/owned_ad_accounts?fields=id,access_type&limit=1"),
    )
    .await;
    assert_eq!(
        r.ok()["data"],
        json!([{"id": "act_2000000001", "access_type": "OWNER"}])
    );
    // A row of one operation covers that operation only.
    sb.add_exceptions("AA03\tfield\tfavourite_colour\ttest\n");
    let r = get(
        &sb,
        ACME_ADMIN,
        &format!("/{ACME}/owned_ad_accounts?fields=id,favourite_colour&limit=1"),
    )
    .await;
    assert_eq!(r.ok()["data"], json!([{"id": "act_2000000001"}]));
    let r = get(
        &sb,
        GLOBEX_ADMIN,
        &format!("/{GLOBEX}/client_ad_accounts?fields=id,favourite_colour"),
    )
    .await;
    assert_eq!(r.err(), (100, None));
    // Instagram accounts are IGUser nodes.
    let r = get(
        &sb,
        ACME_ADMIN,
        &format!("/{ACME}/owned_instagram_accounts?fields=id,karma"),
    )
    .await;
    assert_eq!(
        r.message(),
        "(#100) Tried accessing nonexisting field (karma) on node type (IGUser)"
    );
}

#[tokio::test]
async fn pending_lists_answer_request_objects() {
    let sb = bare();
    let r = get(
        &sb,
        ACME_ADMIN,
        &format!("/{ACME}/pending_owned_ad_accounts"),
    )
    .await;
    let data = r.ok()["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(data.len(), 1);
    let request = data[0]["id"].as_str().unwrap_or_default().to_string();
    assert_ne!(request, "act_2000000003");
    assert_eq!(
        data[0]["ad_account"],
        json!({"id": "act_2000000003", "name": "Acme Legacy Account"})
    );
    // The request keeps its id; each request has its own.
    let r = get(
        &sb,
        ACME_ADMIN,
        &format!("/{ACME}/pending_owned_ad_accounts?fields=id,ad_account{{id}}"),
    )
    .await;
    assert_eq!(
        r.ok()["data"],
        json!([{"id": request, "ad_account": {"id": "act_2000000003"}}])
    );
    let pages = get(
        &sb,
        ACME_ADMIN,
        &format!("/{ACME}/pending_owned_pages?fields=id,page{{name}}"),
    )
    .await;
    assert_eq!(pages.ok()["data"][0]["page"], json!({"name": "Acme Kiosk"}));
    let page_request = pages.ok()["data"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_ne!(page_request, request);
    let apps = get(&sb, ACME_ADMIN, &format!("/{ACME}/pending_client_apps")).await;
    assert_eq!(apps.asset_ids("application"), vec!["4000000003"]);
    let app_request = apps.ok()["data"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        ![request.as_str(), page_request.as_str(), "4000000003"].contains(&app_request.as_str())
    );
    for (path, field) in [
        ("pending_client_ad_accounts", "ad_account"),
        ("pending_client_pages", "page"),
    ] {
        let r = get(
            &sb,
            GLOBEX_ADMIN,
            &format!("/{GLOBEX}/{path}?fields=id,{field}{{id,name}}"),
        )
        .await;
        assert_eq!(r.asset_ids(field).len(), 1, "{path}");
        // Fields outside BusinessAdAccountRequest / BusinessPageRequest.
        let r = get(
            &sb,
            GLOBEX_ADMIN,
            &format!("/{GLOBEX}/{path}?fields=id,name"),
        )
        .await;
        assert_eq!(r.err(), (100, None), "{path}");
    }
}

#[tokio::test]
async fn mutations_answer_success_objects() {
    let sb = bare();
    for r in [
        post(&sb, ACME_ADMIN, "/9000000002", &[("name", "West")]).await,
        post(
            &sb,
            ACME_ADMIN,
            "/9000000002/contained_pages",
            &[("asset_id", "3000000002")],
        )
        .await,
        delete(
            &sb,
            ACME_ADMIN,
            "/9000000002/contained_pages?asset_id=3000000002",
        )
        .await,
        post(
            &sb,
            ACME_ADMIN,
            "/9000000002/assigned_users",
            &[("user", "10002"), ("adaccount_tasks", "['ANALYZE']")],
        )
        .await,
        delete(&sb, ACME_ADMIN, "/9000000002/assigned_users?user=10002").await,
        delete(&sb, ACME_ADMIN, "/9000000002").await,
    ] {
        assert_eq!(r.ok(), &json!({"success": true}));
    }
}

#[tokio::test]
async fn ag07_tasks_are_what_the_user_gets_on_the_groups_assets() {
    let sb = bare();
    // Bob joins group 9000000002 (act_2000000001) with DRAFT.
    let r = post(
        &sb,
        ACME_ADMIN,
        "/9000000002/assigned_users",
        &[
            ("user", "10002"),
            ("adaccount_tasks", r#"["DRAFT","ANALYZE"]"#),
        ],
    )
    .await;
    assert_eq!(r.ok(), &json!({"success": true}));
    sb.add_exceptions("AA07\tfield\ttasks\ttest\n");
    let r = get(
        &sb,
        ACME_ADMIN,
        &format!("/act_2000000001/assigned_users?business={ACME}&fields=id,tasks"),
    )
    .await;
    let bob = r.ok()["data"]
        .as_array()
        .and_then(|d| d.iter().find(|u| u["id"] == "10002").cloned())
        .expect("bob");
    assert_eq!(bob["tasks"], json!(["ADVERTISE", "ANALYZE", "DRAFT"]));
    // AG05 contained_asset_id filters the user's groups.
    let r = get(
        &sb,
        ACME_ADMIN,
        "/10002/assigned_business_asset_groups?contained_asset_id=act_2000000001",
    )
    .await;
    assert_eq!(r.ids(), vec!["9000000002"]);
    let r = get(
        &sb,
        ACME_ADMIN,
        "/10002/assigned_business_asset_groups?contained_asset_id=3000000001",
    )
    .await;
    assert!(r.ids().is_empty());
}

#[tokio::test]
async fn spec_filters_and_params_of_lists() {
    let sb = bare();
    // AA03 search_query and include_shared_ad_accounts.
    let r = get(
        &sb,
        ACME_ADMIN,
        &format!("/{ACME}/owned_ad_accounts?search_query=retarget"),
    )
    .await;
    assert_eq!(r.ids(), vec!["act_2000000002"]);
    let r = get(&sb, GLOBEX_ADMIN, &format!("/{GLOBEX}/owned_ad_accounts")).await;
    assert_eq!(r.ids(), vec!["act_2000000007"]);
    let r = get(
        &sb,
        GLOBEX_ADMIN,
        &format!("/{GLOBEX}/owned_ad_accounts?include_shared_ad_accounts=true"),
    )
    .await;
    assert_eq!(r.ids(), vec!["act_2000000001", "act_2000000007"]);
    // AA10 search_query.
    let r = get(
        &sb,
        GLOBEX_ADMIN,
        &format!("/{GLOBEX}/client_ad_accounts?search_query=nothing"),
    )
    .await;
    assert!(r.ids().is_empty());
    let r = get(
        &sb,
        GLOBEX_ADMIN,
        &format!("/{GLOBEX}/client_ad_accounts?search_query=PROSPECT"),
    )
    .await;
    assert_eq!(r.ids(), vec!["act_2000000001"]);
    // PG08 pages.
    let r = get(&sb, ACME_ADMIN, "/10002/assigned_pages").await;
    assert_eq!(r.ids(), vec!["3000000002"]);
    let r = get(
        &sb,
        ACME_ADMIN,
        "/10001/assigned_pages?pages=['3000000003']",
    )
    .await;
    assert!(r.ids().is_empty());
    let r = get(
        &sb,
        ACME_ADMIN,
        "/10001/assigned_pages?pages=['3000000001']",
    )
    .await;
    assert_eq!(r.ids(), vec!["3000000001"]);
    // AA02's optional spec params are accepted.
    let r = post(
        &sb,
        ACME_ADMIN,
        &format!("/{ACME}/adaccount"),
        &[
            ("name", "Invoiced"),
            ("currency", "USD"),
            ("timezone_id", "1"),
            ("end_advertiser", ACME),
            ("media_agency", "NONE"),
            ("partner", "NONE"),
            ("funding_id", "123"),
            ("invoice", "true"),
            ("invoice_group_id", "9"),
            ("invoicing_emails", r#"["a@example.com"]"#),
            ("io", "false"),
            ("po_number", "PO-1"),
            ("ad_account_created_from_bm_flag", "true"),
        ],
    )
    .await;
    assert_eq!(r.ok()["business_id"], ACME);
    // OB04 takes Meta's status enum: CANCELED lists canceled requests.
    let r = delete(&sb, GLOBEX_ADMIN, "/8400000001").await;
    assert_eq!(r.ok(), &json!({"success": true}));
    let r = get(
        &sb,
        GLOBEX_ADMIN,
        "/act_2000000007/onbehalf_requests?status=CANCELED",
    )
    .await;
    assert_eq!(r.ids(), vec!["8400000001"]);
    let r = get(
        &sb,
        GLOBEX_ADMIN,
        "/act_2000000007/onbehalf_requests?status=PENDING",
    )
    .await;
    assert!(r.ids().is_empty());
}

#[tokio::test]
async fn as01_to_as04_spec_params() {
    let sb = bare();
    // AS03 filters by request_status (Meta's enum) and initiator_id.
    let received = format!("/{GLOBEX}/received_audience_sharing_requests");
    let r = get(
        &sb,
        GLOBEX_ADMIN,
        &format!("{received}?request_status=IN_PROGRESS"),
    )
    .await;
    assert_eq!(r.ids(), vec!["8300000001"]);
    let r = get(
        &sb,
        GLOBEX_ADMIN,
        &format!("{received}?request_status=APPROVE"),
    )
    .await;
    assert!(r.ids().is_empty());
    let r = get(
        &sb,
        GLOBEX_ADMIN,
        &format!("{received}?initiator_id={ACME}"),
    )
    .await;
    assert!(r.ids().is_empty());
    let r = get(
        &sb,
        GLOBEX_ADMIN,
        &format!("{received}?initiator_id=1000000003"),
    )
    .await;
    assert_eq!(r.ids(), vec!["8300000001"]);
    let r = get(
        &sb,
        GLOBEX_ADMIN,
        &format!("{received}?request_status=APPROVED"),
    )
    .await;
    assert_eq!(r.err(), (100, None));
    // AS04 filters by recipient_id.
    let initiated = "/1000000003/initiated_audience_sharing_requests";
    let r = get(
        &sb,
        INITECH_ADMIN,
        &format!("{initiated}?recipient_id={GLOBEX}&request_status=IN_PROGRESS"),
    )
    .await;
    assert_eq!(r.ids(), vec!["8300000001"]);
    // The request_status field is Meta's spelling.
    assert!(sb.respond("8300000001", true));
    let r = get(
        &sb,
        INITECH_ADMIN,
        &format!("{initiated}?fields=id,request_status"),
    )
    .await;
    assert_eq!(
        r.ok()["data"],
        json!([{"id": "8300000001", "request_status": "APPROVE"}])
    );
    // AS01 accepts permissions and replace.
    let r = post(
        &sb,
        ACME_ADMIN,
        "/8200000001/adaccounts",
        &[
            ("adaccounts", "['2000000002']"),
            ("relationship_type", "['Agency']"),
            ("permissions", "{}"),
            ("replace", "true"),
        ],
    )
    .await;
    assert_eq!(r.ok()["success"], true);
    assert_eq!(r.ok()["sharing_data"][0]["audience_share_status"], "SHARED");
}

#[tokio::test]
async fn legacy_edges_follow_the_setting() {
    let sb = bare();
    // Default: served, as for an app that kept access.
    let r = get(
        &sb,
        GLOBEX_ADMIN,
        &format!("/{GLOBEX}/sent_inprogress_onbehalf_requests"),
    )
    .await;
    assert_eq!(r.ids(), vec!["8400000001"]);
    sb.set_legacy_edges(false);
    let r = get(
        &sb,
        GLOBEX_ADMIN,
        &format!("/{GLOBEX}/sent_inprogress_onbehalf_requests"),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.message(),
        "(#100) Tried accessing nonexisting field (sent_inprogress_onbehalf_requests) on node type (Business)"
    );
    let r = post(
        &sb,
        ACME_ADMIN,
        &format!("/{ACME}/client_ad_accounts"),
        &[
            ("adaccount_id", "act_2000000006"),
            ("permitted_tasks", "['ANALYZE']"),
        ],
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.err(), (3, None));
    assert_eq!(
        r.message(),
        "(#3) Application does not have the capability to make this API call."
    );
    let r = delete(&sb, ACME_ADMIN, "/9000000002").await;
    assert_eq!(r.err(), (100, Some(33)));
    let r = delete(&sb, GLOBEX_ADMIN, "/8400000001").await;
    assert_eq!(r.err(), (100, Some(33)));
    let r = post(
        &sb,
        ACME_ADMIN,
        "/9000000002/contained_offline_conversion_data_sets",
        &[("asset_id", "8000000001")],
    )
    .await;
    assert_eq!(r.err(), (2500, None));
    let r = delete(&sb, ACME_ADMIN, &format!("/{ACME}/apps?app_id=4000000001")).await;
    assert_eq!(r.err(), (2500, None));
    // Edges in the spec are unaffected.
    let r = get(&sb, ACME_ADMIN, "/9000000002").await;
    assert_eq!(r.ok()["id"], "9000000002");
    // And back on at run time.
    sb.set_legacy_edges(true);
    let r = delete(&sb, GLOBEX_ADMIN, "/8400000001").await;
    assert_eq!(r.ok(), &json!({"success": true}));
    let sb = bare().with_legacy_edges(false);
    let r = get(
        &sb,
        ACME_ADMIN,
        "/9000000001/contained_offline_conversion_data_sets",
    )
    .await;
    assert_eq!(r.err(), (100, None));
}

#[tokio::test]
async fn object_params_take_an_id_or_a_json_object() {
    let sb = bare();
    // AP05 app_id is an Object in Meta's spec; the SDK sends {"id": ...}.
    let r = post(
        &sb,
        ACME_ADMIN,
        &format!("/{ACME}/owned_apps"),
        &[("app_id", r#"{"id":"4000000004"}"#)],
    )
    .await;
    assert_eq!(r.ok(), &json!({"access_status": "CONFIRMED"}));
    let r = get(&sb, ACME_ADMIN, &format!("/{ACME}/owned_apps")).await;
    assert_eq!(r.ids(), vec!["4000000001", "4000000004"]);
    let r = post(
        &sb,
        ACME_ADMIN,
        &format!("/{ACME}/adaccount"),
        &[
            ("name", "Obj"),
            ("currency", "USD"),
            ("timezone_id", "1"),
            ("end_advertiser", r#"{"id": 1000000001}"#),
            ("media_agency", "NONE"),
            ("partner", "NONE"),
        ],
    )
    .await;
    assert_eq!(r.ok()["end_advertiser_id"], ACME);
    assert_eq!(Sandbox::spec_version().0, "v26.0");
}

#[tokio::test]
async fn type_scoped_exception_rows_apply_to_every_operation() {
    let sb = bare();
    // The main engineer's row format: op `*`, name `Type.field`.
    sb.add_exceptions(
        "*\tfield\tAdAccount.access_status\tedge context\n*\tfield\tBusiness.page_permissions\tBB02\n",
    );
    let r = get(
        &sb,
        ACME_ADMIN,
        &format!("/{ACME}/owned_ad_accounts?fields=id,access_status&limit=1"),
    )
    .await;
    assert_eq!(
        r.ok()["data"],
        json!([{"id": "act_2000000001", "access_status": "CONFIRMED"}])
    );
    // Nested: AA04's ad_account is an AdAccount.
    let r = get(
        &sb,
        ACME_ADMIN,
        &format!("/{ACME}/pending_owned_ad_accounts?fields=ad_account{{id,access_status}}"),
    )
    .await;
    assert_eq!(
        r.ok()["data"],
        json!([{"ad_account": {"id": "act_2000000003", "access_status": "PENDING"}}])
    );
    // Scoped to AdAccount: a Page still refuses it.
    let r = get(
        &sb,
        ACME_ADMIN,
        &format!("/{ACME}/owned_pages?fields=id,access_status"),
    )
    .await;
    assert_eq!(
        r.message(),
        "(#100) Tried accessing nonexisting field (access_status) on node type (Page)"
    );
    // Defaults keep excepted fields of the return type.
    let r = get(&sb, GLOBEX_ADMIN, &format!("/{GLOBEX}/clients")).await;
    assert!(
        r.ok()["data"][0].get("page_permissions").is_some(),
        "{}",
        r.body
    );
}

// ---------------------------------------------------------------------------
// People: BU01–BU05, SU01–SU05 (beyond the catalogue, issue 16)

#[tokio::test]
async fn bu02_invitations_expire_after_30_days_and_may_then_be_sent_again() {
    let sb = demo();
    let path = format!("/{ACME}/business_users");
    let form = [("email", "Late@Example.com"), ("role", "EMPLOYEE")];
    let first = post(&sb, ACME_ADMIN, &path, &form).await.ok()["id"].clone();
    let pending = format!("/{ACME}/pending_users?fields=id,email,status,role,tasks");
    let r = get(&sb, ACME_ADMIN, &pending).await;
    assert_eq!(r.ok()["data"][0]["email"], "late@example.com");
    assert_eq!(r.ok()["data"][0]["status"], "PENDING");
    // Twice the same email: refused while the first waits.
    let r = post(&sb, ACME_ADMIN, &path, &form).await;
    assert_eq!(r.err(), (100, Some(1_690_010)));
    // Employees cannot invite; roles are Meta's enum; emails must look so.
    let r = post(&sb, ACME_EMPLOYEE, &path, &[("email", "a@example.com")]).await;
    assert_eq!(r.err(), (200, None));
    let r = post(
        &sb,
        ACME_ADMIN,
        &path,
        &[("email", "a@example.com"), ("role", "OWNER")],
    )
    .await;
    assert_eq!(r.err().0, 100);
    let r = post(&sb, ACME_ADMIN, &path, &[("email", "not-an-email")]).await;
    assert_eq!(r.err(), (100, None));
    sb.advance_clock(std::time::Duration::from_secs(30 * 24 * 3600 + 1));
    let r = get(&sb, ACME_ADMIN, &pending).await;
    assert_eq!(r.ok()["data"][0]["status"], "EXPIRED");
    let second = post(&sb, ACME_ADMIN, &path, &form).await.ok()["id"].clone();
    assert_ne!(first, second);
    assert_eq!(get(&sb, ACME_ADMIN, &pending).await.ids().len(), 2);
    // BU06: withdrawn by an admin; its id is never handed out again.
    let second = second.as_str().unwrap().to_string();
    let r = delete(&sb, ACME_EMPLOYEE, &format!("/{second}")).await;
    assert_eq!(r.err(), (200, None));
    let r = delete(&sb, ACME_ADMIN, &format!("/{second}")).await;
    assert_eq!(r.ok(), &json!({"success": true}));
    assert_eq!(get(&sb, ACME_ADMIN, &pending).await.ids().len(), 1);
    let third = post(&sb, ACME_ADMIN, &path, &form).await.ok()["id"].clone();
    assert_ne!(third.as_str(), Some(second.as_str()));
}

#[tokio::test]
async fn bu03_bu04_keep_an_admin_person_and_leave_system_users_alone() {
    let sb = demo();
    // Alice is Acme's only admin person (the admin system user does not count).
    let r = post(&sb, ACME_ADMIN, "/10001", &[("role", "EMPLOYEE")]).await;
    assert_eq!(r.err(), (100, Some(1_690_009)));
    let r = delete(&sb, ACME_ADMIN, "/10001").await;
    assert_eq!(r.err(), (100, Some(1_690_009)));
    // System users have no such node edges.
    let r = delete(&sb, ACME_ADMIN, "/10102").await;
    assert_eq!(r.err(), (100, Some(33)));
    // An employee cannot change roles.
    let r = post(&sb, ACME_EMPLOYEE, "/10002", &[("role", "ADMIN")]).await;
    assert_eq!(r.err(), (200, None));
    // Carol's roles come from asset group 9000000001: removing her from Acme
    // takes her out of the group too.
    assert_eq!(
        delete(&sb, ACME_ADMIN, "/10003").await.ok(),
        &json!({"success": true})
    );
    let users = get(
        &sb,
        ACME_ADMIN,
        &format!("/9000000001/assigned_users?business={ACME}"),
    )
    .await;
    assert!(
        !users.ids().contains(&"10003".to_string()),
        "{:?}",
        users.body
    );
    let people = get(&sb, ACME_ADMIN, &format!("/{ACME}/business_users")).await;
    assert_eq!(people.ids(), vec!["10001", "10002"]);
}

#[tokio::test]
async fn su02_creates_system_users_up_to_ten_and_su05_mints_tokens_the_sandbox_accepts() {
    let sb = demo();
    let path = format!("/{ACME}/system_users");
    let r = post(&sb, ACME_EMPLOYEE, &path, &[("name", "x")]).await;
    assert_eq!(r.err(), (200, None));
    let bot = post(
        &sb,
        ACME_ADMIN,
        &path,
        &[("name", "Bot"), ("role", "ADMIN")],
    )
    .await;
    let bot = bot.ok()["id"].as_str().unwrap().to_string();
    assert_eq!(bot, "1200000001");
    for i in 0..7 {
        let name = format!("Bot {i}");
        post(&sb, ACME_ADMIN, &path, &[("name", &name)]).await.ok();
    }
    let r = post(&sb, ACME_ADMIN, &path, &[("name", "Eleventh")]).await;
    assert_eq!(r.err(), (100, Some(1_690_011)));
    assert_eq!(get(&sb, ACME_ADMIN, &path).await.ids().len(), 10);

    let mint = format!("/{bot}/access_tokens");
    let form = [
        ("business_app", "4000000001"),
        ("scope", r#"["ads_management"]"#),
    ];
    let token = post(&sb, ACME_ADMIN, &mint, &form).await;
    let token = token.ok()["access_token"].as_str().unwrap().to_string();
    let me = get(&sb, &token, "/me").await;
    assert_eq!(me.ok()["id"], bot.as_str());
    // No scope; another business's app; another business's admin.
    let r = post(&sb, ACME_ADMIN, &mint, &[("business_app", "4000000001")]).await;
    assert_eq!(r.err(), (100, None));
    let other_app = [
        ("business_app", "4000000003"),
        ("scope", r#"["ads_management"]"#),
    ];
    assert_eq!(
        post(&sb, ACME_ADMIN, &mint, &other_app).await.err(),
        (100, None)
    );
    assert_eq!(
        post(&sb, GLOBEX_ADMIN, &mint, &form).await.err(),
        (200, None)
    );
}
