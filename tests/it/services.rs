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
//! | PX01–PX02 | `pixels` |
//! | IG01–IG08 | `instagram` |
//! | CT01–CT07 | `catalogs` |
//! | ME01 | `identity` |

use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_types::StatusExt as _;

use crate::harness::TestGateway;

mod ad_accounts;
mod agency;
mod apps;
mod asset_groups;
mod audience_sharing;
mod catalogs;
mod identity;
mod instagram;
mod obo;
mod pages;
mod pixels;

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

/// A fresh demo sandbox behind a fresh gateway, and a channel to it.
async fn start() -> (TestGateway, Channel) {
    let gw = TestGateway::sandbox().await;
    let ch = gw.channel().await;
    (gw, ch)
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
    assert_eq!(st.code(), code, "{st:?}");
    let details = st.get_error_details();
    let info = details
        .error_info()
        .unwrap_or_else(|| panic!("no ErrorInfo in {st:?}"));
    assert_eq!(info.reason, reason, "{st:?}");
    assert_eq!(info.domain, "graph.facebook.com", "{st:?}");
    assert_eq!(
        info.metadata.get("code").map(String::as_str),
        Some(graph_code.to_string().as_str()),
        "{st:?}"
    );
    assert_eq!(
        info.metadata.get("subcode").cloned(),
        graph_subcode.map(|s| s.to_string()),
        "{st:?}"
    );
}

/// A sandbox rule violation: Graph code 100 with one of the rule subcodes,
/// which the README maps to INVALID_ARGUMENT / GRAPH_INVALID_PARAMETER.
#[track_caller]
fn assert_rule(st: &Status, rule: i64) {
    assert_graph_error(
        st,
        Code::InvalidArgument,
        "GRAPH_INVALID_PARAMETER",
        100,
        Some(rule),
    );
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

/// The ids of a list's items.
fn ids<T>(items: &[T], id: impl Fn(&T) -> &str) -> Vec<String> {
    items.iter().map(|i| id(i).to_string()).collect()
}

/// Enum values as their numbers, for comparing with repeated enum fields.
fn nums<E: Copy + Into<i32>>(values: &[E]) -> Vec<i32> {
    values.iter().map(|v| (*v).into()).collect()
}
