//! Property tests (proptest) over request validation and the transcoder:
//! arbitrary request messages for every route never panic; invalid ones get
//! INVALID_ARGUMENT with field violations and no upstream call; arbitrary
//! Graph answers never panic the response side.

use std::sync::{Arc, OnceLock};

use graph_gateway::engine::request;
use graph_gateway::engine::routes::{Route, RouteTable};
use graph_gateway::engine::{CallContext, Engine};
use graph_gateway::error::GatewayError;
use graph_gateway::vault::MemoryVault;
use proptest::collection::vec;
use proptest::prelude::*;
use prost_reflect::{DynamicMessage, Kind, ReflectMessage as _, Value};

use crate::harness::{token, Recorder};

/// Cases per property per run.
const CASES: u32 = 256;

fn table() -> &'static RouteTable {
    static TABLE: OnceLock<RouteTable> = OnceLock::new();
    TABLE.get_or_init(|| RouteTable::embedded().unwrap())
}

fn routes() -> Vec<Arc<Route>> {
    table().iter().cloned().collect()
}

/// One field's random value, interpreted by the field's type.
#[derive(Clone, Debug)]
enum Pick {
    Unset,
    Digits(String),
    AdAccount(String),
    Text(String),
    Int(i64),
    Bool(bool),
    Enum(i32),
    List(Vec<Pick>),
}

fn leaf() -> impl Strategy<Value = Pick> {
    prop_oneof![
        3 => Just(Pick::Unset),
        4 => "[0-9]{1,20}".prop_map(Pick::Digits),
        1 => "act_[0-9]{0,12}".prop_map(Pick::AdAccount),
        2 => any::<String>().prop_map(Pick::Text),
        1 => "[a-z_/%?&.#{} ]{0,40}".prop_map(Pick::Text),
        1 => "[0-9]{33,40}".prop_map(Pick::Digits),
        2 => any::<i64>().prop_map(Pick::Int),
        1 => (-2i64..2000).prop_map(Pick::Int),
        1 => any::<bool>().prop_map(Pick::Bool),
        3 => (-3i32..40).prop_map(Pick::Enum),
    ]
}

fn pick() -> impl Strategy<Value = Pick> {
    prop_oneof![4 => leaf(), 1 => vec(leaf(), 0..5).prop_map(Pick::List)]
}

fn scalar(kind: &Kind, p: &Pick) -> Option<Value> {
    Some(match (kind, p) {
        (_, Pick::Unset | Pick::List(_)) => return None,
        (Kind::String, Pick::Digits(s) | Pick::AdAccount(s) | Pick::Text(s)) => {
            Value::String(s.clone())
        }
        (Kind::String, Pick::Int(n)) => Value::String(n.to_string()),
        (Kind::Int32 | Kind::Sint32 | Kind::Sfixed32, Pick::Int(n)) => Value::I32(*n as i32),
        (Kind::Int64 | Kind::Sint64 | Kind::Sfixed64, Pick::Int(n)) => Value::I64(*n),
        (Kind::Uint32 | Kind::Fixed32, Pick::Int(n)) => Value::U32(*n as u32),
        (Kind::Uint64 | Kind::Fixed64, Pick::Int(n)) => Value::U64(*n as u64),
        (Kind::Int64, Pick::Digits(s)) => Value::I64(s.parse().unwrap_or(-1)),
        (Kind::Bool, Pick::Bool(b)) => Value::Bool(*b),
        (Kind::Enum(_), Pick::Enum(n)) => Value::EnumNumber(*n),
        (Kind::Enum(_), Pick::Int(n)) => Value::EnumNumber(*n as i32),
        (Kind::Message(m), Pick::Text(s) | Pick::Digits(s)) => {
            // A FieldMask (read_mask) with one path, or an empty message.
            let mut msg = DynamicMessage::new(m.clone());
            if let Some(paths) = m.get_field_by_name("paths") {
                let _ = msg.try_set_field(
                    &paths,
                    Value::List(vec![Value::String(s.clone()), Value::String("id".into())]),
                );
            }
            Value::Message(msg)
        }
        _ => return None,
    })
}

/// The route's request with the picks applied to its fields in order.
fn build(route: &Route, picks: &[Pick]) -> DynamicMessage {
    let mut msg = DynamicMessage::new(route.input.clone());
    for (i, fd) in route.input.fields().enumerate() {
        let p = &picks[i % picks.len()];
        let kind = fd.kind();
        let value = if fd.is_list() {
            let items: Vec<Pick> = match p {
                Pick::List(items) => items.clone(),
                other => vec![other.clone()],
            };
            let values: Vec<Value> = items.iter().filter_map(|p| scalar(&kind, p)).collect();
            Some(Value::List(values))
        } else if fd.is_map() {
            None
        } else {
            scalar(&kind, p)
        };
        if let Some(v) = value {
            let _ = msg.try_set_field(&fd, v);
        }
    }
    msg
}

