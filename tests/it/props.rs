//! Property tests (proptest) over request validation and the transcoder:
//! arbitrary request messages for every route never panic; invalid ones get
//! INVALID_ARGUMENT with field violations and no upstream call; arbitrary
//! Graph answers never panic the response side, and the streaming
//! transcoder (issue 15) answers them as the reference does.

use std::sync::{Arc, OnceLock};

use graph_gateway::engine::request;
use graph_gateway::engine::routes::{ResponseShape, Route, RouteTable};
use graph_gateway::engine::transcode::ResponsePlans;
use graph_gateway::engine::{CallContext, Engine};
use graph_gateway::error::GatewayError;
use graph_gateway::vault::MemoryVault;
use proptest::collection::vec;
use proptest::prelude::*;
use prost::Message as _;
use prost_reflect::{
    DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, ReflectMessage as _, Value,
};

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

// === the streaming transcoder against the reference (issue 15) ===

/// Cases of the transcoder property: many shapes per route.
const TRANSCODE_CASES: u32 = 1024;

fn plans() -> &'static ResponsePlans {
    static PLANS: OnceLock<ResponsePlans> = OnceLock::new();
    PLANS.get_or_init(|| ResponsePlans::new(table()))
}

/// The dice a Graph body is built from: proptest draws (and shrinks) the
/// rolls; past the last one every roll is 0, the plainest choice.
struct Dice<'a> {
    rolls: &'a [u32],
    at: usize,
}

impl Dice<'_> {
    /// 0..n.
    fn roll(&mut self, n: usize) -> usize {
        let r = self.rolls.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        r as usize % n.max(1)
    }

    /// True with odds `pct` in 100; never for a roll of 0 (shrunk) or
    /// once the rolls run out.
    fn odds(&mut self, pct: usize) -> bool {
        let r = self.rolls.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        (r as usize % 100) >= 100 - pct.min(100)
    }

    fn pick<'s>(&mut self, from: &[&'s str]) -> &'s str {
        from[self.roll(from.len())]
    }
}

const NUMBERS: &[&str] = &[
    "7",
    "0",
    "1",
    "-1",
    "2.5",
    "-2.5",
    "1e20",
    "1.0",
    "-0",
    "-0.0",
    "0.1",
    "1e-7",
    "2147483647",
    "2147483648",
    "-2147483649",
    "4294967296",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775808",
    "-9223372036854775809",
    "123456789012",
    "1E+2",
];

const NUMBER_STRINGS: &[&str] = &[
    "\"42\"",
    "\"-7\"",
    "\"+5\"",
    "\" 5\"",
    "\"2.5\"",
    "\"1e3\"",
    "\"NaN\"",
    "\"inf\"",
    "\"true\"",
    "\"1\"",
    "\"0\"",
    "\"false\"",
    "\"\"",
    "\"18446744073709551615\"",
    "\"-9223372036854775809\"",
];

const STRINGS: &[&str] = &[
    "\"abc\"",
    "\"\"",
    "\"act_1000000001\"",
    "\"1000000002\"",
    "\"\\u00e9\\ud83d\\ude00\"",
    "\"a\\\"b\\\\c\\n\"",
    "\"\u{e9}t\u{e9}\"",
    "\"SOMETHING_NEW\"",
    "\"manage\"",
];

const KEYS: &[&str] = &[
    "data",
    "id",
    "name",
    "paging",
    "cursors",
    "after",
    "next",
    "success",
    "tasks",
    "status",
    "access_status",
    "permitted_tasks",
    "business",
    "unknown",
    "x",
];

/// A JSON string literal.
fn lit(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// A key as Graph might write it: sometimes with its first letter escaped.
fn key(d: &mut Dice, k: &str) -> String {
    match k.chars().next() {
        Some(c) if d.odds(10) => format!("\"\\u{:04x}{}\"", c as u32, &k[c.len_utf8()..]),
        _ => lit(k),
    }
}

/// Whitespace, sometimes.
fn ws(d: &mut Dice) -> &'static str {
    if d.odds(10) {
        [" ", "\n", "\t ", "\r\n  "][d.roll(4)]
    } else {
        ""
    }
}

