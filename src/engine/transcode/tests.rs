//! The transcoder against the reference (`response::decode` then
//! encoding), route by route and corner by corner.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::OnceLock;

use prost::Message as _;
use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, MessageDescriptor};

use super::*;
use crate::engine::response;

fn table() -> &'static RouteTable {
    static T: OnceLock<RouteTable> = OnceLock::new();
    T.get_or_init(|| RouteTable::embedded().unwrap())
}

fn plans() -> &'static ResponsePlans {
    static P: OnceLock<ResponsePlans> = OnceLock::new();
    P.get_or_init(|| ResponsePlans::new(table()))
}

fn route(op: &str) -> &'static Route {
    table().by_operation(op).unwrap()
}

/// Equal messages; NaN (which equals nothing) compared by its encoding.
fn same(a: &DynamicMessage, b: &DynamicMessage) -> bool {
    a == b || (show(a).contains("NaN") && a.encode_to_vec() == b.encode_to_vec())
}

/// A message as protobuf JSON (its Debug form prints descriptors, without
/// end for a oneof).
fn show(m: &DynamicMessage) -> String {
    serde_json::to_string(m).unwrap()
}

/// An answer, for failure messages.
fn show_result(r: &Result<DynamicMessage, GatewayError>) -> String {
    match r {
        Ok(m) => show(m),
        Err(e) => format!("{e:?}"),
    }
}

