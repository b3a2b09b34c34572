//! The policy matrix: every RPC (each route of the route table, and each
//! workflow) called by every kind of grant, against the demo sandbox:
//! business-wide read, business-wide write, the README's page tool (two
//! pages, write), an ad-account-scoped reader, a caller of another business,
//! an admin (VaultService only: no grant), and every business (`"*"`).
//!
//! Each request is built generically from the declarations (required
//! fields and the business field filled with the demo world's ids by what
//! `(field).asset` says they name), and the expected answer is computed from
//! the declarations too — the proto options read here directly, not the
//! gateway's route table or policy code — with the README's rules: a
//! business-wide grant allows every call for its businesses; a scoped grant
//! allows a call only when it names assets, does not act on the business
//! itself, and every asset it names is listed; access must suffice; a
//! workflow is allowed when every step it declares is, its ids carried over
//! by asset type (ids found at run time: the step acts on the business).
//!
//! Asserts: no wrong answer (a policy denial exactly where one is
//! expected), and no denied call reached Graph.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::str::FromStr as _;

use bytes::{Buf as _, BufMut as _};
use graph_gateway::config::{AuthCallers, CallerAuth, Config, Policies, PolicyAccess, PolicyRule};
use graph_gateway::secret::Secret;
use prost::Message as _;
use prost_reflect::{
    DescriptorPool, DynamicMessage, ExtensionDescriptor, FieldDescriptor, Kind, MessageDescriptor,
    MethodDescriptor, Value,
};
use tonic::Code;
use tonic_types::StatusExt as _;

use super::{bearer, key_sha256, ACME, GLOBEX, PEPPER};
use crate::harness::TestGateway;

/// The README's page tool: two Acme pages.
const PAGE_TOOL_PAGES: [&str; 2] = ["3000000001", "3000000002"];
/// The ad-account-scoped reader's account.
const SCOPED_AD_ACCOUNT: &str = "act_2000000001";

/// `graphgateway.v1.AssetType` numbers that are not assets (user,
/// business, other): they narrow nothing.
const NOT_ASSETS: [i32; 3] = [8, 12, 16];
/// ASSET_TYPE_ANY_ASSET: matched against every list.
const ANY_ASSET: i32 = 15;
const BUSINESS: i32 = 12;

/// A demo world id of each asset type (src/sandbox/demo.rs).
fn demo_id(asset: i32, names_business: bool) -> &'static str {
    match asset {
        1 => SCOPED_AD_ACCOUNT,
        2 | ANY_ASSET => PAGE_TOOL_PAGES[1],
        3 => "4000000001",
        4 => "5000000001",
        5 => "7000000001",
        6 => "6000000001",
        7 => "9000000001",
        8 => "10002",
        9 => "8200000001",
        10 => "8400000001",
        11 => "8300000001",
        BUSINESS if names_business => ACME,
        BUSINESS => GLOBEX,
        13 => "8100000001",
        14 => "8000000001",
        17 => "8700000001",
        // Other ids (e.g. BU06's invitation): any Graph id.
        16 => "8700000001",
        _ => "NONE",
    }
}

/// One kind of grant, as one caller.
struct Shape {
    name: &'static str,
    key: String,
    admin: bool,
    grants: Vec<PolicyRule>,
}

fn grant(caller: &str, businesses: &[&str], access: PolicyAccess) -> PolicyRule {
    PolicyRule {
        caller: caller.into(),
        businesses: businesses.iter().map(|s| s.to_string()).collect(),
        access,
        ..PolicyRule::default()
    }
}

fn shapes() -> Vec<Shape> {
    let shape = |name: &'static str, admin: bool, grants: Vec<PolicyRule>| Shape {
        name,
        key: format!("ggw_matrix-{name}-7c1d9e2f4a6b8c0d"),
        admin,
        grants,
    };
    let mut page_tool = grant("page-tool", &[ACME], PolicyAccess::Write);
    page_tool.pages = PAGE_TOOL_PAGES.iter().map(|p| p.to_string()).collect();
    let mut ads_read = grant("ads-read", &[ACME], PolicyAccess::Read);
    ads_read.ad_accounts = vec![SCOPED_AD_ACCOUNT.into()];
    vec![
        shape(
            "biz-read",
            false,
            vec![grant("biz-read", &[ACME], PolicyAccess::Read)],
        ),
        shape(
            "biz-write",
            false,
            vec![grant("biz-write", &[ACME], PolicyAccess::Write)],
        ),
        shape("page-tool", false, vec![page_tool]),
        shape("ads-read", false, vec![ads_read]),
        shape(
            "other-business",
            false,
            vec![grant("other-business", &[GLOBEX], PolicyAccess::Write)],
        ),
        shape("admin", true, vec![]),
        shape(
            "every-business",
            false,
            vec![grant("every-business", &["*"], PolicyAccess::Write)],
        ),
    ]
}

