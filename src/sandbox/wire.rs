//! Graph's wire format: errors, request parameters (including list-valued
//! ones), `fields=` selection and cursor paging.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use base64::Engine as _;
use rand::Rng as _;
use serde_json::{json, Map, Value};

/// Error subcodes the sandbox uses for its business rules.
///
/// Graph reports these rule violations as code 100 with a subcode; the seeds
/// do not give Meta's numbers, so these are the sandbox's own (stable, and
/// documented in docs/sandbox.md). `UNKNOWN_OBJECT` is Graph's real 33.
pub(crate) mod subcode {
    /// Unknown or unsupported object (Graph's real subcode).
    pub(crate) const UNKNOWN_OBJECT: u32 = 33;
    /// AA05: the business owns the ad account with confirmed access.
    pub(crate) const OWNED_AND_CONFIRMED: u32 = 1_690_001;
    /// AA08/AA09/PG07/PG10: the permission comes from a business asset group.
    pub(crate) const FROM_ASSET_GROUP: u32 = 1_690_002;
    /// PG06: the page still has people with tasks from the business.
    pub(crate) const PAGE_HAS_PEOPLE: u32 = 1_690_003;
    /// The business has no (confirmed) access to the asset.
    pub(crate) const NOT_IN_BUSINESS: u32 = 1_690_004;
    /// The asset is owned by another business.
    pub(crate) const OWNED_ELSEWHERE: u32 = 1_690_005;
    /// The user is not a member of the business.
    pub(crate) const USER_NOT_IN_BUSINESS: u32 = 1_690_006;
    /// The tasks exceed what the business may assign on the asset.
    pub(crate) const TASKS_NOT_PERMITTED: u32 = 1_690_007;
    /// PG02/AP06: the asset must be owned by a business.
    pub(crate) const NOT_BUSINESS_OWNED: u32 = 1_690_008;
    /// BU03/BU04: the business would be left without an admin.
    pub(crate) const LAST_ADMIN: u32 = 1_690_009;
    /// BU02: the email is already invited, or already a member.
    pub(crate) const ALREADY_INVITED: u32 = 1_690_010;
    /// SU02: the business has as many system users as it may.
    pub(crate) const SYSTEM_USER_LIMIT: u32 = 1_690_011;
    /// Graph's "session has expired" subcode for code 190.
    pub(crate) const TOKEN_EXPIRED: u32 = 463;
}

/// A Graph error, rendered as `{"error": {...}}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct GraphError {
    /// Graph's `code`.
    pub(crate) code: u32,
    /// Graph's `error_subcode`, when any.
    pub(crate) subcode: Option<u32>,
    /// Graph's `type`.
    pub(crate) kind: &'static str,
    /// Graph's `message`.
    pub(crate) message: String,
}

// === impl GraphError ===

impl GraphError {
    /// An `OAuthException` with `code` and `message`.
    pub(crate) fn new(code: u32, message: impl Into<String>) -> Self {
        Self {
            code,
            subcode: None,
            kind: "OAuthException",
            message: message.into(),
        }
    }

    /// Adds an `error_subcode`.
    pub(crate) fn with_subcode(mut self, subcode: u32) -> Self {
        self.subcode = Some(subcode);
        self
    }

    /// Code 100, the generic "invalid parameter" error.
    pub(crate) fn param(message: impl std::fmt::Display) -> Self {
        Self::new(100, format!("(#100) {message}"))
    }

    /// Code 100 with one of the sandbox's rule subcodes.
    pub(crate) fn rule(subcode: u32, message: impl std::fmt::Display) -> Self {
        Self::param(message).with_subcode(subcode)
    }

    /// Code 100: a required parameter is missing.
    pub(crate) fn required(name: &str) -> Self {
        Self::param(format!("The parameter {name} is required"))
    }

    /// Code 200: the caller lacks permission.
    pub(crate) fn permission(message: impl std::fmt::Display) -> Self {
        Self::new(200, format!("(#200) {message}"))
    }

