//! Straight transcoding (issue 15): Graph's JSON read once, as a stream,
//! into the wire bytes of the route's response message. A plan per message,
//! compiled once from the descriptors, says which JSON key feeds which
//! fields and how each value converts; no `serde_json::Value` and no
//! `DynamicMessage` is built on the way.
//!
//! The answers are those of [`super::response::decode`] (kept as the
//! reference) followed by encoding: once decoded, the same messages; the
//! same errors. The corners kept equal:
//! - a key sent twice counts once, with its last value (as in a JSON map):
//!   what an earlier occurrence wrote is cut out of the output, so that a
//!   decoder neither concatenates lists nor merges messages;
//! - a field's own key, when present (even as null), wins over its alias;
//! - an object where a list is expected is a `{"data": [...]}` edge when it
//!   has a `data` key (anywhere in it), else one item;
//! - values that feed no field are still walked with the parser's recursion
//!   limit, so that the same bodies are refused.

use std::collections::HashMap;
use std::fmt;
use std::fmt::Write as _;
use std::marker::PhantomData;

use bytes::Bytes;
use prost_reflect::{Kind, MessageDescriptor};
use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Number;

use crate::error::GatewayError;
use crate::routes::{page_token, EnumSpelling, ResponseShape, Route, RouteTable};

/// The response plans of every route, compiled once at start-up.
#[derive(Debug)]
pub struct ResponsePlans {
    /// Every message reachable from a route's response, by index (nested
    /// and recursive messages refer to each other by index).
    messages: Vec<MessagePlan>,
    /// The Graph spellings of the enums the messages use, by index.
    enums: Vec<EnumSpelling>,
    /// By full method name.
    routes: HashMap<String, RoutePlan>,
}

/// A Graph answer transcoded into the route's response message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Transcoded {
    /// The encoded response message.
    pub bytes: Bytes,
    /// For list routes whose items have a string `id` field: each item's
    /// `id`, in order ("" for an item without one). Empty otherwise.
    pub item_ids: Vec<String>,
}

#[derive(Debug)]
enum RoutePlan {
    List {
        /// The field number of the repeated items field.
        items: u32,
        /// The items' message plan (None: the items are not messages).
        item: Option<usize>,
        /// The `next_page_token` field, when it is a string.
        next_page_token: Option<Singular>,
        /// The items' string `id` field.
        id_slot: Option<usize>,
    },
    Object {
        msg: usize,
        /// The `success` field set by a bare `true`/`false`, when a bool.
        success: Option<Singular>,
    },
}

/// A singular field written outside of any message plan.
#[derive(Clone, Copy, Debug)]
struct Singular {
    number: u32,
    presence: bool,
}

#[derive(Debug, Default)]
struct MessagePlan {
    /// One per declared field, in declaration order.
    slots: Vec<Slot>,
    /// JSON key -> the fields it feeds, in [`key_order`].
    keys: Vec<(Box<str>, Box<[Target]>)>,
    /// Some field is in a (real) oneof.
    oneofs: bool,
    /// The string `id` field.
    id_slot: Option<usize>,
    /// Map and group fields: never filled (the reference cannot fill them).
    unsupported: Vec<String>,
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    number: u32,
    conv: Conv,
    list: bool,
    /// Written even when default (proto3 `optional`, oneof members,
    /// messages).
    presence: bool,
    /// The index of its oneof within the message.
    oneof: Option<usize>,
}

/// What a field's values become.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Conv {
    Str,
    Bool,
    I32(Int),
    I64(Int),
    U32(Int),
    U64(Int),
    F64,
    F32,
    /// The enum's spellings, by index.
    Enum(Option<usize>),
    /// The message plan, by index.
    Message(usize),
    Bytes,
}

/// How an integer is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Int {
    Varint,
    Zigzag,
    Fixed,
}

/// The order of a message's keys: by length, then bytes (most probes are
/// settled by the length, without comparing bytes).
fn key_order(a: &str, b: &str) -> std::cmp::Ordering {
    a.len()
        .cmp(&b.len())
        .then_with(|| a.as_bytes().cmp(b.as_bytes()))
}

/// One field a JSON key feeds.
#[derive(Clone, Copy, Debug)]
struct Target {
    slot: usize,
    /// Through the field's `(field).alias`: only while its own key is absent.
    alias: bool,
}

// === impl ResponsePlans ===

impl ResponsePlans {
    /// Compiles the plan of every route in the table.
    pub fn new(table: &RouteTable) -> Self {
        Self::compile(table, table.iter().map(|r| &**r))
    }

