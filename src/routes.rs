//! The route table: every RPC's Graph call, read once at start-up from the
//! `(graphgateway.v1.graph)` options in the embedded descriptor set.

use std::collections::HashMap;
use std::sync::Arc;

use prost_reflect::{
    DescriptorPool, DynamicMessage, EnumDescriptor, FieldDescriptor, Kind, MessageDescriptor,
    MethodDescriptor, Value,
};

use crate::policy::{Asset, AssetType};

pub mod page_token;
pub mod passthrough;
pub mod request;

/// The HTTP methods Graph uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HttpMethod {
    /// Reads.
    Get,
    /// Creates and updates.
    Post,
    /// Removals.
    Delete,
}

/// One Graph call, fully resolved: no secrets inside.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphRequest {
    /// The HTTP method.
    pub method: HttpMethod,
    /// The path below the version, e.g. "/123/owned_pages".
    pub path: String,
    /// Parameters, sorted by name: query string for GET/DELETE, form body for
    /// POST.
    pub params: Vec<(String, String)>,
}

// === impl HttpMethod ===

impl HttpMethod {
    /// The method's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Delete => "DELETE",
        }
    }
}

const PACKAGE: &str = "graphgateway.v1";

/// The limit a route counts against (mirrors `graphgateway.v1.QuotaClass`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QuotaClass {
    /// X-App-Usage.
    App,
    /// X-Business-Use-Case-Usage.
    BusinessUseCase,
    /// X-Ad-Account-Usage.
    AdAccount,
}

/// The shape of an id (mirrors `graphgateway.v1.IdFormat`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdFormat {
    /// No check.
    Any,
    /// Decimal digits.
    Node,
    /// `act_123` or `123`.
    AdAccount,
    /// `act_123` or `123`, sent as `123`.
    AdAccountDigits,
}

/// What a request field is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// An ordinary Graph parameter.
    Param,
    /// AIP-158 page_size -> `limit`.
    PageSize,
    /// AIP-158 page_token -> `after`.
    PageToken,
    /// AIP-157 read_mask -> `fields`.
    ReadMask,
    /// AIP-155 request_id (never sent).
    RequestId,
}

/// How one request field is handled.
#[derive(Clone, Debug)]
pub struct FieldPlan {
    /// The field.
    pub field: FieldDescriptor,
    /// Its Graph parameter name.
    pub graph_name: String,
    /// What it is for.
    pub role: Role,
    /// Must be set.
    pub required: bool,
    /// Shape check.
    pub id_format: IdFormat,
    /// Names the business whose token serves the call.
    pub business: bool,
    /// Never sent.
    pub local: bool,
    /// Used in the path template.
    pub in_path: bool,
    /// A preset that fills this (repeated) field.
    pub expands: Option<FieldDescriptor>,
    /// `(field).max_items`, when declared.
    pub max_items: Option<usize>,
    /// `(field).max_length`, when declared.
    pub max_length: Option<usize>,
    /// `(field).min_value` and `max_value`, when declared.
    pub range: (Option<i64>, Option<i64>),
    /// `(field).currency`: an ISO 4217 code.
    pub currency: bool,
    /// `(field).email`: an email address.
    pub email: bool,
    /// What the field's id names (`(field).asset`), when declared.
    pub asset: Option<AssetType>,
}

/// One segment of a path template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    /// Literal text, e.g. "/act_" or "/owned_pages".
    Literal(String),
    /// A request field's value.
    Field(String),
}

/// A path template such as "/act_{ad_account_id}/assigned_users".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathTemplate {
    /// As written in the proto.
    pub raw: String,
    /// Parsed.
    pub segments: Vec<Segment>,
}

/// How Graph's JSON maps onto the response message.
#[derive(Clone, Debug)]
pub enum ResponseShape {
    /// `{"data": [...], "paging": ...}` into a repeated field plus a token.
    List {
        /// The repeated message field that receives `data`.
        items: FieldDescriptor,
        /// The `next_page_token` field.
        next_page_token: FieldDescriptor,
    },
    /// An object (or `true`) mapped field by field.
    Object,
}