    /// Code 3: the app lacks the capability (edges limited to apps with
    /// access, e.g. BB01 since 2021-06).
    pub(crate) fn no_capability() -> Self {
        Self::new(
            3,
            "(#3) Application does not have the capability to make this API call.",
        )
    }

    /// Code 210: the call needs a page access token.
    pub(crate) fn page_token_required() -> Self {
        Self::new(
            210,
            "(#210) A page access token is required to request this resource.",
        )
    }

    /// Code 190: missing, unknown or malformed token.
    pub(crate) fn invalid_token() -> Self {
        Self::new(190, "Invalid OAuth access token.")
    }

    /// Code 190 subcode 463: the token expired.
    pub(crate) fn expired_token() -> Self {
        Self::new(
            190,
            "Error validating access token: Session has expired. The current time is later than the token's expiry.",
        )
        .with_subcode(subcode::TOKEN_EXPIRED)
    }

    /// Code 100: `appsecret_proof` missing while the app requires it.
    pub(crate) fn missing_proof() -> Self {
        Self::new(
            100,
            "API calls from the server require an appsecret_proof argument",
        )
    }

    /// Code 100: `appsecret_proof` does not match the token.
    pub(crate) fn bad_proof() -> Self {
        Self::new(100, "Invalid appsecret_proof provided in the API argument")
    }

    /// Code 100 subcode 33: unknown object, no permission, or unsupported
    /// method on it.
    pub(crate) fn unknown_object(method: &str, id: &str) -> Self {
        Self {
            code: 100,
            subcode: Some(subcode::UNKNOWN_OBJECT),
            kind: "GraphMethodException",
            message: format!(
                "Unsupported {} request. Object with ID '{id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api",
                method.to_ascii_lowercase()
            ),
        }
    }

    /// Code 2500: the path has components Graph does not know.
    pub(crate) fn unknown_path(rest: &str) -> Self {
        Self::new(2500, format!("Unknown path components: /{rest}"))
    }

    /// Code 803: a non-numeric alias that does not exist.
    pub(crate) fn unknown_alias(alias: &str) -> Self {
        Self::new(
            803,
            format!("(#803) Some of the aliases you requested do not exist: {alias}"),
        )
    }

    /// Code 100: `fields=` names a field the node type does not have.
    pub(crate) fn nonexisting_field(field: &str, node_type: &str) -> Self {
        Self::param(format!(
            "Tried accessing nonexisting field ({field}) on node type ({node_type})"
        ))
    }

    /// The HTTP status Graph would answer with.
    pub(crate) fn status(&self) -> StatusCode {
        match self.code {
            10 | 200..=299 => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The `{"error": {...}}` body.
    pub(crate) fn body(&self, fbtrace_id: &str) -> Value {
        let mut error = Map::new();
        error.insert("message".into(), json!(self.message));
        error.insert("type".into(), json!(self.kind));
        error.insert("code".into(), json!(self.code));
        if let Some(sub) = self.subcode {
            error.insert("error_subcode".into(), json!(sub));
        }
        error.insert("is_transient".into(), json!(false));
        error.insert("fbtrace_id".into(), json!(fbtrace_id));
        json!({ "error": Value::Object(error) })
    }
}

/// A random `fbtrace_id`-like string.
pub(crate) fn fbtrace_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..11)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect()
}

// ---------------------------------------------------------------------------
// Parameters

/// A request's parameters: query string merged with the body (body wins).
#[derive(Clone, Debug, Default)]
pub(crate) struct Params(BTreeMap<String, String>);

// === impl Params ===

