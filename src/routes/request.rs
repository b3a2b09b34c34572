//! Request side of the transcoder: validates a request message against its
//! route and turns it into one Graph call, the token hints, and the reads the
//! call will invalidate. Nothing here talks to the network.

use std::collections::BTreeMap;

use prost_reflect::{DynamicMessage, Kind, Value};

use super::page_token;
use super::{FieldPlan, IdFormat, PathTemplate, Role, Route, RouteTable, Segment};
use super::{GraphRequest, HttpMethod};
use crate::error::{FieldViolation, GatewayError};

/// The most a request_id may hold, in bytes.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// Graph's largest page.
const MAX_PAGE_SIZE: i32 = 1000;
/// Items in a repeated field without `(field).max_items`: Graph's list
/// parameters (tasks, ids, emails) take far fewer; this bounds the work and
/// the request sent whatever the caller sends.
pub const DEFAULT_MAX_ITEMS: usize = 100;
/// Characters in a free string sent to Graph without `(field).max_length`.
pub const DEFAULT_MAX_LENGTH: usize = 1000;
/// Paths in a read_mask: more than any node has fields.
const MAX_READ_MASK_PATHS: usize = 100;

/// ISO 4217 currency codes in circulation (funds, metals and test codes
/// left out: Graph bills in none of them), sorted. Meta's spec lists 55 of
/// them for AdAccount.currency; all are here.
pub const ISO_4217: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD",
    "CDF", "CHF", "CLP", "CNY", "COP", "CRC", "CUC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP",
    "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF",
    "GTQ", "GYD", "HKD", "HNL", "HRK", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK",
    "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK",
    "LBP", "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU",
    "MUR", "MVR", "MWK", "MXN", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR",
    "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR",
    "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SLL", "SOS", "SRD", "SSP", "STN", "SVC",
    "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX",
    "USD", "UYU", "UZS", "VED", "VES", "VND", "VUV", "WST", "XAF", "XCD", "XCG", "XOF", "XPF",
    "YER", "ZAR", "ZMW", "ZWG", "ZWL",
];

/// What the pipeline needs to run one call.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The Graph call.
    pub graph: GraphRequest,
    /// The business the call acts for (token selection, quota).
    pub business: Option<String>,
    /// The asset the call addresses (token selection when no business).
    pub asset: Option<String>,
    /// The ad account the call addresses, as digits (quota).
    pub ad_account: Option<String>,
    /// Paths of reads made stale by this call when it succeeds.
    pub invalidates: Vec<String>,
    /// The caller's AIP-155 request_id (mutations): the call runs once per id.
    pub request_id: Option<String>,
    /// (business, page) when the engine chose a page token for the call
    /// (`(graph).page_token`): a rejected one is derived again once.
    pub page_token_for: Option<(String, String)>,
    /// A token-minting route (`(graph).mints_token`) whose request sets
    /// `serve_business`: the new token serves the business's calls.
    pub serve_business: bool,
}

