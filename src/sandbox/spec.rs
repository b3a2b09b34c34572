//! Meta's published Graph API specification, as the sandbox follows it.
//!
//! `tests/data/graph-spec.json` holds the facts (parameters, enums, return
//! types and their fields) of every catalogue edge, extracted by
//! `scripts/graph-spec` from facebook/facebook-business-sdk-codegen
//! `api_specs/specs` (commit in the file's `source`; Graph API v26.0).
//! `tests/data/graph-exceptions.tsv` lists the justified differences. Both
//! are embedded at compile time and parsed once; a new exceptions row works
//! with no code change.
//!
//! For a call whose (node type, edge, method) is in the table, the sandbox
//! answers as Graph does:
//! - a parameter the edge does not list (and that is neither always allowed,
//!   see [`ALWAYS_ALLOWED`], nor a `param` exception of the operation) gets
//!   `(#100) Param X is not a valid parameter`;
//! - a required parameter missing gets `(#100) The parameter X is required`;
//! - an enum parameter with a value outside the spec's enum (and not a
//!   `value` exception) gets `(#100) Param X[i] must be one of {...}`;
//! - a `fields=` name the return type lacks (and that is not a `field`
//!   exception of the operation) gets `(#100) Tried accessing nonexisting
//!   field (f) on node type (T)`; nested selections are checked against the
//!   nested field's type when the table has it (the operation's `field`
//!   exceptions apply there too). A `field` row's op may be `*` (every
//!   operation) and its name scoped to a node type (`AdAccount.tasks`:
//!   wherever an AdAccount is selected); `param` and `value` rows may use
//!   `*` too;
//! - an edge gone from the spec (an `edge` exception) is served only while
//!   the sandbox has legacy access (`Sandbox::with_legacy_edges`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use serde::Deserialize;

use super::wire::{parse_list, FieldSel, GraphError, Params};

/// The embedded spec facts.
const SPEC_JSON: &str = include_str!("../../tests/data/graph-spec.json");
/// The embedded exceptions.
const EXCEPTIONS_TSV: &str = include_str!("../../tests/data/graph-exceptions.tsv");

/// Parameters every Graph edge accepts: authentication, field selection,
/// paging, the method override and Graph's formatting/debugging switches
/// (`summary` is sent by Meta's SDKs on every list read).
pub(crate) const ALWAYS_ALLOWED: &[&str] = &[
    "access_token",
    "appsecret_proof",
    "appsecret_time",
    "fields",
    "limit",
    "after",
    "before",
    "summary",
    "method",
    "format",
    "pretty",
    "suppress_http_code",
    "locale",
    "debug",
    "include_headers",
];

#[derive(Debug, Deserialize)]
struct RawSpec {
    source: RawSource,
    routes: BTreeMap<String, RawRoute>,
    types: BTreeMap<String, RawType>,
}

#[derive(Debug, Default, Deserialize)]
struct RawSource {
    commit: String,
    graph_api_version: String,
}

#[derive(Debug, Deserialize)]
struct RawRoute {
    node: String,
    edge: String,
    method: String,
    in_spec: bool,
    #[serde(rename = "return")]
    ret: Option<String>,
    #[serde(default)]
    params: Vec<RawParam>,
}