/// One RPC's Graph call.
#[derive(Debug)]
pub struct Route {
    /// "/graphgateway.v1.PageService/ListOwnedPages".
    pub full_method: String,
    /// "graphgateway.v1.PageService".
    pub service: String,
    /// "ListOwnedPages".
    pub method: String,
    /// Catalogue id, e.g. "PG04".
    pub operation_id: String,
    /// HTTP method.
    pub http: HttpMethod,
    /// The Graph path template.
    pub template: PathTemplate,
    /// Further reads a successful mutation makes stale.
    pub invalidates: Vec<PathTemplate>,
    /// The limit the call counts against.
    pub quota_class: QuotaClass,
    /// The business use case it counts against (X-Business-Use-Case-Usage
    /// `type`).
    pub use_case: String,
    /// Request message.
    pub input: MessageDescriptor,
    /// Response message.
    pub output: MessageDescriptor,
    /// Request fields in declaration order.
    pub fields: Vec<FieldPlan>,
    /// Response mapping.
    pub response: ResponseShape,
    /// The node message a read returns (list item or the object itself).
    pub node: Option<MessageDescriptor>,
    /// `fields=` sent on reads when no read_mask narrows it.
    pub default_fields: Option<String>,
    /// The call needs the page token of the page in its path
    /// (`(graph).page_token`).
    pub page_token: bool,
    /// The call acts on the business itself (`(graph).acts_on_business`):
    /// only a business-wide policy grant allows it.
    pub acts_on_business: bool,
    /// Graph answers a new token, kept in the vault (`(graph).mints_token`).
    pub mints_token: bool,
}

/// A composite RPC (`(graphgateway.v1.workflow)`).
#[derive(Debug)]
pub struct WorkflowDecl {
    /// "/graphgateway.v1.WorkflowService/RevokeUserAccess".
    pub full_method: String,
    /// Catalogue id, e.g. "WF01".
    pub operation_id: String,
    /// Catalogue ids of the operations its steps may run.
    pub steps: Vec<String>,
    /// Request message.
    pub input: MessageDescriptor,
}

/// Graph spellings of one enum's values.
#[derive(Clone, Debug, Default)]
pub struct EnumSpelling {
    to_graph: HashMap<i32, String>,
    from_graph: HashMap<String, i32>,
    expands_to: HashMap<i32, Vec<String>>,
}

/// Every route and enum spelling, read from the descriptor set.
#[derive(Debug)]
pub struct RouteTable {
    pool: DescriptorPool,
    routes: HashMap<String, Arc<Route>>,
    ordered: Vec<Arc<Route>>,
    enums: HashMap<String, EnumSpelling>,
    /// Graph keys of the fields renamed by `(field).name`, by the field's
    /// full name: the response side reads one per field of every object
    /// Graph returns, so they are worked out once here.
    renamed: HashMap<String, String>,
    /// Older Graph keys read into a field when its own key is absent
    /// (`(field).alias`), by the field's full name.
    aliases: HashMap<String, String>,
    /// The composite RPCs, in proto order.
    workflows: Vec<WorkflowDecl>,
}

/// A route declaration that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{method}: {problem}")]
pub struct RouteError {
    method: String,
    problem: String,
}

// === impl Route ===

impl Route {
    /// True for GET routes.
    pub fn is_read(&self) -> bool {
        self.http == HttpMethod::Get
    }

    /// The business a request names (its `(field).business` field), ad
    /// account style ids normalized.
    pub fn business_of(&self, msg: &DynamicMessage) -> Option<String> {
        self.fields
            .iter()
            .filter(|f| f.business)
            .find_map(|f| msg.get_field(&f.field).as_str().map(str::to_string))
            .filter(|s| !s.is_empty())
    }

    /// Every asset a request names (fields whose `(field).asset` is an asset
    /// type), in field order; ad accounts as digits.
    pub fn touches(&self, msg: &DynamicMessage) -> Vec<Asset> {
        let mut out = Vec::new();
        for f in &self.fields {
            let Some(kind) = f.asset.filter(|k| k.is_asset()) else {
                continue;
            };
            let value = msg.get_field(&f.field);
            let mut push = |v: &Value| {
                if let Some(s) = v.as_str().filter(|s| !s.is_empty()) {
                    out.push(Asset {
                        kind,
                        id: kind.normalize(s),
                    });
                }
            };
            match value.as_ref() {
                Value::List(items) => items.iter().for_each(&mut push),
                v => push(v),
            }
        }
        out
    }