impl Params {
    /// Builds from name/value pairs, later pairs overriding earlier ones.
    pub(crate) fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }

    /// A non-empty (trimmed) parameter.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    /// Replaces (or adds) a parameter.
    pub(crate) fn set(&mut self, name: &str, value: String) {
        self.0.insert(name.to_string(), value);
    }

    /// Names of the non-empty parameters.
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .filter(|(_, v)| !v.trim().is_empty())
            .map(|(k, _)| k.as_str())
    }

    /// A required parameter.
    pub(crate) fn require(&self, name: &str) -> Result<&str, GraphError> {
        self.get(name).ok_or_else(|| GraphError::required(name))
    }

    /// A list-valued parameter (`["A","B"]`, `['A', 'B']` or `A,B`).
    pub(crate) fn list(&self, name: &str) -> Result<Option<Vec<String>>, GraphError> {
        match self.get(name) {
            None => Ok(None),
            Some(raw) => parse_list(raw)
                .map(Some)
                .ok_or_else(|| GraphError::param(format!("Param {name} must be an array"))),
        }
    }

    /// A required, non-empty list-valued parameter.
    pub(crate) fn require_list(&self, name: &str) -> Result<Vec<String>, GraphError> {
        match self.list(name)? {
            Some(list) if !list.is_empty() => Ok(list),
            _ => Err(GraphError::required(name)),
        }
    }
}

/// Parses Graph's list parameter forms. `None` when the text is malformed.
pub(crate) fn parse_list(raw: &str) -> Option<Vec<String>> {
    let raw = raw.trim();
    if !raw.starts_with('[') {
        return Some(
            raw.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
        );
    }
    let as_json = |text: &str| -> Option<Vec<String>> {
        let values: Vec<Value> = serde_json::from_str(text).ok()?;
        values
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Some(s.trim().to_string()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .collect()
    };
    if let Some(list) = as_json(raw) {
        return Some(list.into_iter().filter(|s| !s.is_empty()).collect());
    }
    // The seeds' Python-ish form: ['A', 'B'] (possibly with a trailing comma).
    let inner = raw.strip_prefix('[')?.strip_suffix(']')?;
    let items: Vec<String> = inner
        .split(',')
        .map(|s| {
            s.trim()
                .trim_matches(|c| c == '\'' || c == '"')
                .trim()
                .to_string()
        })
        .filter(|s| !s.is_empty())
        .collect();
    if items
        .iter()
        .any(|s| s.contains(['\'', '"', '[', ']', '{', '}']))
    {
        return None;
    }
    Some(items)
}

// ---------------------------------------------------------------------------
// fields=

/// One selected field, with an optional nested selection (`business{id,name}`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FieldSel {
    /// The field's name.
    pub(crate) name: String,
    /// The nested selection, when given.
    pub(crate) sub: Option<Vec<FieldSel>>,
}

/// Parses a `fields=` value.
pub(crate) fn parse_fields(raw: &str) -> Result<Vec<FieldSel>, GraphError> {
    let chars: Vec<char> = raw.chars().collect();
    let mut pos = 0;
    let fields = parse_field_list(&chars, &mut pos)?;
    if pos != chars.len() {
        return Err(GraphError::param(format!(
            "Syntax error \"Expected end of string instead of \"{}\".\" at character {pos}: {raw}",
            chars[pos]
        )));
    }
    Ok(fields)
}

fn parse_field_list(chars: &[char], pos: &mut usize) -> Result<Vec<FieldSel>, GraphError> {
    let mut out = Vec::new();
    loop {
        while *pos < chars.len() && chars[*pos].is_whitespace() {
            *pos += 1;
        }
        let start = *pos;
        while *pos < chars.len() && !matches!(chars[*pos], ',' | '{' | '}') {
            *pos += 1;
        }
        let token: String = chars[start..*pos].iter().collect();
        // Graph's modifiers (`.limit(5)`, `.as(x)`) are accepted and ignored.
        let name = token
            .split('.')
            .next()
            .unwrap_or_default()
            .trim()
            .to_string();
        let mut sub = None;
        if *pos < chars.len() && chars[*pos] == '{' {
            *pos += 1;
            sub = Some(parse_field_list(chars, pos)?);
            if *pos >= chars.len() || chars[*pos] != '}' {
                return Err(GraphError::param("Syntax error: expected '}' in fields"));
            }
            *pos += 1;
        }
        if !name.is_empty() {
            out.push(FieldSel { name, sub });
        }
        if *pos < chars.len() && chars[*pos] == ',' {
            *pos += 1;
            continue;
        }
        return Ok(out);
    }
}