#[derive(Debug, Deserialize)]
struct RawParam {
    name: String,
    #[serde(rename = "type")]
    ty: String,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    values: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct RawType {
    #[serde(default)]
    fields: Vec<RawField>,
}

#[derive(Debug, Deserialize)]
struct RawField {
    name: String,
    #[serde(rename = "type")]
    ty: String,
}

/// One edge (or node) and method of the spec.
#[derive(Debug)]
pub(crate) struct Route {
    /// The catalogue operation id (`AG07`).
    pub(crate) op: String,
    /// False when the edge is gone from Meta's spec.
    pub(crate) in_spec: bool,
    /// The return type, when in the spec.
    pub(crate) ret: Option<String>,
    params: Vec<RawParam>,
}

/// The spec: routes by (node type, edge, method) and types by name.
#[derive(Debug, Default)]
pub(crate) struct Spec {
    routes: BTreeMap<(String, String, String), Route>,
    types: BTreeMap<String, Vec<(String, String)>>,
    /// The spec's commit.
    pub(crate) commit: String,
    /// The Graph API version of the spec (`v26.0`).
    pub(crate) version: String,
}

/// The justified differences, by operation id.
#[derive(Clone, Debug, Default)]
pub(crate) struct Exceptions {
    edges: BTreeSet<String>,
    params: BTreeSet<(String, String)>,
    fields: BTreeSet<(String, String)>,
    values: BTreeSet<(String, String)>,
}

// === impl Exceptions ===

impl Exceptions {
    /// Parses the tsv (comment lines start with `#`; the header row and
    /// malformed rows are skipped).
    pub(crate) fn parse(tsv: &str) -> Self {
        let mut out = Self::default();
        out.add(tsv);
        out
    }

    /// Adds the rows of another tsv text.
    pub(crate) fn add(&mut self, tsv: &str) {
        for line in tsv.lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let cols: Vec<&str> = line.split('\t').collect();
            let (Some(op), Some(kind), Some(name)) = (cols.first(), cols.get(1), cols.get(2))
            else {
                continue;
            };
            let key = (op.trim().to_string(), name.trim().to_string());
            match kind.trim() {
                "edge" => {
                    self.edges.insert(key.0);
                }
                "param" => {
                    self.params.insert(key);
                }
                "field" => {
                    self.fields.insert(key);
                }
                "value" => {
                    self.values.insert(key);
                }
                _ => {}
            }
        }
    }

    /// True when `rows` has (op, name) or (`*`, name).
    fn has(rows: &BTreeSet<(String, String)>, op: &str, name: &str) -> bool {
        [op, "*"]
            .iter()
            .any(|o| rows.contains(&(o.to_string(), name.to_string())))
    }

    fn param(&self, op: &str, name: &str) -> bool {
        Self::has(&self.params, op, name)
    }

    /// A `field` row for the field on node type `ty` in the operation: the
    /// name is the bare field (`access_status`) or scoped to a node type
    /// (`AdAccount.access_status`, wherever an AdAccount is selected); the
    /// operation is the op id or `*` (every operation).
    fn field(&self, op: &str, ty: &str, name: &str) -> bool {
        Self::has(&self.fields, op, name) || Self::has(&self.fields, op, &format!("{ty}.{name}"))
    }

    /// Every field the rows allow on node type `ty` in the operation.
    fn fields_for<'a>(&'a self, op: &'a str, ty: &'a str) -> impl Iterator<Item = String> + 'a {
        self.fields
            .iter()
            .filter(move |(o, _)| o == op || o == "*")
            .filter_map(move |(_, name)| match name.split_once('.') {
                None => Some(name.clone()),
                Some((t, f)) if t == ty => Some(f.to_string()),
                Some(_) => None,
            })
    }

    fn value(&self, op: &str, param: &str, value: &str) -> bool {
        Self::has(&self.values, op, &format!("{param}={value}"))
    }

    /// True when the operation's edge is a kept, deprecated one.
    pub(crate) fn legacy_edge(&self, op: &str) -> bool {
        self.edges.contains(op)
    }
}

/// The spec, parsed once (empty, and logged, should the embedded file not
/// parse; the unit tests make sure it does).
pub(crate) static SPEC: LazyLock<Spec> = LazyLock::new(|| match Spec::parse(SPEC_JSON) {
    Ok(spec) => spec,
    Err(err) => {
        tracing::error!(%err, "sandbox: embedded graph-spec.json does not parse");
        Spec::default()
    }
});