/// Validates `msg` and builds the plan; every violation is reported at once.
pub fn plan(table: &RouteTable, route: &Route, msg: &DynamicMessage) -> Result<Plan, GatewayError> {
    let mut violations = Vec::new();
    let mut params = BTreeMap::new();
    let mut business = None;
    let mut read_mask = None;
    let mut request_id = None;

    for fp in &route.fields {
        let value = msg.get_field(&fp.field);
        let set = msg.has_field(&fp.field) && !is_default(&value);
        if !set {
            if fp.required {
                violations.push(violation(fp.field.name(), "is required"));
            }
            continue;
        }
        match fp.role {
            Role::RequestId => {
                let id = value.as_str().unwrap_or_default();
                if id.len() > MAX_REQUEST_ID_LEN {
                    violations.push(violation(
                        fp.field.name(),
                        &format!(
                            "must be at most {} bytes (a UUID is 36)",
                            MAX_REQUEST_ID_LEN
                        ),
                    ));
                } else {
                    request_id = Some(id.to_string());
                }
                continue;
            }
            Role::PageSize => {
                let n = value.as_i32().unwrap_or_default();
                if !(1..=MAX_PAGE_SIZE).contains(&n) {
                    violations.push(violation(
                        fp.field.name(),
                        &format!("must be between 0 and {MAX_PAGE_SIZE}"),
                    ));
                } else {
                    params.insert("limit".to_string(), n.to_string());
                }
                continue;
            }
            Role::PageToken => {
                match page_token::decode(&route.operation_id, value.as_str().unwrap_or_default()) {
                    Ok(cursor) => {
                        params.insert("after".to_string(), cursor);
                    }
                    Err(why) => violations.push(violation(fp.field.name(), why)),
                }
                continue;
            }
            Role::ReadMask => {
                match read_mask_fields(route, &value) {
                    Ok(f) => read_mask = Some(f),
                    Err(v) => violations.extend(v),
                }
                continue;
            }
            Role::Param => {}
        }
        let bounds = check_bounds(fp, &value);
        if !bounds.is_empty() {
            violations.extend(bounds);
            continue;
        }
        if let Err(v) = check_shape(fp, &value) {
            violations.extend(v);
            continue;
        }
        if fp.business {
            business = value.as_str().map(|s| normalize(fp.id_format, s));
        }
        if let Some(target) = &fp.expands {
            let n = value.as_enum_number().unwrap_or_default();
            let Kind::Enum(e) = fp.field.kind() else {
                continue;
            };
            let expanded = table.spelling(&e).and_then(|s| s.expands_to(n));
            if msg.has_field(target) && !is_default(&msg.get_field(target)) {
                violations.push(violation(
                    fp.field.name(),
                    &format!(
                        "give either {} or {}, not both",
                        fp.field.name(),
                        target.name()
                    ),
                ));
            } else if let Some(tasks) = expanded {
                let graph_name = route
                    .fields
                    .iter()
                    .find(|p| p.field.number() == target.number())
                    .map_or_else(|| target.name().to_string(), |p| p.graph_name.clone());
                params.insert(graph_name, json_array(tasks.iter().map(String::as_str)));
            } else {
                violations.push(violation(fp.field.name(), "is not a preset"));
            }
            continue;
        }
        if fp.local || fp.in_path {
            continue;
        }
        match encode_param(table, fp, &value) {
            Ok(v) => {
                params.insert(fp.graph_name.clone(), v);
            }
            Err(v) => violations.extend(v),
        }
    }
    // A required field that a preset fills is satisfied by the preset.
    violations.retain(|v| {
        !route.fields.iter().any(|p| {
            p.expands.as_ref().is_some_and(|t| t.name() == v.field)
                && params.contains_key(&graph_name_of(route, &v.field))
        })
    });
    if !violations.is_empty() {
        return Err(GatewayError::InvalidArgument(violations));
    }

    let path = resolve(route, &route.template, msg)
        .ok_or_else(|| GatewayError::Internal("path field missing after validation".into()))?;
    if route.is_read() {
        if let Some(fields) = read_mask.or_else(|| route.default_fields.clone()) {
            params.insert("fields".to_string(), fields);
        }
    }
    let mut invalidates = Vec::new();
    if route.http != HttpMethod::Get {
        invalidates.push(path.clone());
        invalidates.extend(
            route
                .invalidates
                .iter()
                .filter_map(|t| resolve(route, t, msg)),
        );
    }
    let first_path_value = route
        .template
        .fields()
        .next()
        .and_then(|f| field_str(route, msg, f));
    let ad_account = route
        .fields
        .iter()
        .filter(|f| f.id_format == IdFormat::AdAccount && f.in_path)
        .find_map(|f| {
            msg.get_field(&f.field)
                .as_str()
                .map(|s| normalize(IdFormat::AdAccount, s))
        });
    Ok(Plan {
        graph: GraphRequest {
            method: route.http,
            path,
            params: params.into_iter().collect(),
        },
        business,
        asset: first_path_value,
        ad_account,
        invalidates,
        request_id,
        page_token_for: None,
        serve_business: route.mints_token
            && route
                .input
                .get_field_by_name("serve_business")
                .is_some_and(|f| msg.get_field(&f).as_bool() == Some(true)),
    })
}

fn graph_name_of(route: &Route, field: &str) -> String {
    route
        .fields
        .iter()
        .find(|p| p.field.name() == field)
        .map_or_else(|| field.to_string(), |p| p.graph_name.clone())
}

fn violation(field: &str, description: &str) -> FieldViolation {
    FieldViolation {
        field: field.to_string(),
        description: description.to_string(),
    }
}

/// Proto3's "not set" for fields without presence. A `false` that reached
/// here was set explicitly (`optional bool`), so it is sent.
fn is_default(v: &Value) -> bool {
    match v {
        Value::String(s) => s.is_empty(),
        Value::List(l) => l.is_empty(),
        Value::I32(0) | Value::I64(0) | Value::U32(0) | Value::U64(0) | Value::EnumNumber(0) => {
            true
        }
        _ => false,
    }
}

/// True when `s` has the shape of an email address: one `@` with text on
/// both sides, a dot inside the domain, no whitespace.
fn looks_like_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && !s.chars().any(char::is_whitespace)
        && domain
            .split_once('.')
            .is_some_and(|(a, b)| !a.is_empty() && !b.is_empty() && !b.ends_with('.'))
}

