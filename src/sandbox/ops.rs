//! Routing of Graph paths to operations, and the helpers operations share
//! (permission checks, parameter lookups, list and node answers).
//!
//! A path is `/{node}` or `/{node}/{edge}`. The node is resolved first
//! (`me`, `act_N`, or a numeric id of a business, user, asset group or
//! asset); the edge and method then pick the operation. Each operation's
//! doc names its row of `graph-operations.tsv`.

mod agencies;
mod asset_groups;
mod audiences;
mod b2b;
mod business_assets;
mod members;
mod nodes;
mod obo;
mod people;

pub(crate) use audiences::answer_sharing;

use serde_json::{json, Map, Value};

use super::spec::SPEC;
use super::wire::{subcode, FieldSel, GraphError, NodeType, PageRequest, Params};
use super::world::{AccessStatus, AccessType, Asset, AssetKind, World};

/// The HTTP methods Graph serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verb {
    Get,
    Post,
    Delete,
}

// === impl Verb ===

impl Verb {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Post => "POST",
            Verb::Delete => "DELETE",
        }
    }
}

/// One authenticated API call, as operations see it.
#[derive(Debug)]
pub(crate) struct Call {
    pub(crate) verb: Verb,
    /// The token's user (or system user).
    pub(crate) actor: String,
    /// The page of a page token.
    pub(crate) token_page: Option<String>,
    pub(crate) params: Params,
    /// The parsed `fields=`, when given.
    pub(crate) fields: Option<Vec<FieldSel>>,
    pub(crate) paging: PageRequest,
    /// Set when Meta's spec covers the call (see `spec`): `fields=` has
    /// been checked against the spec, and these are the fields the answer
    /// may carry (the return type's plus the operation's exceptions).
    pub(crate) spec_fields: Option<Vec<String>>,
}

/// What a call is accounted against (usage headers).
#[derive(Clone, Debug, Default)]
pub(crate) struct Scope {
    /// The business the call acts for, when known.
    pub(crate) business: Option<String>,
    /// The business use case (`ads_management`, `pages`, ...).
    pub(crate) use_case: &'static str,
    /// The ad account of `act_` paths.
    pub(crate) ad_account: Option<String>,
}

/// A resolved path node.
#[derive(Clone, Debug)]
enum Node {
    User(String),
    Business(String),
    Group(String),
    Asset(String, AssetKind),
    Obo(String),
    Audience(String),
    Sharing(String),
    Invitation(String),
}

/// What the call addressed to `segments` is accounted against (best effort:
/// an unresolvable path is accounted to the app only).
pub(crate) fn scope(world: &World, call: &Call, segments: &[String]) -> Scope {
    let mut scope = Scope {
        use_case: "ads_management",
        ..Scope::default()
    };
    if let Some((id, rest)) = segments.split_first() {
        if let Ok(node) = resolve(world, id, call) {
            let edge = rest.first().map(String::as_str);
            fill_scope(world, &node, edge, call, &mut scope);
        }
    }
    scope
}