    /// True when a required asset field of the route is empty in `msg`
    /// (a workflow step planned before its ids are known).
    pub fn lacks_required_asset(&self, msg: &DynamicMessage) -> bool {
        self.fields.iter().any(|f| {
            f.required
                && f.asset.is_some_and(AssetType::is_asset)
                && match msg.get_field(&f.field).as_ref() {
                    Value::String(s) => s.is_empty(),
                    Value::List(l) => l.is_empty(),
                    _ => false,
                }
        })
    }
}

// === impl PathTemplate ===

impl PathTemplate {
    /// Parses "/{a}/edge" style templates.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut segments = Vec::new();
        let mut rest = raw;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                segments.push(Segment::Literal(rest[..open].to_string()));
            }
            let close = rest[open..]
                .find('}')
                .ok_or_else(|| format!("unclosed '{{' in {raw}"))?;
            let name = &rest[open + 1..open + close];
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            {
                return Err(format!("bad placeholder {{{name}}} in {raw}"));
            }
            segments.push(Segment::Field(name.to_string()));
            rest = &rest[open + close + 1..];
        }
        if !rest.is_empty() {
            segments.push(Segment::Literal(rest.to_string()));
        }
        if !raw.starts_with('/') {
            return Err(format!("path template {raw} must start with '/'"));
        }
        Ok(Self {
            raw: raw.to_string(),
            segments,
        })
    }

    /// The field names used.
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Field(f) => Some(f.as_str()),
            Segment::Literal(_) => None,
        })
    }
}

// === impl EnumSpelling ===

impl EnumSpelling {
    fn new(e: &EnumDescriptor, value_ext: Option<&prost_reflect::ExtensionDescriptor>) -> Self {
        let prefix = format!("{}_", screaming_snake(e.name()));
        let mut s = Self::default();
        for v in e.values() {
            let mut graph = v
                .name()
                .strip_prefix(&prefix)
                .unwrap_or(v.name())
                .to_string();
            if let Some(opt) = value_ext.and_then(|x| extension(&v.options(), x)) {
                if let Some(name) = str_field(&opt, "name").filter(|n| !n.is_empty()) {
                    graph = name;
                }
                for alias in list_field(&opt, "aliases") {
                    s.from_graph.insert(alias, v.number());
                }
                let expands = list_field(&opt, "expands_to");
                if !expands.is_empty() {
                    s.expands_to.insert(v.number(), expands);
                }
            }
            s.from_graph.insert(graph.clone(), v.number());
            s.to_graph.insert(v.number(), graph);
        }
        s
    }

    /// The Graph spelling of a value.
    pub fn to_graph(&self, number: i32) -> Option<&str> {
        self.to_graph.get(&number).map(String::as_str)
    }

    /// The number of a Graph spelling.
    pub fn from_graph(&self, graph: &str) -> Option<i32> {
        self.from_graph.get(graph).copied()
    }

    /// What a preset value expands to.
    pub fn expands_to(&self, number: i32) -> Option<&[String]> {
        self.expands_to.get(&number).map(Vec::as_slice)
    }
}

// === impl RouteTable ===

impl RouteTable {
    /// Reads the embedded descriptor set.
    pub fn embedded() -> Result<Self, RouteError> {
        let pool =
            DescriptorPool::decode(crate::proto::FILE_DESCRIPTOR_SET).map_err(|e| RouteError {
                method: "descriptor set".into(),
                problem: e.to_string(),
            })?;
        Self::from_pool(pool)
    }