/// The embedded exceptions, parsed once.
pub(crate) static EXCEPTIONS: LazyLock<Exceptions> =
    LazyLock::new(|| Exceptions::parse(EXCEPTIONS_TSV));

// === impl Spec ===

impl Spec {
    fn parse(text: &str) -> Result<Self, serde_json::Error> {
        let raw: RawSpec = serde_json::from_str(text)?;
        let routes = raw
            .routes
            .into_iter()
            .map(|(op, r)| {
                let key = (r.node, r.edge, r.method);
                let route = Route {
                    op,
                    in_spec: r.in_spec,
                    ret: r.ret,
                    params: r.params,
                };
                (key, route)
            })
            .collect();
        let types = raw
            .types
            .into_iter()
            .map(|(name, t)| {
                let fields = t.fields.into_iter().map(|f| (f.name, f.ty)).collect();
                (name, fields)
            })
            .collect();
        Ok(Self {
            routes,
            types,
            commit: raw.source.commit,
            version: raw.source.graph_api_version,
        })
    }

    /// The route of the first node type (of `types`) that has `edge` (empty
    /// for the node itself) with `method`, with that type's name.
    pub(crate) fn route<'a>(
        &'a self,
        types: &[&'static str],
        edge: &str,
        method: &str,
    ) -> Option<(&'static str, &'a Route)> {
        types.iter().find_map(|ty| {
            let key = (ty.to_string(), edge.to_string(), method.to_string());
            self.routes.get(&key).map(|r| (*ty, r))
        })
    }

    /// The field names of a type, when the table has it.
    fn fields(&self, ty: &str) -> Option<&[(String, String)]> {
        self.types.get(ty).map(Vec::as_slice)
    }

    /// Every field name of the return type plus the operation's `field`
    /// exceptions (None when the table has no such type).
    pub(crate) fn allowed_fields(&self, route: &Route, exc: &Exceptions) -> Option<Vec<String>> {
        let ty = route.ret.as_deref()?;
        let fields = self.fields(ty)?;
        let mut out: Vec<String> = fields.iter().map(|(n, _)| n.clone()).collect();
        out.extend(exc.fields_for(&route.op, ty));
        Some(out)
    }