/// Runs the call addressed to `segments` (the path after the version).
pub(crate) fn dispatch(
    world: &mut World,
    call: &mut Call,
    segments: &[String],
) -> Result<Value, GraphError> {
    let Some((id, rest)) = segments.split_first() else {
        return Err(GraphError::unknown_path(""));
    };
    if id == "debug_token" && rest.is_empty() && call.verb == Verb::Get {
        return nodes::debug_token(world, call);
    }
    if rest.len() > 1 {
        return Err(GraphError::unknown_path(&rest.join("/")));
    }
    let edge = rest.first().map(String::as_str);
    let node = resolve(world, id, call)?;
    conform(world, call, &node, id, edge)?;
    let call = &*call;
    let verb = call.verb;
    let unsupported = || GraphError::unknown_object(verb.as_str(), id);
    match node {
        Node::User(user) => route_user(world, call, &user, edge, unsupported),
        Node::Business(biz) => route_business(world, call, &biz, edge, unsupported),
        Node::Group(group) => route_group(world, call, &group, edge, unsupported),
        Node::Asset(key, kind) => route_asset(world, call, &key, kind, edge, unsupported),
        Node::Obo(id) => match (edge, call.verb) {
            (None, Verb::Get) => obo::read(world, call, &id),
            (None, Verb::Delete) => obo::cancel(world, call, &id),
            (None, _) => Err(unsupported()),
            (Some(e), _) => Err(GraphError::unknown_path(e)),
        },
        Node::Audience(id) => match (edge, call.verb) {
            (None, Verb::Get) => audiences::read(world, call, &id),
            (Some("adaccounts"), Verb::Post) => audiences::share(world, call, &id),
            (Some("adaccounts"), Verb::Get) => audiences::shared_accounts(world, call, &id),
            (Some("adaccounts"), Verb::Delete) => audiences::unshare(world, call, &id),
            (None, _) => Err(unsupported()),
            (Some(e), _) => Err(GraphError::unknown_path(e)),
        },
        Node::Invitation(id) => match (edge, call.verb) {
            (None, Verb::Delete) => members::cancel_invitation(world, call, &id),
            (None, _) => Err(unsupported()),
            (Some(e), _) => Err(GraphError::unknown_path(e)),
        },
        Node::Sharing(id) => match (edge, call.verb) {
            (None, Verb::Get) => audiences::read_request(world, call, &id),
            (None, Verb::Post) => audiences::respond(world, call, &id),
            (None, _) => Err(unsupported()),
            (Some(e), _) => Err(GraphError::unknown_path(e)),
        },
    }
}

/// The spec's node type names a resolved node may have, most specific first
/// (a user is a BusinessUser for its `assigned_*` edges and a User for
/// `/me`; an Instagram account is an IGUser, and an InstagramBusinessAsset
/// for POST/DELETE `agencies`, which the spec puts there).
fn spec_types(node: &Node) -> &'static [&'static str] {
    match node {
        Node::User(_) => &["BusinessUser", "User", "SystemUser"],
        Node::Business(_) => &["Business"],
        Node::Group(_) => &["BusinessAssetGroup"],
        Node::Obo(_) => &["BusinessOwnedObjectOnBehalfOfRequest"],
        Node::Audience(_) => &["CustomAudience"],
        Node::Sharing(_) => &["BusinessAssetSharingAgreement"],
        Node::Invitation(_) => &["BusinessRoleRequest"],
        Node::Asset(_, kind) => match kind {
            AssetKind::AdAccount => &["AdAccount"],
            AssetKind::Page => &["Page"],
            AssetKind::App => &["Application"],
            AssetKind::Pixel => &["AdsPixel"],
            AssetKind::InstagramAccount => &["IGUser", "InstagramBusinessAsset"],
            AssetKind::Catalog => &["ProductCatalog"],
            AssetKind::OfflineConversionDataSet => &["OfflineConversionDataSet"],
            AssetKind::CustomConversion => &["CustomConversion"],
            AssetKind::WhatsAppBusinessAccount => &["WhatsAppBusinessAccount"],
        },
    }
}

/// Holds the call to Meta's spec when the table has its node type, edge and
/// method (see `spec`): parameters, enums and `fields=`; edges gone from the
/// spec answer Graph's refusal while the sandbox has no legacy access.
/// Calls outside the table keep the sandbox's own checks.
fn conform(
    world: &World,
    call: &mut Call,
    node: &Node,
    id: &str,
    edge: Option<&str>,
) -> Result<(), GraphError> {
    let spec = &*SPEC;
    let Some((ty, route)) = spec.route(
        spec_types(node),
        edge.unwrap_or_default(),
        call.verb.as_str(),
    ) else {
        return Ok(());
    };
    let exc = world.exceptions();
    if !route.in_spec || exc.legacy_edge(&route.op) {
        if !world.legacy_edges {
            return Err(removed_edge(&route.op, ty, id, edge, call.verb));
        }
        // A kept, deprecated edge: the spec has no facts for it.
        return Ok(());
    }
    spec.check_params(route, &call.params, exc)?;
    // An Object-typed parameter given as a JSON object stands for its id.
    for name in spec.object_params(route) {
        let id = call
            .params
            .get(name)
            .and_then(|raw| serde_json::from_str::<Map<String, Value>>(raw).ok())
            .and_then(|obj| match obj.get("id") {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            });
        if let Some(id) = id {
            call.params.set(name, id);
        }
    }
    if let Some(fields) = &call.fields {
        spec.check_fields(route, fields, exc)?;
    }
    call.spec_fields = Some(spec.allowed_fields(route, exc).unwrap_or_default());
    Ok(())
}