    /// The plans of `routes`, with the table's Graph keys and spellings.
    fn compile<'r>(table: &RouteTable, routes: impl Iterator<Item = &'r Route>) -> Self {
        let mut b = Builder {
            table,
            messages: Vec::new(),
            by_name: HashMap::new(),
            enums: Vec::new(),
            enum_by_name: HashMap::new(),
        };
        let mut plans = HashMap::new();
        for route in routes {
            let plan = match &route.response {
                ResponseShape::List {
                    items,
                    next_page_token,
                } => {
                    let item = match items.kind() {
                        Kind::Message(md) => Some(b.message(&md)),
                        _ => None,
                    };
                    RoutePlan::List {
                        items: items.number(),
                        item,
                        next_page_token: (next_page_token.kind() == Kind::String
                            && !next_page_token.is_list())
                        .then(|| Singular {
                            number: next_page_token.number(),
                            presence: next_page_token.supports_presence(),
                        }),
                        id_slot: item.and_then(|i| b.messages[i].id_slot),
                    }
                }
                ResponseShape::Object => RoutePlan::Object {
                    msg: b.message(&route.output),
                    success: route
                        .output
                        .get_field_by_name("success")
                        .filter(|f| f.kind() == Kind::Bool && !f.is_list())
                        .map(|f| Singular {
                            number: f.number(),
                            presence: f.supports_presence(),
                        }),
                },
            };
            plans.insert(route.full_method.clone(), plan);
        }
        Self {
            messages: b.messages,
            enums: b.enums,
            routes: plans,
        }
    }

    /// Transcodes Graph's answer to `route` into the encoded response
    /// message: what [`super::response::decode`] and encoding give, in one
    /// pass over the JSON.
    pub fn transcode(&self, route: &Route, body: &[u8]) -> Result<Transcoded, GatewayError> {
        let plan = self.routes.get(&route.full_method).ok_or_else(|| {
            GatewayError::Internal(format!("{} has no response plan", route.full_method))
        })?;
        let invalid = |e: serde_json::Error| {
            GatewayError::Malformed(format!("{} answered invalid JSON: {e}", route.template.raw))
        };
        let mut cx = Cx {
            plans: self,
            out: Vec::with_capacity(body.len() / 2),
            states: Vec::new(),
            scratch: String::new(),
        };
        let mut de = serde_json::Deserializer::from_slice(body);
        match plan {
            RoutePlan::List {
                items,
                item,
                next_page_token,
                id_slot,
            } => {
                let mut top = ListTop {
                    items: *items,
                    item: *item,
                    id_slot: *id_slot,
                    data: None,
                    has_next: false,
                    after: None,
                    ids: Vec::new(),
                };
                ListTopSeed {
                    cx: &mut cx,
                    top: &mut top,
                }
                .deserialize(&mut de)
                .map_err(invalid)?;
                de.end().map_err(invalid)?;
                if top.data != Some(true) {
                    return Err(GatewayError::Malformed(format!(
                        "{} answered without a data array",
                        route.template.raw
                    )));
                }
                if item.is_none() {
                    return Err(GatewayError::Internal("list items are not messages".into()));
                }
                if let (true, Some(after), Some(field)) =
                    (top.has_next, &top.after, next_page_token)
                {
                    let token = page_token::encode(&route.operation_id, after);
                    if !token.is_empty() || field.presence {
                        put_tag(&mut cx.out, field.number, LEN);
                        put_bytes(&mut cx.out, token.as_bytes());
                    }
                }
                Ok(Transcoded {
                    bytes: cx.into_bytes(),
                    item_ids: top.ids,
                })
            }
            RoutePlan::Object { msg, success } => {
                let mut shape = Ok(());
                TopObjectSeed {
                    cx: &mut cx,
                    msg: *msg,
                    success: *success,
                    shape: &mut shape,
                }
                .deserialize(&mut de)
                .map_err(invalid)?;
                de.end().map_err(invalid)?;
                if let Err(what) = shape {
                    return Err(GatewayError::Malformed(format!(
                        "{} answered {what} where an object was expected",
                        route.template.raw
                    )));
                }
                Ok(Transcoded {
                    bytes: cx.into_bytes(),
                    item_ids: Vec::new(),
                })
            }
        }
    }
}

struct Builder<'t> {
    table: &'t RouteTable,
    messages: Vec<MessagePlan>,
    by_name: HashMap<String, usize>,
    enums: Vec<EnumSpelling>,
    enum_by_name: HashMap<String, Option<usize>>,
}

impl Builder<'_> {
    /// The plan of a message (compiled once; recursion by index).
    fn message(&mut self, md: &MessageDescriptor) -> usize {
        if let Some(&i) = self.by_name.get(md.full_name()) {
            return i;
        }
        let index = self.messages.len();
        self.by_name.insert(md.full_name().to_string(), index);
        self.messages.push(MessagePlan::default());
        let mut plan = MessagePlan::default();
        let mut pairs: Vec<(Box<str>, Target)> = Vec::new();
        let mut oneofs: Vec<String> = Vec::new();
        for (i, f) in md.fields().enumerate() {
            let conv = if f.is_map() || f.is_group() {
                plan.unsupported.push(f.full_name().to_string());
                None
            } else {
                Some(match f.kind() {
                    Kind::String => Conv::Str,
                    Kind::Bool => Conv::Bool,
                    Kind::Int32 => Conv::I32(Int::Varint),
                    Kind::Sint32 => Conv::I32(Int::Zigzag),
                    Kind::Sfixed32 => Conv::I32(Int::Fixed),
                    Kind::Int64 => Conv::I64(Int::Varint),
                    Kind::Sint64 => Conv::I64(Int::Zigzag),
                    Kind::Sfixed64 => Conv::I64(Int::Fixed),
                    Kind::Uint32 => Conv::U32(Int::Varint),
                    Kind::Fixed32 => Conv::U32(Int::Fixed),
                    Kind::Uint64 => Conv::U64(Int::Varint),
                    Kind::Fixed64 => Conv::U64(Int::Fixed),
                    Kind::Double => Conv::F64,
                    Kind::Float => Conv::F32,
                    Kind::Bytes => Conv::Bytes,
                    Kind::Enum(e) => Conv::Enum(self.spelling(&e)),
                    Kind::Message(m) => Conv::Message(self.message(&m)),
                })
            };
            let oneof = f.containing_oneof().filter(|o| !o.is_synthetic()).map(|o| {
                match oneofs.iter().position(|n| n == o.full_name()) {
                    Some(k) => k,
                    None => {
                        oneofs.push(o.full_name().to_string());
                        oneofs.len() - 1
                    }
                }
            });
            plan.slots.push(Slot {
                number: f.number(),
                conv: conv.unwrap_or(Conv::Bytes),
                list: f.is_list(),
                presence: f.supports_presence(),
                oneof,
            });
            if conv.is_none() {
                continue;
            }
            let graph = self.table.graph_name(&f);
            pairs.push((
                graph.into(),
                Target {
                    slot: i,
                    alias: false,
                },
            ));
            if let Some(alias) = self.table.alias(&f).filter(|a| *a != graph) {
                pairs.push((
                    alias.into(),
                    Target {
                        slot: i,
                        alias: true,
                    },
                ));
            }
        }
        plan.oneofs = !oneofs.is_empty();
        plan.id_slot = md
            .fields()
            .position(|f| f.name() == "id" && f.kind() == Kind::String && !f.is_list());
        // Stable: a key's fields stay in declaration order.
        pairs.sort_by(|a, b| key_order(&a.0, &b.0));
        let mut keys: Vec<(Box<str>, Vec<Target>)> = Vec::new();
        for (key, target) in pairs {
            match keys.last_mut() {
                Some((k, targets)) if *k == key => targets.push(target),
                _ => keys.push((key, vec![target])),
            }
        }
        plan.keys = keys
            .into_iter()
            .map(|(k, t)| (k, t.into_boxed_slice()))
            .collect();
        self.messages[index] = plan;
        index
    }

    fn spelling(&mut self, e: &prost_reflect::EnumDescriptor) -> Option<usize> {
        if let Some(i) = self.enum_by_name.get(e.full_name()) {
            return *i;
        }
        let i = self.table.spelling(e).map(|s| {
            self.enums.push(s.clone());
            self.enums.len() - 1
        });
        self.enum_by_name.insert(e.full_name().to_string(), i);
        i
    }
}