fn check_plan(route: &Route, msg: &DynamicMessage) -> Result<bool, TestCaseError> {
    match request::plan(table(), route, msg) {
        Ok(plan) => {
            prop_assert!(plan.graph.path.starts_with('/'));
            prop_assert!(!plan.graph.path.contains(".."), "{}", plan.graph.path);
            prop_assert!(!plan.graph.path.contains('?'), "{}", plan.graph.path);
            Ok(true)
        }
        Err(GatewayError::InvalidArgument(v)) => {
            prop_assert!(!v.is_empty(), "no violations");
            for f in &v {
                prop_assert!(!f.field.is_empty() && !f.description.is_empty(), "{f:?}");
            }
            Ok(false)
        }
        Err(other) => Err(TestCaseError::fail(format!(
            "{}: {other:?} for {msg:?}",
            route.operation_id
        ))),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// Every route, arbitrary field values: planning never panics and
    /// refuses only with field violations.
    #[test]
    fn planning_arbitrary_requests_never_panics(
        which in any::<prop::sample::Index>(),
        picks in vec(pick(), 1..12),
    ) {
        let routes = routes();
        let route = which.get(&routes);
        let msg = build(route, &picks);
        check_plan(route, &msg)?;
    }

    /// Every route, arbitrary bytes as the request: decoding and planning
    /// never panic.
    #[test]
    fn arbitrary_bytes_as_requests_never_panic(
        which in any::<prop::sample::Index>(),
        bytes in vec(any::<u8>(), 0..256),
    ) {
        let routes = routes();
        let route = which.get(&routes);
        if let Ok(msg) = DynamicMessage::decode(route.input.clone(), bytes.as_slice()) {
            check_plan(route, &msg)?;
        }
    }

    /// Every route, arbitrary JSON or bytes as Graph's answer: the response
    /// side answers a message or UPSTREAM_MALFORMED, never panics.
    #[test]
    fn arbitrary_graph_answers_never_panic(
        which in any::<prop::sample::Index>(),
        json in graph_json(),
        bytes in vec(any::<u8>(), 0..64),
    ) {
        let routes = routes();
        let route = which.get(&routes);
        let body = serde_json::to_vec(&json).unwrap();
        for body in [body.as_slice(), bytes.as_slice()] {
            match graph_gateway::engine::response::decode(table(), route, body) {
                Ok(msg) => {
                    let descriptor = msg.descriptor();
                    prop_assert_eq!(descriptor.full_name(), route.output.full_name());
                }
                Err(GatewayError::Malformed(_)) => {}
                Err(other) => prop_assert!(false, "{}: {other:?}", route.operation_id),
            }
        }
    }
}

/// JSON shaped like Graph's answers (and not).
fn graph_json() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value as J;
    let key = prop_oneof![
        Just("data".to_string()),
        Just("id".to_string()),
        Just("name".to_string()),
        Just("paging".to_string()),
        Just("cursors".to_string()),
        Just("after".to_string()),
        Just("next".to_string()),
        Just("success".to_string()),
        Just("tasks".to_string()),
        Just("permitted_tasks".to_string()),
        Just("access_status".to_string()),
        Just("business".to_string()),
        "[a-z_]{1,12}",
    ];
    let leaf = prop_oneof![
        Just(J::Null),
        any::<bool>().prop_map(J::Bool),
        any::<i64>().prop_map(J::from),
        any::<f64>().prop_map(J::from),
        "[A-Z_]{0,12}".prop_map(J::String),
        any::<String>().prop_map(J::String),
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(J::Array),
            proptest::collection::btree_map(key.clone(), inner, 0..6)
                .prop_map(|m| J::Object(m.into_iter().collect())),
        ]
    })
}

/// The engine in front of a recording upstream, on a runtime shared by the
/// cases.
struct Upstream {
    rt: tokio::runtime::Runtime,
    rec: Recorder,
    engine: Engine,
}

fn upstream() -> &'static Upstream {
    static UP: OnceLock<Upstream> = OnceLock::new();
    UP.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (rec, engine) = rt.block_on(async {
            let rec = Recorder::start(vec![(200, vec![], "true".into())]).await;
            let vault = Arc::new(MemoryVault::new(vec![
                token("acme", "1000000001", "tok-props-acme"),
                token("globex", "1000000002", "tok-props-globex"),
            ]));
            let mut cfg = graph_gateway::config::Config::default();
            cfg.retry.max_attempts = 1;
            let engine = graph_gateway::app::build_engine(&cfg, &rec.url, vault).unwrap();
            (rec, engine)
        });
        Upstream { rt, rec, engine }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// Through the engine: an invalid request is INVALID_ARGUMENT with field
    /// violations, and Graph never hears of it.
    #[test]
    fn invalid_requests_never_reach_graph(
        which in any::<prop::sample::Index>(),
        picks in vec(pick(), 1..12),
    ) {
        let routes = routes();
        let route = which.get(&routes);
        let msg = build(route, &picks);
        let valid = check_plan(route, &msg)?;
        if !valid {
            let up = upstream();
            let before = up.rec.requests().len();
            let ctx = CallContext {
                deadline: Some(tokio::time::Instant::now() + std::time::Duration::from_secs(5)),
                ..CallContext::default()
            };
            let result = up
                .rt
                .block_on(up.engine.execute_dynamic(route, &ctx, &msg, None));
            let status = match result {
                Err(e) => graph_gateway::grpc::status::to_status(&e),
                Ok(_) => return Err(TestCaseError::fail("an invalid request succeeded")),
            };
            prop_assert_eq!(status.code(), tonic::Code::InvalidArgument);
            use tonic_types::StatusExt as _;
            let details = status.get_error_details();
            let violations = details.bad_request().map(|b| b.field_violations.len()).unwrap_or(0);
            prop_assert!(violations > 0, "no field violations: {status:?}");
            prop_assert_eq!(up.rec.requests().len(), before, "an invalid request reached Graph");
        }
    }
}