/// What Graph answers an app without access to an edge gone from the spec:
/// BB01 (limited since 2021-06) code 3; a method gone from a node, Graph's
/// "Unsupported ... request" (100/33); a GET of a gone edge, the
/// nonexisting-field error Graph gives any unknown edge; other methods,
/// unknown path components.
fn removed_edge(op: &str, ty: &str, id: &str, edge: Option<&str>, verb: Verb) -> GraphError {
    match (op, edge, verb) {
        ("BB01", _, _) => GraphError::no_capability(),
        (_, None, _) => GraphError::unknown_object(verb.as_str(), id),
        (_, Some(e), Verb::Get) => GraphError::nonexisting_field(e, ty),
        (_, Some(e), _) => GraphError::unknown_path(e),
    }
}

fn resolve(world: &World, id: &str, call: &Call) -> Result<Node, GraphError> {
    let unknown = || GraphError::unknown_object(call.verb.as_str(), id);
    if id == "me" {
        return Ok(Node::User(call.actor.clone()));
    }
    if let Some(n) = id.strip_prefix("act_") {
        return match world.assets.get(n) {
            Some(a) if a.kind == AssetKind::AdAccount => {
                Ok(Node::Asset(n.to_string(), AssetKind::AdAccount))
            }
            _ => Err(unknown()),
        };
    }
    if !id.chars().all(|c| c.is_ascii_digit()) {
        return Err(GraphError::unknown_alias(id));
    }
    if world.businesses.contains_key(id) {
        return Ok(Node::Business(id.to_string()));
    }
    if world.groups.contains_key(id) {
        return Ok(Node::Group(id.to_string()));
    }
    if world.users.contains_key(id) {
        return Ok(Node::User(id.to_string()));
    }
    if world.obo_requests.contains_key(id) {
        return Ok(Node::Obo(id.to_string()));
    }
    if world.audiences.contains_key(id) {
        return Ok(Node::Audience(id.to_string()));
    }
    if world.sharing.contains_key(id) {
        return Ok(Node::Sharing(id.to_string()));
    }
    if world.invitations.contains_key(id) {
        return Ok(Node::Invitation(id.to_string()));
    }
    match world.assets.get(id) {
        // Ad accounts are only addressable as act_N.
        Some(a) if a.kind != AssetKind::AdAccount => Ok(Node::Asset(id.to_string(), a.kind)),
        _ => Err(unknown()),
    }
}

fn fill_scope(world: &World, node: &Node, edge: Option<&str>, call: &Call, scope: &mut Scope) {
    let param_business = call
        .params
        .get("business")
        .filter(|b| world.businesses.contains_key(*b))
        .map(str::to_string);
    let edge_name = edge.unwrap_or_default();
    let by_edge = |default: &'static str| {
        if edge_name.contains("page") {
            "pages"
        } else if edge_name.contains("instagram") {
            "instagram"
        } else if edge_name.contains("catalog") {
            "catalog_management"
        } else if edge_name.contains("audience") {
            "custom_audience"
        } else if edge_name.contains("whatsapp") {
            "business_management"
        } else {
            default
        }
    };
    match node {
        Node::Business(b) => {
            scope.business = Some(b.clone());
            scope.use_case = by_edge("ads_management");
        }
        Node::Group(g) => {
            scope.business = world.groups.get(g).map(|g| g.business.clone());
        }
        Node::User(_) => {
            scope.business = param_business;
            scope.use_case = by_edge("ads_management");
        }
        Node::Asset(key, kind) => {
            scope.business = param_business.or_else(|| {
                world
                    .assets
                    .get(key)
                    .and_then(|a| a.owner())
                    .map(|o| o.business.clone())
            });
            scope.use_case = match kind {
                AssetKind::Page => "pages",
                AssetKind::InstagramAccount => "instagram",
                AssetKind::Catalog => "catalog_management",
                AssetKind::WhatsAppBusinessAccount => "business_management",
                _ => "ads_management",
            };
            if *kind == AssetKind::AdAccount {
                scope.ad_account = Some(key.clone());
            }
        }
        Node::Obo(id) => {
            scope.business = world.obo_requests.get(id).map(|r| r.requesting.clone());
        }
        Node::Audience(id) => {
            scope.use_case = "custom_audience";
            scope.business = world
                .audiences
                .get(id)
                .and_then(|a| world.assets.get(&a.ad_account))
                .and_then(|a| a.owner())
                .map(|o| o.business.clone());
        }
        Node::Sharing(id) => {
            scope.use_case = "custom_audience";
            scope.business = world.sharing.get(id).map(|r| r.recipient.clone());
        }
        Node::Invitation(id) => {
            scope.business = world.invitations.get(id).map(|i| i.business.clone());
        }
    }
}