// === the output ===

const VARINT: u32 = 0;
const FIXED64: u32 = 1;
const LEN: u32 = 2;
const FIXED32: u32 = 5;

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_tag(out: &mut Vec<u8>, number: u32, wire: u32) {
    put_varint(out, (u64::from(number) << 3) | u64::from(wire));
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// Room for a length (one byte, the common case); returns where the
/// length-delimited content starts.
fn begin_len(out: &mut Vec<u8>) -> usize {
    out.push(0);
    out.len()
}

/// Writes the length of the content since `mark`, moving the content when
/// the length takes more than one byte.
fn end_len(out: &mut Vec<u8>, mark: usize) {
    let len = out.len() - mark;
    if len < 0x80 {
        out[mark - 1] = len as u8;
        return;
    }
    let mut head = [0u8; 10];
    let mut n = 0;
    let mut v = len as u64;
    while v >= 0x80 {
        head[n] = (v as u8) | 0x80;
        v >>= 7;
        n += 1;
    }
    head[n] = v as u8;
    n += 1;
    out.resize(out.len() + n - 1, 0);
    out.copy_within(mark..mark + len, mark + n - 1);
    out[mark - 1..mark - 1 + n].copy_from_slice(&head[..n]);
}

fn read_varint(b: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = b.split_first()?;
        *b = rest;
        v |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Some(v);
        }
    }
    None
}

/// A converted value.
enum Payload<'a> {
    Varint(u64),
    Fixed32(u32),
    Fixed64(u64),
    Bytes(&'a [u8]),
}

impl Payload<'_> {
    fn wire(&self) -> u32 {
        match self {
            Self::Varint(_) => VARINT,
            Self::Fixed32(_) => FIXED32,
            Self::Fixed64(_) => FIXED64,
            Self::Bytes(_) => LEN,
        }
    }

    fn put(&self, out: &mut Vec<u8>) {
        match self {
            Self::Varint(v) => put_varint(out, *v),
            Self::Fixed32(v) => out.extend_from_slice(&v.to_le_bytes()),
            Self::Fixed64(v) => out.extend_from_slice(&v.to_le_bytes()),
            Self::Bytes(b) => put_bytes(out, b),
        }
    }
}

/// A JSON scalar (null aside), as `serde_json::Value` would hold it.
enum Scalar<'a> {
    Bool(bool),
    Num(Number),
    Str(&'a str),
}

/// `response::int`.
fn int(s: &Scalar<'_>) -> Option<i64> {
    match s {
        Scalar::Num(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Scalar::Str(s) => s.parse().ok(),
        Scalar::Bool(_) => None,
    }
}

/// `response::float`.
fn float(s: &Scalar<'_>) -> Option<f64> {
    match s {
        Scalar::Num(n) => n.as_f64(),
        Scalar::Str(s) => s.parse().ok(),
        Scalar::Bool(_) => None,
    }
}

/// `response::scalar` for one scalar: the payload and whether it is the
/// type's default (which a field without presence does not write). None:
/// no value (the field stays unset, a list element is dropped).
fn convert<'a>(
    conv: Conv,
    s: &Scalar<'a>,
    scratch: &'a mut String,
    enums: &[EnumSpelling],
) -> Option<(Payload<'a>, bool)> {
    Some(match conv {
        Conv::Str => match s {
            Scalar::Str(x) => (Payload::Bytes(x.as_bytes()), x.is_empty()),
            Scalar::Num(n) => {
                scratch.clear();
                // Writing to a String cannot fail.
                let _ = write!(scratch, "{n}");
                (Payload::Bytes(scratch.as_bytes()), scratch.is_empty())
            }
            Scalar::Bool(b) => (Payload::Bytes(if *b { b"true" } else { b"false" }), false),
        },
        Conv::Bool => {
            let b = match s {
                Scalar::Bool(b) => *b,
                Scalar::Str(x) => *x == "true" || *x == "1",
                Scalar::Num(n) => n.as_i64().is_some_and(|n| n != 0),
            };
            (Payload::Varint(u64::from(b)), !b)
        }
        Conv::I32(w) => {
            let v = i32::try_from(int(s)?).ok()?;
            let p = match w {
                Int::Varint => Payload::Varint(i64::from(v) as u64),
                Int::Zigzag => Payload::Varint(u64::from(((v << 1) ^ (v >> 31)) as u32)),
                Int::Fixed => Payload::Fixed32(v as u32),
            };
            (p, v == 0)
        }
        Conv::I64(w) => {
            let v = int(s)?;
            let p = match w {
                Int::Varint => Payload::Varint(v as u64),
                Int::Zigzag => Payload::Varint(((v << 1) ^ (v >> 63)) as u64),
                Int::Fixed => Payload::Fixed64(v as u64),
            };
            (p, v == 0)
        }
        Conv::U32(w) => {
            let v = u32::try_from(int(s)?).ok()?;
            let p = match w {
                Int::Fixed => Payload::Fixed32(v),
                Int::Varint | Int::Zigzag => Payload::Varint(u64::from(v)),
            };
            (p, v == 0)
        }
        Conv::U64(w) => {
            let v = u64::try_from(int(s)?).ok()?;
            let p = match w {
                Int::Fixed => Payload::Fixed64(v),
                Int::Varint | Int::Zigzag => Payload::Varint(v),
            };
            (p, v == 0)
        }
        Conv::F64 => {
            let v = float(s)?;
            // -0.0 is the default too; NaN is not.
            (Payload::Fixed64(v.to_bits()), v == 0.0)
        }
        Conv::F32 => {
            let v = float(s)? as f32;
            (Payload::Fixed32(v.to_bits()), v == 0.0)
        }
        Conv::Enum(e) => {
            let Scalar::Str(x) = s else { return None };
            // Unknown upstream values become 0 (UNSPECIFIED).
            let v = e
                .and_then(|i| enums.get(i))
                .and_then(|sp| sp.from_graph(x))
                .unwrap_or(0);
            (Payload::Varint(i64::from(v) as u64), v == 0)
        }
        Conv::Message(_) | Conv::Bytes => return None,
    })
}

