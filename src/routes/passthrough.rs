//! The governed pass-through's request side (GraphPassthroughService,
//! issue 16): validates a `CallGraphRequest` and turns it into one Graph call
//! with what the pipeline needs around it (the business, the ids policy
//! checks, the quota keys, cache and invalidation). Every violation is
//! reported at once, before anything is sent. Nothing here talks to the
//! network.
//!
//! Quota: a pass-through call counts against the same keys a typed RPC of
//! the same call would. When a route of the table has the same method and
//! template, or every route with its method and shape (its literals,
//! placeholders in the same places, whatever their names) has one class and
//! use case, the call takes them. Otherwise: a path with an
//! `act_{…}` segment counts against that ad account (use case
//! `ads_insights` when it reads `insights`, else `ads_management`); any
//! other path against the business use case of `business_id`, the use case
//! by the first of these rules that matches the template's literals and
//! placeholder names: `whatsapp`, `waba`, `message_template` or
//! `phone_number` → `whatsapp_business_management`; `instagram` or `ig_` →
//! `instagram`; `catalog` or `product` → `catalog_management`;
//! `customaudience` or `custom_audience` → `custom_audience`; `leadgen` →
//! `leadgen`; `page` → `pages`; `ad_account`, `adaccount` or `adspixel` →
//! `ads_management`; else `business_management`. The app key counts every
//! call, as always.

use std::collections::BTreeMap;

use super::{GraphRequest, HttpMethod, QuotaClass, RouteTable};
use crate::error::{FieldViolation, GatewayError};
use crate::policy::{parse_template, PathSegment};
use crate::proto::CallGraphRequest;

/// Parameters a call may carry.
pub const MAX_PARAMS: usize = 50;
/// Characters of one parameter value.
pub const MAX_PARAM_VALUE_CHARS: usize = 10_000;
/// Characters of a parameter name.
const MAX_PARAM_NAME_CHARS: usize = 64;
/// Digits of a Graph id.
const MAX_ID_DIGITS: usize = 32;
/// Characters of a path template.
const MAX_TEMPLATE_CHARS: usize = 300;

/// Parameters Graph would read as something other than a parameter of the
/// call: credentials, a second call (batch), a method override, JSONP.
const REFUSED_PARAMS: &[&str] = &[
    "access_token",
    "appsecret_proof",
    "appsecret_time",
    "batch",
    "method",
    "callback",
];

/// What the pipeline needs to run one pass-through call.
#[derive(Clone, Debug)]
pub struct PassthroughPlan {
    /// The Graph call, ids filled in, parameters sorted.
    pub graph: GraphRequest,
    /// The template, as the caller wrote it (policy matches it exactly).
    pub template: String,
    /// The business whose token serves the call (and policy checks).
    pub business: String,
    /// The ids of the path, in order (ad accounts as digits).
    pub ids: Vec<String>,
    /// The ad account the path addresses (digits), for quota.
    pub ad_account: Option<String>,
    /// The limit the call counts against.
    pub quota_class: QuotaClass,
    /// The business use case it counts against.
    pub use_case: String,
    /// GET through the read cache.
    pub cache: bool,
    /// AIP-155 request_id (POST and DELETE).
    pub request_id: Option<String>,
    /// Paths of reads a successful write makes stale: its own path.
    pub invalidates: Vec<String>,
}

impl PassthroughPlan {
    /// "GET /1000000001/owned_pages".
    pub fn graph_call(&self) -> String {
        format!("{} {}", self.graph.method.as_str(), self.graph.path)
    }

    /// True for GET.
    pub fn is_read(&self) -> bool {
        self.graph.method == HttpMethod::Get
    }
}

/// True for a name that carries a token (`access_token`, `page_token`,
/// `token`, …): any name ending in "token", whatever its case.
pub fn is_token_name(name: &str) -> bool {
    name.to_ascii_lowercase().ends_with("token")
}

fn violation(field: impl Into<String>, description: impl Into<String>) -> FieldViolation {
    FieldViolation {
        field: field.into(),
        description: description.into(),
    }
}

fn is_param_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_PARAM_NAME_CHARS
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn is_graph_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_ID_DIGITS && s.bytes().all(|b| b.is_ascii_digit())
}

/// A map key as a field path: `ids[name]` when the key is a plain name,
/// else the map's name alone (the caller's text is not quoted).
fn keyed(map: &str, key: &str) -> String {
    if is_param_name(key) {
        format!("{map}[{key}]")
    } else {
        map.to_string()
    }
}