fn route_user(
    world: &mut World,
    call: &Call,
    user: &str,
    edge: Option<&str>,
    unsupported: impl Fn() -> GraphError,
) -> Result<Value, GraphError> {
    use Verb::{Delete, Get, Post};
    match (edge, call.verb) {
        (None, Get) => nodes::user(world, call, user),
        (None, Post) => members::update(world, call, user),
        (None, Delete) => members::remove(world, call, user),
        (Some("access_tokens"), Post) => members::mint_token(world, call, user),
        (Some("assigned_business_asset_groups"), Get) => asset_groups::for_user(world, call, user),
        (Some("assigned_ad_accounts"), Get) => {
            people::user_assets(world, call, user, AssetKind::AdAccount)
        }
        (Some("assigned_pages"), Get) => people::user_assets(world, call, user, AssetKind::Page),
        (Some("assigned_product_catalogs"), Get) => {
            people::user_assets(world, call, user, AssetKind::Catalog)
        }
        (Some(e), _) => Err(edge_error(e, USER_EDGES, unsupported)),
    }
}

const USER_EDGES: &[&str] = &[
    "access_tokens",
    "assigned_business_asset_groups",
    "assigned_ad_accounts",
    "assigned_pages",
    "assigned_product_catalogs",
];

fn route_business(
    world: &mut World,
    call: &Call,
    biz: &str,
    edge: Option<&str>,
    unsupported: impl Fn() -> GraphError,
) -> Result<Value, GraphError> {
    use business_assets::Relation::{Any, Client, ClientPending, Owned, OwnedPending};
    use AssetKind::{
        AdAccount, App, Catalog, InstagramAccount, Page, Pixel, WhatsAppBusinessAccount,
    };
    use Verb::{Delete, Get, Post};
    let list = |world: &mut World, kind, rel| business_assets::list(world, call, biz, kind, rel);
    match (edge, call.verb) {
        (None, Get) => nodes::business(world, call, biz),
        (Some("business_asset_groups"), Get) => asset_groups::for_business(world, call, biz),
        // Ad accounts.
        (Some("owned_ad_accounts"), Get) => list(world, AdAccount, Owned),
        (Some("owned_ad_accounts"), Post) => {
            business_assets::claim_owner(world, call, biz, AdAccount)
        }
        (Some("pending_owned_ad_accounts"), Get) => list(world, AdAccount, OwnedPending),
        (Some("client_ad_accounts"), Get) => list(world, AdAccount, Client),
        (Some("pending_client_ad_accounts"), Get) => list(world, AdAccount, ClientPending),
        (Some("adaccount"), Post) => business_assets::create_ad_account(world, call, biz),
        (Some("ad_accounts"), Delete) => business_assets::remove(world, call, biz, AdAccount),
        // Pages.
        (Some("owned_pages"), Get) => list(world, Page, Owned),
        (Some("owned_pages"), Post) => business_assets::claim_owner(world, call, biz, Page),
        (Some("pending_owned_pages"), Get) => list(world, Page, OwnedPending),
        (Some("client_pages"), Get) => list(world, Page, Client),
        (Some("client_pages"), Post) => business_assets::claim_agency(world, call, biz, Page),
        (Some("pending_client_pages"), Get) => list(world, Page, ClientPending),
        (Some("pages"), Delete) => business_assets::remove(world, call, biz, Page),
        // Apps.
        (Some("owned_apps"), Get) => list(world, App, Owned),
        (Some("owned_apps"), Post) => business_assets::claim_owner(world, call, biz, App),
        (Some("client_apps"), Get) => list(world, App, Client),
        (Some("client_apps"), Post) => business_assets::claim_agency(world, call, biz, App),
        (Some("pending_client_apps"), Get) => list(world, App, ClientPending),
        (Some("apps"), Delete) => business_assets::remove(world, call, biz, App),
        // Pixels.
        (Some("owned_pixels"), Get) => list(world, Pixel, Owned),
        (Some("client_pixels"), Get) => list(world, Pixel, Client),
        // Instagram accounts.
        (Some("owned_instagram_accounts"), Get) => list(world, InstagramAccount, Owned),
        (Some("instagram_accounts"), Get) => list(world, InstagramAccount, Any),
        (Some("instagram_accounts"), Delete) => {
            business_assets::remove(world, call, biz, InstagramAccount)
        }
        // Meta: the business's accounts converted to Instagram business
        // accounts; every sandbox account is one, so: the owned ones.
        (Some("instagram_business_accounts"), Get) => list(world, InstagramAccount, Owned),
        (Some("owned_instagram_assets"), Get) => {
            business_assets::instagram_assets(world, call, biz, Owned)
        }
        (Some("client_instagram_assets"), Get) => {
            business_assets::instagram_assets(world, call, biz, Client)
        }
        // WhatsApp Business accounts.
        (Some("owned_whatsapp_business_accounts"), Get) => {
            list(world, WhatsAppBusinessAccount, Owned)
        }
        (Some("client_whatsapp_business_accounts"), Get) => {
            list(world, WhatsAppBusinessAccount, Client)
        }
        // Catalogs.
        (Some("owned_product_catalogs"), Get) => list(world, Catalog, Owned),
        (Some("client_product_catalogs"), Get) => list(world, Catalog, Client),
        // Business to business.
        (Some("client_ad_accounts"), Post) => {
            business_assets::claim_agency(world, call, biz, AdAccount)
        }
        (Some("clients"), Get) => b2b::clients(world, call, biz),
        (Some("clients"), Delete) => b2b::remove_client(world, call, biz),
        (Some("agencies"), Get) => b2b::agencies(world, call, biz),
        (Some("agencies"), Delete) => b2b::remove_agency(world, call, biz),
        // Child businesses.
        (Some("owned_businesses"), Get) => b2b::owned_businesses(world, call, biz),
        (Some("owned_businesses"), Post) => b2b::create_owned_business(world, call, biz),
        (Some("owned_businesses"), Delete) => b2b::delete_owned_business(world, call, biz),
        // On behalf of.
        (Some("sent_inprogress_onbehalf_requests"), Get) => obo::sent(world, call, biz),
        (Some("sent_inprogress_onbehalf_requests"), Post) => obo::create(world, call, biz),
        (Some("received_inprogress_onbehalf_requests"), Get) => obo::received(world, call, biz),
        // Audience sharing.
        (Some("received_audience_sharing_requests"), Get) => audiences::received(world, call, biz),
        (Some("initiated_audience_sharing_requests"), Get) => {
            audiences::initiated(world, call, biz)
        }
        // People (issue 16).
        (Some("business_users"), Get) => members::business_users(world, call, biz),
        (Some("business_users"), Post) => members::invite(world, call, biz),
        (Some("pending_users"), Get) => members::pending_users(world, call, biz),
        (Some("system_users"), Get) => members::system_users(world, call, biz),
        (Some("system_users"), Post) => members::create_system_user(world, call, biz),
        (None, _) => Err(unsupported()),
        (Some(e), _) => Err(edge_error(e, BUSINESS_EDGES, unsupported)),
    }
}