/// Where one field's output lies in the current message, and which of its
/// keys wrote it.
#[derive(Clone, Copy, Debug, Default)]
struct FieldState {
    start: usize,
    end: usize,
    src: Src,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Src {
    #[default]
    None,
    Alias,
    Graph,
}

/// A message being filled: its plan and its fields' states.
#[derive(Clone, Copy, Debug)]
struct Frame {
    msg: usize,
    base: usize,
}

/// The state of one transcoding.
struct Cx<'p> {
    plans: &'p ResponsePlans,
    out: Vec<u8>,
    /// The field states of the messages being filled, innermost last.
    states: Vec<FieldState>,
    /// Numbers written as strings.
    scratch: String,
}

impl<'p> Cx<'p> {
    /// The output, without much spare room (the cache keeps it).
    fn into_bytes(mut self) -> Bytes {
        if self.out.capacity() > self.out.len() + self.out.len() / 4 {
            self.out.shrink_to_fit();
        }
        Bytes::from(self.out)
    }

    fn open(&mut self, msg: usize) -> Frame {
        let base = self.states.len();
        let n = self.plans.messages[msg].slots.len();
        self.states.resize(base + n, FieldState::default());
        Frame { msg, base }
    }

    /// Ends a message (see [`Cx::settle`]).
    fn close(&mut self, f: Frame) {
        self.settle(f);
        self.states.truncate(f.base);
    }

    /// Of the members of a oneof that got a value, the last declared stays
    /// (the reference sets fields in declaration order, each clearing the
    /// others).
    fn settle(&mut self, f: Frame) {
        let plans = self.plans;
        let plan = &plans.messages[f.msg];
        if plan.oneofs {
            let n = plan.slots.len();
            let written = |states: &[FieldState], i: usize| {
                let st = states[f.base + i];
                st.end > st.start
            };
            for i in 0..n {
                let Some(o) = plan.slots[i].oneof else {
                    continue;
                };
                if written(&self.states, i)
                    && (i + 1..n)
                        .any(|j| plan.slots[j].oneof == Some(o) && written(&self.states, j))
                {
                    self.cut(f, i);
                }
            }
        }
    }

    /// Removes what a field wrote so far in the current message.
    fn cut(&mut self, f: Frame, slot: usize) {
        let st = self.states[f.base + slot];
        if st.end > st.start {
            self.out.drain(st.start..st.end);
            let len = st.end - st.start;
            let n = self.plans.messages[f.msg].slots.len();
            for s in &mut self.states[f.base..f.base + n] {
                if s.start >= st.end {
                    s.start -= len;
                    s.end -= len;
                }
            }
        }
        let s = &mut self.states[f.base + slot];
        s.start = 0;
        s.end = 0;
    }

    /// True when the key of `t` decides the field: always for its own key,
    /// for its alias only while its own key has not been seen.
    fn applies(&self, f: Frame, t: Target) -> bool {
        !t.alias || self.states[f.base + t.slot].src != Src::Graph
    }

    /// The key of `t` takes the field over: what it held is cut.
    fn claim(&mut self, f: Frame, t: Target) -> bool {
        if !self.applies(f, t) {
            return false;
        }
        self.cut(f, t.slot);
        self.states[f.base + t.slot].src = if t.alias { Src::Alias } else { Src::Graph };
        true
    }

    fn record(&mut self, f: Frame, slot: usize, start: usize) {
        let s = &mut self.states[f.base + slot];
        s.start = start;
        s.end = self.out.len();
    }

    /// The string a field wrote in the current message ("" if none).
    fn string_at(&self, f: Frame, slot: usize) -> String {
        let st = self.states[f.base + slot];
        let Some(mut rec) = self.out.get(st.start..st.end).filter(|r| !r.is_empty()) else {
            return String::new();
        };
        let _tag = read_varint(&mut rec);
        read_varint(&mut rec)
            .and_then(|len| rec.get(..usize::try_from(len).ok()?))
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or_default()
            .to_string()
    }

    /// A scalar into a field: singular, or a list of one.
    fn write_scalar(&mut self, slot: &Slot, s: &Scalar<'_>) {
        if slot.list {
            let mut w = ListWriter::new(self.out.len());
            self.write_element(slot, &mut w, s);
            w.finish(&mut self.out);
            return;
        }
        let Cx {
            plans,
            out,
            scratch,
            ..
        } = self;
        if let Some((p, default)) = convert(slot.conv, s, scratch, &plans.enums) {
            if !default || slot.presence {
                put_tag(out, slot.number, p.wire());
                p.put(out);
            }
        }
    }

    /// A scalar as one element of a list field.
    fn write_element(&mut self, slot: &Slot, w: &mut ListWriter, s: &Scalar<'_>) {
        let Cx {
            plans,
            out,
            scratch,
            ..
        } = self;
        match slot.conv {
            Conv::Message(_) | Conv::Bytes => {}
            Conv::Str => {
                if let Some((p, _)) = convert(slot.conv, s, scratch, &plans.enums) {
                    put_tag(out, slot.number, LEN);
                    p.put(out);
                }
            }
            conv => {
                if let Some((p, _)) = convert(conv, s, scratch, &plans.enums) {
                    if w.mark.is_none() {
                        put_tag(out, slot.number, LEN);
                        w.mark = Some(begin_len(out));
                    }
                    p.put(out);
                }
            }
        }
    }
}

/// One list field being written: its start, and the packed run when begun.
struct ListWriter {
    start: usize,
    mark: Option<usize>,
}