/// Checks the declared limits: list sizes, string lengths, integer ranges,
/// currency codes, email addresses. A list over its limit is reported once, its items not
/// looked at.
fn check_bounds(fp: &FieldPlan, value: &Value) -> Vec<FieldViolation> {
    let name = fp.field.name();
    let mut out = Vec::new();
    let max_len = fp.max_length.unwrap_or(match fp.id_format {
        IdFormat::Any => DEFAULT_MAX_LENGTH,
        // Ids have their own shape check.
        _ => usize::MAX,
    });
    let mut check_one = |label: String, v: &Value| {
        if let Some(s) = v.as_str() {
            let n = s.chars().count();
            if n > max_len {
                out.push(violation(
                    &label,
                    &format!("must be at most {max_len} characters, has {n}"),
                ));
            } else if fp.email && !s.is_empty() && !looks_like_email(s) {
                out.push(violation(
                    &label,
                    &format!(
                        "must be an email address such as \"ana@example.com\", got {:?}",
                        truncate(s)
                    ),
                ));
            } else if fp.currency && ISO_4217.binary_search(&s).is_err() {
                out.push(violation(
                    &label,
                    &format!(
                        "must be an ISO 4217 currency code such as \"USD\", got {:?}",
                        truncate(s)
                    ),
                ));
            }
        }
        let int = match v {
            Value::I32(n) => Some(i64::from(*n)),
            Value::I64(n) => Some(*n),
            Value::U32(n) => Some(i64::from(*n)),
            Value::U64(n) => i64::try_from(*n).ok().or(Some(i64::MAX)),
            _ => None,
        };
        if let Some(n) = int {
            let (lo, hi) = fp.range;
            if lo.is_some_and(|lo| n < lo) || hi.is_some_and(|hi| n > hi) {
                let lo = lo.map_or_else(|| "…".to_string(), |x| x.to_string());
                let hi = hi.map_or_else(|| "…".to_string(), |x| x.to_string());
                out.push(violation(
                    &label,
                    &format!("must be between {lo} and {hi}, got {n}"),
                ));
            }
        }
    };
    match value {
        Value::List(items) => {
            let max = fp.max_items.unwrap_or(DEFAULT_MAX_ITEMS);
            if items.len() > max {
                out.push(violation(
                    name,
                    &format!("has {} items; at most {max}", items.len()),
                ));
                return out;
            }
            for (i, v) in items.iter().enumerate() {
                check_one(format!("{name}[{i}]"), v);
            }
        }
        v => check_one(name.to_string(), v),
    }
    out
}

/// Checks ids and enum values; returns every violation of the field.
fn check_shape(fp: &FieldPlan, value: &Value) -> Result<(), Vec<FieldViolation>> {
    let mut out = Vec::new();
    let name = fp.field.name();
    let mut check_one = |label: String, v: &Value| {
        if let Some(s) = v.as_str() {
            if let Err(why) = check_id(fp.id_format, s) {
                out.push(FieldViolation {
                    field: label,
                    description: why,
                });
            }
        } else if v.as_enum_number() == Some(0) {
            out.push(FieldViolation {
                field: label,
                description: "must not be UNSPECIFIED".into(),
            });
        }
    };
    match value {
        Value::List(items) => {
            for (i, v) in items.iter().enumerate() {
                check_one(format!("{name}[{i}]"), v);
            }
        }
        v => check_one(name.to_string(), v),
    }
    if out.is_empty() {
        Ok(())
    } else {
        Err(out)
    }
}

