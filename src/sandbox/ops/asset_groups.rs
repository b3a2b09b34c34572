//! Business asset groups: AG01–AG32.
//!
//! Reads need membership of the group's business; every add, remove, rename
//! and delete needs a business admin (the seed: "Access token's user needs to
//! be an admin of the business"). Mutations answer `{"success": true}`, as
//! Graph does (the seed's bare `true` crashes Meta's Python SDK).

use serde_json::Value;

use super::{
    list, node, param_user, require_admin, require_member, success, visible_businesses, Call,
};
use crate::sandbox::render::{self, View, ASSET_GROUP, ASSIGNED_USER};
use crate::sandbox::wire::{subcode, GraphError};
use crate::sandbox::world::{AssetGroup, AssetKind, GroupRoles, World};

/// The asset kind of a `contained_*` edge.
pub(crate) fn contained_kind(edge: &str) -> Option<AssetKind> {
    Some(match edge {
        "contained_pages" => AssetKind::Page,
        "contained_adaccounts" => AssetKind::AdAccount,
        "contained_product_catalogs" => AssetKind::Catalog,
        "contained_instagram_accounts" => AssetKind::InstagramAccount,
        "contained_pixels" => AssetKind::Pixel,
        "contained_offline_conversion_data_sets" => AssetKind::OfflineConversionDataSet,
        "contained_applications" => AssetKind::App,
        "contained_custom_conversions" => AssetKind::CustomConversion,
        _ => return None,
    })
}

/// What a `contained_*` edge answers without `fields=` (the seeds' shapes).
fn contained_defaults(kind: AssetKind) -> Option<&'static [&'static str]> {
    match kind {
        AssetKind::AdAccount => Some(&["account_id", "id"]),
        AssetKind::InstagramAccount | AssetKind::Pixel | AssetKind::CustomConversion => {
            Some(&["id"])
        }
        AssetKind::OfflineConversionDataSet => Some(&[
            "id",
            "name",
            "business",
            "enable_auto_assign_to_accounts",
            "is_restricted_use",
        ]),
        AssetKind::App => Some(&["category", "link", "name", "id"]),
        // WhatsApp Business accounts are in no asset group edge.
        AssetKind::Page | AssetKind::Catalog | AssetKind::WhatsAppBusinessAccount => None,
    }
}

fn group<'w>(world: &'w World, id: &str) -> Result<&'w AssetGroup, GraphError> {
    world
        .groups
        .get(id)
        .ok_or_else(|| GraphError::unknown_object("GET", id))
}

/// Checks the optional `business` parameter names the group's business and
/// returns that business.
fn group_business(world: &World, call: &Call, id: &str) -> Result<String, GraphError> {
    let g = group(world, id)?;
    if let Some(b) = call.params.get("business") {
        if b != g.business {
            return Err(GraphError::param(format!(
                "Business asset group {id} does not belong to business {b}"
            )));
        }
    }
    Ok(g.business.clone())
}

fn readable(world: &World, call: &Call, id: &str) -> Result<String, GraphError> {
    let biz = group_business(world, call, id)?;
    require_member(world, &call.actor, &biz)?;
    Ok(biz)
}

fn writable(world: &World, call: &Call, id: &str) -> Result<String, GraphError> {
    let biz = group_business(world, call, id)?;
    require_admin(world, &call.actor, &biz)?;
    Ok(biz)
}

/// AG01 GET /{business_id}/business_asset_groups (optional
/// `contained_asset_id` filter, as the seed's REVOKE procedure uses).
pub(super) fn for_business(world: &mut World, call: &Call, biz: &str) -> Result<Value, GraphError> {
    require_member(world, &call.actor, biz)?;
    let contained = call
        .params
        .get("contained_asset_id")
        .map(|a| a.strip_prefix("act_").unwrap_or(a));
    let items = world
        .groups
        .values()
        .filter(|g| g.business == biz)
        .filter(|g| contained.is_none_or(|a| g.assets.contains(a)))
        .map(|g| render::group(g, None))
        .collect();
    list(call, &ASSET_GROUP, items, None)
}

/// AG02 GET /{asset_group_id}.
pub(super) fn read(world: &mut World, call: &Call, id: &str) -> Result<Value, GraphError> {
    readable(world, call, id)?;
    let full = render::group(group(world, id)?, None);
    node(call, &ASSET_GROUP, &full)
}

/// AG03 POST /{asset_group_id} name=.
pub(super) fn rename(world: &mut World, call: &Call, id: &str) -> Result<Value, GraphError> {
    writable(world, call, id)?;
    let name = call.params.require("name")?.to_string();
    if let Some(g) = world.groups.get_mut(id) {
        g.name = name;
    }
    Ok(success())
}

/// AG04 DELETE /{asset_group_id}.
pub(super) fn delete(world: &mut World, call: &Call, id: &str) -> Result<Value, GraphError> {
    writable(world, call, id)?;
    world.groups.remove(id);
    Ok(success())
}