impl ListWriter {
    fn new(start: usize) -> Self {
        Self { start, mark: None }
    }

    /// Drops what was written (a later `data` key replaces the list).
    fn reset(&mut self, out: &mut Vec<u8>) {
        out.truncate(self.start);
        self.mark = None;
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        if let Some(mark) = self.mark.take() {
            end_len(out, mark);
        }
    }
}

// === the input ===

/// Fills a message from a JSON object (`response::fill`); returns the
/// string `id_slot` holds at the end, when asked.
fn fill_map<'de, A: MapAccess<'de>>(
    cx: &mut Cx<'_>,
    msg: usize,
    map: &mut A,
    id_slot: Option<usize>,
) -> Result<Option<String>, A::Error> {
    let plans = cx.plans;
    let plan = &plans.messages[msg];
    let frame = cx.open(msg);
    while let Some(key) = map.next_key_seed(KeySeed {
        keys: &plan.keys,
        data: false,
    })? {
        match key {
            Key::Field(targets) => map.next_value_seed(FieldSeed {
                cx: &mut *cx,
                frame,
                targets,
            })?,
            Key::Data | Key::Other => map.next_value_seed(Skip)?,
        }
    }
    cx.settle(frame);
    // After the oneofs settle: the id the message ends with.
    let id = id_slot.map(|slot| cx.string_at(frame, slot));
    cx.states.truncate(frame.base);
    Ok(id)
}

/// A list field fed an object: a `{"data": [...]}` edge when the object has
/// a `data` key, else a single item (messages) or nothing (scalars).
fn list_object<'de, 'p, A: MapAccess<'de>>(
    cx: &mut Cx<'p>,
    slot: &'p Slot,
    map: &mut A,
) -> Result<(), A::Error> {
    let mut w = ListWriter::new(cx.out.len());
    let Conv::Message(msg) = slot.conv else {
        while let Some(key) = map.next_key_seed(KeySeed {
            keys: &[],
            data: true,
        })? {
            if let Key::Data = key {
                w.reset(&mut cx.out);
                map.next_value_seed(DataSeed {
                    cx: &mut *cx,
                    slot,
                    w: &mut w,
                })?;
            } else {
                map.next_value_seed(Skip)?;
            }
        }
        w.finish(&mut cx.out);
        return Ok(());
    };
    let plans = cx.plans;
    let plan = &plans.messages[msg];
    put_tag(&mut cx.out, slot.number, LEN);
    let mark = begin_len(&mut cx.out);
    let frame = cx.open(msg);
    let mut edge = false;
    while let Some(key) = map.next_key_seed(KeySeed {
        keys: &plan.keys,
        data: true,
    })? {
        match key {
            Key::Data => {
                if !edge {
                    edge = true;
                    cx.states.truncate(frame.base);
                }
                w.reset(&mut cx.out);
                map.next_value_seed(DataSeed {
                    cx: &mut *cx,
                    slot,
                    w: &mut w,
                })?;
            }
            Key::Field(targets) if !edge => map.next_value_seed(FieldSeed {
                cx: &mut *cx,
                frame,
                targets,
            })?,
            Key::Field(_) | Key::Other => map.next_value_seed(Skip)?,
        }
    }
    if edge {
        w.finish(&mut cx.out);
    } else {
        cx.close(frame);
        end_len(&mut cx.out, mark);
    }
    Ok(())
}

fn skip_seq<'de, A: SeqAccess<'de>>(seq: &mut A) -> Result<(), A::Error> {
    while seq.next_element_seed(Skip)?.is_some() {}
    Ok(())
}

fn skip_map<'de, A: MapAccess<'de>>(map: &mut A) -> Result<(), A::Error> {
    while map.next_key_seed(Skip)?.is_some() {
        map.next_value_seed(Skip)?;
    }
    Ok(())
}

/// `expecting`, and the visitor methods of every scalar, forwarded to
/// `self.scalar(Option<Scalar>)` (None: null, or a float that
/// `serde_json::Value` would hold as null).
macro_rules! scalars {
    () => {
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("any JSON value")
        }
        #[allow(clippy::unit_arg)]
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(self.scalar(None))
        }
        #[allow(clippy::unit_arg)]
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            Ok(self.scalar(Some(Scalar::Bool(v))))
        }
        #[allow(clippy::unit_arg)]
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(self.scalar(Some(Scalar::Num(v.into()))))
        }
        #[allow(clippy::unit_arg)]
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(self.scalar(Some(Scalar::Num(v.into()))))
        }
        #[allow(clippy::unit_arg)]
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok(self.scalar(Number::from_f64(v).map(Scalar::Num)))
        }
        #[allow(clippy::unit_arg)]
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(self.scalar(Some(Scalar::Str(v))))
        }
    };
}

/// `DeserializeSeed` through `deserialize_any`, for a type that is its own
/// visitor.
macro_rules! seed {
    ($t:ty => $v:ty) => {
        impl<'de> DeserializeSeed<'de> for $t {
            type Value = $v;
            fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<$v, D::Error> {
                d.deserialize_any(self)
            }
        }
    };
}

/// Any value, walked and dropped (through `deserialize_any`, unlike
/// `IgnoredAny`, so that the recursion limit applies as in a full parse).
struct Skip;

seed!(Skip => ());

impl<'de> Visitor<'de> for Skip {
    type Value = ();
    scalars!();
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        skip_seq(&mut seq)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        skip_map(&mut map)
    }
}

impl Skip {
    fn scalar(self, _: Option<Scalar<'_>>) {}
}

/// What a key means in the current object.
enum Key<'p> {
    /// `data` in an object where a list is expected.
    Data,
    /// The fields it feeds.
    Field(&'p [Target]),
    /// Nothing.
    Other,
}

struct KeySeed<'p> {
    keys: &'p [(Box<str>, Box<[Target]>)],
    data: bool,
}

impl<'de, 'p> DeserializeSeed<'de> for KeySeed<'p> {
    type Value = Key<'p>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Key<'p>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de, 'p> Visitor<'de> for KeySeed<'p> {
    type Value = Key<'p>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Key<'p>, E> {
        if self.data && s == "data" {
            return Ok(Key::Data);
        }
        Ok(match self.keys.binary_search_by(|(k, _)| key_order(k, s)) {
            Ok(i) => Key::Field(&self.keys[i].1),
            Err(_) => Key::Other,
        })
    }
}