/// The ids the engine learned from the reference's message.
fn ids_of(route: &Route, msg: &DynamicMessage) -> Vec<String> {
    let ResponseShape::List { items, .. } = &route.response else {
        return Vec::new();
    };
    let Kind::Message(item) = items.kind() else {
        return Vec::new();
    };
    match item.get_field_by_name("id") {
        Some(f) if f.kind() == Kind::String && !f.is_list() => {}
        _ => return Vec::new(),
    }
    msg.get_field(items)
        .as_list()
        .unwrap()
        .iter()
        .map(|m| {
            m.as_message()
                .unwrap()
                .get_field_by_name("id")
                .unwrap()
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

/// The reference's message as a client sees it: encoded, then decoded
/// (fields set to their defaults are not sent).
fn reference(route: &Route, body: &[u8]) -> Result<DynamicMessage, GatewayError> {
    response::decode(table(), route, body).map(|m| {
        DynamicMessage::decode(route.output.clone(), m.encode_to_vec().as_slice()).unwrap()
    })
}

/// Transcodes `body` both ways and insists on the same answer.
#[track_caller]
fn check(route: &Route, body: &[u8]) {
    let _ = checked(route, body);
}

/// [`check`], returning the reference's answer.
#[track_caller]
fn checked(route: &Route, body: &[u8]) -> Result<DynamicMessage, GatewayError> {
    let want = reference(route, body);
    let got = plans().transcode(route, body);
    let text = String::from_utf8_lossy(body);
    match (&want, got) {
        (Ok(w), Ok(g)) => {
            let d = DynamicMessage::decode(route.output.clone(), g.bytes.as_ref())
                .unwrap_or_else(|e| panic!("{}: {e} for {text}", route.operation_id));
            assert!(
                same(w, &d),
                "{}: {text}\nwant {}\ngot  {}",
                route.operation_id,
                show(w),
                show(&d)
            );
            assert_eq!(
                g.item_ids,
                ids_of(route, w),
                "{}: {text}",
                route.operation_id
            );
        }
        (Err(w), Err(g)) => assert_eq!(
            format!("{w:?}"),
            format!("{g:?}"),
            "{}: {text}",
            route.operation_id
        ),
        (w, g) => panic!(
            "{}: {text}\nwant {}\ngot  {g:?}",
            route.operation_id,
            show_result(w)
        ),
    }
    want
}

/// A right-shaped JSON value for a field: `salt` varies it.
fn value_for(f: &FieldDescriptor, salt: usize, depth: usize) -> String {
    let one = |salt: usize| scalar_for(&f.kind(), salt, depth);
    if f.is_list() {
        let items: Vec<String> = (0..1 + salt % 3).map(|i| one(salt + i)).collect();
        format!("[{}]", items.join(","))
    } else {
        one(salt)
    }
}

fn scalar_for(kind: &Kind, salt: usize, depth: usize) -> String {
    match kind {
        Kind::String => format!("\"s{salt}\""),
        Kind::Bool => ["true", "false", "\"1\""][salt % 3].to_string(),
        Kind::Double | Kind::Float => ["1.5", "\"2.25\"", "-3"][salt % 3].to_string(),
        Kind::Enum(e) => {
            let known: Vec<String> = table()
                .spelling(e)
                .map(|sp| {
                    e.values()
                        .filter_map(|v| sp.to_graph(v.number()).map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            match known.get(salt % (known.len() + 1)) {
                Some(s) => format!("\"{s}\""),
                None => "\"SOMETHING_NEW\"".to_string(),
            }
        }
        Kind::Message(m) if depth < 3 => object_for(m, salt, depth + 1),
        Kind::Message(_) => "{}".to_string(),
        Kind::Bytes => "\"Ynl0ZXM=\"".to_string(),
        _ => ["7", "\"42\"", "-1", "3.9"][salt % 4].to_string(),
    }
}

/// An object with every field of `m`, by its Graph key.
fn object_for(m: &MessageDescriptor, salt: usize, depth: usize) -> String {
    let entries: Vec<String> = m
        .fields()
        .enumerate()
        .map(|(i, f)| {
            format!(
                "\"{}\":{}",
                table().graph_name(&f),
                value_for(&f, salt + i, depth)
            )
        })
        .collect();
    format!("{{{}}}", entries.join(","))
}

/// A full answer for a route.
fn answer_for(route: &Route, salt: usize) -> String {
    match &route.response {
        ResponseShape::List { items, .. } => {
            let Kind::Message(m) = items.kind() else {
                unreachable!()
            };
            let items: Vec<String> = (0..3).map(|i| object_for(&m, salt + i, 0)).collect();
            format!(
                r#"{{"data":[{}],"paging":{{"cursors":{{"before":"B","after":"A{salt}"}},"next":"https://graph/next"}}}}"#,
                items.join(",")
            )
        }
        ResponseShape::Object => object_for(&route.output, salt, 0),
    }
}

#[test]
fn every_route_has_a_plan_and_every_field_a_conversion() {
    let p = plans();
    assert_eq!(p.routes.len(), table().iter().count());
    for m in &p.messages {
        assert!(
            m.unsupported.is_empty(),
            "map or group fields the reference cannot fill: {:?}",
            m.unsupported
        );
    }
    for r in table().iter() {
        match p.routes.get(&r.full_method).unwrap() {
            RoutePlan::List {
                item,
                next_page_token,
                ..
            } => {
                assert!(item.is_some(), "{}", r.operation_id);
                assert!(next_page_token.is_some(), "{}", r.operation_id);
            }
            RoutePlan::Object { .. } => {
                if let Some(f) = r.output.get_field_by_name("success") {
                    assert!(f.kind() == Kind::Bool && !f.is_list(), "{}", r.operation_id);
                }
            }
        }
    }
}

#[test]
fn full_answers_for_every_route_decode_alike() {
    let mut lists = 0;
    for r in table().iter() {
        let mut sent = 0;
        for salt in 0..4 {
            let body = answer_for(r, salt);
            sent += checked(r, body.as_bytes()).unwrap().encode_to_vec().len();
        }
        assert_ne!(sent, 0, "{}", r.operation_id);
        lists += usize::from(matches!(r.response, ResponseShape::List { .. }));
    }
    assert!(lists > 20, "{lists} list routes");
}

#[test]
fn every_route_alike_on_odd_shapes() {
    let bodies: &[&str] = &[
        "",
        " ",
        "{",
        "}",
        "nul",
        "true",
        "false",
        "null",
        "0",
        "-1.5",
        "1e400",
        "\"text\"",
        "[]",
        "[1,2]",
        "[{}]",
        "{}",
        "{} x",
        "{}{}",
        r#"{"data":[]}"#,
        r#"{"data":null}"#,
        r#"{"data":{}}"#,
        r#"{"data":"x"}"#,
        r#"{"data":[],"data":5}"#,
        r#"{"data":5,"data":[{}]}"#,
        r#"{"data":[1,null,"x",[],{},true]}"#,
        r#"{"data":[{"id":"1"}],"data":[{"id":"2"},{"id":"3"}]}"#,
        r#"{"data":[{"id":"act_1"}],"paging":{"next":"n","cursors":{"after":"A"}}}"#,
        r#"{"data":[],"paging":{"next":null,"cursors":{"after":"A"}}}"#,
        r#"{"data":[],"paging":{"next":0,"cursors":{"after":5}}}"#,
        r#"{"data":[],"paging":{"next":"n","cursors":{"after":"A","after":null}}}"#,
        r#"{"data":[],"paging":{"next":"n","cursors":{"after":"A"},"cursors":{}}}"#,
        r#"{"data":[],"paging":{"next":"n","next":null,"cursors":{"after":"A"}}}"#,
        r#"{"data":[],"paging":{"next":"n","cursors":{"after":"A"}},"paging":[]}"#,
        r#"{"data":[],"paging":{"next":"n","cursors":[{"after":"A"}]}}"#,
        r#"{"data":[],"paging":{"next":{},"cursors":{"after":"\u0041\n"}}}"#,
        r#"{"success":true}"#,
        r#"{"success":false}"#,
        r#"{"success":"1"}"#,
        r#"{"success":1,"success":0.5}"#,
        r#"{"success":true,"id":"1","unknown":{"deep":[1,{"x":[]}]}}"#,
        r#"{"id":5}"#,
        r#"{"id":"5","id":null}"#,
        r#"{"id":null,"id":"5"}"#,
        r#"{"\u0069d":"escaped key"}"#,
        r#"{"id":1e20}"#,
        r#"{"id":1.0}"#,
        r#"{"id":-0}"#,
        r#"{"id":-0.0}"#,
        r#"{"id":18446744073709551615}"#,
        r#"{"id":18446744073709551616}"#,
        r#"{"id":true}"#,
        r#"{"id":[]}"#,
        r#"{"id":{}}"#,
        r#"{"data":[{"id":"1","id":2}]}"#,
        r#"{"data":[{"id":{"x":1}}]}"#,
        "{\"data\":[{\"id\":\"\u{e9}\u{1F600}\"}]}",
        r#"{"data":[{"id":"\ud83d\ude00"}]}"#,
        r#"{"data":[{"id":"\ud800"}]}"#,
        "{\"data\":[{\"id\":\"\u{7f}\"}]}",
        "{\"data\":[{\"id\":\"a\tb\"}]}",
    ];
    for r in table().iter() {
        for body in bodies {
            check(r, body.as_bytes());
        }
        check(r, b"{\"id\":\"\xff\"}");
        check(r, b"{\"data\":[{\"\xff\":1}]}");
    }
}

#[test]
fn the_recursion_limit_is_the_parsers() {
    for depth in [126, 127, 128, 129, 200] {
        let deep = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        for r in table().iter() {
            for body in [
                format!(r#"{{"unknown":{deep}}}"#),
                format!(r#"{{"data":[{{"unknown":{deep}}}]}}"#),
                format!(r#"{{"data":{deep}}}"#),
                format!(r#"{{"paging":{{"next":{deep}}},"data":[]}}"#),
                deep.clone(),
            ] {
                check(r, body.as_bytes());
            }
        }
    }
}

/// Every field of every message reachable from a route, with the message
/// it belongs to and a route that answers with it at the top or as a
/// list item.
fn top_fields() -> Vec<(&'static Route, FieldDescriptor)> {
    let mut out = Vec::new();
    for r in table().iter() {
        let m = match &r.response {
            ResponseShape::List { items, .. } => match items.kind() {
                Kind::Message(m) => m,
                _ => continue,
            },
            ResponseShape::Object => r.output.clone(),
        };
        for f in m.fields() {
            out.push((&**r, f));
        }
    }
    out
}

/// The answer of `route` with `fields` as its object (or its one item).
fn wrap(route: &Route, fields: &str) -> String {
    match route.response {
        ResponseShape::List { .. } => format!(r#"{{"data":[{{{fields}}}]}}"#),
        ResponseShape::Object => format!("{{{fields}}}"),
    }
}

#[test]
fn every_field_alike_for_every_kind_of_value() {
    let values: &[&str] = &[
        "null",
        "true",
        "false",
        "0",
        "1",
        "-1",
        "2.5",
        "-2.5",
        "1e20",
        "1.0",
        "-0.0",
        "0.1",
        "1.7976931348623157e308",
        "5e-324",
        "2147483647",
        "2147483648",
        "-2147483648",
        "-2147483649",
        "4294967295",
        "4294967296",
        "9223372036854775807",
        "9223372036854775808",
        "18446744073709551615",
        "18446744073709551616",
        "-9223372036854775808",
        "-9223372036854775809",
        "\"\"",
        "\"0\"",
        "\"1\"",
        "\"true\"",
        "\"false\"",
        "\"+5\"",
        "\" 5\"",
        "\"-7\"",
        "\"2.5\"",
        "\"1e3\"",
        "\"NaN\"",
        "\"inf\"",
        "\"-infinity\"",
        "\"x\"",
        "\"SOMETHING_NEW\"",
        "\"MANAGE\"",
        "\"ADVERTISE\"",
        "\"OWNER\"",
        "\"ACTIVE\"",
        "[]",
        "[null]",
        "[1,\"2\",true,null,[3],{}]",
        "[\"MANAGE\",\"nope\",\"ANALYZE\"]",
        "[{}]",
        "[{\"id\":\"1\",\"name\":\"n\"},5,{\"id\":2}]",
        "{}",
        "{\"id\":\"1\",\"name\":\"n\"}",
        "{\"data\":[\"MANAGE\",{\"id\":\"2\"},7]}",
        "{\"data\":null}",
        "{\"data\":{}}",
        "{\"data\":[{\"id\":\"1\"}],\"data\":[{\"id\":\"2\"}]}",
        "{\"data\":[{\"id\":\"1\"}],\"data\":5}",
        "{\"id\":\"9\",\"data\":[{\"id\":\"3\"}],\"name\":\"after\"}",
        "{\"id\":\"9\",\"name\":\"x\",\"id\":\"10\"}",
        "{\"paging\":{},\"data\":[{\"id\":\"1\"}]}",
    ];
    let mut checked = 0;
    for (r, f) in top_fields() {
        let mut keys = vec![table().graph_name(&f).to_string()];
        keys.extend(table().alias(&f).map(str::to_string));
        if f.name() != keys[0] {
            keys.push(f.name().to_string());
        }
        for key in &keys {
            for v in values {
                check(r, wrap(r, &format!("\"{key}\":{v}")).as_bytes());
                checked += 1;
            }
        }
    }
    assert!(checked > 10_000, "{checked}");
}

#[test]
fn a_repeated_key_counts_once_with_its_last_value() {
    let values = [
        "\"a\"",
        "5",
        "null",
        "[\"MANAGE\"]",
        "[{\"id\":\"1\"}]",
        "{\"id\":\"2\",\"name\":\"m\"}",
        "{\"data\":[{\"id\":\"3\"}]}",
        "\"ANALYZE\"",
        "true",
    ];
    for (r, f) in top_fields() {
        let key = table().graph_name(&f);
        for a in values {
            for b in values {
                // Repeated, with another field between.
                let body = wrap(r, &format!("\"{key}\":{a},\"zz\":1,\"{key}\":{b}"));
                check(r, body.as_bytes());
            }
        }
    }
}

#[test]
fn an_alias_counts_only_while_the_own_key_is_absent() {
    let mut aliased = 0;
    for (r, f) in top_fields() {
        let Some(alias) = table().alias(&f) else {
            continue;
        };
        aliased += 1;
        let key = table().graph_name(&f);
        let v = value_for(&f, 1, 0);
        let w = value_for(&f, 2, 0);
        for fields in [
            format!("\"{alias}\":{v}"),
            format!("\"{key}\":{v},\"{alias}\":{w}"),
            format!("\"{alias}\":{w},\"{key}\":{v}"),
            format!("\"{alias}\":{w},\"{key}\":null"),
            format!("\"{key}\":null,\"{alias}\":{w}"),
            format!("\"{alias}\":{w},\"{alias}\":{v}"),
            format!("\"{alias}\":{w},\"{alias}\":null"),
            format!("\"{alias}\":{w},\"{key}\":[],\"{alias}\":{v}"),
            format!("\"{alias}\":{w},\"{key}\":{{}}"),
            format!("\"{alias}\":{w},\"{key}\":\"x\""),
        ] {
            check(r, wrap(r, &fields).as_bytes());
        }
    }
    assert!(aliased > 0, "no (field).alias in the protos");
}

#[test]
fn a_key_that_feeds_several_fields_feeds_each() {
    // The enum and its raw string sibling read the same Graph key.
    let mut shared = 0;
    for (r, f) in top_fields() {
        let key = table().graph_name(&f);
        let siblings = f
            .parent_message()
            .fields()
            .filter(|g| table().graph_name(g) == key)
            .count();
        if siblings < 2 {
            continue;
        }
        shared += 1;
        for v in [
            "\"PENDING\"",
            "\"SOMETHING_NEW\"",
            "[\"MANAGE\",\"x\"]",
            "{\"data\":[\"MANAGE\"]}",
            "{\"id\":\"1\"}",
            "[{\"id\":\"1\"}]",
            "5",
            "null",
        ] {
            check(r, wrap(r, &format!("\"{key}\":{v}")).as_bytes());
            check(
                r,
                wrap(r, &format!("\"{key}\":{v},\"{key}\":\"ACTIVE\"")).as_bytes(),
            );
        }
    }
    assert!(shared > 0, "no two fields share a Graph key");
}

#[test]
fn numbers_become_strings_as_serde_json_writes_them() {
    let r = route("AA03");
    for n in [
        "1e20",
        "1.0",
        "1E+2",
        "-0",
        "-0.0",
        "0.30000000000000004",
        "18446744073709551616",
        "12345678901234567890",
        "-12",
        "5e-324",
    ] {
        let body = format!(r#"{{"data":[{{"id":{n}}}]}}"#);
        checked(r, body.as_bytes()).unwrap();
        let t = plans().transcode(r, body.as_bytes()).unwrap();
        let want = serde_json::from_str::<serde_json::Value>(n)
            .unwrap()
            .to_string();
        assert_eq!(t.item_ids, [want]);
    }
}

#[test]
fn list_items_and_their_ids_come_in_order() {
    let r = route("AA03");
    let body = br#"{"data":[{"id":"act_1","name":"A"},7,{"name":"no id"},{"id":"act_2"}],"paging":{"cursors":{"after":"C"},"next":"n"}}"#;
    check(r, body);
    let t = plans().transcode(r, body).unwrap();
    assert_eq!(t.item_ids, ["act_1", "", "", "act_2"]);
    let resp = crate::proto::ListOwnedAdAccountsResponse::decode(t.bytes).unwrap();
    assert_eq!(resp.ad_accounts.len(), 4);
    assert_eq!(
        page_token::decode("AA03", &resp.next_page_token).unwrap(),
        "C"
    );
}

#[test]
fn long_messages_get_long_lengths() {
    let r = route("AA03");
    let long = "x".repeat(70_000);
    let body = format!(
        r#"{{"data":[{{"id":"1","name":"{long}","business":{{"id":"2","name":"{long}"}}}}]}}"#
    );
    check(r, body.as_bytes());
}

#[test]
fn errors_read_as_the_references() {
    let list = route("AA03");
    let err = plans().transcode(list, b"{\"data\":[}").unwrap_err();
    assert!(
        matches!(&err, GatewayError::Malformed(m) if m.contains("answered invalid JSON: ")),
        "{err:?}"
    );
    let err = plans().transcode(list, b"{}").unwrap_err();
    assert!(
        matches!(&err, GatewayError::Malformed(m) if m.ends_with("answered without a data array")),
        "{err:?}"
    );
    let object = table()
        .iter()
        .find(|r| matches!(r.response, ResponseShape::Object))
        .unwrap();
    let err = plans().transcode(object, b"[1]").unwrap_err();
    assert!(
        matches!(&err, GatewayError::Malformed(m) if m.ends_with("answered an array where an object was expected")),
        "{err:?}"
    );
}

/// Kinds of field no route answers with today (zigzag and fixed integers,
/// floats, bytes, proto3 `optional`, a oneof, recursion), in the real pool
/// so that the real enums' spellings apply.
struct Custom {
    table: RouteTable,
    routes: Vec<Route>,
    plans: ResponsePlans,
}

fn custom() -> &'static Custom {
    use prost_types::field_descriptor_proto::{Label, Type};
    use prost_types::{
        DescriptorProto, FieldDescriptorProto, FileDescriptorProto, FileDescriptorSet,
        OneofDescriptorProto,
    };
    static C: OnceLock<Custom> = OnceLock::new();
    C.get_or_init(|| {
        let mut set = FileDescriptorSet::decode(crate::proto::FILE_DESCRIPTOR_SET).unwrap();
        let field = |name: &str, number: i32, ty: Type, repeated: bool| FieldDescriptorProto {
            name: Some(name.into()),
            number: Some(number),
            label: Some(if repeated {
                Label::Repeated
            } else {
                Label::Optional
            } as i32),
            r#type: Some(ty as i32),
            json_name: Some(name.into()),
            ..Default::default()
        };
        let typed = |mut f: FieldDescriptorProto, type_name: &str| {
            f.type_name = Some(type_name.into());
            f
        };
        let in_oneof = |mut f: FieldDescriptorProto, index: i32, synthetic: bool| {
            f.oneof_index = Some(index);
            f.proto3_optional = synthetic.then_some(true);
            f
        };
        let mut fields = vec![
            field("s32", 1, Type::Sint32, false),
            field("s64", 2, Type::Sint64, false),
            field("sf32", 3, Type::Sfixed32, false),
            field("sf64", 4, Type::Sfixed64, false),
            field("fx32", 5, Type::Fixed32, false),
            field("fx64", 6, Type::Fixed64, false),
            field("u32", 7, Type::Uint32, false),
            field("u64", 8, Type::Uint64, false),
            field("fl", 9, Type::Float, false),
            field("db", 10, Type::Double, false),
            field("by", 11, Type::Bytes, false),
            field("i32", 12, Type::Int32, false),
            field("i64", 13, Type::Int64, false),
            field("b", 14, Type::Bool, false),
            field("id", 15, Type::String, false),
            typed(
                field("e", 16, Type::Enum, false),
                ".graphgateway.v1.AccessStatus",
            ),
            in_oneof(field("c_str", 19, Type::String, false), 0, false),
            in_oneof(field("c_int", 20, Type::Int32, false), 0, false),
            in_oneof(
                typed(field("c_msg", 21, Type::Message, false), ".tt.Kinds"),
                0,
                false,
            ),
            in_oneof(field("c_bool", 22, Type::Bool, false), 0, false),
            in_oneof(field("opt_i", 17, Type::Int32, false), 1, true),
            in_oneof(field("opt_s", 18, Type::String, false), 2, true),
            field("r_s32", 23, Type::Sint32, true),
            field("r_fx64", 24, Type::Fixed64, true),
            field("r_fl", 25, Type::Float, true),
            field("r_by", 26, Type::Bytes, true),
            typed(field("r_msg", 27, Type::Message, true), ".tt.Kinds"),
            typed(
                field("r_e", 28, Type::Enum, true),
                ".graphgateway.v1.PageTask",
            ),
            field("r_u64", 29, Type::Uint64, true),
            field("r_b", 30, Type::Bool, true),
            field("r_db", 31, Type::Double, true),
            field("r_sf32", 32, Type::Sfixed32, true),
            typed(field("child", 33, Type::Message, false), ".tt.Kinds"),
            field("r_s", 34, Type::String, true),
        ];
        // A oneof member declared before the others (declaration order,
        // not number order, decides which one stays).
        fields.push(in_oneof(field("c_late", 35, Type::String, false), 0, false));
        let oneof = |name: &str| OneofDescriptorProto {
            name: Some(name.into()),
            ..Default::default()
        };
        set.file.push(FileDescriptorProto {
            name: Some("tt/transcode_test.proto".into()),
            package: Some("tt".into()),
            dependency: vec!["graphgateway/v1/common.proto".into()],
            syntax: Some("proto3".into()),
            message_type: vec![
                DescriptorProto {
                    name: Some("Kinds".into()),
                    field: fields,
                    oneof_decl: vec![oneof("choice"), oneof("_opt_i"), oneof("_opt_s")],
                    ..Default::default()
                },
                DescriptorProto {
                    name: Some("ListKinds".into()),
                    field: vec![
                        typed(field("items", 1, Type::Message, true), ".tt.Kinds"),
                        field("next_page_token", 2, Type::String, false),
                    ],
                    ..Default::default()
                },
            ],
            ..Default::default()
        });
        let pool = prost_reflect::DescriptorPool::from_file_descriptor_set(set).unwrap();
        let table = RouteTable::from_pool(pool).unwrap();
        let kinds = table.pool().get_message_by_name("tt.Kinds").unwrap();
        let list = table.pool().get_message_by_name("tt.ListKinds").unwrap();
        let route = |method: &str, output: MessageDescriptor, response: ResponseShape| Route {
            full_method: format!("/tt.Custom/{method}"),
            service: "tt.Custom".into(),
            method: method.into(),
            operation_id: format!("TT{}", method.len()),
            http: crate::routes::HttpMethod::Get,
            template: crate::routes::PathTemplate::parse("/custom").unwrap(),
            invalidates: Vec::new(),
            quota_class: crate::routes::QuotaClass::App,
            use_case: "test".into(),
            input: output.clone(),
            output,
            fields: Vec::new(),
            response,
            node: None,
            default_fields: None,
            page_token: false,
            acts_on_business: false,
            mints_token: false,
        };
        let routes = vec![
            route("Get", kinds.clone(), ResponseShape::Object),
            route(
                "List",
                list.clone(),
                ResponseShape::List {
                    items: list.get_field_by_name("items").unwrap(),
                    next_page_token: list.get_field_by_name("next_page_token").unwrap(),
                },
            ),
        ];
        let plans = ResponsePlans::compile(&table, routes.iter());
        Custom {
            table,
            routes,
            plans,
        }
    })
}

/// [`check`] on the custom routes.
#[track_caller]
fn check_custom(route: &Route, body: &str) {
    let c = custom();
    let want = response::decode(&c.table, route, body.as_bytes()).map(|m| {
        DynamicMessage::decode(route.output.clone(), m.encode_to_vec().as_slice()).unwrap()
    });
    let got = c.plans.transcode(route, body.as_bytes());
    match (want, got) {
        (Ok(w), Ok(g)) => {
            let d = DynamicMessage::decode(route.output.clone(), g.bytes.as_ref()).unwrap();
            assert!(same(&w, &d), "{body}\nwant {}\ngot  {}", show(&w), show(&d));
            assert_eq!(g.item_ids, ids_of(route, &w), "{body}");
        }
        (Err(w), Err(g)) => assert_eq!(format!("{w:?}"), format!("{g:?}"), "{body}"),
        (w, g) => panic!("{body}\nwant {}\ngot {g:?}", show_result(&w)),
    }
}

#[test]
fn every_kind_of_field_alike() {
    let values = [
        "null",
        "true",
        "false",
        "0",
        "1",
        "-1",
        "-2.5",
        "1e20",
        "-0.0",
        "1e-50",
        "2147483648",
        "-2147483649",
        "4294967296",
        "9223372036854775808",
        "18446744073709551615",
        "-9223372036854775808",
        "\"\"",
        "\"1\"",
        "\"-3\"",
        "\"NaN\"",
        "\"-inf\"",
        "\"1e400\"",
        "\"x\"",
        "\"PENDING\"",
        "\"MANAGE\"",
        "[]",
        "[1,-2,\"3\",true,null,\"MANAGE\",\"x\",1.5,[],{}]",
        "{}",
        "{\"s32\":-5,\"id\":\"7\"}",
        "[{\"s32\":-5},{\"c_int\":3},7]",
        "{\"data\":[1,{\"id\":\"d\"},\"MANAGE\"]}",
        "{\"data\":5}",
        "{\"id\":\"not data\",\"data\":[2],\"data\":[3]}",
    ];
    let c = custom();
    let kinds = c.table.pool().get_message_by_name("tt.Kinds").unwrap();
    for route in &c.routes {
        for f in kinds.fields() {
            for v in values {
                for w in ["", ",\"i32\":5"] {
                    let fields = format!("\"{}\":{v}{w}", f.name());
                    check_custom(route, &wrap(route, &fields));
                    let twice = format!("\"{}\":7,{fields},\"{}\":{v}", f.name(), f.name());
                    check_custom(route, &wrap(route, &twice));
                }
            }
        }
    }
}

#[test]
fn the_last_declared_member_of_a_oneof_stays() {
    let c = custom();
    let members = [
        ("c_str", "\"s\""),
        ("c_str", "\"\""),
        ("c_int", "0"),
        ("c_int", "9"),
        ("c_int", "\"x\""),
        ("c_msg", "{\"c_bool\":true}"),
        ("c_msg", "5"),
        ("c_bool", "false"),
        ("c_late", "\"late\""),
        ("c_late", "null"),
    ];
    for route in &c.routes {
        for a in members {
            for b in members {
                for d in members {
                    let fields = format!(
                        "\"{}\":{},\"{}\":{},\"{}\":{}",
                        a.0, a.1, b.0, b.1, d.0, d.1
                    );
                    check_custom(route, &wrap(route, &fields));
                }
            }
        }
    }
}

#[test]
fn nested_and_recursive_messages_alike() {
    let c = custom();
    for route in &c.routes {
        for body in [
            r#"{"child":{"child":{"child":{"id":"deep","r_msg":[{"id":"x"},{"child":{}}]}}}}"#,
            r#"{"child":{"id":"a"},"child":{"s32":1}}"#,
            r#"{"child":{"id":"a","id":"b","r_s32":[1],"r_s32":[2,3]}}"#,
            r#"{"r_msg":{"data":[{"id":"1"}],"id":"2"},"r_msg":[{"id":"3"}]}"#,
            r#"{"r_msg":{"id":"1","child":{"data":[]}}}"#,
            r#"{"c_msg":{"c_msg":{"c_int":1,"c_str":"s"}},"c_msg":{"c_bool":true}}"#,
            r#"{"opt_i":0,"opt_s":"","opt_i":null}"#,
            r#"{"opt_i":0,"opt_s":""}"#,
        ] {
            check_custom(route, &wrap(route, &body[1..body.len() - 1]));
        }
    }
}
