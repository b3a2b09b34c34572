//! A business's relationship to its assets: owned/client/pending lists,
//! claims (AA01, PG01, PG02, AP05, AP06), creation (AA02) and removal (AA05,
//! PG06, AP04, IG06); Instagram business assets (IG09, IG10).

use serde_json::{json, Value};

use super::{param_asset, require_admin, require_member, success, Call};
use crate::sandbox::render::{self, View};
use crate::sandbox::wire::{subcode, GraphError};
use crate::sandbox::world::{Access, AccessStatus, AccessType, Asset, AssetKind, World, DAY};

/// Which of a business's access entries a list edge shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Relation {
    /// OWNER, CONFIRMED (`owned_*`).
    Owned,
    /// OWNER, PENDING (`pending_owned_*`).
    OwnedPending,
    /// AGENCY, CONFIRMED (`client_*`).
    Client,
    /// AGENCY, PENDING (`pending_client_*`).
    ClientPending,
    /// Any confirmed access (`instagram_accounts`).
    Any,
}

// === impl Relation ===

impl Relation {
    fn matches(self, access: &Access) -> bool {
        let confirmed = access.status == AccessStatus::Confirmed;
        let owner = access.access_type == AccessType::Owner;
        match self {
            Relation::Owned => owner && confirmed,
            Relation::OwnedPending => owner && !confirmed,
            Relation::Client => !owner && confirmed,
            Relation::ClientPending => !owner && !confirmed,
            Relation::Any => confirmed,
        }
    }
}

/// How long a page admin must have been admin for an OWNER claim to be
/// confirmed at once (PG01).
pub(crate) const PAGE_CLAIM_ADMIN_AGE: u64 = 7 * DAY;

/// AA03/AA10, PG04/PG05, AP01/AP02, PX01/PX02, IG01/IG02/IG14, CT01/CT02,
/// WA01/WA02: the
/// business's assets of a kind in a relation. AA03 takes
/// `include_shared_ad_accounts` (adds the ad accounts the business holds
/// as an agency) and `search_query`, AA10 `search_query` (a
/// case-insensitive match on the name or id).
///
/// AA04/AA11, PG03/PG11, AP03 (pending relations) answer request objects,
/// as Meta's spec has them: `BusinessAdAccountRequest {id, ad_account}`,
/// `BusinessPageRequest {id, page}`, `BusinessApplicationRequest {id,
/// application}`, whose id is the request's own.
pub(super) fn list(
    world: &mut World,
    call: &Call,
    biz: &str,
    kind: AssetKind,
    relation: Relation,
) -> Result<Value, GraphError> {
    require_member(world, &call.actor, biz)?;
    let include_shared = kind == AssetKind::AdAccount
        && relation == Relation::Owned
        && call
            .params
            .get("include_shared_ad_accounts")
            .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
    let search = call.params.get("search_query").map(str::to_ascii_lowercase);
    let keys: Vec<String> = world
        .assets
        .values()
        .filter(|a| a.kind == kind)
        .filter(|a| {
            a.access_of(biz).is_some_and(|acc| {
                relation.matches(acc) || (include_shared && Relation::Client.matches(acc))
            })
        })
        .filter(|a| {
            search
                .as_deref()
                .is_none_or(|q| a.name.to_ascii_lowercase().contains(q) || a.graph_id().contains(q))
        })
        .map(|a| a.id.clone())
        .collect();
    let pending = matches!(relation, Relation::OwnedPending | Relation::ClientPending);
    let request_type = match kind {
        AssetKind::AdAccount => Some((&render::AD_ACCOUNT_REQUEST, "ad_account")),
        AssetKind::Page => Some((&render::PAGE_REQUEST, "page")),
        AssetKind::App => Some((&render::APP_REQUEST, "application")),
        _ => None,
    };
    let request_ids: Vec<Option<String>> = keys
        .iter()
        .map(|k| (pending && request_type.is_some()).then(|| world.access_request_id(k, biz)))
        .collect();
    let via = [biz.to_string()];
    let items = keys
        .iter()
        .zip(request_ids)
        .filter_map(|(key, request)| {
            let a = world.assets.get(key)?;
            let view = View {
                business: Some(biz),
                user: Some(&call.actor),
                tasks_via: Some(&via),
            };
            let full = render::asset(world, a, view);
            Some(match (request, request_type) {
                (Some(id), Some((_, field))) => {
                    let mut item = serde_json::Map::new();
                    item.insert("id".into(), json!(id));
                    item.insert(field.into(), Value::Object(full));
                    item
                }
                _ => full,
            })
        })
        .collect();
    match request_type.filter(|_| pending) {
        Some((ty, _)) => super::list(call, ty, items, None),
        None => super::list(call, render::node_type(kind), items, None),
    }
}

