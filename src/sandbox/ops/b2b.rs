//! Business-to-business relationships seen from a business: BB02 clients,
//! BB09 agencies, BB10 removing an agency, BB11 leaving a client. (BB01 is a
//! claim, in `business_assets`; BB03–BB08 are per asset, in `agencies`.)
//! And the businesses a business owns (child businesses, CB01–CB03, beyond
//! the catalogue): listed by the parent's members, created and deleted by
//! its admins; the creator becomes the child's admin; a child business owns
//! no businesses.

use std::collections::BTreeSet;

use serde_json::Value;

use serde_json::{json, Map};

use super::business_assets::upsert_access;
use super::{check_tasks, list, param_business, require_admin, require_member, success, Call};
use crate::sandbox::render::{self, OWNED_BUSINESS, RELATED_BUSINESS};
use crate::sandbox::wire::{subcode, GraphError};
use crate::sandbox::world::{
    AccessStatus, AccessType, AssetKind, Business, Role, World, CREATED_BUSINESS_IDS,
};

/// Assets owned by `owner` on which `agency` holds AGENCY access (any status).
fn shared_assets(world: &World, owner: &str, agency: &str) -> Vec<String> {
    world
        .assets
        .values()
        .filter(|a| a.owner().is_some_and(|o| o.business == owner))
        .filter(|a| {
            a.access_of(agency)
                .is_some_and(|x| x.access_type == AccessType::Agency)
        })
        .map(|a| a.id.clone())
        .collect()
}

/// Businesses owning assets `agency` is an agency of.
fn clients_of(world: &World, agency: &str) -> BTreeSet<String> {
    world
        .assets
        .values()
        .filter(|a| {
            a.access_of(agency)
                .is_some_and(|x| x.access_type == AccessType::Agency)
        })
        .filter_map(|a| a.owner().map(|o| o.business.clone()))
        .collect()
}

/// Businesses that are agencies of assets `owner` owns.
fn agencies_of(world: &World, owner: &str) -> BTreeSet<String> {
    world
        .assets
        .values()
        .filter(|a| a.owner().is_some_and(|o| o.business == owner))
        .flat_map(|a| {
            a.access
                .iter()
                .filter(|x| x.access_type == AccessType::Agency)
                .map(|x| x.business.clone())
        })
        .collect()
}

/// BB02 GET /{business_id}/clients: businesses that gave (or were asked for)
/// access, with `page_permissions` / `adaccount_permissions`; a request
/// still waiting for the client shows as CLIENT_RESPONSE_PENDING.
pub(super) fn clients(world: &mut World, call: &Call, biz: &str) -> Result<Value, GraphError> {
    require_member(world, &call.actor, biz)?;
    let items = clients_of(world, biz)
        .iter()
        .map(|client| render::related_business(world, client, client, biz, true))
        .collect();
    list(call, &RELATED_BUSINESS, items, None)
}

/// BB09 GET /{business_id}/agencies: businesses with access to this
/// business's assets.
pub(super) fn agencies(world: &mut World, call: &Call, biz: &str) -> Result<Value, GraphError> {
    require_member(world, &call.actor, biz)?;
    let items = agencies_of(world, biz)
        .iter()
        .map(|agency| render::related_business(world, agency, biz, agency, false))
        .collect();
    list(call, &RELATED_BUSINESS, items, None)
}

/// BB10 DELETE /{business_id}/agencies business=: removes the agency from
/// every asset this business owns.
pub(super) fn remove_agency(
    world: &mut World,
    call: &Call,
    biz: &str,
) -> Result<Value, GraphError> {
    require_admin(world, &call.actor, biz)?;
    let agency = param_business(world, call, "business")?.to_string();
    let assets = shared_assets(world, biz, &agency);
    if assets.is_empty() {
        return Err(GraphError::rule(
            subcode::NOT_IN_BUSINESS,
            format!("Business {agency} is not an agency of business {biz}"),
        ));
    }
    for asset in assets {
        world.drop_access(&asset, &agency);
    }
    Ok(success())
}

/// BB11 DELETE /{business_id}/clients business=: this business stops being
/// an agency of the client's assets.
pub(super) fn remove_client(
    world: &mut World,
    call: &Call,
    biz: &str,
) -> Result<Value, GraphError> {
    require_admin(world, &call.actor, biz)?;
    let client = param_business(world, call, "business")?.to_string();
    let assets = shared_assets(world, &client, biz);
    if assets.is_empty() {
        return Err(GraphError::rule(
            subcode::NOT_IN_BUSINESS,
            format!("Business {biz} is not an agency of business {client}"),
        ));
    }
    for asset in assets {
        world.drop_access(&asset, biz);
    }
    Ok(success())
}

