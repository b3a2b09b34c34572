//! Graph node types (the field names of `docs/proto-conventions.md`, "Graph
//! node fields") and rendering of world objects into full JSON objects, which
//! `fields=` selection then narrows.

use serde_json::{json, Map, Value};

use super::wire::NodeType;
use super::world::{
    AccessStatus, AccessType, Asset, AssetGroup, AssetKind, CustomAudience, GroupRoles, OboRequest,
    SharingRelationship, User, UserKind, World,
};

pub(crate) static BUSINESS: NodeType = NodeType {
    name: "Business",
    fields: &[
        "id",
        "name",
        "permitted_tasks",
        "access_status",
        "access_type",
    ],
    defaults: &["id", "name"],
    nested: &[],
};

/// A child business, as its parent's `owned_businesses` lists it (CB01).
pub(crate) static OWNED_BUSINESS: NodeType = NodeType {
    name: "Business",
    fields: &["id", "name", "vertical", "timezone_id"],
    defaults: &["id", "name"],
    nested: &[],
};

pub(crate) static ASSET_GROUP: NodeType = NodeType {
    name: "BusinessAssetGroup",
    fields: &[
        "id",
        "name",
        "page_roles",
        "adaccount_roles",
        "pixel_roles",
        "offline_conversion_data_set_roles",
    ],
    defaults: &["id", "name"],
    nested: &[],
};

pub(crate) static ASSIGNED_USER: NodeType = NodeType {
    name: "AssignedUser",
    fields: &[
        "id",
        "name",
        "tasks",
        "page_roles",
        "adaccount_roles",
        "pixel_roles",
        "offline_conversion_data_set_roles",
        "user_type",
        "business",
    ],
    defaults: &["id", "name"],
    nested: &[("business", &BUSINESS)],
};

pub(crate) static USER: NodeType = NodeType {
    name: "User",
    fields: &["id", "name"],
    defaults: &["id", "name"],
    nested: &[],
};

pub(crate) static AD_ACCOUNT: NodeType = NodeType {
    name: "AdAccount",
    fields: &[
        "id",
        "account_id",
        "name",
        "currency",
        "timezone_id",
        "access_status",
        "access_type",
        "permitted_tasks",
        "tasks",
        "business",
    ],
    defaults: &["id", "name"],
    nested: &[("business", &BUSINESS)],
};

pub(crate) static PAGE: NodeType = NodeType {
    name: "Page",
    fields: &[
        "id",
        "name",
        "access_status",
        "access_type",
        "permitted_tasks",
        "tasks",
        "business",
        "access_token",
    ],
    defaults: &["id", "name"],
    nested: &[("business", &BUSINESS)],
};

pub(crate) static APP: NodeType = NodeType {
    name: "Application",
    fields: &[
        "id",
        "name",
        "category",
        "link",
        "access_status",
        "permitted_tasks",
    ],
    defaults: &["id", "name"],
    nested: &[],
};

pub(crate) static PIXEL: NodeType = NodeType {
    name: "AdsPixel",
    fields: &["id", "name"],
    defaults: &["id", "name"],
    nested: &[],
};

pub(crate) static INSTAGRAM: NodeType = NodeType {
    name: "IGUser",
    fields: &["id", "username"],
    defaults: &["id"],
    nested: &[],
};

/// What a business holds for an Instagram account (IG09, IG10): in the
/// sandbox the asset id is the IG user's.
pub(crate) static INSTAGRAM_ASSET: NodeType = NodeType {
    name: "InstagramBusinessAsset",
    fields: &["id", "ig_user_id", "ig_username"],
    defaults: &["id"],
    nested: &[],
};

/// A WhatsApp Business account (WA01, WA02).
pub(crate) static WHATSAPP_BUSINESS_ACCOUNT: NodeType = NodeType {
    name: "WhatsAppBusinessAccount",
    fields: &["id", "name", "currency", "timezone_id", "owner_business"],
    defaults: &["id", "name"],
    nested: &[("owner_business", &BUSINESS)],
};

pub(crate) static CATALOG: NodeType = NodeType {
    name: "ProductCatalog",
    fields: &["id", "name", "access_status", "permitted_tasks", "tasks"],
    defaults: &["id", "name"],
    nested: &[],
};

pub(crate) static OFFLINE_DATA_SET: NodeType = NodeType {
    name: "OfflineConversionDataSet",
    fields: &[
        "id",
        "name",
        "business",
        "enable_auto_assign_to_accounts",
        "is_restricted_use",
    ],
    defaults: &["id", "name"],
    nested: &[("business", &BUSINESS)],
};