/// An object from entries, in the dice's order.
fn object(d: &mut Dice, mut entries: Vec<String>) -> String {
    for i in (1..entries.len()).rev() {
        let j = d.roll(i + 1);
        entries.swap(i, j);
    }
    let sep = format!(",{}", ws(d));
    format!("{{{}{}}}", ws(d), entries.join(&sep))
}

/// Any value, shaped like nothing in particular.
fn junk(d: &mut Dice, depth: usize) -> String {
    match d.roll(if depth < 3 { 8 } else { 6 }) {
        0 => "null".into(),
        1 => d.pick(&["true", "false"]).into(),
        2 => d.pick(NUMBERS).into(),
        3 => d.pick(NUMBER_STRINGS).into(),
        4 => d.pick(STRINGS).into(),
        5 => "[]".into(),
        6 => {
            let items: Vec<String> = (0..d.roll(4)).map(|_| junk(d, depth + 1)).collect();
            format!("[{}]", items.join(","))
        }
        _ => {
            let entries: Vec<String> = (0..d.roll(4))
                .map(|_| {
                    let k = d.pick(KEYS);
                    format!("{}:{}", key(d, k), junk(d, depth + 1))
                })
                .collect();
            object(d, entries)
        }
    }
}

/// One value of a field's type: mostly right-shaped, sometimes not.
fn element(d: &mut Dice, kind: &Kind, depth: usize) -> String {
    if d.odds(20) {
        return junk(d, depth + 1);
    }
    match kind {
        Kind::String => match d.roll(3) {
            0 => d.pick(STRINGS).into(),
            1 => d.pick(NUMBERS).into(),
            _ => d.pick(&["true", "false", "\"1000000003\""]).into(),
        },
        Kind::Bool => d
            .pick(&[
                "true", "false", "\"true\"", "\"1\"", "\"0\"", "1", "0", "2.5",
            ])
            .into(),
        Kind::Double | Kind::Float => match d.roll(2) {
            0 => d.pick(NUMBERS).into(),
            _ => d.pick(NUMBER_STRINGS).into(),
        },
        Kind::Enum(e) => {
            let known: Vec<String> = table()
                .spelling(e)
                .map(|sp| {
                    e.values()
                        .filter_map(|v| sp.to_graph(v.number()).map(lit))
                        .collect()
                })
                .unwrap_or_default();
            match d.roll(known.len() + 2) {
                i if i < known.len() => known[i].clone(),
                i if i == known.len() => "\"SOMETHING_NEW\"".into(),
                _ => d.pick(&["\"\"", "\"manage\"", "3", "null"]).into(),
            }
        }
        Kind::Message(m) if depth < 3 => message(d, m, depth + 1),
        Kind::Message(_) => "{}".into(),
        Kind::Bytes => d.pick(STRINGS).into(),
        _ => match d.roll(3) {
            0 | 1 => d.pick(NUMBERS).into(),
            _ => d.pick(NUMBER_STRINGS).into(),
        },
    }
}

/// A value for a field: null, an element, or for a repeated field an
/// array, a `{"data": [...]}` edge (right or wrong) or a single element.
fn value(d: &mut Dice, f: &FieldDescriptor, depth: usize) -> String {
    if d.odds(8) {
        return "null".into();
    }
    let kind = f.kind();
    if !f.is_list() {
        return element(d, &kind, depth);
    }
    let elements = |d: &mut Dice| {
        let items: Vec<String> = (0..d.roll(4)).map(|_| element(d, &kind, depth)).collect();
        format!("[{}]", items.join(","))
    };
    match d.roll(8) {
        0..=3 => elements(d),
        4 => {
            let mut entries = vec![format!("\"data\":{}", elements(d))];
            if d.odds(40) {
                entries.push(format!("\"data\":{}", elements(d)));
            }
            if d.odds(40) {
                entries.push(format!("\"paging\":{}", junk(d, depth + 1)));
            }
            object(d, entries)
        }
        5 => format!("{{\"data\":{}}}", junk(d, depth + 1)),
        _ => element(d, &kind, depth),
    }
}