fn config(shapes: &[Shape]) -> Config {
    let mut cfg = Config::default();
    cfg.cache.ttl_secs = 0;
    cfg.auth.pepper = Some(Secret::new(PEPPER));
    cfg.auth.callers = AuthCallers(
        shapes
            .iter()
            .map(|s| CallerAuth {
                name: s.name.into(),
                key_sha256: vec![key_sha256(&s.key)],
                cert_names: vec![],
                admin: s.admin,
            })
            .collect(),
    );
    cfg.policy = Policies(shapes.iter().flat_map(|s| s.grants.clone()).collect());
    cfg
}

// --- The declarations, read from the proto options ---

struct Decls {
    pool: DescriptorPool,
    field: ExtensionDescriptor,
    graph: ExtensionDescriptor,
    workflow: ExtensionDescriptor,
}

/// What one request field declares.
#[derive(Default)]
struct FieldDecl {
    asset: i32,
    business: bool,
    required: bool,
}

/// One RPC to call.
struct Rpc {
    method: MethodDescriptor,
    operation_id: String,
    /// Workflows: the operations of their steps.
    steps: Option<Vec<String>>,
}

/// What a call (or a workflow step) touches, by the declarations.
#[derive(Debug)]
struct Call {
    service: String,
    business: Option<String>,
    /// (asset type number, id); ad accounts as digits.
    assets: Vec<(i32, String)>,
    acts_on_business: bool,
    write: bool,
}

fn opt(opts: &DynamicMessage, ext: &ExtensionDescriptor) -> Option<DynamicMessage> {
    opts.has_extension(ext)
        .then(|| opts.get_extension(ext).as_message().cloned())
        .flatten()
}