/// A key among a few fixed names: its index.
struct NameSeed(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for NameSeed {
    type Value = Option<usize>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for NameSeed {
    type Value = Option<usize>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Option<usize>, E> {
        Ok(self.0.iter().position(|n| *n == s))
    }
}

/// The value of a key that feeds `targets` of the message being filled.
struct FieldSeed<'c, 'p> {
    cx: &'c mut Cx<'p>,
    frame: Frame,
    targets: &'p [Target],
}

/// How a container value reaches its fields.
enum Dispatch {
    /// No field takes it (the fields it decides stay unset).
    Skip,
    /// Streamed into one field.
    One(usize),
    /// Several fields take it: read once into a [`Node`], then replayed to
    /// each.
    Replay,
}

impl<'p> FieldSeed<'_, 'p> {
    fn slot(&self, i: usize) -> &'p Slot {
        let plans: &'p ResponsePlans = self.cx.plans;
        &plans.messages[self.frame.msg].slots[i]
    }

    fn scalar(self, s: Option<Scalar<'_>>) {
        for &t in self.targets {
            self.cx.claim(self.frame, t);
        }
        let Some(s) = s else { return };
        for &t in self.targets {
            if self.cx.applies(self.frame, t) {
                let start = self.cx.out.len();
                let slot = self.slot(t.slot);
                self.cx.write_scalar(slot, &s);
                self.cx.record(self.frame, t.slot, start);
            }
        }
    }

    fn dispatch(&mut self) -> Dispatch {
        let (mut count, mut one, mut takes) = (0, 0, false);
        for &t in self.targets {
            if self.cx.claim(self.frame, t) {
                count += 1;
                one = t.slot;
                let slot = self.slot(t.slot);
                // Scalar fields take no container.
                takes |= slot.list || matches!(slot.conv, Conv::Message(_));
            }
        }
        match count {
            _ if !takes => Dispatch::Skip,
            1 => Dispatch::One(one),
            _ => Dispatch::Replay,
        }
    }

    fn replay<E: de::Error>(self, node: &Node) -> Result<(), E> {
        for &t in self.targets {
            if self.cx.applies(self.frame, t) {
                let start = self.cx.out.len();
                let slot = self.slot(t.slot);
                TargetSeed {
                    cx: &mut *self.cx,
                    slot,
                }
                .deserialize(NodeDe::<E>::new(node))?;
                self.cx.record(self.frame, t.slot, start);
            }
        }
        Ok(())
    }
}

seed!(FieldSeed<'_, '_> => ());

impl<'de> Visitor<'de> for FieldSeed<'_, '_> {
    type Value = ();
    scalars!();
    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        match self.dispatch() {
            Dispatch::Skip => skip_seq(&mut seq),
            Dispatch::One(i) => {
                let start = self.cx.out.len();
                let slot = self.slot(i);
                TargetSeed {
                    cx: &mut *self.cx,
                    slot,
                }
                .visit_seq(seq)?;
                self.cx.record(self.frame, i, start);
                Ok(())
            }
            Dispatch::Replay => {
                let node = NodeVisitor.visit_seq(seq)?;
                self.replay::<A::Error>(&node)
            }
        }
    }
    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        match self.dispatch() {
            Dispatch::Skip => skip_map(&mut map),
            Dispatch::One(i) => {
                let start = self.cx.out.len();
                let slot = self.slot(i);
                TargetSeed {
                    cx: &mut *self.cx,
                    slot,
                }
                .visit_map(map)?;
                self.cx.record(self.frame, i, start);
                Ok(())
            }
            Dispatch::Replay => {
                let node = NodeVisitor.visit_map(map)?;
                self.replay::<A::Error>(&node)
            }
        }
    }
}

/// A value into one field (already claimed; the caller records the range).
struct TargetSeed<'c, 'p> {
    cx: &'c mut Cx<'p>,
    slot: &'p Slot,
}

impl TargetSeed<'_, '_> {
    fn scalar(self, s: Option<Scalar<'_>>) {
        if let Some(s) = s {
            self.cx.write_scalar(self.slot, &s);
        }
    }
}

seed!(TargetSeed<'_, '_> => ());

impl<'de> Visitor<'de> for TargetSeed<'_, '_> {
    type Value = ();
    scalars!();
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if !self.slot.list {
            return skip_seq(&mut seq);
        }
        let mut w = ListWriter::new(self.cx.out.len());
        while seq
            .next_element_seed(ElementSeed {
                cx: &mut *self.cx,
                slot: self.slot,
                w: &mut w,
            })?
            .is_some()
        {}
        w.finish(&mut self.cx.out);
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        match (self.slot.list, self.slot.conv) {
            (true, _) => list_object(self.cx, self.slot, &mut map),
            (false, Conv::Message(msg)) => {
                put_tag(&mut self.cx.out, self.slot.number, LEN);
                let mark = begin_len(&mut self.cx.out);
                fill_map(self.cx, msg, &mut map, None)?;
                end_len(&mut self.cx.out, mark);
                Ok(())
            }
            (false, _) => skip_map(&mut map),
        }
    }
}

/// One element of a list field: scalars convert or drop, objects become
/// messages (for message lists), anything else drops.
struct ElementSeed<'c, 'p, 'w> {
    cx: &'c mut Cx<'p>,
    slot: &'p Slot,
    w: &'w mut ListWriter,
}

impl ElementSeed<'_, '_, '_> {
    fn scalar(self, s: Option<Scalar<'_>>) {
        if let Some(s) = s {
            self.cx.write_element(self.slot, self.w, &s);
        }
    }
}

seed!(ElementSeed<'_, '_, '_> => ());

impl<'de> Visitor<'de> for ElementSeed<'_, '_, '_> {
    type Value = ();
    scalars!();
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        skip_seq(&mut seq)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Conv::Message(msg) = self.slot.conv else {
            return skip_map(&mut map);
        };
        put_tag(&mut self.cx.out, self.slot.number, LEN);
        let mark = begin_len(&mut self.cx.out);
        fill_map(self.cx, msg, &mut map, None)?;
        end_len(&mut self.cx.out, mark);
        Ok(())
    }
}