const BUSINESS_EDGES: &[&str] = &[
    "business_asset_groups",
    "owned_ad_accounts",
    "pending_owned_ad_accounts",
    "client_ad_accounts",
    "pending_client_ad_accounts",
    "adaccount",
    "ad_accounts",
    "owned_pages",
    "pending_owned_pages",
    "client_pages",
    "pending_client_pages",
    "pages",
    "owned_apps",
    "client_apps",
    "pending_client_apps",
    "apps",
    "owned_pixels",
    "client_pixels",
    "owned_instagram_accounts",
    "instagram_accounts",
    "owned_instagram_assets",
    "instagram_business_accounts",
    "client_instagram_assets",
    "owned_whatsapp_business_accounts",
    "client_whatsapp_business_accounts",
    "owned_product_catalogs",
    "client_product_catalogs",
    "clients",
    "agencies",
    "owned_businesses",
    "sent_inprogress_onbehalf_requests",
    "received_inprogress_onbehalf_requests",
    "received_audience_sharing_requests",
    "initiated_audience_sharing_requests",
    "business_users",
    "pending_users",
    "system_users",
];

fn route_group(
    world: &mut World,
    call: &Call,
    group: &str,
    edge: Option<&str>,
    unsupported: impl Fn() -> GraphError,
) -> Result<Value, GraphError> {
    use Verb::{Delete, Get, Post};
    if let Some(kind) = edge.and_then(asset_groups::contained_kind) {
        return match call.verb {
            Get => asset_groups::contained(world, call, group, kind),
            Post => asset_groups::add_asset(world, call, group, kind),
            Delete => asset_groups::remove_asset(world, call, group, kind),
        };
    }
    match (edge, call.verb) {
        (None, Get) => asset_groups::read(world, call, group),
        (None, Post) => asset_groups::rename(world, call, group),
        (None, Delete) => asset_groups::delete(world, call, group),
        (Some("assigned_users"), Get) => asset_groups::users(world, call, group),
        (Some("assigned_users"), Post) => asset_groups::assign_user(world, call, group),
        (Some("assigned_users"), Delete) => asset_groups::remove_user(world, call, group),
        (Some(e), _) => Err(edge_error(e, &["assigned_users"], unsupported)),
    }
}

