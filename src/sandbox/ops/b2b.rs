//! Business-to-business relationships seen from a business: BB02 clients,
//! BB09 agencies, BB10 removing an agency, BB11 leaving a client. (BB01 is a
//! claim, in `business_assets`; BB03–BB08 are per asset, in `agencies`.)

use std::collections::BTreeSet;

use serde_json::Value;

use super::{list, param_business, require_admin, require_member, success, Call};
use crate::sandbox::render::{self, RELATED_BUSINESS};
use crate::sandbox::wire::{subcode, GraphError};
use crate::sandbox::world::{AccessType, World};

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