/// CB01 GET /{business_id}/owned_businesses: the business's child businesses,
/// optionally only the one with `child_business_external_id`, or those
/// `client_user_id` belongs to.
pub(super) fn owned_businesses(
    world: &mut World,
    call: &Call,
    biz: &str,
) -> Result<Value, GraphError> {
    require_member(world, &call.actor, biz)?;
    let external = call.params.get("child_business_external_id");
    let user = call.params.get("client_user_id");
    let items = world
        .businesses
        .values()
        .filter(|b| b.parent.as_deref() == Some(biz))
        .filter(|b| {
            external.is_none_or(|e| b.attrs.get("child_business_external_id") == Some(&json!(e)))
        })
        .filter(|b| user.is_none_or(|u| b.members.contains_key(u)))
        .map(|b| {
            let mut out = Map::new();
            out.insert("id".into(), json!(b.id));
            out.insert("name".into(), json!(b.name));
            for key in ["vertical", "timezone_id"] {
                if let Some(v) = b.attrs.get(key) {
                    out.insert(key.into(), v.clone());
                }
            }
            out
        })
        .collect();
    list(call, &OWNED_BUSINESS, items, None)
}

/// CB02 POST /{business_id}/owned_businesses name=, vertical=, timezone_id=,
/// child_business_external_id=, shared_page_id= with page_permitted_tasks=
/// (a page the parent owns, shared with the child as its agency): by an
/// admin of the parent, who becomes the child's admin. Answers `{id}`.
pub(super) fn create_owned_business(
    world: &mut World,
    call: &Call,
    biz: &str,
) -> Result<Value, GraphError> {
    require_admin(world, &call.actor, biz)?;
    if world
        .businesses
        .get(biz)
        .is_some_and(|b| b.parent.is_some())
    {
        return Err(GraphError::param(format!(
            "Business {biz} is a child business and cannot own businesses"
        )));
    }
    let name = call.params.require("name")?.trim().to_string();
    if name.is_empty() {
        return Err(GraphError::required("name"));
    }
    let vertical = call.params.require("vertical")?.to_string();
    let mut attrs = Map::new();
    attrs.insert("vertical".into(), json!(vertical));
    if let Some(tz) = call.params.get("timezone_id") {
        let tz: u64 = tz.parse().map_err(|_| {
            GraphError::param("Param timezone_id must be a valid timezone id (an integer)")
        })?;
        attrs.insert("timezone_id".into(), json!(tz));
    }
    if let Some(external) = call.params.get("child_business_external_id") {
        attrs.insert("child_business_external_id".into(), json!(external));
    }
    let shared = match call.params.get("shared_page_id") {
        None => None,
        Some(page) => {
            let owned = world.assets.get(page).is_some_and(|a| {
                a.kind == AssetKind::Page && a.owner().is_some_and(|o| o.business == biz)
            });
            if !owned {
                return Err(GraphError::param(format!(
                    "Param shared_page_id must be a page business {biz} owns: '{page}' is not"
                )));
            }
            let given = call
                .params
                .list("page_permitted_tasks")?
                .unwrap_or_default();
            if given.is_empty() {
                return Err(GraphError::required("page_permitted_tasks"));
            }
            let kind = AssetKind::Page;
            let tasks = check_tasks(kind, kind.business_tasks(), "page_permitted_tasks", &given)?;
            Some((page.to_string(), tasks))
        }
    };
    let id = world.next_id(CREATED_BUSINESS_IDS);
    world.businesses.insert(
        id.clone(),
        Business {
            id: id.clone(),
            name,
            members: [(call.actor.clone(), Role::Admin)].into_iter().collect(),
            parent: Some(biz.to_string()),
            attrs,
        },
    );
    if let Some((page, tasks)) = shared {
        upsert_access(
            world,
            &page,
            &id,
            AccessType::Agency,
            AccessStatus::Confirmed,
            tasks,
        );
    }
    Ok(json!({ "id": id }))
}

/// CB03 DELETE /{business_id}/owned_businesses client_id=: by an admin of
/// the parent; the child loses its access to every asset, its asset groups
/// go. A business that is not a child of this one is code 100.
pub(super) fn delete_owned_business(
    world: &mut World,
    call: &Call,
    biz: &str,
) -> Result<Value, GraphError> {
    require_admin(world, &call.actor, biz)?;
    let child = call.params.require("client_id")?.to_string();
    let is_child = world
        .businesses
        .get(&child)
        .is_some_and(|b| b.parent.as_deref() == Some(biz));
    if !is_child {
        return Err(GraphError::param(format!(
            "Business {child} is not a child business of business {biz}"
        )));
    }
    let held: Vec<String> = world
        .assets
        .values()
        .filter(|a| a.access_of(&child).is_some())
        .map(|a| a.id.clone())
        .collect();
    for asset in held {
        world.drop_access(&asset, &child);
    }
    world.groups.retain(|_, g| g.business != child);
    world.businesses.remove(&child);
    Ok(success())
}
