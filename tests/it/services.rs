//! Every catalogue id end to end: a real tonic client against the gateway
//! backed by the demo sandbox (see `src/sandbox/demo.rs` for the data). One
//! module per service; each test starts its own gateway and sandbox, so
//! state never leaks between tests.
//!
//! | ids | module |
//! |---|---|
//! | AG01–AG32 | `asset_groups` |
//! | AA01–AA11 | `ad_accounts` |
//! | PG01–PG11 | `pages` |
//! | AP01–AP06 | `apps` |
//! | PX01–PX10 | `pixels` |
//! | IG01–IG14 | `instagram` |
//! | CT01–CT07 | `catalogs` |
//! | ME01 | `identity` |
//! | BB01–BB11 | `agency` |
//! | OB01–OB06 | `obo` |
//! | AS01–AS04 | `audience_sharing` |
//! | WA01–WA05 | `whatsapp` |
//! | BU01–BU06 (issue 16) | `business_users` |
//! | SU01–SU04 (issue 16) | `system_users` (SU05: `security::vault`) |

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;

use graph_gateway::config::Config;
use graph_gateway::proto::{AccessStatus, AccessType, AdAccount, NodeRef, Page};
use graph_gateway::sandbox::RecordedRequest;
use graph_gateway::vault::MemoryVault;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_types::StatusExt as _;

use crate::harness::{token, Recorder, TestGateway};

/// Defines an async helper around one RPC of the invoking module's `Client`.
///
/// `rpc!(fn name(field: Type, ..; fixed = value, ..) -> Out = method(Request).answer)`
/// takes `c: &mut Client<Channel>` and the fields, sends
/// `Request { field, .., fixed: value, .., ..Default::default() }` (each
/// converted by [`IntoField`]) and returns the answer's `answer`, panicking
/// with the status when the call fails. Without `.answer` it returns the
/// call's `Result<Out, Status>` instead, with the whole answer.
macro_rules! rpc {
    ($vis:vis fn $name:ident($($field:ident: $T:ty),* $(; $($fixed:ident = $value:expr),+)?)
        -> $Out:ty = $method:ident($Req:ident).$answer:ident) => {
        $vis async fn $name(c: &mut Client<tonic::transport::Channel>, $($field: $T),*) -> $Out {
            let req = $Req {
                $($field: crate::services::IntoField::into_field($field),)*
                $($($fixed: crate::services::IntoField::into_field($value),)+)?
                ..Default::default()
            };
            c.$method(req)
                .await
                .unwrap_or_else(|st| panic!("{}: {st:?}", stringify!($method)))
                .into_inner()
                .$answer
        }
    };
    ($vis:vis fn $name:ident($($field:ident: $T:ty),* $(; $($fixed:ident = $value:expr),+)?)
        -> $Out:ty = $method:ident($Req:ident)) => {
        $vis async fn $name(
            c: &mut Client<tonic::transport::Channel>,
            $($field: $T),*
        ) -> Result<$Out, tonic::Status> {
            let req = $Req {
                $($field: crate::services::IntoField::into_field($field),)*
                $($($fixed: crate::services::IntoField::into_field($value),)+)?
                ..Default::default()
            };
            c.$method(req).await.map(tonic::Response::into_inner)
        }
    };
}

/// Defines `fn name(id: &str, field: &str) -> T` for each `name -> T { field }`:
/// an answer made of an id and one more string.
macro_rules! id_and {
    ($($name:ident -> $T:ident { $field:ident }),* $(,)?) => {$(
        fn $name(id: &str, $field: &str) -> $T {
            $T {
                id: id.into(),
                $field: $field.into(),
            }
        }
    )*};
}

/// How an [`rpc!`] helper's argument becomes a request field.
trait IntoField<F> {
    fn into_field(self) -> F;
}

/// An id or a name.
impl IntoField<String> for &str {
    fn into_field(self) -> String {
        self.into()
    }
}

/// Ids.
impl IntoField<Vec<String>> for &[&str] {
    fn into_field(self) -> Vec<String> {
        self.iter().map(|s| s.to_string()).collect()
    }
}