/// Validates `req` and builds the plan; every violation is reported at once.
pub fn plan(table: &RouteTable, req: &CallGraphRequest) -> Result<PassthroughPlan, GatewayError> {
    let mut violations = Vec::new();

    let method = match crate::proto::HttpMethod::try_from(req.method) {
        Ok(crate::proto::HttpMethod::Get) => Some(HttpMethod::Get),
        Ok(crate::proto::HttpMethod::Post) => Some(HttpMethod::Post),
        Ok(crate::proto::HttpMethod::Delete) => Some(HttpMethod::Delete),
        _ => {
            violations.push(violation(
                "method",
                "is required: HTTP_METHOD_GET, HTTP_METHOD_POST or HTTP_METHOD_DELETE",
            ));
            None
        }
    };
    let write = method.is_some_and(|m| m != HttpMethod::Get);

    // The path: the template, each placeholder filled from `ids`.
    let mut segments = None;
    if req.path_template.is_empty() {
        violations.push(violation(
            "path_template",
            "is required, e.g. \"/{business_id}/owned_whatsapp_business_accounts\"",
        ));
    } else if req.path_template.len() > MAX_TEMPLATE_CHARS {
        violations.push(violation(
            "path_template",
            format!("must be at most {MAX_TEMPLATE_CHARS} characters"),
        ));
    } else {
        match parse_template(&req.path_template) {
            Ok(s) => segments = Some(s),
            Err(e) => violations.push(violation("path_template", e)),
        }
    }
    let mut path = String::new();
    let mut ids = Vec::new();
    let mut ad_account = None;
    if let Some(segments) = &segments {
        for seg in segments {
            path.push('/');
            match seg {
                PathSegment::Literal(l) => path.push_str(l),
                PathSegment::Id { name, act } => {
                    let Some(value) = req.ids.get(name) else {
                        violations.push(violation(
                            format!("ids[{name}]"),
                            format!("is required: the template names {{{name}}}"),
                        ));
                        continue;
                    };
                    let digits = if *act {
                        value.strip_prefix("act_").unwrap_or(value)
                    } else {
                        value.as_str()
                    };
                    if !is_graph_id(digits) {
                        violations.push(violation(
                            format!("ids[{name}]"),
                            if *act {
                                "must be an ad account id (act_123 or 123)"
                            } else {
                                "must be a Graph id (digits)"
                            },
                        ));
                        continue;
                    }
                    if *act {
                        path.push_str("act_");
                        if ad_account.is_none() {
                            ad_account = Some(digits.to_string());
                        }
                    }
                    path.push_str(digits);
                    ids.push(digits.to_string());
                }
            }
        }
        let names: Vec<&str> = segments
            .iter()
            .filter_map(|s| match s {
                PathSegment::Id { name, .. } => Some(name.as_str()),
                PathSegment::Literal(_) => None,
            })
            .collect();
        for key in req.ids.keys() {
            if !names.contains(&key.as_str()) {
                violations.push(violation(
                    keyed("ids", key),
                    "names no placeholder of path_template",
                ));
            }
        }
    }

    // Parameters.
    let mut params = BTreeMap::new();
    if req.params.len() > MAX_PARAMS {
        violations.push(violation(
            "params",
            format!("must hold at most {MAX_PARAMS} parameters"),
        ));
    }
    for (name, value) in &req.params {
        let field = keyed("params", name);
        if !is_param_name(name) {
            violations.push(violation(
                field,
                format!(
                    "a parameter name is 1-{MAX_PARAM_NAME_CHARS} lowercase letters, digits and '_', starting with a letter"
                ),
            ));
        } else if REFUSED_PARAMS.contains(&name.as_str()) || is_token_name(name) {
            violations.push(violation(
                field,
                "is refused: credentials, batches, method overrides and callbacks are the gateway's",
            ));
        } else if value.chars().count() > MAX_PARAM_VALUE_CHARS {
            violations.push(violation(
                field,
                format!("must be at most {MAX_PARAM_VALUE_CHARS} characters"),
            ));
        } else if name == "fields" && asks_for_token(value) {
            violations.push(violation(
                field,
                "asks for a token field: tokens stay in the vault",
            ));
        } else {
            params.insert(name.clone(), value.clone());
        }
    }

    // The business.
    if req.business_id.is_empty() {
        violations.push(violation(
            "business_id",
            "is required: the business whose vault token makes the call",
        ));
    } else if !is_graph_id(&req.business_id) {
        violations.push(violation("business_id", "must be a Graph id (digits)"));
    }

    if req.cache && write {
        violations.push(violation(
            "cache",
            "applies to GET only: a POST or DELETE is never cached",
        ));
    }
    let request_id = (!req.request_id.is_empty()).then(|| req.request_id.clone());
    if req.request_id.len() > super::request::MAX_REQUEST_ID_LEN {
        violations.push(violation(
            "request_id",
            format!(
                "must be at most {} bytes (a UUID is 36)",
                super::request::MAX_REQUEST_ID_LEN
            ),
        ));
    } else if write && request_id.is_none() {
        violations.push(violation(
            "request_id",
            "is required for POST and DELETE (AIP-155): a repeat with the same id gets the first \
             call's outcome, never a second change",
        ));
    }

    let (Some(method), Some(segments), true) = (method, segments, violations.is_empty()) else {
        return Err(GatewayError::InvalidArgument(violations));
    };
    let (quota_class, use_case) = quota_of(table, method, &req.path_template, &segments);
    Ok(PassthroughPlan {
        graph: GraphRequest {
            method,
            path: path.clone(),
            params: params.into_iter().collect(),
        },
        template: req.path_template.clone(),
        business: req.business_id.clone(),
        ids,
        ad_account,
        quota_class,
        use_case,
        cache: req.cache,
        request_id,
        invalidates: if write { vec![path] } else { Vec::new() },
    })
}