/// The value of `data` in an object where a list is expected: its elements
/// when an array, else nothing.
struct DataSeed<'c, 'p, 'w> {
    cx: &'c mut Cx<'p>,
    slot: &'p Slot,
    w: &'w mut ListWriter,
}

impl DataSeed<'_, '_, '_> {
    fn scalar(self, _: Option<Scalar<'_>>) {}
}

seed!(DataSeed<'_, '_, '_> => ());

impl<'de> Visitor<'de> for DataSeed<'_, '_, '_> {
    type Value = ();
    scalars!();
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq
            .next_element_seed(ElementSeed {
                cx: &mut *self.cx,
                slot: self.slot,
                w: &mut *self.w,
            })?
            .is_some()
        {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        skip_map(&mut map)
    }
}

// === the top level ===

/// What the top level of a list answer said.
struct ListTop {
    items: u32,
    item: Option<usize>,
    id_slot: Option<usize>,
    /// Whether the (last) `data` was an array; None: no `data`.
    data: Option<bool>,
    /// `paging.next` is there and not null.
    has_next: bool,
    /// `paging.cursors.after`, when a string.
    after: Option<String>,
    ids: Vec<String>,
}

struct ListTopSeed<'c, 'p> {
    cx: &'c mut Cx<'p>,
    top: &'c mut ListTop,
}

impl ListTopSeed<'_, '_> {
    fn scalar(self, _: Option<Scalar<'_>>) {}
}

seed!(ListTopSeed<'_, '_> => ());

impl<'de> Visitor<'de> for ListTopSeed<'_, '_> {
    type Value = ();
    scalars!();
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        skip_seq(&mut seq)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key_seed(NameSeed(&["data", "paging"]))? {
            match key {
                Some(0) => map.next_value_seed(DataTopSeed {
                    cx: &mut *self.cx,
                    top: &mut *self.top,
                })?,
                Some(_) => map.next_value_seed(PagingSeed {
                    top: &mut *self.top,
                })?,
                None => map.next_value_seed(Skip)?,
            }
        }
        Ok(())
    }
}

/// The top-level `data`: every element an item (non-objects as empty
/// items, as `response::object` makes them).
struct DataTopSeed<'c, 'p> {
    cx: &'c mut Cx<'p>,
    top: &'c mut ListTop,
}

impl DataTopSeed<'_, '_> {
    fn scalar(self, _: Option<Scalar<'_>>) {
        self.top.data = Some(false);
    }
}

seed!(DataTopSeed<'_, '_> => ());

impl<'de> Visitor<'de> for DataTopSeed<'_, '_> {
    type Value = ();
    scalars!();
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        // A later `data` replaces an earlier one.
        self.cx.out.clear();
        self.top.ids.clear();
        self.top.data = Some(true);
        while seq
            .next_element_seed(ItemSeed {
                cx: &mut *self.cx,
                top: &mut *self.top,
            })?
            .is_some()
        {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.top.data = Some(false);
        skip_map(&mut map)
    }
}

/// One element of the top-level `data`.
struct ItemSeed<'c, 'p> {
    cx: &'c mut Cx<'p>,
    top: &'c mut ListTop,
}

impl ItemSeed<'_, '_> {
    fn empty(self) {
        put_tag(&mut self.cx.out, self.top.items, LEN);
        put_varint(&mut self.cx.out, 0);
        if self.top.id_slot.is_some() {
            self.top.ids.push(String::new());
        }
    }

    fn scalar(self, _: Option<Scalar<'_>>) {
        self.empty();
    }
}

seed!(ItemSeed<'_, '_> => ());

impl<'de> Visitor<'de> for ItemSeed<'_, '_> {
    type Value = ();
    scalars!();
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        skip_seq(&mut seq)?;
        self.empty();
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some(msg) = self.top.item else {
            skip_map(&mut map)?;
            self.empty();
            return Ok(());
        };
        put_tag(&mut self.cx.out, self.top.items, LEN);
        let mark = begin_len(&mut self.cx.out);
        let id = fill_map(self.cx, msg, &mut map, self.top.id_slot)?;
        end_len(&mut self.cx.out, mark);
        if let Some(id) = id {
            self.top.ids.push(id);
        }
        Ok(())
    }
}

/// The top-level `paging`: `next`, and `cursors.after`.
struct PagingSeed<'t> {
    top: &'t mut ListTop,
}

impl PagingSeed<'_> {
    fn scalar(self, _: Option<Scalar<'_>>) {
        self.top.has_next = false;
        self.top.after = None;
    }
}

seed!(PagingSeed<'_> => ());

impl<'de> Visitor<'de> for PagingSeed<'_> {
    type Value = ();
    scalars!();
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.top.has_next = false;
        self.top.after = None;
        skip_seq(&mut seq)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.top.has_next = false;
        self.top.after = None;
        while let Some(key) = map.next_key_seed(NameSeed(&["next", "cursors"]))? {
            match key {
                Some(0) => self.top.has_next = !map.next_value_seed(IsNull)?,
                Some(_) => self.top.after = map.next_value_seed(CursorsSeed)?,
                None => map.next_value_seed(Skip)?,
            }
        }
        Ok(())
    }
}

/// Whether a value is null (walking it).
struct IsNull;

impl IsNull {
    fn scalar(self, s: Option<Scalar<'_>>) -> bool {
        s.is_none()
    }
}

seed!(IsNull => bool);

impl<'de> Visitor<'de> for IsNull {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Ok(true)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<bool, E> {
        // serde_json::Value holds a non-finite float as null.
        Ok(self.scalar(Number::from_f64(v).map(Scalar::Num)))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        skip_seq(&mut seq)?;
        Ok(false)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        skip_map(&mut map)?;
        Ok(false)
    }
}

/// `paging.cursors`: its (last) `after`, when a string.
struct CursorsSeed;

impl CursorsSeed {
    fn scalar(self, _: Option<Scalar<'_>>) -> Option<String> {
        None
    }
}