fn route_asset(
    world: &mut World,
    call: &Call,
    key: &str,
    kind: AssetKind,
    edge: Option<&str>,
    unsupported: impl Fn() -> GraphError,
) -> Result<Value, GraphError> {
    use AssetKind::{
        AdAccount, App, Catalog, InstagramAccount, Page, Pixel, WhatsAppBusinessAccount,
    };
    use Verb::{Delete, Get, Post};
    match (kind, edge, call.verb) {
        (_, None, Get) => nodes::asset(world, call, key),
        (
            AdAccount | Page | Catalog | Pixel | InstagramAccount | WhatsAppBusinessAccount,
            Some("assigned_users"),
            Get,
        ) => people::asset_users(world, call, key),
        (
            AdAccount | Page | Catalog | Pixel | InstagramAccount | WhatsAppBusinessAccount,
            Some("assigned_users"),
            Post,
        ) => people::assign(world, call, key),
        (
            AdAccount | Page | Catalog | InstagramAccount | WhatsAppBusinessAccount,
            Some("assigned_users"),
            Delete,
        ) => people::unassign(world, call, key),
        (_, Some("agencies"), Get) => agencies::list_agencies(world, call, key),
        (AdAccount | Page | InstagramAccount | Catalog | Pixel, Some("agencies"), Post) => {
            agencies::grant(world, call, key)
        }
        (AdAccount | Page | InstagramAccount | Catalog | Pixel, Some("agencies"), Delete) => {
            agencies::revoke(world, call, key)
        }
        (AdAccount, Some("onbehalf_requests"), Get) => obo::for_ad_account(world, call, key),
        (InstagramAccount | App, Some("authorized_adaccounts"), Get) => {
            agencies::authorized_ad_accounts(world, call, key)
        }
        (InstagramAccount, Some("authorized_adaccounts"), Post) => {
            agencies::authorize_ad_account(world, call, key)
        }
        (Pixel, Some("shared_accounts"), Get) => agencies::authorized_ad_accounts(world, call, key),
        (Pixel, Some("shared_accounts"), Post) => agencies::authorize_ad_account(world, call, key),
        (Pixel, Some("shared_accounts"), Delete) => {
            agencies::unauthorize_ad_account(world, call, key)
        }
        (_, None, _) => Err(unsupported()),
        (_, Some(e), _) => Err(edge_error(
            e,
            &[
                "assigned_users",
                "agencies",
                "authorized_adaccounts",
                "onbehalf_requests",
                "shared_accounts",
            ],
            unsupported,
        )),
    }
}