/// A read_mask's paths.
impl IntoField<Option<prost_types::FieldMask>> for &[&str] {
    fn into_field(self) -> Option<prost_types::FieldMask> {
        Some(prost_types::FieldMask {
            paths: self.iter().map(|s| s.to_string()).collect(),
        })
    }
}

/// Graph's spelling of proto enum values: the value name without its prefix.
pub fn spelled<E: Copy>(
    values: &[E],
    name: impl Fn(E) -> &'static str,
    prefix: &str,
) -> Vec<String> {
    values
        .iter()
        .map(|v| name(*v).trim_start_matches(prefix).to_string())
        .collect()
}

/// Graph's spellings of ad account tasks.
pub fn ad_raw(t: &[graph_gateway::proto::AdAccountTask]) -> Vec<String> {
    spelled(t, |v| v.as_str_name(), "AD_ACCOUNT_TASK_")
}

/// Graph's spellings of page tasks.
pub fn page_raw(t: &[graph_gateway::proto::PageTask]) -> Vec<String> {
    spelled(t, |v| v.as_str_name(), "PAGE_TASK_")
}

/// Graph's spellings of catalog tasks.
pub fn catalog_raw(t: &[graph_gateway::proto::CatalogTask]) -> Vec<String> {
    spelled(t, |v| v.as_str_name(), "CATALOG_TASK_")
}

/// An enum value (or a raw number).
impl<E: Into<i32>> IntoField<i32> for E {
    fn into_field(self) -> i32 {
        self.into()
    }
}

/// Enum values.
impl<E: Copy + Into<i32>> IntoField<Vec<i32>> for &[E] {
    fn into_field(self) -> Vec<i32> {
        nums(self)
    }
}

mod ad_accounts;
mod agency;
mod apps;
mod asset_groups;
mod audience_sharing;
mod business_users;
mod catalogs;
mod identity;
mod instagram;
mod obo;
mod pages;
mod pixels;
mod system_users;
mod whatsapp;

/// Acme Retail.
const ACME: &str = "1000000001";
/// Globex Agency.
const GLOBEX: &str = "1000000002";
/// Initech Holdings.
const INITECH: &str = "1000000003";

/// Alice Admin (Acme admin).
const ALICE: &str = "10001";
/// Bob Employee (Acme).
const BOB: &str = "10002";
/// Carol Analyst (Acme; roles through asset group 9000000001).
const CAROL: &str = "10003";
/// Erin Outsider (no business).
const ERIN: &str = "10005";
/// Frank Planner (Globex).
const FRANK: &str = "10006";

/// The sandboxes' rule subcodes (`src/sandbox/wire.rs`, README table).
mod subcode {
    pub const OWNED_AND_CONFIRMED: i64 = 1_690_001;
    pub const FROM_ASSET_GROUP: i64 = 1_690_002;
    pub const PAGE_HAS_PEOPLE: i64 = 1_690_003;
    pub const NOT_IN_BUSINESS: i64 = 1_690_004;
    pub const OWNED_ELSEWHERE: i64 = 1_690_005;
    pub const USER_NOT_IN_BUSINESS: i64 = 1_690_006;
    pub const TASKS_NOT_PERMITTED: i64 = 1_690_007;
    pub const NOT_BUSINESS_OWNED: i64 = 1_690_008;
}

/// A fresh demo sandbox behind a fresh gateway with `cfg`, and a client of
/// it made by `new` (a generated client's `new`).
async fn start_with<C>(cfg: Config, new: impl FnOnce(Channel) -> C) -> (TestGateway, C) {
    let gw = TestGateway::sandbox_with(cfg).await;
    let c = new(gw.channel().await);
    (gw, c)
}

/// A fresh demo sandbox behind a fresh gateway, and a client of it.
async fn start<C>(new: impl FnOnce(Channel) -> C) -> (TestGateway, C) {
    start_with(Config::default(), new).await
}