fn str_of(m: &DynamicMessage, name: &str) -> String {
    m.get_field_by_name(name)
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

impl Decls {
    fn load() -> Self {
        let pool = DescriptorPool::decode(graph_gateway::proto::FILE_DESCRIPTOR_SET).unwrap();
        let ext = |n: &str| pool.get_extension_by_name(n).unwrap();
        Self {
            field: ext("graphgateway.v1.field"),
            graph: ext("graphgateway.v1.graph"),
            workflow: ext("graphgateway.v1.workflow"),
            pool,
        }
    }

    fn field(&self, f: &FieldDescriptor) -> FieldDecl {
        let Some(o) = opt(&f.options(), &self.field) else {
            return FieldDecl::default();
        };
        let flag = |n: &str| {
            o.get_field_by_name(n)
                .and_then(|v| v.as_bool())
                .unwrap_or(false)
        };
        FieldDecl {
            asset: o
                .get_field_by_name("asset")
                .and_then(|v| v.as_enum_number())
                .unwrap_or(0),
            business: flag("business"),
            required: flag("required"),
        }
    }

    /// Every gateway RPC with a graph route or a workflow, in proto order.
    fn rpcs(&self) -> Vec<Rpc> {
        let mut out = Vec::new();
        for svc in self
            .pool
            .services()
            .filter(|s| s.package_name() == "graphgateway.v1")
        {
            for m in svc.methods() {
                if let Some(g) = opt(&m.options(), &self.graph) {
                    out.push(Rpc {
                        operation_id: str_of(&g, "operation_id"),
                        method: m,
                        steps: None,
                    });
                } else if let Some(w) = opt(&m.options(), &self.workflow) {
                    let steps = w
                        .get_field_by_name("steps")
                        .and_then(|v| {
                            v.as_list().map(|l| {
                                l.iter()
                                    .filter_map(|s| s.as_str().map(str::to_string))
                                    .collect()
                            })
                        })
                        .unwrap_or_default();
                    out.push(Rpc {
                        operation_id: str_of(&w, "operation_id"),
                        method: m,
                        steps: Some(steps),
                    });
                }
            }
        }
        out
    }

    /// The route's (HTTP verb, path template, acts_on_business).
    fn route(&self, m: &MethodDescriptor) -> (bool, String, bool) {
        let g = opt(&m.options(), &self.graph).unwrap();
        let get = str_of(&g, "get");
        let path = [get.clone(), str_of(&g, "post"), str_of(&g, "delete")].concat();
        let acts = g
            .get_field_by_name("acts_on_business")
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        (!get.is_empty(), path, acts)
    }

    /// Required, by `(field).required` or as a path placeholder.
    fn required(&self, f: &FieldDescriptor, path: &str) -> bool {
        self.field(f).required || path.contains(&format!("{{{}}}", f.name()))
    }

    /// A valid request: required fields and the business field filled.
    fn build(&self, input: &MessageDescriptor, path: &str) -> DynamicMessage {
        let mut msg = DynamicMessage::new(input.clone());
        for f in input.fields() {
            let d = self.field(&f);
            if !(self.required(&f, path) || d.business) {
                continue;
            }
            let one = match f.kind() {
                // A currency field must name an ISO 4217 code.
                Kind::String if f.name() == "currency" => Value::String("USD".into()),
                // An email field must look like one.
                Kind::String if f.name() == "email" => Value::String("ana@example.com".into()),
                Kind::String => Value::String(demo_id(d.asset, d.business).into()),
                Kind::Int64 => Value::I64(1),
                Kind::Int32 => Value::I32(1),
                Kind::Bool => Value::Bool(true),
                Kind::Enum(e) => {
                    Value::EnumNumber(e.values().map(|v| v.number()).find(|n| *n != 0).unwrap())
                }
                Kind::Message(md) => Value::Message(DynamicMessage::new(md)),
                k => panic!("{}: no demo value for {k:?}", f.full_name()),
            };
            let value = if f.is_list() {
                Value::List(vec![one])
            } else {
                one
            };
            msg.set_field(&f, value);
        }
        msg
    }

    /// The business field's value and the assets `msg` names.
    fn touched(&self, msg: &DynamicMessage) -> (Option<String>, Vec<(i32, String)>) {
        let mut business = None;
        let mut assets = Vec::new();
        for (f, v) in msg.fields() {
            let d = self.field(&f);
            let values: Vec<String> = match v {
                Value::List(l) => l
                    .iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect(),
                Value::String(s) => vec![s.clone()],
                _ => vec![],
            };
            if d.business {
                business = values.first().cloned();
            }
            if d.asset != 0 && !NOT_ASSETS.contains(&d.asset) {
                for id in values {
                    let id = id.strip_prefix("act_").unwrap_or(&id).to_string();
                    assets.push((d.asset, id));
                }
            }
        }
        (business, assets)
    }

    /// What a route call touches.
    fn route_call(&self, m: &MethodDescriptor, msg: &DynamicMessage) -> Call {
        let (read, _, acts) = self.route(m);
        let (business, assets) = self.touched(msg);
        Call {
            service: m.parent_service().full_name().to_string(),
            business,
            assets,
            acts_on_business: acts,
            write: !read,
        }
    }

    /// What each declared step of a workflow touches: the workflow request's
    /// ids carried over by asset type (an ANY_ASSET id into any asset field);
    /// a step missing a required asset id acts on the business.
    fn workflow_calls(&self, rpc: &Rpc, msg: &DynamicMessage) -> Vec<Call> {
        let (business, assets) = self.touched(msg);
        let mut out = Vec::new();
        for op in rpc.steps.as_ref().unwrap() {
            let step = self
                .rpcs()
                .into_iter()
                .find(|r| r.steps.is_none() && &r.operation_id == op)
                .unwrap_or_else(|| panic!("{}: no route {op}", rpc.operation_id));
            let (read, path, mut acts) = self.route(&step.method);
            let mut step_assets = Vec::new();
            for f in step.method.input().fields() {
                let d = self.field(&f);
                if d.asset == 0 || NOT_ASSETS.contains(&d.asset) {
                    continue;
                }
                let carried: Vec<&(i32, String)> = assets
                    .iter()
                    .filter(|(k, _)| *k == d.asset || *k == ANY_ASSET)
                    .collect();
                match carried.first() {
                    Some((_, id)) => step_assets.push((d.asset, id.clone())),
                    None if self.required(&f, &path) => acts = true,
                    None => {}
                }
            }
            out.push(Call {
                service: rpc.method.parent_service().full_name().to_string(),
                business: business.clone(),
                assets: step_assets,
                acts_on_business: acts,
                write: !read,
            });
        }
        out
    }
}

// --- The README's rules ---

/// The asset type a `[[policy]]` list names.
fn list_type(key: &str) -> i32 {
    match key {
        "ad_accounts" => 1,
        "pages" => 2,
        "apps" => 3,
        "pixels" => 4,
        "catalogs" => 5,
        "instagram_accounts" => 6,
        "asset_groups" => 7,
        "custom_audiences" => 9,
        "obo_requests" => 10,
        "sharing_requests" => 11,
        "custom_conversions" => 13,
        "offline_conversion_data_sets" => 14,
        "whatsapp_business_accounts" => 17,
        other => panic!("unknown list {other}"),
    }
}

fn allowed(grants: &[PolicyRule], call: &Call) -> bool {
    let covering: Vec<&PolicyRule> = grants
        .iter()
        .filter(|g| g.services.is_empty() || g.services.contains(&call.service))
        .filter(|g| {
            g.businesses.iter().any(|b| b == "*")
                || call
                    .business
                    .as_ref()
                    .is_some_and(|b| g.businesses.contains(b))
        })
        .collect();
    let enough = |g: &PolicyRule| !call.write || g.access == PolicyAccess::Write;
    let lists = |g: &PolicyRule| -> HashMap<i32, HashSet<String>> {
        g.asset_lists()
            .into_iter()
            .filter(|(_, ids)| !ids.is_empty())
            .map(|(k, ids)| {
                (
                    list_type(k),
                    ids.iter()
                        .map(|i| i.strip_prefix("act_").unwrap_or(i).to_string())
                        .collect(),
                )
            })
            .collect()
    };
    if covering.iter().any(|g| lists(g).is_empty() && enough(g)) {
        return true;
    }
    if call.acts_on_business || call.assets.is_empty() {
        return false;
    }
    call.assets.iter().all(|(kind, id)| {
        covering.iter().any(|g| {
            let l = lists(g);
            let named = if *kind == ANY_ASSET {
                l.values().any(|ids| ids.contains(id))
            } else {
                l.get(kind).is_some_and(|ids| ids.contains(id))
            };
            !l.is_empty() && named && enough(g)
        })
    })
}

// --- Calling any RPC ---

/// Sends and receives encoded messages as they are.
#[derive(Clone, Copy, Default)]
struct RawCodec;

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;
    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }
    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl tonic::codec::Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(
        &mut self,
        item: Vec<u8>,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Vec<u8>>, tonic::Status> {
        let mut out = vec![0; src.remaining()];
        src.copy_to_slice(&mut out);
        Ok(Some(out))
    }
}