/// A Graph node type: its name (as Graph spells it in errors), its fields
/// and the fields it answers when the caller gives no `fields=`.
#[derive(Debug)]
pub(crate) struct NodeType {
    /// Graph's name of the type, e.g. `Page`.
    pub(crate) name: &'static str,
    /// Every field the type knows.
    pub(crate) fields: &'static [&'static str],
    /// Fields answered without `fields=`.
    pub(crate) defaults: &'static [&'static str],
    /// Fields whose values are nodes of another type.
    pub(crate) nested: &'static [(&'static str, &'static NodeType)],
}

// === impl NodeType ===

impl NodeType {
    fn nested_type(&self, field: &str) -> Option<&'static NodeType> {
        self.nested
            .iter()
            .find(|(name, _)| *name == field)
            .map(|(_, ty)| *ty)
    }

    /// Checks that every selected field exists on this type (recursively).
    pub(crate) fn validate(&self, fields: &[FieldSel]) -> Result<(), GraphError> {
        for sel in fields {
            if !self.fields.contains(&sel.name.as_str()) {
                return Err(GraphError::nonexisting_field(&sel.name, self.name));
            }
            if let (Some(sub), Some(ty)) = (&sel.sub, self.nested_type(&sel.name)) {
                ty.validate(sub)?;
            }
        }
        Ok(())
    }

    /// Keeps the selected fields of a full object (absent ones are omitted).
    /// Without a selection, keeps `defaults` (or this type's defaults).
    pub(crate) fn select(
        &self,
        full: &Map<String, Value>,
        fields: Option<&[FieldSel]>,
        defaults: Option<&[&str]>,
    ) -> Value {
        let mut out = Map::new();
        match fields {
            Some(fields) => {
                for sel in fields {
                    let Some(value) = full.get(&sel.name) else {
                        continue;
                    };
                    let nested = self.nested_type(&sel.name);
                    let value = match nested {
                        Some(ty) => ty.select_value(value, sel.sub.as_deref()),
                        None => value.clone(),
                    };
                    out.insert(sel.name.clone(), value);
                }
            }
            None => {
                for name in defaults.unwrap_or(self.defaults) {
                    if let Some(value) = full.get(*name) {
                        let value = match self.nested_type(name) {
                            Some(ty) => ty.select_value(value, None),
                            None => value.clone(),
                        };
                        out.insert((*name).to_string(), value);
                    }
                }
            }
        }
        Value::Object(out)
    }

    fn select_value(&self, value: &Value, fields: Option<&[FieldSel]>) -> Value {
        match value {
            Value::Object(map) => self.select(map, fields, None),
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|item| self.select_value(item, fields))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

// ---------------------------------------------------------------------------
// Paging

/// Default page size, as Graph's.
pub(crate) const DEFAULT_LIMIT: usize = 25;
/// Largest page the sandbox serves.
pub(crate) const MAX_LIMIT: usize = 5000;

/// The paging part of a list request.
#[derive(Clone, Debug)]
pub(crate) struct PageRequest {
    /// Items per page.
    pub(crate) limit: usize,
    /// `after` cursor: the page starts at this offset.
    pub(crate) after: Option<usize>,
    /// `before` cursor: the page ends before this offset.
    pub(crate) before: Option<usize>,
    /// Scheme, host and path of the request, for `next`/`previous`.
    pub(crate) base_url: String,
    /// The request's query pairs (without token, proof and cursors).
    pub(crate) query: Vec<(String, String)>,
}

// === impl PageRequest ===

impl PageRequest {
    /// Reads `limit`, `after` and `before`.
    pub(crate) fn parse(
        params: &Params,
        base_url: String,
        query: Vec<(String, String)>,
    ) -> Result<Self, GraphError> {
        let limit = match params.get("limit") {
            None => DEFAULT_LIMIT,
            Some(raw) => raw
                .parse::<usize>()
                .map_err(|_| GraphError::param("Param limit must be a non-negative integer"))?,
        };
        let limit = if limit == 0 {
            DEFAULT_LIMIT
        } else {
            limit.min(MAX_LIMIT)
        };
        let after = params.get("after").map(decode_cursor).transpose()?;
        let before = params.get("before").map(decode_cursor).transpose()?;
        Ok(Self {
            limit,
            after,
            before,
            base_url,
            query,
        })
    }

    /// One page of `items` as Graph's `{"data": [...], "paging": {...}}`.
    pub(crate) fn page(&self, items: Vec<Value>) -> Value {
        let total = items.len();
        let (start, end) = match (self.after, self.before) {
            (Some(after), _) => (after.min(total), (after + self.limit).min(total)),
            (None, Some(before)) => {
                let end = before.min(total);
                (end.saturating_sub(self.limit), end)
            }
            (None, None) => (0, self.limit.min(total)),
        };
        let data: Vec<Value> = items.into_iter().skip(start).take(end - start).collect();
        if data.is_empty() {
            return json!({ "data": [] });
        }
        let mut paging = Map::new();
        paging.insert(
            "cursors".into(),
            json!({ "before": encode_cursor(start), "after": encode_cursor(end) }),
        );
        if start > 0 {
            paging.insert("previous".into(), json!(self.link("before", start)));
        }
        if end < total {
            paging.insert("next".into(), json!(self.link("after", end)));
        }
        json!({ "data": data, "paging": Value::Object(paging) })
    }

    fn link(&self, cursor_name: &str, offset: usize) -> String {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.query {
            ser.append_pair(k, v);
        }
        ser.append_pair("limit", &self.limit.to_string());
        ser.append_pair(cursor_name, &encode_cursor(offset));
        format!("{}?{}", self.base_url, ser.finish())
    }
}

/// Query parameters never echoed into paging links.
pub(crate) const NOT_ECHOED: &[&str] = &[
    "access_token",
    "appsecret_proof",
    "appsecret_time",
    "after",
    "before",
    "limit",
];

fn encode_cursor(offset: usize) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("sandbox:{offset}"))
}