/// A known edge with the wrong method is "unsupported request"; an unknown
/// one is "unknown path components".
fn edge_error(edge: &str, known: &[&str], unsupported: impl Fn() -> GraphError) -> GraphError {
    if known.contains(&edge) {
        unsupported()
    } else {
        GraphError::unknown_path(edge)
    }
}

// ---------------------------------------------------------------------------
// Shared helpers

/// `{"success": true}`.
pub(crate) fn success() -> Value {
    json!({ "success": true })
}

/// A list answer: checks `fields=`, selects, pages.
pub(crate) fn list(
    call: &Call,
    ty: &NodeType,
    items: Vec<Map<String, Value>>,
    defaults: Option<&[&str]>,
) -> Result<Value, GraphError> {
    check_fields(call, ty)?;
    let selected = items
        .iter()
        .map(|item| spec_filter(call, ty.select(item, call.fields.as_deref(), defaults)))
        .collect();
    Ok(call.paging.page(selected))
}

/// A node answer: checks `fields=` and selects.
pub(crate) fn node(
    call: &Call,
    ty: &NodeType,
    full: &Map<String, Value>,
) -> Result<Value, GraphError> {
    check_fields(call, ty)?;
    Ok(spec_filter(
        call,
        ty.select(full, call.fields.as_deref(), None),
    ))
}

/// Checks `fields=` against the sandbox's node type, unless the spec has
/// checked it already.
fn check_fields(call: &Call, ty: &NodeType) -> Result<(), GraphError> {
    match (&call.fields, &call.spec_fields) {
        (Some(fields), None) => ty.validate(fields),
        _ => Ok(()),
    }
}

/// Without `fields=`, a call the spec covers answers only fields the spec
/// (or an exception row) gives its return type.
fn spec_filter(call: &Call, mut value: Value) -> Value {
    if let (None, Some(allowed), Value::Object(map)) = (&call.fields, &call.spec_fields, &mut value)
    {
        if !allowed.is_empty() {
            map.retain(|k, _| allowed.iter().any(|a| a == k));
        }
    }
    value
}

/// The caller must belong to the business.
pub(crate) fn require_member(world: &World, actor: &str, biz: &str) -> Result<(), GraphError> {
    match world.role(actor, biz) {
        Some(_) => Ok(()),
        None => Err(GraphError::permission(format!(
            "User {actor} does not have permission to access business {biz}"
        ))),
    }
}

/// The caller must be an admin of the business.
pub(crate) fn require_admin(world: &World, actor: &str, biz: &str) -> Result<(), GraphError> {
    require_member(world, actor, biz)?;
    if world.is_admin(actor, biz) {
        Ok(())
    } else {
        Err(GraphError::permission(format!(
            "User {actor} must be an admin of business {biz} to perform this action"
        )))
    }
}

/// The asset named by a parameter (`act_N` or `N` for ad accounts).
pub(crate) fn param_asset(
    world: &World,
    call: &Call,
    name: &str,
    kind: AssetKind,
) -> Result<String, GraphError> {
    let raw = call.params.require(name)?;
    let key = match kind {
        AssetKind::AdAccount => raw.strip_prefix("act_").unwrap_or(raw),
        _ => raw,
    };
    match world.assets.get(key) {
        Some(a) if a.kind == kind => Ok(key.to_string()),
        _ => Err(GraphError::param(format!(
            "Param {name} must be a valid {} id: '{raw}' does not exist",
            kind.label()
        ))),
    }
}

/// The business named by a parameter.
pub(crate) fn param_business<'a>(
    world: &World,
    call: &'a Call,
    name: &str,
) -> Result<&'a str, GraphError> {
    let raw = call.params.require(name)?;
    if world.businesses.contains_key(raw) {
        Ok(raw)
    } else {
        Err(GraphError::param(format!(
            "Param {name} must be a valid business id: '{raw}' does not exist"
        )))
    }
}

/// The user named by a parameter.
pub(crate) fn param_user<'a>(
    world: &World,
    call: &'a Call,
    name: &str,
) -> Result<&'a str, GraphError> {
    let raw = call.params.require(name)?;
    if world.users.contains_key(raw) {
        Ok(raw)
    } else {
        Err(GraphError::param(format!(
            "Param {name} must be a valid business-scoped user id: '{raw}' does not exist"
        )))
    }
}

