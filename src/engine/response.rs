//! Response side of the transcoder: Graph JSON into the RPC's response
//! message, by field name, driven by the descriptor.

use prost_reflect::{DynamicMessage, Kind, MessageDescriptor, ReflectMessage, Value};
use serde_json::Value as Json;

use super::page_token;
use super::routes::{EnumSpelling, ResponseShape, Route, RouteTable};
use crate::error::GatewayError;

/// Decodes a Graph body into the route's response message.
pub fn decode(
    table: &RouteTable,
    route: &Route,
    body: &[u8],
) -> Result<DynamicMessage, GatewayError> {
    let json: Json = serde_json::from_slice(body).map_err(|e| {
        GatewayError::Malformed(format!("{} answered invalid JSON: {e}", route.template.raw))
    })?;
    let mut out = DynamicMessage::new(route.output.clone());
    match &route.response {
        ResponseShape::List {
            items,
            next_page_token,
        } => {
            let data = json.get("data").and_then(Json::as_array).ok_or_else(|| {
                GatewayError::Malformed(format!(
                    "{} answered without a data array",
                    route.template.raw
                ))
            })?;
            let Kind::Message(item_desc) = items.kind() else {
                return Err(GatewayError::Internal("list items are not messages".into()));
            };
            let list = data
                .iter()
                .map(|item| Value::Message(object(table, &item_desc, item)))
                .collect();
            out.set_field(items, Value::List(list));
            let paging = json.get("paging");
            let has_next = paging
                .and_then(|p| p.get("next"))
                .is_some_and(|n| !n.is_null());
            let after = paging
                .and_then(|p| p.pointer("/cursors/after"))
                .and_then(Json::as_str);
            if let (true, Some(after)) = (has_next, after) {
                out.set_field(
                    next_page_token,
                    Value::String(page_token::encode(&route.operation_id, after)),
                );
            }
        }
        ResponseShape::Object => match &json {
            Json::Bool(b) => {
                if let Some(f) = route.output.get_field_by_name("success") {
                    out.set_field(&f, Value::Bool(*b));
                }
            }
            Json::Object(_) => fill(table, &mut out, &json),
            other => {
                return Err(GatewayError::Malformed(format!(
                    "{} answered {} where an object was expected",
                    route.template.raw,
                    type_name(other)
                )))
            }
        },
    }
    Ok(out)
}

fn type_name(j: &Json) -> &'static str {
    match j {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

fn object(table: &RouteTable, desc: &MessageDescriptor, json: &Json) -> DynamicMessage {
    let mut m = DynamicMessage::new(desc.clone());
    fill(table, &mut m, json);
    m
}

/// Copies every field Graph sent that the message declares; extra keys are
/// ignored, values of the wrong shape are skipped.
fn fill(table: &RouteTable, msg: &mut DynamicMessage, json: &Json) {
    let Json::Object(map) = json else { return };
    let desc = msg.descriptor();
    for f in desc.fields() {
        let Some(j) = map
            .get(table.graph_name(&f))
            .or_else(|| table.alias(&f).and_then(|a| map.get(a)))
        else {
            continue;
        };
        if j.is_null() {
            continue;
        }
        // The kind and, for enums, the spellings: once per field, not once
        // per value of a repeated field.
        let kind = f.kind();
        let spelling = match &kind {
            Kind::Enum(e) => table.spelling(e),
            _ => None,
        };
        let one = |x: &Json| scalar(table, &kind, spelling, x);
        let value = if f.is_list() {
            let items: Vec<Value> = match j {
                Json::Array(a) => a.iter().filter_map(one).collect(),
                // Graph sometimes answers a single value, or a {"data": [...]} edge.
                Json::Object(o) if o.contains_key("data") => o
                    .get("data")
                    .and_then(Json::as_array)
                    .map(|a| a.iter().filter_map(one).collect())
                    .unwrap_or_default(),
                other => one(other).into_iter().collect(),
            };
            Some(Value::List(items))
        } else {
            one(j)
        };
        if let Some(v) = value {
            msg.set_field(&f, v);
        }
    }
}

fn scalar(
    table: &RouteTable,
    kind: &Kind,
    spelling: Option<&EnumSpelling>,
    j: &Json,
) -> Option<Value> {
    Some(match kind {
        Kind::String => Value::String(match j {
            Json::String(s) => s.clone(),
            Json::Number(n) => n.to_string(),
            Json::Bool(b) => b.to_string(),
            _ => return None,
        }),
        Kind::Bool => Value::Bool(match j {
            Json::Bool(b) => *b,
            Json::String(s) => s == "true" || s == "1",
            Json::Number(n) => n.as_i64().is_some_and(|n| n != 0),
            _ => return None,
        }),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Value::I32(i32::try_from(int(j)?).ok()?),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Value::I64(int(j)?),
        Kind::Uint32 | Kind::Fixed32 => Value::U32(u32::try_from(int(j)?).ok()?),
        Kind::Uint64 | Kind::Fixed64 => Value::U64(u64::try_from(int(j)?).ok()?),
        Kind::Double => Value::F64(float(j)?),
        Kind::Float => Value::F32(float(j)? as f32),
        Kind::Enum(_) => {
            let s = j.as_str()?;
            // Unknown upstream values become 0 (UNSPECIFIED) rather than failing the call.
            Value::EnumNumber(spelling.and_then(|sp| sp.from_graph(s)).unwrap_or(0))
        }
        Kind::Message(md) => match j {
            Json::Object(_) => Value::Message(object(table, md, j)),
            _ => return None,
        },
        Kind::Bytes => return None,
    })
}

fn int(j: &Json) -> Option<i64> {
    match j {
        Json::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Json::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn float(j: &Json) -> Option<f64> {
    match j {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => s.parse().ok(),
        _ => None,
    }
}