    /// Reads routes from a pool.
    pub fn from_pool(pool: DescriptorPool) -> Result<Self, RouteError> {
        let value_ext = pool.get_extension_by_name(&format!("{PACKAGE}.value"));
        let enums = pool
            .all_enums()
            .map(|e| {
                (
                    e.full_name().to_string(),
                    EnumSpelling::new(&e, value_ext.as_ref()),
                )
            })
            .collect();
        let graph_ext = pool.get_extension_by_name(&format!("{PACKAGE}.graph"));
        let workflow_ext = pool.get_extension_by_name(&format!("{PACKAGE}.workflow"));
        let field_ext = pool.get_extension_by_name(&format!("{PACKAGE}.field"));
        let mut routes = HashMap::new();
        let mut ordered = Vec::new();
        let mut workflows = Vec::new();
        for svc in pool.services().filter(|s| s.package_name() == PACKAGE) {
            for m in svc.methods() {
                if let Some(opt) = workflow_ext
                    .as_ref()
                    .and_then(|x| extension(&m.options(), x))
                {
                    workflows.push(WorkflowDecl {
                        full_method: format!("/{}/{}", svc.full_name(), m.name()),
                        operation_id: str_field(&opt, "operation_id").unwrap_or_default(),
                        steps: list_field(&opt, "steps"),
                        input: m.input(),
                    });
                }
                let Some(opt) = graph_ext.as_ref().and_then(|x| extension(&m.options(), x)) else {
                    continue;
                };
                let route = Arc::new(build_route(&m, &opt, field_ext.as_ref())?);
                routes.insert(route.full_method.clone(), route.clone());
                ordered.push(route);
            }
        }
        for w in &workflows {
            for step in &w.steps {
                if !ordered.iter().any(|r| &r.operation_id == step) {
                    return Err(RouteError {
                        method: w.full_method.clone(),
                        problem: format!("workflow step {step} is no route's operation_id"),
                    });
                }
            }
        }
        let renamed = pool
            .all_messages()
            .flat_map(|m| m.fields().collect::<Vec<_>>())
            .filter_map(|f| {
                let graph = graph_field_name(&f);
                (graph != f.name()).then(|| (f.full_name().to_string(), graph))
            })
            .collect();
        let aliases = pool
            .all_messages()
            .flat_map(|m| m.fields().collect::<Vec<_>>())
            .filter_map(|f| {
                let opt = field_options(&f)?;
                let alias = str_field(&opt, "alias").filter(|a| !a.is_empty())?;
                Some((f.full_name().to_string(), alias))
            })
            .collect();
        Ok(Self {
            pool,
            routes,
            ordered,
            enums,
            renamed,
            aliases,
            workflows,
        })
    }

    /// The composite RPCs (`(graphgateway.v1.workflow)`), in proto order.
    pub fn workflows(&self) -> &[WorkflowDecl] {
        &self.workflows
    }

    /// The route of "/pkg.Service/Method".
    pub fn get(&self, full_method: &str) -> Option<&Arc<Route>> {
        self.routes.get(full_method)
    }

    /// The route of a catalogue operation id, e.g. "PG10".
    pub fn by_operation(&self, operation_id: &str) -> Option<&Arc<Route>> {
        self.ordered.iter().find(|r| r.operation_id == operation_id)
    }

    /// Every route, in proto order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Route>> {
        self.ordered.iter()
    }

    /// The Graph spellings of an enum.
    pub fn spelling(&self, e: &EnumDescriptor) -> Option<&EnumSpelling> {
        self.enums.get(e.full_name())
    }

    /// A field's Graph key, as [`graph_field_name`] gives it but without its
    /// cost (that decodes the field's options and allocates on every call).
    pub fn graph_name<'a>(&'a self, f: &'a FieldDescriptor) -> &'a str {
        self.renamed
            .get(f.full_name())
            .map_or_else(|| f.name(), String::as_str)
    }

    /// The older Graph key read into a response field when its own key is
    /// absent (`(field).alias`).
    pub fn alias(&self, f: &FieldDescriptor) -> Option<&str> {
        if self.aliases.is_empty() {
            return None;
        }
        self.aliases.get(f.full_name()).map(String::as_str)
    }

    /// The descriptor pool.
    pub fn pool(&self) -> &DescriptorPool {
        &self.pool
    }
}