/// A value no route takes in a field that holds it (issue 13): a list over
/// every limit (10,000 at most, of UNSPECIFIED or arbitrary items), or a
/// string over every length limit (ids, request ids, free strings).
#[derive(Clone, Debug)]
enum Bad {
    LongList(usize, Pick),
    LongText(String),
}

fn bad() -> impl Strategy<Value = Bad> {
    prop_oneof![
        (101usize..10_001, leaf()).prop_map(|(n, p)| Bad::LongList(n, p)),
        (4097usize..20_000, "[a-zA-Z0-9 \"]{1,8}")
            .prop_map(|(n, unit)| Bad::LongText(unit.repeat(n / unit.len() + 1))),
    ]
}

/// The route's request with otherwise arbitrary picks and `bad` in the
/// list or string field `which` names; None when the route has no such
/// field.
fn build_bad(
    route: &Route,
    picks: &[Pick],
    which: prop::sample::Index,
    bad: &Bad,
) -> Option<DynamicMessage> {
    let mut msg = build(route, picks);
    let fields: Vec<_> = route
        .input
        .fields()
        .filter(|f| !f.is_map() && (f.is_list() || f.kind() == Kind::String))
        .collect();
    if fields.is_empty() {
        return None;
    }
    let fd = which.get(&fields);
    let value = match (bad, fd.is_list()) {
        (Bad::LongList(n, p), true) => {
            let one = scalar(&fd.kind(), p).or_else(|| match fd.kind() {
                Kind::Enum(_) => Some(Value::EnumNumber(0)),
                Kind::String => Some(Value::String("x".into())),
                Kind::Message(m) => Some(Value::Message(DynamicMessage::new(m))),
                _ => None,
            })?;
            Value::List(vec![one; *n])
        }
        (Bad::LongText(s), true) if fd.kind() == Kind::String => {
            Value::List(vec![Value::String(s.clone())])
        }
        (Bad::LongText(s), false) => Value::String(s.clone()),
        (Bad::LongList(n, _), false) => Value::String("9".repeat(*n + 4096)),
        _ => return None,
    };
    msg.try_set_field(fd, value).ok()?;
    Some(msg)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// Issue 13, every route: a list over its limit or a string over its
    /// length is refused before Graph as INVALID_ARGUMENT with at most 21
    /// field violations, quoted values of at most 64 characters and a
    /// details trailer under 8 KiB.
    #[test]
    fn oversized_values_are_refused_bounded_before_graph(
        route_ix in any::<prop::sample::Index>(),
        field_ix in any::<prop::sample::Index>(),
        picks in vec(pick(), 1..12),
        bad in bad(),
    ) {
        let routes = routes();
        let route = route_ix.get(&routes);
        let Some(msg) = build_bad(route, &picks, field_ix, &bad) else {
            return Ok(());
        };
        prop_assert!(!check_plan(route, &msg)?, "{}: accepted {bad:?}", route.operation_id);
        let up = upstream();
        let before = up.rec.requests().len();
        let ctx = CallContext {
            deadline: Some(tokio::time::Instant::now() + std::time::Duration::from_secs(5)),
            ..CallContext::default()
        };
        let result = up.rt.block_on(up.engine.execute_dynamic(route, &ctx, &msg, None));
        let status = match result {
            Err(e) => graph_gateway::grpc::status::to_status(&e),
            Ok(_) => return Err(TestCaseError::fail("an oversized request succeeded")),
        };
        prop_assert_eq!(status.code(), tonic::Code::InvalidArgument);
        use tonic_types::StatusExt as _;
        let details = status.get_error_details();
        let v = details.bad_request().map(|b| b.field_violations.clone()).unwrap_or_default();
        prop_assert!(!v.is_empty() && v.len() <= 21, "{} violations", v.len());
        for f in &v {
            for (i, q) in f.description.split('"').enumerate() {
                prop_assert!(i % 2 == 0 || q.chars().count() <= 65, "{q}");
            }
        }
        prop_assert!(status.details().len() < 8 * 1024, "{} bytes", status.details().len());
        prop_assert!(status.message().len() < 2048, "{} bytes", status.message().len());
        prop_assert_eq!(up.rec.requests().len(), before, "an oversized request reached Graph");
    }
}