/// As [`start`], with a gateway that keeps nothing in its cache: for reads
/// after a sandbox hook (an answer given in Business Manager), which the
/// gateway cannot see.
async fn start_uncached<C>(new: impl FnOnce(Channel) -> C) -> (TestGateway, C) {
    let mut cfg = Config::default();
    cfg.cache.ttl_secs = 0;
    start_with(cfg, new).await
}

/// A gateway in front of a recording upstream that answers every request
/// with `body`, one token serving `business`, and a client of it.
async fn start_recorded<C>(
    body: serde_json::Value,
    business: &str,
    new: impl FnOnce(Channel) -> C,
) -> (Recorder, TestGateway, C) {
    let rec = Recorder::start(vec![(200, vec![], body.to_string())]).await;
    let vault = Arc::new(MemoryVault::new(vec![token(business, business, "tok-1")]));
    let gw = TestGateway::upstream(&rec.url, vault, Config::default()).await;
    let c = new(gw.channel().await);
    (rec, gw, c)
}

/// The last request the sandbox behind `gw` answered.
#[track_caller]
fn last_sent(gw: &TestGateway) -> RecordedRequest {
    gw.sb().last_request().expect("the sandbox saw a request")
}

/// The last request the sandbox behind `gw` answered, after asserting it was
/// a `method` to a path ending with `path`.
#[track_caller]
fn last_sent_to(gw: &TestGateway, method: &str, path: &str) -> RecordedRequest {
    let sent = last_sent(gw);
    assert_eq!(sent.method, method, "{sent:?}");
    assert!(sent.path.ends_with(path), "not to …{path}: {sent:?}");
    sent
}

/// What a Graph error status says: its code, and its ErrorInfo's domain,
/// reason and Graph code / subcode.
#[derive(Debug, PartialEq)]
struct GraphError {
    code: Code,
    domain: String,
    reason: String,
    graph_code: Option<String>,
    graph_subcode: Option<String>,
}

impl GraphError {
    /// What `st` says (panics when it has no ErrorInfo).
    #[track_caller]
    fn of(st: &Status) -> Self {
        let details = st.get_error_details();
        let info = details
            .error_info()
            .unwrap_or_else(|| panic!("no ErrorInfo in {st:?}"));
        Self {
            code: st.code(),
            domain: info.domain.clone(),
            reason: info.reason.clone(),
            graph_code: info.metadata.get("code").cloned(),
            graph_subcode: info.metadata.get("subcode").cloned(),
        }
    }

    /// Graph's `graph_code` / `graph_subcode`, as `code` with `reason`.
    fn new(code: Code, reason: &str, graph_code: i64, graph_subcode: Option<i64>) -> Self {
        Self {
            code,
            domain: "graph.facebook.com".into(),
            reason: reason.into(),
            graph_code: Some(graph_code.to_string()),
            graph_subcode: graph_subcode.map(|s| s.to_string()),
        }
    }

    /// A sandbox rule violation: Graph code 100 with one of the rule
    /// subcodes, which the README maps to INVALID_ARGUMENT /
    /// GRAPH_INVALID_PARAMETER.
    fn rule(rule: i64) -> Self {
        Self::new(
            Code::InvalidArgument,
            "GRAPH_INVALID_PARAMETER",
            100,
            Some(rule),
        )
    }
}

/// Asserts a Graph error came back as `code` with ErrorInfo `reason` and
/// Graph's `graph_code` / `graph_subcode` in the metadata.
#[track_caller]
fn assert_graph_error(
    st: &Status,
    code: Code,
    reason: &str,
    graph_code: i64,
    graph_subcode: Option<i64>,
) {
    let expected = GraphError::new(code, reason, graph_code, graph_subcode);
    assert_eq!(GraphError::of(st), expected, "{st:?}");
}

/// Asserts `st` is the sandbox rule violation `rule` ([`GraphError::rule`]).
#[track_caller]
fn assert_rule(st: &Status, rule: i64) {
    assert_eq!(GraphError::of(st), GraphError::rule(rule), "{st:?}");
}

/// Graph code 100 with no subcode: INVALID_ARGUMENT.
#[track_caller]
fn assert_invalid_parameter(st: &Status) {
    assert_graph_error(
        st,
        Code::InvalidArgument,
        "GRAPH_INVALID_PARAMETER",
        100,
        None,
    );
}