fn build_route(
    m: &MethodDescriptor,
    opt: &DynamicMessage,
    field_ext: Option<&prost_reflect::ExtensionDescriptor>,
) -> Result<Route, RouteError> {
    let full_method = format!("/{}/{}", m.parent_service().full_name(), m.name());
    let err = |problem: String| RouteError {
        method: full_method.clone(),
        problem,
    };
    let (http, raw) = [
        ("get", HttpMethod::Get),
        ("post", HttpMethod::Post),
        ("delete", HttpMethod::Delete),
    ]
    .into_iter()
    .find_map(|(name, method)| {
        str_field(opt, name)
            .filter(|s| !s.is_empty())
            .map(|s| (method, s))
    })
    .ok_or_else(|| err("graph option has no get/post/delete path".into()))?;
    let template = PathTemplate::parse(&raw).map_err(&err)?;
    let invalidates = list_field(opt, "invalidates")
        .iter()
        .map(|t| PathTemplate::parse(t))
        .collect::<Result<Vec<_>, _>>()
        .map_err(&err)?;
    let input = m.input();
    let output = m.output();
    for f in template
        .fields()
        .chain(invalidates.iter().flat_map(|t| t.fields()))
    {
        if input.get_field_by_name(f).is_none() {
            return Err(err(format!(
                "template field {{{f}}} is not a field of {}",
                input.name()
            )));
        }
    }
    let path_fields: Vec<&str> = template.fields().collect();
    let mut fields = Vec::new();
    for fd in input.fields() {
        let fopt = field_ext.and_then(|x| extension(&fd.options(), x));
        let get_str = |n: &str| {
            fopt.as_ref()
                .and_then(|o| str_field(o, n))
                .filter(|s| !s.is_empty())
        };
        let get_bool = |n: &str| fopt.as_ref().is_some_and(|o| bool_field(o, n));
        let role = match (fd.name(), fd.kind()) {
            ("page_size", Kind::Int32) => Role::PageSize,
            ("page_token", Kind::String) => Role::PageToken,
            ("read_mask", Kind::Message(md)) if md.full_name() == "google.protobuf.FieldMask" => {
                Role::ReadMask
            }
            ("request_id", Kind::String) => Role::RequestId,
            _ => Role::Param,
        };
        let id_format = match fopt.as_ref().and_then(|o| enum_field(o, "id_format")) {
            Some(1) => IdFormat::Node,
            Some(2) => IdFormat::AdAccount,
            Some(3) => IdFormat::AdAccountDigits,
            _ => IdFormat::Any,
        };
        let expands = match get_str("expands") {
            Some(target) => Some(
                input
                    .get_field_by_name(&target)
                    .filter(|t| t.is_list())
                    .ok_or_else(|| {
                        err(format!(
                            "{} expands unknown repeated field {target}",
                            fd.name()
                        ))
                    })?,
            ),
            None => None,
        };
        let in_path = path_fields.contains(&fd.name());
        let get_u32 = |n: &str| {
            fopt.as_ref()
                .and_then(|o| o.get_field_by_name(n))
                .and_then(|v| v.as_u32())
                .filter(|n| *n > 0)
                .map(|n| n as usize)
        };
        let get_i64 = |n: &str| {
            fopt.as_ref()
                .filter(|o| o.has_field_by_name(n))
                .and_then(|o| o.get_field_by_name(n))
                .and_then(|v| v.as_i64())
        };
        let asset = match fopt.as_ref().and_then(|o| enum_field(o, "asset")) {
            None | Some(0) => None,
            Some(n) => Some(
                AssetType::from_number(n)
                    .ok_or_else(|| err(format!("{}: unknown (field).asset {n}", fd.name())))?,
            ),
        };
        fields.push(FieldPlan {
            max_items: get_u32("max_items"),
            max_length: get_u32("max_length"),
            range: (get_i64("min_value"), get_i64("max_value")),
            currency: get_bool("currency"),
            email: get_bool("email"),
            graph_name: get_str("name").unwrap_or_else(|| fd.name().to_string()),
            role,
            required: get_bool("required") || in_path,
            id_format,
            business: get_bool("business"),
            local: get_bool("local") || expands.is_some() || role == Role::RequestId,
            in_path,
            expands,
            asset,
            field: fd,
        });
    }
    let response = list_shape(&output).unwrap_or(ResponseShape::Object);
    let node = match &response {
        ResponseShape::List { items, .. } => match items.kind() {
            Kind::Message(md) => Some(md),
            _ => None,
        },
        ResponseShape::Object if http == HttpMethod::Get => Some(output.clone()),
        ResponseShape::Object => None,
    };
    let default_fields = node.as_ref().map(|n| fields_param(n, 0));
    let quota_class = match enum_field(opt, "quota") {
        Some(1) => QuotaClass::App,
        Some(2) => QuotaClass::BusinessUseCase,
        Some(3) => QuotaClass::AdAccount,
        _ if raw.starts_with("/act_") => QuotaClass::AdAccount,
        _ if fields.iter().any(|f| f.business && !f.local) || raw.starts_with("/{business_id}") => {
            QuotaClass::BusinessUseCase
        }
        _ => QuotaClass::App,
    };
    let use_case = str_field(opt, "use_case")
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| default_use_case(m.parent_service().name(), &template).to_string());
    Ok(Route {
        service: m.parent_service().full_name().to_string(),
        method: m.name().to_string(),
        operation_id: str_field(opt, "operation_id").unwrap_or_default(),
        full_method,
        http,
        template,
        invalidates,
        quota_class,
        use_case,
        input,
        output,
        fields,
        response,
        node,
        default_fields,
        page_token: bool_field(opt, "page_token"),
        acts_on_business: bool_field(opt, "acts_on_business"),
        mints_token: bool_field(opt, "mints_token"),
    })
}