/// A JSON object for a message: some of its fields by their Graph key (or
/// alias, or proto name), some keys twice, unknown keys, any order.
fn message(d: &mut Dice, m: &MessageDescriptor, depth: usize) -> String {
    let mut entries = Vec::new();
    for f in m.fields() {
        if !d.odds(70) {
            continue;
        }
        let graph = table().graph_name(&f).to_string();
        let mut names = vec![graph.clone()];
        names.extend(table().alias(&f).map(str::to_string));
        if f.name() != graph {
            names.push(f.name().to_string());
        }
        let n = names.len();
        let name = names[d.roll(n)].clone();
        entries.push(format!("{}:{}", key(d, &name), value(d, &f, depth)));
        if d.odds(12) {
            // The same key again, or another of the field's keys.
            let again = names[d.roll(n)].clone();
            entries.push(format!("{}:{}", key(d, &again), value(d, &f, depth)));
        }
    }
    for _ in 0..d.roll(3) {
        let k = d.pick(KEYS);
        entries.push(format!("{}:{}", key(d, k), junk(d, depth + 1)));
    }
    object(d, entries)
}

/// `paging`, right or wrong.
fn paging(d: &mut Dice) -> String {
    if d.odds(15) {
        return junk(d, 1);
    }
    let mut entries = Vec::new();
    if !d.odds(20) {
        let after = match d.roll(5) {
            0..=2 => lit(&format!("QVFI{}", d.roll(1000))),
            _ => junk(d, 2),
        };
        let mut cursors = vec![format!("\"before\":\"B\""), format!("\"after\":{after}")];
        if d.odds(10) {
            cursors.push(format!("\"after\":{}", junk(d, 2)));
        }
        entries.push(format!("\"cursors\":{}", object(d, cursors)));
    }
    if !d.odds(25) {
        let next = match d.roll(4) {
            0 | 1 => "\"https://graph.facebook.com/v23.0/next\"".to_string(),
            2 => "null".to_string(),
            _ => junk(d, 2),
        };
        entries.push(format!("\"next\":{next}"));
    }
    if d.odds(10) {
        entries.push("\"previous\":\"p\"".into());
    }
    object(d, entries)
}

/// A body that is no answer at all.
fn garbage(d: &mut Dice) -> Vec<u8> {
    let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    match d.roll(14) {
        0 => b"true".to_vec(),
        1 => b"false".to_vec(),
        2 => b"null".to_vec(),
        3 => b"[{\"data\":[]}]".to_vec(),
        4 => b"\"text\"".to_vec(),
        5 => b"-3.5".to_vec(),
        6 => Vec::new(),
        7 => b"{\"data\":[{\"id\":\"1\"},}".to_vec(),
        8 => b"{\"data\":[]} trailing".to_vec(),
        9 => b"{\"id\":\"\xff\xfe\"}".to_vec(),
        10 => format!("{{\"unknown\":{},\"data\":[]}}", deep(126 + d.roll(4))).into_bytes(),
        11 => format!("{{\"data\":[{{\"x\":{}}}]}}", deep(125 + d.roll(4))).into_bytes(),
        12 => b"{\"data\":[],\"paging\":{\"next\":1e999}}".to_vec(),
        _ => junk(d, 0).into_bytes(),
    }
}

/// A Graph answer for `route`, from the dice.
fn graph_body(route: &Route, d: &mut Dice) -> Vec<u8> {
    if d.odds(6) {
        return garbage(d);
    }
    let mut body = match &route.response {
        ResponseShape::List { items, .. } => {
            let Kind::Message(item) = items.kind() else {
                unreachable!("list items are messages")
            };
            let data = |d: &mut Dice| {
                let items: Vec<String> = (0..d.roll(5))
                    .map(|_| {
                        if d.odds(8) {
                            junk(d, 1)
                        } else {
                            message(d, &item, 0)
                        }
                    })
                    .collect();
                format!("[{}]", items.join(","))
            };
            let mut entries = Vec::new();
            if !d.odds(5) {
                entries.push(format!("\"data\":{}", data(d)));
            }
            if d.odds(8) {
                let again = if d.odds(50) { data(d) } else { junk(d, 1) };
                entries.push(format!("\"data\":{again}"));
            }
            if !d.odds(20) {
                entries.push(format!("\"paging\":{}", paging(d)));
            }
            if d.odds(10) {
                entries.push(format!("\"paging\":{}", paging(d)));
            }
            if d.odds(10) {
                entries.push(format!("\"summary\":{}", junk(d, 1)));
            }
            object(d, entries)
        }
        ResponseShape::Object if d.odds(10) => d.pick(&["true", "false"]).to_string(),
        ResponseShape::Object => message(d, &route.output, 0),
    };
    body.insert_str(0, ws(d));
    body.push_str(ws(d));
    body.into_bytes()
}