seed!(CursorsSeed => Option<String>);

impl<'de> Visitor<'de> for CursorsSeed {
    type Value = Option<String>;
    scalars!();
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<String>, A::Error> {
        skip_seq(&mut seq)?;
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<String>, A::Error> {
        let mut after = None;
        while let Some(key) = map.next_key_seed(NameSeed(&["after"]))? {
            match key {
                Some(_) => after = map.next_value_seed(StrSeed)?,
                None => map.next_value_seed(Skip)?,
            }
        }
        Ok(after)
    }
}

/// A string value, owned; None for anything else.
struct StrSeed;

impl StrSeed {
    fn scalar(self, s: Option<Scalar<'_>>) -> Option<String> {
        match s {
            Some(Scalar::Str(s)) => Some(s.to_string()),
            _ => None,
        }
    }
}

seed!(StrSeed => Option<String>);

impl<'de> Visitor<'de> for StrSeed {
    type Value = Option<String>;
    scalars!();
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<String>, A::Error> {
        skip_seq(&mut seq)?;
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<String>, A::Error> {
        skip_map(&mut map)?;
        Ok(None)
    }
}

/// The top level of an object answer: an object, or a bare boolean (the
/// `success` field); anything else is refused by its type name.
struct TopObjectSeed<'c, 'p> {
    cx: &'c mut Cx<'p>,
    msg: usize,
    success: Option<Singular>,
    shape: &'c mut Result<(), &'static str>,
}

impl TopObjectSeed<'_, '_> {
    fn scalar(self, s: Option<Scalar<'_>>) {
        *self.shape = match s {
            None => Err("null"),
            Some(Scalar::Num(_)) => Err("a number"),
            Some(Scalar::Str(_)) => Err("a string"),
            Some(Scalar::Bool(b)) => {
                if let Some(f) = self.success.filter(|f| b || f.presence) {
                    put_tag(&mut self.cx.out, f.number, VARINT);
                    put_varint(&mut self.cx.out, u64::from(b));
                }
                Ok(())
            }
        };
    }
}

seed!(TopObjectSeed<'_, '_> => ());

impl<'de> Visitor<'de> for TopObjectSeed<'_, '_> {
    type Value = ();
    scalars!();
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        *self.shape = Err("an array");
        skip_seq(&mut seq)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        fill_map(self.cx, self.msg, &mut map, None)?;
        Ok(())
    }
}

// === a value read once for several fields ===

/// A JSON value kept for replay, duplicate keys and all, in order.
#[derive(Debug)]
enum Node {
    Null,
    Bool(bool),
    Num(Number),
    Str(String),
    Arr(Vec<Node>),
    Obj(Vec<(String, Node)>),
}

struct NodeVisitor;

impl NodeVisitor {
    fn scalar(self, s: Option<Scalar<'_>>) -> Node {
        match s {
            None => Node::Null,
            Some(Scalar::Bool(b)) => Node::Bool(b),
            Some(Scalar::Num(n)) => Node::Num(n),
            Some(Scalar::Str(s)) => Node::Str(s.to_string()),
        }
    }
}

seed!(NodeVisitor => Node);

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;
    scalars!();
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(n) = seq.next_element_seed(NodeVisitor)? {
            items.push(n);
        }
        Ok(Node::Arr(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(k) = map.next_key_seed(NodeVisitor)? {
            let key = match k {
                Node::Str(s) => s,
                _ => return Err(de::Error::custom("a key that is not a string")),
            };
            entries.push((key, map.next_value_seed(NodeVisitor)?));
        }
        Ok(Node::Obj(entries))
    }
}

/// A [`Node`] as a deserializer, with the caller's error type.
struct NodeDe<'a, E> {
    node: &'a Node,
    error: PhantomData<E>,
}

impl<'a, E> NodeDe<'a, E> {
    fn new(node: &'a Node) -> Self {
        Self {
            node,
            error: PhantomData,
        }
    }
}

impl<'de, E: de::Error> Deserializer<'de> for NodeDe<'de, E> {
    type Error = E;
    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, E> {
        match self.node {
            Node::Null => v.visit_unit(),
            Node::Bool(b) => v.visit_bool(*b),
            Node::Num(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
                (Some(u), _, _) => v.visit_u64(u),
                (None, Some(i), _) => v.visit_i64(i),
                (None, None, Some(f)) => v.visit_f64(f),
                (None, None, None) => v.visit_unit(),
            },
            Node::Str(s) => v.visit_borrowed_str(s),
            Node::Arr(items) => v.visit_seq(NodeSeq {
                items: items.iter(),
                error: PhantomData,
            }),
            Node::Obj(entries) => v.visit_map(NodeMap {
                entries: entries.iter(),
                value: None,
                error: PhantomData,
            }),
        }
    }
    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

struct NodeSeq<'a, E> {
    items: std::slice::Iter<'a, Node>,
    error: PhantomData<E>,
}

impl<'a, E: de::Error> SeqAccess<'a> for NodeSeq<'a, E> {
    type Error = E;
    fn next_element_seed<T: DeserializeSeed<'a>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, E> {
        self.items
            .next()
            .map(|n| seed.deserialize(NodeDe::new(n)))
            .transpose()
    }
}

struct NodeMap<'a, E> {
    entries: std::slice::Iter<'a, (String, Node)>,
    value: Option<&'a Node>,
    error: PhantomData<E>,
}

impl<'a, E: de::Error> MapAccess<'a> for NodeMap<'a, E> {
    type Error = E;
    fn next_key_seed<K: DeserializeSeed<'a>>(&mut self, seed: K) -> Result<Option<K::Value>, E> {
        let Some((k, v)) = self.entries.next() else {
            return Ok(None);
        };
        self.value = Some(v);
        seed.deserialize(BorrowedStrDeserializer::new(k)).map(Some)
    }
    fn next_value_seed<V: DeserializeSeed<'a>>(&mut self, seed: V) -> Result<V::Value, E> {
        match self.value.take() {
            Some(v) => seed.deserialize(NodeDe::new(v)),
            None => Err(de::Error::custom("a value without its key")),
        }
    }
}

#[cfg(test)]
mod tests;