    /// Names of the route's `Object`-typed parameters (AA02
    /// `end_advertiser`, AP05/AP06 `app_id`): Meta's SDK sends them as JSON
    /// objects (`{"id": "4000000004"}`), the seeds as plain ids.
    pub(crate) fn object_params<'a>(&self, route: &'a Route) -> impl Iterator<Item = &'a str> {
        route
            .params
            .iter()
            .filter(|p| p.ty == "Object")
            .map(|p| p.name.as_str())
    }

    /// Checks parameters against the route (see the module doc).
    pub(crate) fn check_params(
        &self,
        route: &Route,
        params: &Params,
        exc: &Exceptions,
    ) -> Result<(), GraphError> {
        for name in params.names() {
            let known = ALWAYS_ALLOWED.contains(&name)
                || route.params.iter().any(|p| p.name == name)
                || exc.param(&route.op, name);
            if !known {
                return Err(GraphError::param(format!(
                    "Param {name} is not a valid parameter"
                )));
            }
        }
        for p in route.params.iter().filter(|p| p.required) {
            if params.get(&p.name).is_none() {
                return Err(GraphError::required(&p.name));
            }
        }
        for p in route.params.iter().filter(|p| !p.values.is_empty()) {
            let Some(raw) = params.get(&p.name) else {
                continue;
            };
            let is_list = p.ty.starts_with("list<");
            let values = if is_list {
                parse_list(raw).ok_or_else(|| {
                    GraphError::param(format!("Param {} must be an array", p.name))
                })?
            } else {
                vec![raw.trim_matches('"').to_string()]
            };
            for (i, value) in values.iter().enumerate() {
                let ok = p.values.iter().any(|v| v.eq_ignore_ascii_case(value))
                    || exc.value(&route.op, &p.name, value);
                if !ok {
                    let name = if is_list {
                        format!("{}[{i}]", p.name)
                    } else {
                        p.name.clone()
                    };
                    return Err(GraphError::param(format!(
                        "Param {name} must be one of {{{}}} - got \"{value}\"",
                        p.values.join(", ")
                    )));
                }
            }
        }
        Ok(())
    }

    /// Checks a `fields=` selection against the route's return type.
    pub(crate) fn check_fields(
        &self,
        route: &Route,
        fields: &[FieldSel],
        exc: &Exceptions,
    ) -> Result<(), GraphError> {
        let Some(ty) = route.ret.as_deref() else {
            return Ok(());
        };
        self.check_type(ty, fields, &route.op, exc)
    }

    fn check_type(
        &self,
        ty: &str,
        fields: &[FieldSel],
        op: &str,
        exc: &Exceptions,
    ) -> Result<(), GraphError> {
        let Some(known) = self.fields(ty) else {
            return Ok(());
        };
        for sel in fields {
            let field_ty = known
                .iter()
                .find(|(n, _)| *n == sel.name)
                .map(|(_, t)| t.as_str());
            // An exception row of the operation covers the field in nested
            // selections too (`ad_account{access_status}` in AA04).
            let excepted = exc.field(op, ty, &sel.name);
            match field_ty {
                None if excepted => {}
                None => return Err(GraphError::nonexisting_field(&sel.name, ty)),
                Some(t) => {
                    if let Some(sub) = &sel.sub {
                        let inner = t
                            .strip_prefix("list<")
                            .and_then(|t| t.strip_suffix('>'))
                            .unwrap_or(t);
                        self.check_type(inner, sub, op, exc)?;
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn the_embedded_spec_parses() {
        let spec = Spec::parse(SPEC_JSON).expect("graph-spec.json parses");
        // The 99 catalogue edges, and beyond it (issue 16): AS05–AS06,
        // CT08–CT09, PX03–PX10, AP07–AP08, CB01–CB03, IG09–IG14, WA01–WA05,
        // BU01–BU06, SU01–SU05.
        assert_eq!(spec.routes.len(), 138);
        assert_eq!(spec.version, "v26.0");
        assert!(spec.commit.starts_with("ad2b0b6"));
        let (ty, route) = spec
            .route(&["BusinessAssetGroup"], "assigned_users", "POST")
            .unwrap();
        assert_eq!((ty, route.op.as_str()), ("BusinessAssetGroup", "AG07"));
        assert!(SPEC.fields("AssignedUser").is_some());
    }

    #[test]
    fn exceptions_rows_are_read() {
        let exc = Exceptions::parse(EXCEPTIONS_TSV);
        for op in [
            "AG04", "AG24", "AG25", "AG26", "AP04", "BB01", "OB01", "OB03", "OB05", "OB06",
        ] {
            assert!(exc.legacy_edge(op), "{op}");
        }
        let extra = Exceptions::parse("AA03\tfield\taccess_type\twhy\nAG07\tparam\tbusiness\twhy\nPG07\tvalue\ttasks=FLY\twhy\n");
        assert!(extra.field("AA03", "AdAccount", "access_type"));
        assert!(extra.param("AG07", "business"));
        assert!(extra.value("PG07", "tasks", "FLY"));
        assert!(!extra.field("AA10", "AdAccount", "access_type"));
        // Rows for every operation, scoped to a node type.
        let star = Exceptions::parse("*\tfield\tAdAccount.access_status\twhy\n*\tparam\tx\twhy\n");
        assert!(star.field("AA04", "AdAccount", "access_status"));
        assert!(!star.field("AA04", "Page", "access_status"));
        assert!(star.param("PG01", "x"));
        assert_eq!(
            star.fields_for("AA03", "AdAccount").collect::<Vec<_>>(),
            vec!["access_status"]
        );
        assert_eq!(star.fields_for("AA03", "Page").count(), 0);
    }
}