/// IG09 GET /{business_id}/owned_instagram_assets, IG10 GET
/// /{business_id}/client_instagram_assets: the Instagram accounts the
/// business owns (or holds as a confirmed agency), as the
/// InstagramBusinessAsset objects Meta's spec answers.
pub(super) fn instagram_assets(
    world: &mut World,
    call: &Call,
    biz: &str,
    relation: Relation,
) -> Result<Value, GraphError> {
    require_member(world, &call.actor, biz)?;
    let items = world
        .assets
        .values()
        .filter(|a| a.kind == AssetKind::InstagramAccount)
        .filter(|a| a.access_of(biz).is_some_and(|acc| relation.matches(acc)))
        .map(render::instagram_asset)
        .collect();
    super::list(call, &render::INSTAGRAM_ASSET, items, None)
}

/// The parameter naming the asset in claims and removals.
fn asset_param(kind: AssetKind) -> &'static str {
    match kind {
        AssetKind::AdAccount => "adaccount_id",
        AssetKind::Page => "page_id",
        AssetKind::App => "app_id",
        AssetKind::InstagramAccount => "instagram_account",
        _ => "asset_id",
    }
}

fn owned_elsewhere(world: &World, asset: &Asset, biz: &str) -> Option<GraphError> {
    let owner = asset.owner()?;
    (owner.business != biz).then(|| {
        let name = world
            .businesses
            .get(&owner.business)
            .map(|b| b.name.as_str())
            .unwrap_or_default();
        GraphError::rule(
            subcode::OWNED_ELSEWHERE,
            format!(
                "{} {} is already owned by another business ({} {name})",
                capitalized(asset.kind.label()),
                asset.graph_id(),
                owner.business
            ),
        )
    })
}