pub(crate) static CUSTOM_CONVERSION: NodeType = NodeType {
    name: "CustomConversion",
    fields: &["id", "name"],
    defaults: &["id", "name"],
    nested: &[],
};

/// A business in a client/agency relationship (BB02, BB09), with its
/// per-asset permissions.
pub(crate) static RELATED_BUSINESS: NodeType = NodeType {
    name: "Business",
    fields: &["id", "name", "page_permissions", "adaccount_permissions"],
    defaults: &["id", "name", "page_permissions", "adaccount_permissions"],
    nested: &[],
};

/// An on-behalf-of request (OB02, OB04–OB06).
pub(crate) static OBO_REQUEST: NodeType = NodeType {
    name: "BusinessOwnedObjectOnBehalfOfRequest",
    fields: &[
        "id",
        "status",
        "receiving_business",
        "requesting_business",
        "business_owned_object",
    ],
    defaults: &["id"],
    nested: &[
        ("receiving_business", &BUSINESS),
        ("requesting_business", &BUSINESS),
    ],
};

/// A custom audience.
pub(crate) static CUSTOM_AUDIENCE: NodeType = NodeType {
    name: "CustomAudience",
    fields: &["id", "name", "account_id"],
    defaults: &["id"],
    nested: &[],
};

/// A person of a business (BU01).
pub(crate) static BUSINESS_USER: NodeType = NodeType {
    name: "BusinessUser",
    fields: &[
        "id",
        "name",
        "role",
        "tasks",
        "business",
        "email",
        "first_name",
        "last_name",
        "title",
        "pending_email",
        "marked_for_removal",
        "two_fac_status",
    ],
    defaults: &["id", "name", "role", "business"],
    nested: &[("business", &BUSINESS)],
};

/// An invitation to a business (BU05).
pub(crate) static BUSINESS_ROLE_REQUEST: NodeType = NodeType {
    name: "BusinessRoleRequest",
    fields: &[
        "id",
        "email",
        "role",
        "tasks",
        "status",
        "created_time",
        "expiration_time",
        "expiry_time",
        "owner",
        "created_by",
        "invited_user_type",
    ],
    defaults: &["id", "email", "role", "status"],
    nested: &[("owner", &BUSINESS), ("created_by", &USER)],
};

/// A system user of a business (SU01).
pub(crate) static SYSTEM_USER: NodeType = NodeType {
    name: "SystemUser",
    fields: &["id", "name", "created_time", "created_by"],
    defaults: &["id", "name"],
    nested: &[("created_by", &USER)],
};

/// An ad account a custom audience is shared with (AS05).
pub(crate) static CUSTOM_AUDIENCE_AD_ACCOUNT: NodeType = NodeType {
    name: "CustomAudienceAdAccount",
    fields: &["id"],
    defaults: &["id"],
    nested: &[],
};

/// An audience sharing relationship request (AS03, AS04).
pub(crate) static SHARING_REQUEST: NodeType = NodeType {
    name: "BusinessAssetSharingAgreement",
    fields: &[
        "id",
        "initiator",
        "recipient",
        "request_status",
        "relationship_type",
        "custom_audiences",
    ],
    defaults: &[
        "id",
        "initiator",
        "recipient",
        "request_status",
        "relationship_type",
        "custom_audiences",
    ],
    nested: &[("initiator", &BUSINESS), ("recipient", &BUSINESS)],
};

/// AA04/AA11: a business's request for an ad account.
pub(crate) static AD_ACCOUNT_REQUEST: NodeType = NodeType {
    name: "BusinessAdAccountRequest",
    fields: &["id", "ad_account"],
    defaults: &["id", "ad_account"],
    nested: &[("ad_account", &AD_ACCOUNT)],
};

/// PG03/PG11: a business's request for a page.
pub(crate) static PAGE_REQUEST: NodeType = NodeType {
    name: "BusinessPageRequest",
    fields: &["id", "page"],
    defaults: &["id", "page"],
    nested: &[("page", &PAGE)],
};

/// AP03: a business's request for an app.
pub(crate) static APP_REQUEST: NodeType = NodeType {
    name: "BusinessApplicationRequest",
    fields: &["id", "application"],
    defaults: &["id", "application"],
    nested: &[("application", &APP)],
};