/// The reference's message as a client sees it (encoded, then decoded:
/// fields set to defaults are not sent).
fn reference(route: &Route, body: &[u8]) -> Result<DynamicMessage, GatewayError> {
    graph_gateway::engine::response::decode(table(), route, body).map(|m| {
        DynamicMessage::decode(route.output.clone(), m.encode_to_vec().as_slice()).unwrap()
    })
}

/// The `id` of each list item of a reference message (what the engine
/// learns owners from).
fn item_ids(route: &Route, msg: &DynamicMessage) -> Vec<String> {
    let ResponseShape::List { items, .. } = &route.response else {
        return Vec::new();
    };
    let Kind::Message(item) = items.kind() else {
        return Vec::new();
    };
    if !item
        .get_field_by_name("id")
        .is_some_and(|f| f.kind() == Kind::String && !f.is_list())
    {
        return Vec::new();
    }
    msg.get_field(items)
        .as_list()
        .unwrap_or_default()
        .iter()
        .map(|m| {
            m.as_message()
                .and_then(|m| m.get_field_by_name("id"))
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        })
        .collect()
}

/// Equal, or both holding NaN (equal to nothing) with equal encodings.
fn same(a: &DynamicMessage, b: &DynamicMessage) -> bool {
    a == b
        || (serde_json::to_string(a).unwrap().contains("NaN")
            && a.encode_to_vec() == b.encode_to_vec())
}

/// Both answers agree: the same error, or equal messages and the ids of
/// the reference's list items.
fn agree(route: &Route, body: &[u8]) -> Result<(), TestCaseError> {
    let want = reference(route, body);
    let got = plans().transcode(route, body);
    let text = String::from_utf8_lossy(body);
    match (want, got) {
        (Ok(w), Ok(g)) => {
            let d = DynamicMessage::decode(route.output.clone(), g.bytes.as_ref())
                .map_err(|e| TestCaseError::fail(format!("undecodable: {e} for {text}")))?;
            prop_assert!(
                same(&w, &d),
                "{}: {}\nwant {}\ngot  {}",
                route.operation_id,
                text,
                serde_json::to_string(&w).unwrap(),
                serde_json::to_string(&d).unwrap()
            );
            prop_assert_eq!(
                g.item_ids,
                item_ids(route, &w),
                "{}: {}",
                route.operation_id,
                text
            );
        }
        (Err(w), Err(g)) => prop_assert_eq!(
            format!("{w:?}"),
            format!("{g:?}"),
            "{}: {}",
            route.operation_id,
            text
        ),
        (w, g) => prop_assert!(
            false,
            "{}: {}\nwant {:?}\ngot  {:?}",
            route.operation_id,
            text,
            w.map(|m| serde_json::to_string(&m).unwrap()),
            g.map(|t| t.item_ids)
        ),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(TRANSCODE_CASES))]

    /// Every route, Graph-shaped answers built from the route's response
    /// descriptor (right- and wrong-shaped values, nulls, unknown and
    /// repeated keys, aliases, known and unknown enum spellings, numbers as
    /// strings, `{"data": [...]}` edges, paging blocks) and garbage: the
    /// streaming transcoder answers as `response::decode` does.
    #[test]
    fn the_transcoder_answers_as_the_reference(
        which in any::<prop::sample::Index>(),
        rolls in vec(any::<u32>(), 0..800),
    ) {
        let routes = routes();
        let route = which.get(&routes);
        let body = graph_body(route, &mut Dice { rolls: &rolls, at: 0 });
        agree(route, &body)?;
    }

    /// Every route, arbitrary JSON values and bytes: the same answers.
    #[test]
    fn arbitrary_graph_answers_transcode_as_the_reference(
        which in any::<prop::sample::Index>(),
        json in graph_json(),
        bytes in vec(any::<u8>(), 0..64),
    ) {
        let routes = routes();
        let route = which.get(&routes);
        agree(route, &serde_json::to_vec(&json).unwrap())?;
        agree(route, &bytes)?;
    }
}