pub(super) fn capitalized(label: &str) -> String {
    let mut chars = label.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Sets (or replaces) a business's access entry.
pub(super) fn upsert_access(
    world: &mut World,
    key: &str,
    biz: &str,
    access_type: AccessType,
    status: AccessStatus,
    permitted_tasks: Vec<String>,
) {
    let now = world.now();
    let Some(asset) = world.assets.get_mut(key) else {
        return;
    };
    match asset.access.iter_mut().find(|a| a.business == biz) {
        Some(entry) => {
            entry.access_type = access_type;
            entry.status = status;
            entry.permitted_tasks = permitted_tasks;
            entry.updated_at = now;
        }
        None => asset.access.push(Access {
            business: biz.to_string(),
            access_type,
            status,
            permitted_tasks,
            requested_at: now,
            updated_at: now,
        }),
    }
    if access_type == AccessType::Owner && status == AccessStatus::Confirmed {
        // Other businesses' ownership claims are moot now.
        asset.access.retain(|a| {
            a.business == biz
                || a.access_type != AccessType::Owner
                || a.status == AccessStatus::Confirmed
        });
    }
}

/// AA01 POST /{business_id}/owned_ad_accounts adaccount_id=act_N,
/// PG01 POST /{business_id}/owned_pages page_id=,
/// AP05 POST /{business_id}/owned_apps app_id=.
///
/// Ad accounts and apps: CONFIRMED when the caller administers the asset,
/// else PENDING (a request to its admins). Pages: CONFIRMED when the caller
/// has been the page's admin for more than 7 days, PENDING when for 7 days
/// or less, and an error (no request) when the caller is not its admin.
pub(super) fn claim_owner(
    world: &mut World,
    call: &Call,
    biz: &str,
    kind: AssetKind,
) -> Result<Value, GraphError> {
    require_admin(world, &call.actor, biz)?;
    let key = param_asset(world, call, asset_param(kind), kind)?;
    let asset = super::asset(world, &key)?;
    if let Some(err) = owned_elsewhere(world, asset, biz) {
        return Err(err);
    }
    if asset.owner().is_some() {
        return Ok(render::claim_result(AccessStatus::Confirmed));
    }
    let actor = call.actor.as_str();
    let status = match kind {
        AssetKind::Page => {
            let Some(since) = world.admin_since(asset, actor) else {
                return Err(GraphError::permission(format!(
                    "User {actor} does not have permission to claim Page {key}: only an admin of the Page can claim it for a business (no request was sent)"
                )));
            };
            if world.now().saturating_sub(since) > PAGE_CLAIM_ADMIN_AGE {
                AccessStatus::Confirmed
            } else {
                AccessStatus::Pending
            }
        }
        _ if world.is_asset_admin(asset, actor) => AccessStatus::Confirmed,
        _ => AccessStatus::Pending,
    };
    let permitted: Vec<String> = kind.owner_tasks().iter().map(|t| t.to_string()).collect();
    upsert_access(world, &key, biz, AccessType::Owner, status, permitted);
    Ok(render::claim_result(status))
}

/// PG02 POST /{business_id}/client_pages page_id=, permitted_tasks=;
/// AP06 POST /{business_id}/client_apps app_id= (permitted_tasks optional).
///
/// The asset must be owned by another business. CONFIRMED when the caller
/// administers the asset, else PENDING (a request to its admins).
pub(super) fn claim_agency(
    world: &mut World,
    call: &Call,
    biz: &str,
    kind: AssetKind,
) -> Result<Value, GraphError> {
    require_admin(world, &call.actor, biz)?;
    let key = param_asset(world, call, asset_param(kind), kind)?;
    let tasks = match (kind, call.params.list("permitted_tasks")?) {
        (_, Some(tasks)) if !tasks.is_empty() => {
            super::check_tasks(kind, kind.business_tasks(), "permitted_tasks", &tasks)?
        }
        (AssetKind::App, _) => Vec::new(),
        _ => {
            return Err(GraphError::param(
                "The parameter permitted_tasks is required: permitted_tasks is required for AGENCY access requests",
            ))
        }
    };
    let asset = super::asset(world, &key)?;
    let Some(owner) = asset.owner() else {
        return Err(GraphError::rule(
            subcode::NOT_BUSINESS_OWNED,
            format!(
                "{} {key} is not owned by a business: agency access can only be requested for business-owned assets",
                capitalized(kind.label())
            ),
        ));
    };
    if owner.business == biz {
        return Err(GraphError::param(format!(
            "Business {biz} already owns {} {key}",
            kind.label()
        )));
    }
    if let Some(existing) = asset.access_of(biz) {
        if existing.status == AccessStatus::Confirmed {
            return Ok(render::claim_result(AccessStatus::Confirmed));
        }
    }
    let status = if world.is_asset_admin(asset, &call.actor) {
        AccessStatus::Confirmed
    } else {
        AccessStatus::Pending
    };
    upsert_access(world, &key, biz, AccessType::Agency, status, tasks);
    Ok(render::claim_result(status))
}

/// The parameters AA02 requires, in the seed's order.
const CREATE_AD_ACCOUNT_REQUIRED: &[&str] = &[
    "name",
    "currency",
    "timezone_id",
    "end_advertiser",
    "media_agency",
    "partner",
];

/// First id of ad accounts the sandbox creates.
const CREATED_AD_ACCOUNT_IDS: u64 = 2_000_000_101;

/// AA02 POST /{business_id}/adaccount: creates a new ad account owned by the
/// business (each call creates another one).
pub(super) fn create_ad_account(
    world: &mut World,
    call: &Call,
    biz: &str,
) -> Result<Value, GraphError> {
    require_admin(world, &call.actor, biz)?;
    for name in CREATE_AD_ACCOUNT_REQUIRED {
        call.params.require(name)?;
    }
    let p = |name: &str| call.params.get(name).unwrap_or_default().to_string();
    let currency = p("currency");
    if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(GraphError::param(
            "Param currency must be a valid ISO 4217 currency code",
        ));
    }
    let timezone_id: u64 = p("timezone_id").parse().map_err(|_| {
        GraphError::param("Param timezone_id must be a valid timezone id (an integer)")
    })?;
    let (end_advertiser, media_agency, partner) =
        (p("end_advertiser"), p("media_agency"), p("partner"));
    let id = world.next_id(CREATED_AD_ACCOUNT_IDS);
    let now = world.now();
    let mut asset = Asset::new(AssetKind::AdAccount, id.clone(), p("name"));
    asset
        .attrs
        .insert("currency".into(), json!(currency.to_ascii_uppercase()));
    asset.attrs.insert("timezone_id".into(), json!(timezone_id));
    asset.access.push(Access {
        business: biz.to_string(),
        access_type: AccessType::Owner,
        status: AccessStatus::Confirmed,
        permitted_tasks: AssetKind::AdAccount
            .owner_tasks()
            .iter()
            .map(|t| t.to_string())
            .collect(),
        requested_at: now,
        updated_at: now,
    });
    world.assets.insert(id.clone(), asset);
    Ok(json!({
        "id": format!("act_{id}"),
        "account_id": id,
        "business_id": biz,
        "end_advertiser_id": end_advertiser,
        "media_agency_id": media_agency,
        "partner_id": partner,
    }))
}