/// The node type of an asset kind.
pub(crate) fn node_type(kind: AssetKind) -> &'static NodeType {
    match kind {
        AssetKind::AdAccount => &AD_ACCOUNT,
        AssetKind::Page => &PAGE,
        AssetKind::App => &APP,
        AssetKind::Pixel => &PIXEL,
        AssetKind::InstagramAccount => &INSTAGRAM,
        AssetKind::Catalog => &CATALOG,
        AssetKind::OfflineConversionDataSet => &OFFLINE_DATA_SET,
        AssetKind::CustomConversion => &CUSTOM_CONVERSION,
        AssetKind::WhatsAppBusinessAccount => &WHATSAPP_BUSINESS_ACCOUNT,
    }
}

/// The relationship an asset is rendered in.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct View<'a> {
    /// The business whose access fields (access_status, access_type,
    /// permitted_tasks) are shown.
    pub(crate) business: Option<&'a str>,
    /// The user whose `tasks` are shown, through `tasks_via` businesses
    /// (`None` = any).
    pub(crate) user: Option<&'a str>,
    pub(crate) tasks_via: Option<&'a [String]>,
}

/// Every field of an asset that applies in the view; fields the node type
/// does not know are dropped.
pub(crate) fn asset(world: &World, asset: &Asset, view: View<'_>) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("id".into(), json!(asset.graph_id()));
    if !asset.name.is_empty() {
        out.insert("name".into(), json!(asset.name));
    }
    if asset.kind == AssetKind::AdAccount {
        out.insert("account_id".into(), json!(asset.id));
    }
    for (k, v) in &asset.attrs {
        out.insert(k.clone(), v.clone());
    }
    if let Some(owner) = asset.owner() {
        out.insert("business".into(), world.business_ref(&owner.business));
        out.insert("owner_business".into(), world.business_ref(&owner.business));
    }
    if let Some(access) = view.business.and_then(|b| asset.access_of(b)) {
        out.insert("access_status".into(), json!(access.status.as_str()));
        out.insert("access_type".into(), json!(access.access_type.as_str()));
        out.insert("permitted_tasks".into(), json!(access.permitted_tasks));
    }
    if let Some(user) = view.user {
        let tasks = world.effective_tasks(asset, user, view.tasks_via);
        if !tasks.is_empty() {
            out.insert("tasks".into(), json!(tasks));
        }
    }
    let ty = node_type(asset.kind);
    out.retain(|k, _| ty.fields.contains(&k.as_str()));
    out
}

/// An Instagram account as the InstagramBusinessAsset a business holds.
pub(crate) fn instagram_asset(asset: &Asset) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("id".into(), json!(asset.graph_id()));
    out.insert("ig_user_id".into(), json!(asset.graph_id()));
    if let Some(username) = asset.attrs.get("username") {
        out.insert("ig_username".into(), username.clone());
    }
    out
}

/// A business, optionally with its access to one asset (agency listings).
pub(crate) fn business(world: &World, id: &str, asset: Option<&Asset>) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("id".into(), json!(id));
    if let Some(b) = world.businesses.get(id) {
        out.insert("name".into(), json!(b.name));
    }
    if let Some(access) = asset.and_then(|a| a.access_of(id)) {
        out.insert("permitted_tasks".into(), json!(access.permitted_tasks));
        out.insert("access_status".into(), json!(access.status.as_str()));
        out.insert("access_type".into(), json!(access.access_type.as_str()));
    }
    out
}

/// A user as `/me` or `/{user_id}` shows it.
pub(crate) fn user(user: &User) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("id".into(), json!(user.id));
    out.insert("name".into(), json!(user.name));
    out
}

/// An assigned user (of an asset or an asset group).
pub(crate) fn assigned_user(
    world: &World,
    user_id: &str,
    business: Option<&str>,
    tasks: Option<Vec<String>>,
    roles: Option<&GroupRoles>,
) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("id".into(), json!(user_id));
    if let Some(u) = world.users.get(user_id) {
        out.insert("name".into(), json!(u.name));
        let user_type = match u.kind {
            UserKind::Person => "BUSINESS_USER",
            UserKind::SystemUser => "SYSTEM_USER",
        };
        out.insert("user_type".into(), json!(user_type));
    }
    if let Some(b) = business {
        out.insert("business".into(), world.business_ref(b));
    }
    if let Some(tasks) = tasks {
        out.insert("tasks".into(), json!(tasks));
    }
    if let Some(roles) = roles {
        insert_roles(&mut out, roles);
    }
    out
}

