//! People on assets: `assigned_users` of ad accounts, pages, catalogs,
//! pixels, Instagram accounts and WhatsApp Business accounts (AA07–AA09,
//! PG07, PG09, PG10, CT03, CT04, CT06, and beyond the catalogue PX05–PX06,
//! IG11–IG13, WA03–WA05) and the user-side lists (AA06, PG08, CT05).
//!
//! Rules: the acting business (the `business` parameter, else the caller's
//! business with confirmed access) must have confirmed access to the asset
//! and the caller must be its admin to change anything; the user must be a
//! member of that business; tasks must be valid for the asset type and
//! within the business's permitted tasks; and a user whose permission on an
//! ad account or page comes from a business asset group cannot be changed or
//! removed at the asset level (the seed's "Limitations").

use std::collections::BTreeSet;

use serde_json::Value;

use super::{
    check_tasks, context_business, list, param_user, require_visible, success, visible_businesses,
    Call,
};
use crate::sandbox::render::{self, View, ASSIGNED_USER};
use crate::sandbox::wire::{subcode, GraphError};
use crate::sandbox::world::{AccessType, Asset, AssetKind, TaskGrant, World};

/// AA07 GET /act_{id}/assigned_users, PG09 GET /{page_id}/assigned_users,
/// CT06 GET /{catalog_id}/assigned_users, PX05 GET
/// /{pixel_id}/assigned_users: users with tasks from the business.
pub(super) fn asset_users(world: &mut World, call: &Call, key: &str) -> Result<Value, GraphError> {
    let asset = super::asset(world, key)?;
    require_visible(world, &call.actor, asset)?;
    let biz = context_business(world, call, asset, false)?;
    let via = [biz.clone()];
    let mut people: BTreeSet<&str> = asset
        .grants
        .iter()
        .filter(|g| g.business == biz)
        .map(|g| g.user.as_str())
        .collect();
    for group in world.groups.values().filter(|g| g.business == biz) {
        if group.assets.contains(&asset.id) {
            people.extend(group.users.keys().map(String::as_str));
        }
    }
    let items = people
        .into_iter()
        .filter_map(|user| {
            let tasks = world.effective_tasks(asset, user, Some(&via));
            (!tasks.is_empty())
                .then(|| render::assigned_user(world, user, Some(&biz), Some(tasks), None))
        })
        .collect();
    list(call, &ASSIGNED_USER, items, None)
}

/// Refuses asset-level changes for a user whose permission on the asset
/// comes from one of the business's asset groups.
fn refuse_group_derived(
    world: &World,
    asset: &Asset,
    user: &str,
    biz: &str,
) -> Result<(), GraphError> {
    if asset.kind.group_role_key().is_none() {
        return Ok(());
    }
    let groups: Vec<&str> = world
        .group_grants(asset, user, Some(biz))
        .into_iter()
        .map(|(g, _)| g.id.as_str())
        .collect();
    match groups.first() {
        None => Ok(()),
        Some(first) => Err(GraphError::rule(
            subcode::FROM_ASSET_GROUP,
            format!(
                "Cannot change the permissions of user {user} on {} {}: the permission comes from business asset group {first} and must be changed there (remove the user from business asset group(s) {} first)",
                asset.kind.label(),
                asset.graph_id(),
                groups.join(", ")
            ),
        )),
    }
}

/// AA08 POST /act_{id}/assigned_users user=, tasks=;
/// PG07 POST /{page_id}/assigned_users user=, tasks=;
/// CT03 POST /{catalog_id}/assigned_users user=, tasks=;
/// PX06 POST /{pixel_id}/assigned_users user=, tasks= (Meta's spec gives
/// PG07, CT03 and PX06 no `business`: the acting business is the caller's).
/// Adds the user or replaces their tasks.
pub(super) fn assign(world: &mut World, call: &Call, key: &str) -> Result<Value, GraphError> {
    let asset = super::asset(world, key)?;
    let biz = context_business(world, call, asset, true)?;
    let user = param_user(world, call, "user")?.to_string();
    let tasks = call.params.require_list("tasks")?;
    let tasks = check_tasks(asset.kind, asset.kind.user_tasks(), "tasks", &tasks)?;
    if world.role(&user, &biz).is_none() {
        return Err(GraphError::rule(
            subcode::USER_NOT_IN_BUSINESS,
            format!(
                "User {user} is not a member of business {biz}; add them to the business first"
            ),
        ));
    }
    let access = asset.access_of(&biz);
    let owner = access.is_some_and(|a| a.access_type == AccessType::Owner);
    let permitted = access
        .map(|a| a.permitted_tasks.clone())
        .unwrap_or_default();
    // The owner may assign every task; an agency, its permitted tasks.
    if let Some(extra) = tasks.iter().find(|t| !owner && !permitted.contains(t)) {
        return Err(GraphError::rule(
            subcode::TASKS_NOT_PERMITTED,
            format!(
                "Business {biz} cannot assign task {extra} on {} {}: its permitted tasks are [{}]",
                asset.kind.label(),
                asset.graph_id(),
                permitted.join(", ")
            ),
        ));
    }
    refuse_group_derived(world, asset, &user, &biz)?;
    let now = world.now();
    let Some(asset) = world.assets.get_mut(key) else {
        return Err(GraphError::unknown_object("POST", key));
    };
    match asset
        .grants
        .iter_mut()
        .find(|g| g.user == user && g.business == biz)
    {
        Some(grant) => {
            let had_manage = grant.tasks.iter().any(|t| t == "MANAGE");
            if !had_manage && tasks.iter().any(|t| t == "MANAGE") {
                grant.since = now;
            }
            grant.tasks = tasks;
        }
        None => asset.grants.push(TaskGrant {
            user,
            business: biz,
            tasks,
            since: now,
        }),
    }
    Ok(success())
}

/// AA09 DELETE /act_{id}/assigned_users user=;
/// PG10 DELETE /{page_id}/assigned_users user=;
/// CT04 DELETE /{catalog_id}/assigned_users user=.
pub(super) fn unassign(world: &mut World, call: &Call, key: &str) -> Result<Value, GraphError> {
    let asset = super::asset(world, key)?;
    let biz = context_business(world, call, asset, true)?;
    let user = param_user(world, call, "user")?.to_string();
    refuse_group_derived(world, asset, &user, &biz)?;
    if let Some(asset) = world.assets.get_mut(key) {
        asset
            .grants
            .retain(|g| !(g.user == user && g.business == biz));
    }
    Ok(success())
}

/// AA06 GET /{user}/assigned_ad_accounts, PG08 GET /{user}/assigned_pages,
/// CT05 GET /{user}/assigned_product_catalogs: assets the user holds tasks
/// on (direct or through asset groups), through the businesses the caller
/// shares with the user. PG08 takes `pages` (a list of page ids: only
/// those).
pub(super) fn user_assets(
    world: &mut World,
    call: &Call,
    user: &str,
    kind: AssetKind,
) -> Result<Value, GraphError> {
    let via = visible_businesses(world, &call.actor, user)?;
    let only = match kind {
        AssetKind::Page => call.params.list("pages")?,
        _ => None,
    };
    let items = world
        .assets
        .values()
        .filter(|a| a.kind == kind)
        .filter(|a| only.as_ref().is_none_or(|ids| ids.contains(&a.id)))
        .filter(|a| !world.effective_tasks(a, user, via.as_deref()).is_empty())
        .map(|a| {
            let view = View {
                business: None,
                user: Some(user),
                tasks_via: via.as_deref(),
            };
            render::asset(world, a, view)
        })
        .collect();
    list(call, render::node_type(kind), items, None)
}