/// AA05 DELETE /{business_id}/ad_accounts adaccount_id=act_N,
/// PG06 DELETE /{business_id}/pages page_id=,
/// AP04 DELETE /{business_id}/apps app_id=,
/// IG06 DELETE /{business_id}/instagram_accounts instagram_account=.
///
/// Ad accounts: refused when the business is OWNER with CONFIRMED access.
/// Pages: refused while people still hold tasks on the page from the
/// business (remove them first with DELETE /{page_id}/assigned_users).
/// When the owner lets an asset go, its agencies lose their access too.
pub(super) fn remove(
    world: &mut World,
    call: &Call,
    biz: &str,
    kind: AssetKind,
) -> Result<Value, GraphError> {
    require_admin(world, &call.actor, biz)?;
    let key = param_asset(world, call, asset_param(kind), kind)?;
    let asset = super::asset(world, &key)?;
    let Some(access) = asset.access_of(biz) else {
        return Err(GraphError::rule(
            subcode::NOT_IN_BUSINESS,
            format!(
                "{} {} is not associated with business {biz}",
                capitalized(kind.label()),
                asset.graph_id()
            ),
        ));
    };
    if kind == AssetKind::AdAccount
        && access.access_type == AccessType::Owner
        && access.status == AccessStatus::Confirmed
    {
        return Err(GraphError::rule(
            subcode::OWNED_AND_CONFIRMED,
            format!(
                "You cannot remove an ad account your business owns and has confirmed access to ({} is owned by business {biz})",
                asset.graph_id()
            ),
        ));
    }
    if kind == AssetKind::Page {
        let people: Vec<&str> = asset
            .grants
            .iter()
            .filter(|g| g.business == biz)
            .map(|g| g.user.as_str())
            .collect();
        if !people.is_empty() {
            return Err(GraphError::rule(
                subcode::PAGE_HAS_PEOPLE,
                format!(
                    "Page {key} still has people with tasks from business {biz} (users {}); remove them with DELETE /{key}/assigned_users before removing the Page",
                    people.join(", ")
                ),
            ));
        }
    }
    let was_owner =
        access.access_type == AccessType::Owner && access.status == AccessStatus::Confirmed;
    // Agencies hold their access through the owner: they lose it with it.
    let agencies: Vec<String> = if was_owner {
        asset
            .access
            .iter()
            .filter(|a| a.access_type == AccessType::Agency)
            .map(|a| a.business.clone())
            .collect()
    } else {
        Vec::new()
    };
    world.drop_access(&key, biz);
    for agency in agencies {
        world.drop_access(&key, &agency);
    }
    Ok(success())
}