/// True when a `fields` value names a token field anywhere, nested ones
/// included (`accounts{access_token}`).
pub fn asks_for_token(fields: &str) -> bool {
    fields
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .any(is_token_name)
}

/// A template with every placeholder's name left out: "/{}/owned_pages",
/// "/act_{}/users".
fn shape(template: &str) -> String {
    let mut out = String::with_capacity(template.len());
    let mut inside = false;
    for c in template.chars() {
        match c {
            '{' => {
                inside = true;
                out.push('{');
            }
            '}' => {
                inside = false;
                out.push('}');
            }
            _ if inside => {}
            c => out.push(c),
        }
    }
    out
}

/// The quota class and use case of a pass-through call (the module's
/// rules).
pub fn quota_of(
    table: &RouteTable,
    method: HttpMethod,
    template: &str,
    segments: &[PathSegment],
) -> (QuotaClass, String) {
    // A typed route of the same call: the one with this very template, else
    // every route of this shape when they agree ("/{}/assigned_users" is a
    // page's, an ad account's, a catalog's, ...: they do not).
    if let Some(route) = table
        .iter()
        .find(|r| r.http == method && r.template.raw == template)
    {
        return (route.quota_class, route.use_case.clone());
    }
    let wanted = shape(template);
    let mut same = table
        .iter()
        .filter(|r| r.http == method && shape(&r.template.raw) == wanted)
        .map(|r| (r.quota_class, r.use_case.as_str()));
    if let Some(first) = same.next() {
        if same.all(|other| other == first) {
            return (first.0, first.1.to_string());
        }
    }
    let words: Vec<&str> = segments
        .iter()
        .map(|s| match s {
            PathSegment::Literal(l) => l.as_str(),
            PathSegment::Id { name, .. } => name.as_str(),
        })
        .collect();
    let has = |keys: &[&str]| words.iter().any(|w| keys.iter().any(|k| w.contains(k)));
    if segments
        .iter()
        .any(|s| matches!(s, PathSegment::Id { act: true, .. }))
    {
        let literal_insights = segments
            .iter()
            .any(|s| matches!(s, PathSegment::Literal(l) if l == "insights"));
        let use_case = if literal_insights {
            "ads_insights"
        } else {
            "ads_management"
        };
        return (QuotaClass::AdAccount, use_case.to_string());
    }
    let use_case = if has(&["whatsapp", "waba", "message_template", "phone_number"]) {
        "whatsapp_business_management"
    } else if has(&["instagram", "ig_"]) {
        "instagram"
    } else if has(&["catalog", "product"]) {
        "catalog_management"
    } else if has(&["customaudience", "custom_audience"]) {
        "custom_audience"
    } else if has(&["leadgen"]) {
        "leadgen"
    } else if has(&["page"]) {
        "pages"
    } else if has(&["ad_account", "adaccount", "adspixel"]) {
        "ads_management"
    } else {
        "business_management"
    };
    (QuotaClass::BusinessUseCase, use_case.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> RouteTable {
        RouteTable::embedded().expect("route table")
    }

    fn req(
        method: crate::proto::HttpMethod,
        template: &str,
        ids: &[(&str, &str)],
    ) -> CallGraphRequest {
        CallGraphRequest {
            method: method as i32,
            path_template: template.into(),
            ids: ids
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            business_id: "1000000001".into(),
            ..Default::default()
        }
    }

    fn fields(e: GatewayError) -> Vec<String> {
        match e {
            GatewayError::InvalidArgument(v) => v.into_iter().map(|f| f.field).collect(),
            other => panic!("not INVALID_ARGUMENT: {other:?}"),
        }
    }

    #[test]
    fn a_get_is_planned_with_its_ids_and_params() {
        let mut r = req(
            crate::proto::HttpMethod::Get,
            "/{waba_id}/assigned_users",
            &[("waba_id", "7000000001")],
        );
        r.params.insert("business".into(), "1000000001".into());
        r.cache = true;
        let p = plan(&table(), &r).expect("plan");
        assert_eq!(p.graph_call(), "GET /7000000001/assigned_users");
        assert_eq!(
            p.graph.params,
            vec![("business".to_string(), "1000000001".to_string())]
        );
        assert_eq!(p.ids, vec!["7000000001"]);
        assert_eq!(p.quota_class, QuotaClass::BusinessUseCase);
        assert_eq!(p.use_case, "whatsapp_business_management");
        assert!(p.cache && p.invalidates.is_empty() && p.ad_account.is_none());
    }

    #[test]
    fn ad_account_paths_count_against_the_account() {
        let r = req(
            crate::proto::HttpMethod::Get,
            "/act_{account}/customconversions",
            &[("account", "act_2000000001")],
        );
        let p = plan(&table(), &r).expect("plan");
        assert_eq!(p.graph.path, "/act_2000000001/customconversions");
        assert_eq!(p.ad_account.as_deref(), Some("2000000001"));
        assert_eq!(p.quota_class, QuotaClass::AdAccount);
        assert_eq!(p.use_case, "ads_management");
    }

    #[test]
    fn a_path_with_a_typed_route_takes_its_quota_keys() {
        // ListOwnedPages: GET /{business_id}/owned_pages, use case "pages",
        // whatever the placeholder is called.
        let r = req(
            crate::proto::HttpMethod::Get,
            "/{biz}/owned_pages",
            &[("biz", "1000000001")],
        );
        let p = plan(&table(), &r).expect("plan");
        let typed = table()
            .iter()
            .find(|r| r.template.raw == "/{business_id}/owned_pages" && r.is_read())
            .cloned()
            .expect("typed route");
        assert_eq!(p.quota_class, typed.quota_class);
        assert_eq!(p.use_case, typed.use_case);
        assert_eq!(p.use_case, "pages");
    }

    #[test]
    fn every_violation_is_reported_at_once() {
        let mut r = req(
            crate::proto::HttpMethod::Unspecified,
            "/{a}/edge",
            &[("a", "12x"), ("b", "1")],
        );
        r.business_id = "acme".into();
        r.params.insert("access_token".into(), "x".into());
        r.params.insert("Bad-Name".into(), "x".into());
        r.params
            .insert("fields".into(), "name,accounts{access_token}".into());
        r.params.insert("input_token".into(), "x".into());
        let got = fields(plan(&table(), &r).unwrap_err());
        for f in [
            "method",
            "ids[a]",
            "ids[b]",
            "params[access_token]",
            "params",
            "params[fields]",
            "params[input_token]",
            "business_id",
        ] {
            assert!(got.iter().any(|g| g == f), "{f} missing in {got:?}");
        }
    }

    #[test]
    fn writes_need_a_request_id_and_are_never_cached() {
        let mut r = req(
            crate::proto::HttpMethod::Post,
            "/{waba_id}/assigned_users",
            &[("waba_id", "7000000001")],
        );
        r.cache = true;
        let got = fields(plan(&table(), &r).unwrap_err());
        assert_eq!(got, vec!["cache", "request_id"]);
        r.cache = false;
        r.request_id = "r-1".into();
        let p = plan(&table(), &r).expect("plan");
        assert_eq!(p.invalidates, vec!["/7000000001/assigned_users"]);
        assert_eq!(p.request_id.as_deref(), Some("r-1"));
    }

    #[test]
    fn templates_that_are_not_a_node_edge_are_refused() {
        for bad in [
            "me",
            "/me",
            "/",
            "/oauth/access_token",
            "/debug_token",
            "/{a}/access_tokens",
            "/{a}/b/c/d/e",
            "/{a}/{a}",
            "/{A}/edge",
            "/{a}/Edge",
            "/{a}/edge?x=1",
            "/{a}//edge",
        ] {
            let r = req(crate::proto::HttpMethod::Get, bad, &[("a", "1")]);
            let got = fields(plan(&table(), &r).unwrap_err());
            assert!(got.contains(&"path_template".to_string()), "{bad}: {got:?}");
        }
    }

    #[test]
    fn token_fields_are_spotted() {
        assert!(asks_for_token("access_token"));
        assert!(asks_for_token("id,name,accounts.limit(2){access_token,id}"));
        assert!(asks_for_token("PAGE_TOKEN"));
        assert!(!asks_for_token(
            "id,name,tokenized_name,verification_status"
        ));
    }
}