/// Looks up an asset the router resolved.
pub(crate) fn asset<'w>(world: &'w World, key: &str) -> Result<&'w Asset, GraphError> {
    world
        .assets
        .get(key)
        .ok_or_else(|| GraphError::unknown_object("GET", key))
}

/// The caller must be able to see the asset.
pub(crate) fn require_visible(world: &World, actor: &str, asset: &Asset) -> Result<(), GraphError> {
    if world.can_see(asset, actor) {
        Ok(())
    } else {
        Err(GraphError::permission(format!(
            "User {actor} does not have permission to access {} {}",
            asset.kind.label(),
            asset.graph_id()
        )))
    }
}

/// The business an asset-level call acts for: the `business` parameter when
/// given (it must have confirmed access, and the caller must belong to it —
/// as admin when `admin`), else the caller's business with confirmed access
/// (owner first).
pub(crate) fn context_business(
    world: &World,
    call: &Call,
    asset: &Asset,
    admin: bool,
) -> Result<String, GraphError> {
    let actor = call.actor.as_str();
    if call.params.get("business").is_some() {
        let biz = param_business(world, call, "business")?;
        if admin {
            require_admin(world, actor, biz)?;
        } else {
            require_member(world, actor, biz)?;
        }
        if !asset.confirmed_for(biz) {
            return Err(GraphError::rule(
                subcode::NOT_IN_BUSINESS,
                format!(
                    "Business {biz} does not have confirmed access to {} {}",
                    asset.kind.label(),
                    asset.graph_id()
                ),
            ));
        }
        return Ok(biz.to_string());
    }
    let mut candidates: Vec<_> = asset
        .access
        .iter()
        .filter(|a| a.status == AccessStatus::Confirmed)
        .filter(|a| match world.role(actor, &a.business) {
            Some(_) if admin => world.is_admin(actor, &a.business),
            Some(_) => true,
            None => false,
        })
        .collect();
    candidates.sort_by_key(|a| a.access_type != AccessType::Owner);
    candidates
        .first()
        .map(|a| a.business.clone())
        .ok_or_else(|| {
            let what = if admin { "an admin" } else { "a member" };
            GraphError::permission(format!(
                "User {actor} must be {what} of a business with access to {} {}",
                asset.kind.label(),
                asset.graph_id()
            ))
        })
}

/// Validates and normalizes (upper case, canonical order) a task list.
/// Catalog roles (the seed's `permitted_tasks=['ADMIN']`) become the tasks
/// they stand for: ADMIN = MANAGE + ADVERTISE, ADVERTISER = ADVERTISE.
pub(crate) fn check_tasks(
    kind: AssetKind,
    valid: &[&str],
    param: &str,
    tasks: &[String],
) -> Result<Vec<String>, GraphError> {
    let upper: Vec<String> = tasks.iter().map(|t| t.to_ascii_uppercase()).collect();
    if let Some(bad) = upper.iter().find(|t| !valid.contains(&t.as_str())) {
        return Err(GraphError::param(format!(
            "Param {param} contains an invalid task for a {}: {bad}. Valid tasks: {}",
            kind.label(),
            valid.join(", ")
        )));
    }
    let expanded = upper.iter().flat_map(|t| match (kind, t.as_str()) {
        (AssetKind::Catalog, "ADMIN") => vec!["MANAGE", "ADVERTISE"],
        (AssetKind::Catalog, "ADVERTISER") => vec!["ADVERTISE"],
        (_, other) => vec![other],
    });
    Ok(super::world::order_tasks(kind, expanded))
}

/// Which businesses' grants the caller may see for a target user: all of
/// them for the caller's own id, else the businesses both belong to.
pub(crate) fn visible_businesses(
    world: &World,
    actor: &str,
    target: &str,
) -> Result<Option<Vec<String>>, GraphError> {
    if actor == target {
        return Ok(None);
    }
    let shared: Vec<String> = world
        .businesses_of(actor)
        .into_iter()
        .filter(|b| world.role(target, b).is_some())
        .collect();
    if shared.is_empty() {
        return Err(GraphError::permission(format!(
            "User {actor} does not share a business with user {target}"
        )));
    }
    Ok(Some(shared))
}