/// The business use case of a route that declares none, as Meta (and the
/// sandbox) count them: by service, then ad account paths and edges.
fn default_use_case(service: &str, template: &PathTemplate) -> &'static str {
    let about_ad_accounts = template.raw.starts_with("/act_")
        || template.segments.iter().any(|s| {
            matches!(s, Segment::Literal(l) if l.contains("ad_account") || l.contains("adaccount"))
        });
    match service {
        "BusinessAssetGroupService" => "business_management",
        "PageService" => "pages",
        "InstagramAccountService" => "instagram",
        "ProductCatalogService" => "catalog_management",
        "AudienceSharingService" => "custom_audience",
        "AgencyService" if template.fields().any(|f| f == "page_id") => "pages",
        _ if about_ad_accounts => "ads_management",
        _ => "business_management",
    }
}

fn list_shape(output: &MessageDescriptor) -> Option<ResponseShape> {
    let next_page_token = output.get_field_by_name("next_page_token")?;
    let mut items = output
        .fields()
        .filter(|f| f.is_list() && matches!(f.kind(), Kind::Message(_)));
    let first = items.next()?;
    if items.next().is_some() {
        return None;
    }
    Some(ResponseShape::List {
        items: first,
        next_page_token,
    })
}

/// The `fields=` value for a node message: every field but the opt-in ones
/// (`(field).opt_in`), nested messages as `name{a,b}`. Depth-limited against
/// recursive messages.
pub fn fields_param(node: &MessageDescriptor, depth: usize) -> String {
    // Two fields may read the same Graph key (an enum and its raw string
    // sibling, which keeps values this version does not know): ask once.
    let mut seen: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for f in node.fields() {
        if is_opt_in(&f) {
            continue;
        }
        let name = graph_field_name(&f);
        if seen.contains(&name) {
            continue;
        }
        seen.push(name.clone());
        out.push(match f.kind() {
            Kind::Message(md) if depth < 3 && !md.full_name().starts_with("google.protobuf.") => {
                format!("{name}{{{}}}", fields_param(&md, depth + 1))
            }
            _ => name,
        });
    }
    out.join(",")
}

/// A response field's Graph key: `(field).name` or the field name.
pub fn graph_field_name(f: &FieldDescriptor) -> String {
    field_options(f)
        .and_then(|o| str_field(&o, "name"))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| f.name().to_string())
}

/// True for a response field asked for only when a read_mask names it
/// (`(field).opt_in`): Graph serves it on some edges, but Meta's spec does
/// not list it on the node type.
pub fn is_opt_in(f: &FieldDescriptor) -> bool {
    field_options(f).is_some_and(|o| bool_field(&o, "opt_in"))
}

fn field_options(f: &FieldDescriptor) -> Option<DynamicMessage> {
    let pool = f.parent_pool();
    pool.get_extension_by_name(&format!("{PACKAGE}.field"))
        .and_then(|x| extension(&f.options(), &x))
}