/// Graph code 100 / subcode 33 (no such object): NOT_FOUND.
#[track_caller]
fn assert_not_found(st: &Status) {
    assert_graph_error(st, Code::NotFound, "GRAPH_NOT_FOUND", 100, Some(33));
}

/// Graph code 200 (no permission): PERMISSION_DENIED.
#[track_caller]
fn assert_permission_denied(st: &Status) {
    assert_graph_error(
        st,
        Code::PermissionDenied,
        "GRAPH_PERMISSION_DENIED",
        200,
        None,
    );
}

/// The fields named by the BadRequest violations of an INVALID_ARGUMENT the
/// gateway raised itself.
#[track_caller]
fn violations(st: &Status) -> Vec<String> {
    assert_eq!(st.code(), Code::InvalidArgument, "{st:?}");
    let details = st.get_error_details();
    let info = details
        .error_info()
        .unwrap_or_else(|| panic!("no ErrorInfo in {st:?}"));
    assert_eq!(info.domain, "graph-gateway", "{st:?}");
    assert_eq!(info.reason, "INVALID_REQUEST", "{st:?}");
    details
        .bad_request()
        .unwrap_or_else(|| panic!("no BadRequest in {st:?}"))
        .field_violations
        .iter()
        .map(|v| v.field.clone())
        .collect()
}

/// Asserts the gateway refuses `call` itself, with violations on `fields`,
/// and that no request for it reached the sandbox behind `gw`.
async fn assert_refused_before_graph<T: Debug>(
    gw: &TestGateway,
    call: impl Future<Output = Result<T, Status>>,
    fields: &[&str],
) {
    let before = gw.sb().request_count();
    let st = match call.await {
        Ok(answer) => panic!("a call invalid in {fields:?} was served: {answer:?}"),
        Err(st) => st,
    };
    assert_eq!(violations(&st), fields);
    assert_eq!(
        gw.sb().request_count(),
        before,
        "a call invalid in {fields:?} reached Graph"
    );
}

/// Walks a list one item a page: `page(token)` fetches the page at `token`
/// with page_size=1 and answers its items' ids and the next token. Returns
/// every id, in order, after asserting each page held one item and the walk
/// ended within ten pages.
async fn walk_pages(mut page: impl AsyncFnMut(String) -> (Vec<String>, String)) -> Vec<String> {
    let mut seen = Vec::new();
    let mut token = String::new();
    for _ in 0..10 {
        let (items, next) = page(token).await;
        assert_eq!(items.len(), 1, "page_size=1 gives one item per page");
        seen.extend(items);
        token = next;
        if token.is_empty() {
            return seen;
        }
    }
    panic!("the walk did not end after ten pages: {seen:?}");
}

/// The ids of a list's items.
fn ids<T>(items: &[T], id: impl Fn(&T) -> &str) -> Vec<String> {
    items.iter().map(|i| id(i).to_string()).collect()
}

/// Enum values as their numbers, for comparing with repeated enum fields.
fn nums<E: Copy + Into<i32>>(values: &[E]) -> Vec<i32> {
    values.iter().map(|v| (*v).into()).collect()
}

/// A reference to another node, as answers carry them.
fn node(id: &str, name: &str) -> Option<NodeRef> {
    Some(NodeRef {
        id: id.into(),
        name: name.into(),
    })
}

/// An asset listed with the business's access to it.
trait Accessed {
    /// (id, name, access status, access type).
    fn access(&self) -> (&str, &str, AccessStatus, AccessType);
}

macro_rules! accessed {
    ($($T:ty),*) => {$(
        impl Accessed for $T {
            fn access(&self) -> (&str, &str, AccessStatus, AccessType) {
                (&self.id, &self.name, self.access_status(), self.access_type())
            }
        }
    )*};
}

accessed!(AdAccount, Page);

/// (id, name, access status, access type) of each asset of a list.
fn access<T: Accessed>(list: &[T]) -> Vec<(&str, &str, AccessStatus, AccessType)> {
    list.iter().map(Accessed::access).collect()
}