fn decode_cursor(raw: &str) -> Result<usize, GraphError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw.trim_end_matches('='))
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix("sandbox:")?.parse::<usize>().ok())
        .ok_or_else(|| GraphError::param("Invalid cursor"))
}

// ---------------------------------------------------------------------------
// Request bodies

/// Parses a request body by content type: urlencoded forms, multipart forms
/// (text parts, as `curl -F` sends) and JSON objects.
pub(crate) fn body_pairs(content_type: Option<&str>, body: &[u8]) -> Vec<(String, String)> {
    if body.is_empty() {
        return Vec::new();
    }
    let ct = content_type.unwrap_or_default().to_ascii_lowercase();
    if ct.starts_with("multipart/form-data") {
        let boundary = content_type
            .unwrap_or_default()
            .split(';')
            .filter_map(|p| p.trim().strip_prefix("boundary="))
            .map(|b| b.trim_matches('"').to_string())
            .next();
        return boundary
            .map(|b| multipart_pairs(body, &b))
            .unwrap_or_default();
    }
    if ct.starts_with("application/json") {
        let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
            return Vec::new();
        };
        return map
            .into_iter()
            .map(|(k, v)| match v {
                Value::String(s) => (k, s),
                other => (k, other.to_string()),
            })
            .collect();
    }
    url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn multipart_pairs(body: &[u8], boundary: &str) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(body);
    let delimiter = format!("--{boundary}");
    text.split(delimiter.as_str())
        .filter_map(|part| {
            let part = part.strip_prefix("\r\n").unwrap_or(part);
            let (head, value) = part.split_once("\r\n\r\n")?;
            let name = head
                .lines()
                .find(|l| l.to_ascii_lowercase().starts_with("content-disposition"))?
                .split(';')
                .filter_map(|p| p.trim().strip_prefix("name="))
                .map(|n| n.trim_matches('"').to_string())
                .next()?;
            let value = value.strip_suffix("\r\n").unwrap_or(value);
            Some((name, value.to_string()))
        })
        .collect()
}