fn extension(
    opts: &DynamicMessage,
    ext: &prost_reflect::ExtensionDescriptor,
) -> Option<DynamicMessage> {
    if !opts.has_extension(ext) {
        return None;
    }
    match opts.get_extension(ext).as_ref() {
        Value::Message(m) => Some(m.clone()),
        _ => None,
    }
}

fn str_field(m: &DynamicMessage, name: &str) -> Option<String> {
    m.get_field_by_name(name)
        .and_then(|v| v.as_str().map(str::to_string))
}

fn bool_field(m: &DynamicMessage, name: &str) -> bool {
    m.get_field_by_name(name)
        .and_then(|v| v.as_bool())
        .unwrap_or(false)
}

fn enum_field(m: &DynamicMessage, name: &str) -> Option<i32> {
    m.get_field_by_name(name).and_then(|v| v.as_enum_number())
}

fn list_field(m: &DynamicMessage, name: &str) -> Vec<String> {
    m.get_field_by_name(name)
        .and_then(|v| {
            v.as_list().map(|l| {
                l.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
        })
        .unwrap_or_default()
}

/// "PageTask" -> "PAGE_TASK".
fn screaming_snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

#[allow(clippy::unwrap_used)]
#[cfg(test)]
mod graph_name_tests {
    use prost::Message as _;

    use super::*;

    #[test]
    fn graph_name_is_graph_field_name_for_every_field() {
        let t = RouteTable::embedded().unwrap();
        let mut renamed = 0;
        for m in t.pool().all_messages() {
            for f in m.fields() {
                assert_eq!(t.graph_name(&f), graph_field_name(&f), "{}", f.full_name());
                renamed += usize::from(t.graph_name(&f) != f.name());
            }
        }
        assert!(renamed > 0, "some fields are renamed by (field).name");
    }

    #[test]
    fn every_mutation_takes_a_request_id() {
        // AIP-155: a caller can retry any mutation safely only if it can
        // name it; a new mutating RPC without request_id fails here.
        let t = RouteTable::embedded().unwrap();
        let mutations: Vec<_> = t.iter().filter(|r| !r.is_read()).collect();
        assert!(mutations.len() > 40, "{} mutations", mutations.len());
        for r in mutations {
            assert!(
                r.fields
                    .iter()
                    .any(|f| f.role == Role::RequestId && f.local),
                "{} ({}) has no request_id",
                r.full_method,
                r.operation_id
            );
        }
    }

    #[test]
    fn a_renamed_response_field_and_its_sibling_read_the_same_graph_key() {
        let t = RouteTable::embedded().unwrap();
        let route = t
            .iter()
            .find(|r| r.output.name() == "RequestClientAdAccountAccessResponse")
            .unwrap();
        let msg =
            crate::engine::response::decode(&t, route, br#"{"access_status":"PENDING"}"#).unwrap();
        let resp = crate::proto::RequestClientAdAccountAccessResponse::decode(
            msg.encode_to_vec().as_slice(),
        )
        .unwrap();
        assert_eq!(resp.access_status_raw, "PENDING");
        assert_ne!(resp.access_status, 0);
    }
}

#[allow(clippy::unwrap_used)]
#[cfg(test)]
mod policy_declaration_tests {
    //! Caller policy reads what each call touches from the declarations:
    //! these fail when a request field that holds an id does not say what
    //! it names, or a route that names no asset does not say it acts on the
    //! business itself.

    use super::*;

    /// A field whose name or format says it holds an id.
    fn id_looking(f: &FieldDescriptor) -> bool {
        let name = f.name();
        name.ends_with("_id")
            || name.ends_with("_ids")
            || matches!(
                name,
                "id" | "ids"
                    | "user"
                    | "users"
                    | "business"
                    | "businesses"
                    | "adaccounts"
                    | "ad_accounts"
                    | "page"
                    | "pages"
                    | "apps"
                    | "pixels"
                    | "catalogs"
            )
    }

    fn declared_asset(f: &FieldDescriptor) -> Option<AssetType> {
        field_options(f)
            .and_then(|o| enum_field(&o, "asset"))
            .and_then(AssetType::from_number)
    }

    #[test]
    fn every_id_looking_request_field_declares_what_it_names() {
        let t = RouteTable::embedded().unwrap();
        let mut missing = Vec::new();
        let mut checked = 0;
        for r in t.iter() {
            for f in &r.fields {
                if f.role != Role::Param {
                    continue;
                }
                let looks = id_looking(&f.field) || f.id_format != IdFormat::Any;
                if looks {
                    checked += 1;
                    if f.asset.is_none() {
                        missing.push(format!(
                            "{} ({}): {}",
                            r.method,
                            r.operation_id,
                            f.field.name()
                        ));
                    }
                }
                if f.business {
                    assert_eq!(
                        f.asset,
                        Some(AssetType::Business),
                        "{}: {} names the business acted for",
                        r.method,
                        f.field.name()
                    );
                }
                let ad_format =
                    matches!(f.id_format, IdFormat::AdAccount | IdFormat::AdAccountDigits);
                assert_eq!(
                    ad_format,
                    f.asset == Some(AssetType::AdAccount),
                    "{}: {}: ad account ids have an ad account id_format, and only they",
                    r.method,
                    f.field.name()
                );
            }
        }
        for w in t.workflows() {
            for f in w.input.fields() {
                if f.name() == "request_id" || !id_looking(&f) {
                    continue;
                }
                checked += 1;
                if declared_asset(&f).is_none() {
                    missing.push(format!(
                        "{} ({}): {}",
                        w.full_method,
                        w.operation_id,
                        f.name()
                    ));
                }
            }
        }
        assert!(checked > 150, "{checked} id fields");
        assert!(
            missing.is_empty(),
            "request fields holding ids must declare (field).asset:\n{}",
            missing.join("\n")
        );
    }

    #[test]
    fn a_route_that_names_no_required_asset_acts_on_the_business() {
        let t = RouteTable::embedded().unwrap();
        let mut undeclared = Vec::new();
        let (mut business_level, mut scoped) = (0, 0);
        for r in t.iter() {
            let names_asset = r
                .fields
                .iter()
                .any(|f| f.required && f.asset.is_some_and(AssetType::is_asset));
            if !names_asset && !r.acts_on_business {
                undeclared.push(format!("{} ({})", r.method, r.operation_id));
            }
            if r.acts_on_business {
                business_level += 1;
            } else {
                scoped += 1;
            }
        }
        assert!(
            undeclared.is_empty(),
            "routes that name no asset act on the business itself: set (graph).acts_on_business:\n{}",
            undeclared.join("\n")
        );
        assert!(business_level > 0 && scoped > 0);
    }

    #[test]
    fn a_route_derives_the_business_and_the_assets_a_call_touches() {
        let t = RouteTable::embedded().unwrap();
        let r = t.by_operation("AS01").unwrap();
        let mut msg = DynamicMessage::new(r.input.clone());
        for (name, v) in [
            ("custom_audience_id", Value::String("8200000001".into())),
            ("business_id", Value::String("1000000001".into())),
            (
                "ad_account_ids",
                Value::List(vec![
                    Value::String("act_2000000007".into()),
                    Value::String("2000000006".into()),
                ]),
            ),
        ] {
            msg.set_field_by_name(name, v);
        }
        assert_eq!(r.business_of(&msg).as_deref(), Some("1000000001"));
        let touched: Vec<String> = r.touches(&msg).iter().map(ToString::to_string).collect();
        assert_eq!(
            touched,
            vec![
                "custom audience 8200000001",
                "ad account act_2000000007",
                "ad account act_2000000006"
            ]
        );
        assert!(!r.acts_on_business);
        // A user is not an asset; claiming acts on the business.
        let pg07 = t.by_operation("PG07").unwrap();
        assert!(pg07
            .fields
            .iter()
            .any(|f| f.field.name() == "user" && f.asset == Some(AssetType::User)));
        assert!(t.by_operation("PG01").unwrap().acts_on_business);
    }

    #[test]
    fn workflows_declare_their_steps() {
        let t = RouteTable::embedded().unwrap();
        let ids: Vec<&str> = t
            .workflows()
            .iter()
            .map(|w| w.operation_id.as_str())
            .collect();
        assert_eq!(ids, ["WF01", "WF02", "WF03"]);
        for w in t.workflows() {
            assert!(!w.steps.is_empty(), "{}", w.operation_id);
        }
    }
}