fn check_id(format: IdFormat, s: &str) -> Result<(), String> {
    let digits = |x: &str| !x.is_empty() && x.len() <= 32 && x.bytes().all(|b| b.is_ascii_digit());
    match format {
        IdFormat::Any => {
            if s.len() > 4096 {
                Err("is longer than 4096 bytes".into())
            } else {
                Ok(())
            }
        }
        IdFormat::Node if digits(s) => Ok(()),
        IdFormat::Node => Err(format!(
            "must be a Graph id (digits), got {:?}",
            truncate(s)
        )),
        IdFormat::AdAccount | IdFormat::AdAccountDigits
            if digits(s.strip_prefix("act_").unwrap_or(s)) =>
        {
            Ok(())
        }
        IdFormat::AdAccount | IdFormat::AdAccountDigits => Err(format!(
            "must be an ad account id like act_123 or 123, got {:?}",
            truncate(s)
        )),
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

/// Ad account ids become bare digits; the `act_` prefix is added where sent.
fn normalize(format: IdFormat, s: &str) -> String {
    match format {
        IdFormat::AdAccount | IdFormat::AdAccountDigits => {
            s.strip_prefix("act_").unwrap_or(s).to_string()
        }
        _ => s.to_string(),
    }
}

fn encode_param(
    table: &RouteTable,
    fp: &FieldPlan,
    value: &Value,
) -> Result<String, Vec<FieldViolation>> {
    let scalar = |v: &Value| -> Option<String> {
        Some(match v {
            Value::String(s) if fp.id_format == IdFormat::AdAccount => {
                format!("act_{}", normalize(IdFormat::AdAccount, s))
            }
            Value::String(s) if fp.id_format == IdFormat::AdAccountDigits => {
                normalize(IdFormat::AdAccountDigits, s)
            }
            Value::String(s) => s.clone(),
            Value::Bool(b) => b.to_string(),
            Value::I32(n) => n.to_string(),
            Value::I64(n) => n.to_string(),
            Value::U32(n) => n.to_string(),
            Value::U64(n) => n.to_string(),
            Value::F32(n) => n.to_string(),
            Value::F64(n) => n.to_string(),
            Value::EnumNumber(n) => match fp.field.kind() {
                Kind::Enum(e) => table.spelling(&e)?.to_graph(*n)?.to_string(),
                _ => return None,
            },
            Value::Message(m) => serde_json::to_string(&message_json(table, m)).ok()?,
            _ => return None,
        })
    };
    let bad = || vec![violation(fp.field.name(), "has a value Graph cannot take")];
    match value {
        Value::List(items) => {
            let parts = items
                .iter()
                .map(scalar)
                .collect::<Option<Vec<_>>>()
                .ok_or_else(bad)?;
            Ok(json_array(parts.iter().map(String::as_str)))
        }
        v => scalar(v).ok_or_else(bad),
    }
}

/// A message parameter as a Graph JSON object (field names, Graph spellings).
fn message_json(table: &RouteTable, m: &DynamicMessage) -> serde_json::Value {
    let mut obj = serde_json::Map::new();
    for (fd, v) in m.fields() {
        let j = match v {
            Value::String(s) => serde_json::Value::from(s.clone()),
            Value::Bool(b) => serde_json::Value::from(*b),
            Value::I32(n) => serde_json::Value::from(*n),
            Value::I64(n) => serde_json::Value::from(*n),
            Value::EnumNumber(n) => match fd.kind() {
                Kind::Enum(e) => serde_json::Value::from(
                    table
                        .spelling(&e)
                        .and_then(|s| s.to_graph(*n))
                        .unwrap_or_default(),
                ),
                _ => serde_json::Value::Null,
            },
            Value::Message(inner) => message_json(table, inner),
            _ => serde_json::Value::Null,
        };
        obj.insert(fd.name().to_string(), j);
    }
    serde_json::Value::Object(obj)
}

fn json_array<'a>(items: impl Iterator<Item = &'a str>) -> String {
    serde_json::to_string(&items.collect::<Vec<_>>()).unwrap_or_else(|_| "[]".to_string())
}

/// The `fields=` of a read_mask: each path a field of the node, or a dotted
/// path into a nested message (`page.permitted_tasks`, which is how a
/// caller asks for an opt-in field of a nested node). A message field named
/// whole brings its default fields; repeated paths are refused.
fn read_mask_fields(route: &Route, value: &Value) -> Result<String, Vec<FieldViolation>> {
    let Some(node) = &route.node else {
        return Err(vec![violation(
            "read_mask",
            "this RPC returns no fields to select",
        )]);
    };
    let paths: Vec<String> = value
        .as_message()
        .and_then(|m| m.get_field_by_name("paths"))
        .and_then(|v| {
            v.as_list().map(|l| {
                l.iter()
                    .filter_map(|p| p.as_str().map(str::to_string))
                    .collect()
            })
        })
        .unwrap_or_default();
    if paths.len() > MAX_READ_MASK_PATHS {
        return Err(vec![violation(
            "read_mask.paths",
            &format!("has {} paths; at most {MAX_READ_MASK_PATHS}", paths.len()),
        )]);
    }
    let mut bad = Vec::new();
    let mut wanted = Vec::new();
    for (i, p) in paths.iter().enumerate() {
        let label = format!("read_mask.paths[{i}]");
        if paths[..i].contains(p) {
            bad.push(violation(&label, &format!("{:?} is repeated", truncate(p))));
        } else {
            wanted.push((label, p.split('.').collect::<Vec<_>>()));
        }
    }
    let mut out = selection(node, &wanted, 1, &mut bad);
    if !bad.is_empty() {
        return Err(bad);
    }
    if !out.iter().any(|f| f == "id") && node.get_field_by_name("id").is_some() {
        out.insert(0, "id".to_string());
    }
    Ok(out.join(","))
}

/// The Graph selection of `paths` (split at dots) in `node`, in the order
/// the paths first name each field, each Graph key once.
fn selection(
    node: &prost_reflect::MessageDescriptor,
    paths: &[(String, Vec<&str>)],
    depth: usize,
    bad: &mut Vec<FieldViolation>,
) -> Vec<String> {
    let mut firsts: Vec<&str> = Vec::new();
    for (_, segs) in paths {
        if let Some(f) = segs.first() {
            if !firsts.contains(f) {
                firsts.push(f);
            }
        }
    }
    let mut out: Vec<String> = Vec::new();
    let mut keys: Vec<String> = Vec::new();
    for first in firsts {
        let group: Vec<&(String, Vec<&str>)> = paths
            .iter()
            .filter(|(_, segs)| segs.first() == Some(&first))
            .collect();
        let Some(f) = node.get_field_by_name(first) else {
            for (label, segs) in group {
                bad.push(violation(
                    label,
                    &format!(
                        "{:?} is not a field of {}",
                        truncate(&segs.join(".")),
                        node.name()
                    ),
                ));
            }
            continue;
        };
        let key = super::graph_field_name(&f);
        let nested: Vec<(String, Vec<&str>)> = group
            .iter()
            .filter(|(_, segs)| segs.len() > 1)
            .map(|(label, segs)| (label.clone(), segs[1..].to_vec()))
            .collect();
        let whole = group.iter().any(|(_, segs)| segs.len() == 1);
        let item = match f.kind() {
            Kind::Message(md) if !md.full_name().starts_with("google.protobuf.") && depth < 4 => {
                let mut inner: Vec<String> = Vec::new();
                if whole {
                    inner.extend(top_level(&super::fields_param(&md, depth)));
                }
                for extra in selection(&md, &nested, depth + 1, bad) {
                    if !inner.contains(&extra) {
                        inner.push(extra);
                    }
                }
                format!("{key}{{{}}}", inner.join(","))
            }
            _ => {
                for (label, _) in &nested {
                    bad.push(violation(
                        label,
                        &format!("{:?} has no fields to select", f.name()),
                    ));
                }
                key.clone()
            }
        };
        // Two fields may read one Graph key (an enum and its *_raw sibling).
        if !keys.contains(&key) {
            keys.push(key);
            out.push(item);
        }
    }
    out
}

/// Splits a `fields=` value at its top-level commas.
fn top_level(sel: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in sel.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                out.push(sel[start..i].to_string());
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < sel.len() {
        out.push(sel[start..].to_string());
    }
    out
}

fn field_str(route: &Route, msg: &DynamicMessage, name: &str) -> Option<String> {
    let fp = route.fields.iter().find(|f| f.field.name() == name)?;
    let v = msg.get_field(&fp.field);
    let s = match v.as_ref() {
        Value::String(s) => s.clone(),
        Value::I64(n) => n.to_string(),
        Value::I32(n) => n.to_string(),
        Value::U64(n) => n.to_string(),
        _ => return None,
    };
    if s.is_empty() {
        return None;
    }
    Some(normalize(fp.id_format, &s))
}

/// Fills a template from the request; None when a field is empty.
pub fn resolve(route: &Route, template: &PathTemplate, msg: &DynamicMessage) -> Option<String> {
    let mut out = String::new();
    for seg in &template.segments {
        match seg {
            Segment::Literal(l) => out.push_str(l),
            Segment::Field(f) => {
                let v = field_str(route, msg, f)?;
                let is_ad_account = route
                    .fields
                    .iter()
                    .any(|p| p.field.name() == f && p.id_format == IdFormat::AdAccount);
                if is_ad_account && !out.ends_with("act_") {
                    out.push_str("act_");
                }
                out.push_str(&escape_segment(&v));
            }
        }
    }
    Some(out)
}

/// Percent-encodes anything but unreserved characters, so a value can never
/// add path segments or a query.
fn escape_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes a tonic request's bytes into a dynamic message of the route's input.
pub fn to_dynamic<M: prost::Message>(
    route: &Route,
    msg: &M,
) -> Result<DynamicMessage, GatewayError> {
    DynamicMessage::decode(route.input.clone(), msg.encode_to_vec().as_slice())
        .map_err(|e| GatewayError::Internal(format!("re-decoding {}: {e}", route.input.name())))
}