/// An asset group, optionally with one user's roles in it.
pub(crate) fn group(group: &AssetGroup, roles: Option<&GroupRoles>) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("id".into(), json!(group.id));
    out.insert("name".into(), json!(group.name));
    if let Some(roles) = roles {
        insert_roles(&mut out, roles);
    }
    out
}

fn insert_roles(out: &mut Map<String, Value>, roles: &GroupRoles) {
    out.insert("page_roles".into(), json!(roles.page_roles));
    out.insert("adaccount_roles".into(), json!(roles.adaccount_roles));
    out.insert("pixel_roles".into(), json!(roles.pixel_roles));
    out.insert(
        "offline_conversion_data_set_roles".into(),
        json!(roles.offline_conversion_data_set_roles),
    );
}

/// A related business with the permissions it has on `owner`'s assets (or
/// `owner` has on its assets): `page_permissions` and
/// `adaccount_permissions`, as BB02 shows them. `agency_view` renders a
/// pending agency request as CLIENT_RESPONSE_PENDING, as the agency sees it.
pub(crate) fn related_business(
    world: &World,
    business: &str,
    owner: &str,
    agency: &str,
    agency_view: bool,
) -> Map<String, Value> {
    let mut out = self::business(world, business, None);
    for (kind, key) in [
        (AssetKind::Page, "page_permissions"),
        (AssetKind::AdAccount, "adaccount_permissions"),
    ] {
        let perms: Vec<Value> = world
            .assets
            .values()
            .filter(|a| a.kind == kind)
            .filter(|a| a.owner().is_some_and(|o| o.business == owner))
            .filter_map(|a| {
                let access = a
                    .access_of(agency)
                    .filter(|x| x.access_type == AccessType::Agency)?;
                let status = match access.status {
                    AccessStatus::Pending if agency_view => AccessStatus::ClientResponsePending,
                    other => other,
                };
                Some(json!({
                    "id": a.graph_id(),
                    "permitted_tasks": access.permitted_tasks,
                    "access_status": status.as_str(),
                    "access_requested_time": graph_time(access.requested_at),
                    "access_updated_time": graph_time(access.updated_at),
                }))
            })
            .collect();
        if !perms.is_empty() {
            out.insert(key.into(), Value::Array(perms));
        }
    }
    out
}

/// An on-behalf-of request.
pub(crate) fn obo_request(world: &World, req: &OboRequest) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("id".into(), json!(req.id));
    out.insert("status".into(), json!(req.status.as_str()));
    out.insert(
        "receiving_business".into(),
        world.business_ref(&req.receiving),
    );
    out.insert(
        "requesting_business".into(),
        world.business_ref(&req.requesting),
    );
    out.insert("business_owned_object".into(), json!(req.ad_account));
    out
}

/// A custom audience.
pub(crate) fn custom_audience(audience: &CustomAudience) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("id".into(), json!(audience.id));
    out.insert("name".into(), json!(audience.name));
    out.insert("account_id".into(), json!(audience.ad_account));
    out
}

/// An audience sharing relationship request.
pub(crate) fn sharing_request(world: &World, rel: &SharingRelationship) -> Map<String, Value> {
    let audiences: Vec<Value> = rel
        .audiences
        .iter()
        .filter_map(|(audience, account)| {
            let a = world.audiences.get(audience)?;
            let account_name = world
                .assets
                .get(account)
                .map(|x| x.name.clone())
                .unwrap_or_default();
            Some(json!({
                "id": a.id,
                "name": a.name,
                "share_account_name": account_name,
                "share_account_id": account,
            }))
        })
        .collect();
    let mut out = Map::new();
    out.insert("id".into(), json!(rel.id));
    out.insert("initiator".into(), world.business_ref(&rel.initiator));
    out.insert("recipient".into(), world.business_ref(&rel.recipient));
    out.insert("request_status".into(), json!(rel.status.as_str()));
    out.insert("relationship_type".into(), json!(rel.relationship_type));
    out.insert("custom_audiences".into(), Value::Array(audiences));
    out
}

/// Graph's time format, e.g. `2014-01-07T23:26:09+0000`.
pub(crate) fn graph_time(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}+0000",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's algorithm, for non-negative days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// `{"access_status": ...}`, the claim result.
pub(crate) fn claim_result(status: AccessStatus) -> Value {
    json!({ "access_status": status.as_str() })
}