/// What came back.
#[derive(Debug)]
enum Answer {
    Ok,
    /// Refused by caller policy: the reason.
    Denied(String),
    /// Any other failure (Graph's refusal, the sandbox's rules, a missing
    /// token): the code and ErrorInfo reason.
    Failed(Code, String),
}

fn answer(result: Result<tonic::Response<Vec<u8>>, tonic::Status>) -> Answer {
    match result {
        Ok(_) => Answer::Ok,
        Err(st) => {
            let info = st.get_error_details().error_info().cloned();
            let reason = info.as_ref().map(|i| i.reason.clone()).unwrap_or_default();
            let ours = info.as_ref().is_some_and(|i| i.domain == "graph-gateway");
            if st.code() == Code::PermissionDenied
                && ours
                && graph_gateway::policy::DENIAL_REASONS.contains(&reason.as_str())
            {
                Answer::Denied(reason)
            } else {
                Answer::Failed(st.code(), reason)
            }
        }
    }
}

#[derive(Default)]
struct Figures {
    allowed: usize,
    denied: usize,
    ok: usize,
    failed: usize,
    reached_graph: usize,
}

#[tokio::test]
async fn every_rpc_against_every_kind_of_grant() {
    let shapes = shapes();
    let decls = Decls::load();
    let rpcs = decls.rpcs();
    let routes = rpcs.iter().filter(|r| r.steps.is_none()).count();
    let workflows = rpcs.len() - routes;
    // The matrix covers the route table: nothing left out.
    let table = graph_gateway::engine::routes::RouteTable::embedded().unwrap();
    assert_eq!(routes, table.iter().count(), "every route is called");
    assert_eq!(
        workflows,
        table.workflows().len(),
        "every workflow is called"
    );
    assert_eq!(workflows, 3);

    let mut wrong = Vec::new();
    let mut leaks = Vec::new();
    let mut figures: BTreeMap<usize, (&str, Figures)> = BTreeMap::new();
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut failures: BTreeMap<String, usize> = BTreeMap::new();
    let mut scoped_allows: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (si, shape) in shapes.iter().enumerate() {
        // A fresh demo world for each caller: what one caller changed does
        // not fail the next one's calls.
        let gw = TestGateway::sandbox_with(config(&shapes)).await;
        let channel = tonic::service::interceptor::InterceptedService::new(
            gw.channel().await,
            bearer(&shape.key),
        );
        let mut grpc = tonic::client::Grpc::new(channel);
        let fig = &mut figures
            .entry(si)
            .or_insert((shape.name, Figures::default()))
            .1;
        for rpc in &rpcs {
            let input = rpc.method.input();
            let (msg, expect) = match &rpc.steps {
                None => {
                    let (_, path, _) = decls.route(&rpc.method);
                    let msg = decls.build(&input, &path);
                    let call = decls.route_call(&rpc.method, &msg);
                    let ok = allowed(&shape.grants, &call);
                    (msg, ok)
                }
                Some(_) => {
                    let msg = decls.build(&input, "");
                    let ok = decls
                        .workflow_calls(rpc, &msg)
                        .iter()
                        .all(|c| allowed(&shape.grants, c));
                    (msg, ok)
                }
            };
            let full = format!(
                "/{}/{}",
                rpc.method.parent_service().full_name(),
                rpc.method.name()
            );
            let before = gw.sb().request_count();
            grpc.ready().await.unwrap();
            let result = grpc
                .unary(
                    tonic::Request::new(msg.encode_to_vec()),
                    http::uri::PathAndQuery::from_str(&full).unwrap(),
                    RawCodec,
                )
                .await;
            let upstream = gw.sb().request_count() - before;
            let got = answer(result);
            let label = format!(
                "{} {} ({})",
                shape.name,
                rpc.method.name(),
                rpc.operation_id
            );
            match (&got, expect) {
                (Answer::Denied(reason), false) => {
                    fig.denied += 1;
                    *reasons.entry(reason.clone()).or_default() += 1;
                    if upstream > 0 {
                        leaks.push(format!("{label}: denied after {upstream} upstream call(s)"));
                    }
                }
                (Answer::Denied(reason), true) => {
                    wrong.push(format!("{label}: expected allowed, denied {reason}"))
                }
                (other, false) => {
                    wrong.push(format!("{label}: expected a policy denial, got {other:?}"))
                }
                (other, true) => {
                    fig.allowed += 1;
                    if matches!(shape.name, "page-tool" | "ads-read") {
                        scoped_allows
                            .entry(shape.name)
                            .or_default()
                            .push(rpc.operation_id.clone());
                    }
                    fig.reached_graph += usize::from(upstream > 0);
                    match other {
                        Answer::Failed(code, reason) => {
                            fig.failed += 1;
                            *failures.entry(format!("{code:?} {reason}")).or_default() += 1;
                        }
                        _ => fig.ok += 1,
                    }
                }
            }
        }
    }

    let total: usize = figures.values().map(|(_, f)| f.allowed + f.denied).sum();
    println!(
        "policy matrix: {} RPCs ({routes} routes + {workflows} workflows) x {} grant shapes = {total} calls",
        rpcs.len(),
        shapes.len()
    );
    println!(
        "{:<16} {:>7} {:>7}  | of the allowed: {:>4} {:>6} {:>13}",
        "grant shape", "allowed", "denied", "OK", "failed", "reached Graph"
    );
    for (name, f) in figures.values() {
        println!(
            "{name:<16} {:>7} {:>7}  | {:>20} {:>6} {:>13}",
            f.allowed, f.denied, f.ok, f.failed, f.reached_graph
        );
    }
    println!("allowed to the scoped callers: {scoped_allows:?}");
    let allowed_total: usize = figures.values().map(|(_, f)| f.allowed).sum();
    let denied_total: usize = figures.values().map(|(_, f)| f.denied).sum();
    println!(
        "total: {allowed_total} allowed, {denied_total} denied (every one with 0 upstream calls: {}), {} wrong answers",
        leaks.is_empty(),
        wrong.len()
    );
    println!("denial reasons: {reasons:?}");
    println!(
        "non-policy failures of allowed calls (the sandbox's rules, demo values): {failures:?}"
    );

    assert!(
        wrong.is_empty(),
        "{} wrong answer(s):\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert!(
        leaks.is_empty(),
        "denied calls reached Graph:\n{}",
        leaks.join("\n")
    );
    assert_eq!(total, rpcs.len() * shapes.len());
    // Every shape both allows and denies something, except the two that
    // allow nothing (another business, the admin without grants).
    for (name, f) in figures.values() {
        match *name {
            "other-business" | "admin" => assert_eq!(f.allowed, 0, "{name}"),
            "every-business" | "biz-write" => assert_eq!(f.denied, 0, "{name}"),
            _ => assert!(f.allowed > 0 && f.denied > 0, "{name}"),
        }
    }
}