/// AG05 GET /{business_scoped_user_id}/assigned_business_asset_groups
/// (optional `contained_asset_id`: only groups containing that asset).
pub(super) fn for_user(world: &mut World, call: &Call, user: &str) -> Result<Value, GraphError> {
    let via = visible_businesses(world, &call.actor, user)?;
    let contained = call
        .params
        .get("contained_asset_id")
        .map(|a| a.strip_prefix("act_").unwrap_or(a));
    let items = world
        .groups
        .values()
        .filter(|g| via.as_ref().is_none_or(|v| v.contains(&g.business)))
        .filter(|g| contained.is_none_or(|a| g.assets.contains(a)))
        .filter_map(|g| g.users.get(user).map(|roles| render::group(g, Some(roles))))
        .collect();
    list(call, &ASSET_GROUP, items, None)
}

/// AG06 GET /{asset_group_id}/assigned_users.
pub(super) fn users(world: &mut World, call: &Call, id: &str) -> Result<Value, GraphError> {
    let biz = readable(world, call, id)?;
    let g = group(world, id)?;
    let items = g
        .users
        .iter()
        .map(|(user, roles)| render::assigned_user(world, user, Some(&biz), None, Some(roles)))
        .collect();
    list(call, &ASSIGNED_USER, items, None)
}

/// The task parameters of AG07 (Meta's spec names) and the asset kind whose
/// tasks they take.
const TASK_PARAMS: &[(&str, AssetKind)] = &[
    ("page_tasks", AssetKind::Page),
    ("adaccount_tasks", AssetKind::AdAccount),
    ("pixel_tasks", AssetKind::Pixel),
    (
        "offline_conversion_data_set_tasks",
        AssetKind::OfflineConversionDataSet,
    ),
];

/// AG07 POST /{asset_group_id}/assigned_users user=, page_tasks=,
/// adaccount_tasks=, pixel_tasks=, offline_conversion_data_set_tasks=:
/// assigns a business user with tasks per asset type (what the user then
/// holds on the group's assets of that type). Task lists not given keep
/// their current value.
pub(super) fn assign_user(world: &mut World, call: &Call, id: &str) -> Result<Value, GraphError> {
    let biz = writable(world, call, id)?;
    let user = param_user(world, call, "user")?.to_string();
    if world.role(&user, &biz).is_none() {
        return Err(GraphError::rule(
            subcode::USER_NOT_IN_BUSINESS,
            format!(
                "User {user} is not a member of business {biz}; add them to the business first"
            ),
        ));
    }
    let mut given = Vec::new();
    for (param, kind) in TASK_PARAMS {
        if let Some(tasks) = call.params.list(param)? {
            let tasks = super::check_tasks(*kind, kind.user_tasks(), param, &tasks)?;
            given.push((*kind, tasks));
        }
    }
    if let Some(g) = world.groups.get_mut(id) {
        let entry = g.users.entry(user).or_insert_with(GroupRoles::default);
        for (kind, tasks) in given {
            if let Some(slot) = entry.for_kind_mut(kind) {
                *slot = tasks;
            }
        }
    }
    Ok(success())
}

/// AG08 DELETE /{asset_group_id}/assigned_users user=.
pub(super) fn remove_user(world: &mut World, call: &Call, id: &str) -> Result<Value, GraphError> {
    writable(world, call, id)?;
    let user = param_user(world, call, "user")?.to_string();
    if let Some(g) = world.groups.get_mut(id) {
        g.users.remove(&user);
    }
    Ok(success())
}

/// AG09/12/15/18/21/24/27/30 GET /{asset_group_id}/contained_*.
pub(super) fn contained(
    world: &mut World,
    call: &Call,
    id: &str,
    kind: AssetKind,
) -> Result<Value, GraphError> {
    let biz = readable(world, call, id)?;
    let g = group(world, id)?;
    let items = g
        .assets
        .iter()
        .filter_map(|a| world.assets.get(a))
        .filter(|a| a.kind == kind)
        .map(|a| {
            let view = View {
                business: Some(&biz),
                ..View::default()
            };
            render::asset(world, a, view)
        })
        .collect();
    list(
        call,
        render::node_type(kind),
        items,
        contained_defaults(kind),
    )
}

/// AG10/13/16/19/22/25/28/31 POST /{asset_group_id}/contained_* asset_id=:
/// the group's business must own the asset or have it shared (confirmed).
pub(super) fn add_asset(
    world: &mut World,
    call: &Call,
    id: &str,
    kind: AssetKind,
) -> Result<Value, GraphError> {
    let biz = writable(world, call, id)?;
    let key = super::param_asset(world, call, "asset_id", kind)?;
    let asset = super::asset(world, &key)?;
    if !asset.confirmed_for(&biz) {
        return Err(GraphError::rule(
            subcode::NOT_IN_BUSINESS,
            format!(
                "{} {} is not owned by or shared with business {biz}",
                kind.label(),
                asset.graph_id()
            ),
        ));
    }
    if let Some(g) = world.groups.get_mut(id) {
        g.assets.insert(key);
    }
    Ok(success())
}

/// AG11/14/17/20/23/26/29/32 DELETE /{asset_group_id}/contained_* asset_id=.
pub(super) fn remove_asset(
    world: &mut World,
    call: &Call,
    id: &str,
    kind: AssetKind,
) -> Result<Value, GraphError> {
    writable(world, call, id)?;
    let key = super::param_asset(world, call, "asset_id", kind)?;
    if let Some(g) = world.groups.get_mut(id) {
        g.assets.remove(&key);
    }
    Ok(success())
}
