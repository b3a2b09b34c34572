//! Agencies of an asset and the ad accounts linked to an asset per business:
//! BB03–BB08 (ad accounts and pages), IG03–IG05, IG07, IG08, CT07, and
//! beyond the catalogue (issue 16) CT08–CT09, PX03–PX04, PX10, AP07
//! (agencies), PX07–PX09 (a pixel's shared ad accounts) and AP08 (an app's
//! authorized ad accounts).
//!
//! Only the business that OWNS an asset can grant another business access
//! to it (the seed: "You cannot grant access to assets of which you are just
//! an AGENCY"); a grant by the owner is CONFIRMED at once, except that an ad
//! account grant including MANAGE needs an admin review (answered with
//! `requires_admin_approval: true`, and PENDING until approved). Granting a
//! page needs a page access token of that page (BB04).

use serde_json::{json, Value};

use super::business_assets::{capitalized, upsert_access};
use super::{
    check_tasks, context_business, list, param_asset, param_business, require_admin,
    require_visible, success, Call,
};
use crate::sandbox::render::{self, View, AD_ACCOUNT, BUSINESS};
use crate::sandbox::wire::{subcode, GraphError};
use crate::sandbox::world::{AccessStatus, AccessType, AssetKind, AuthorizedAdAccount, World};

/// BB07 GET /act_{id}/agencies, BB08 GET /{page_id}/agencies,
/// IG03 GET /{instagram_account_id}/agencies (and any asset): agency
/// businesses with their permitted tasks and access status.
pub(super) fn list_agencies(
    world: &mut World,
    call: &Call,
    key: &str,
) -> Result<Value, GraphError> {
    let asset = super::asset(world, key)?;
    require_visible(world, &call.actor, asset)?;
    let items = asset
        .access
        .iter()
        .filter(|a| a.access_type == AccessType::Agency)
        .map(|a| render::business(world, &a.business, Some(asset)))
        .collect();
    list(call, &BUSINESS, items, None)
}

/// The owner business of an asset; the caller must be its admin.
fn owner_for_grant(world: &World, call: &Call, key: &str) -> Result<String, GraphError> {
    let asset = super::asset(world, key)?;
    if asset.kind == AssetKind::Page && asset.admins.contains_key(&call.actor) {
        // A page admin's own page token (BB04) acts for the page itself.
        if let Some(owner) = asset.owner() {
            return Ok(owner.business.clone());
        }
    }
    let Some(owner) = asset.owner() else {
        return Err(GraphError::rule(
            subcode::NOT_BUSINESS_OWNED,
            format!(
                "{} {key} is not owned by a business",
                capitalized(asset.kind.label())
            ),
        ));
    };
    if !world.is_admin(&call.actor, &owner.business) {
        return Err(GraphError::permission(format!(
            "Only an admin of the business that owns {} {key} ({}) can grant or remove access to it; an AGENCY cannot",
            asset.kind.label(),
            owner.business
        )));
    }
    Ok(owner.business.clone())
}

/// BB03 POST /act_{id}/agencies, BB04 POST /{page_id}/agencies,
/// IG04 POST /{instagram_account_id}/agencies (an InstagramBusinessAsset in
/// Meta's spec; the sandbox takes the Instagram account's id),
/// CT07 POST /{catalog_id}/agencies, PX10 POST /{pixel_id}/agencies:
/// business=, permitted_tasks=. CT07 also takes `permitted_roles` (ADMIN =
/// MANAGE + ADVERTISE, ADVERTISER = ADVERTISE, added to the tasks), and
/// `enabled_collab_terms`, `skip_defaults`, `utm_settings` (accepted, not
/// modelled). PX10's permitted_tasks is required and, as Meta's spec has
/// it, one of ADVERTISE, ANALYZE, EDIT, UPLOAD (checked by `spec`: no
/// MANAGE or AA_ANALYZE for a pixel's agency).
pub(super) fn grant(world: &mut World, call: &Call, key: &str) -> Result<Value, GraphError> {
    let kind = super::asset(world, key)?.kind;
    if kind == AssetKind::Page && call.token_page.as_deref() != Some(key) {
        return Err(GraphError::page_token_required());
    }
    let owner = owner_for_grant(world, call, key)?;
    let agency = param_business(world, call, "business")?.to_string();
    if agency == owner {
        return Err(GraphError::param(format!(
            "Business {agency} already owns {} {key}",
            kind.label()
        )));
    }
    let mut given = call.params.list("permitted_tasks")?.unwrap_or_default();
    if kind == AssetKind::Catalog {
        given.extend(call.params.list("permitted_roles")?.unwrap_or_default());
    }
    if given.is_empty() {
        return Err(GraphError::required("permitted_tasks"));
    }
    let tasks = check_tasks(kind, kind.business_tasks(), "permitted_tasks", &given)?;
    let review = kind == AssetKind::AdAccount && tasks.iter().any(|t| t == "MANAGE");
    let status = if review {
        AccessStatus::Pending
    } else {
        AccessStatus::Confirmed
    };
    upsert_access(world, key, &agency, AccessType::Agency, status, tasks);
    if review {
        Ok(json!({ "success": true, "requires_admin_approval": true }))
    } else {
        Ok(success())
    }
}

/// BB05 DELETE /act_{id}/agencies, BB06 DELETE /{page_id}/agencies,
/// IG05 DELETE /{instagram_account_id}/agencies: business=. By the owner's
/// admin, or by the agency's own admin.
pub(super) fn revoke(world: &mut World, call: &Call, key: &str) -> Result<Value, GraphError> {
    let agency = param_business(world, call, "business")?.to_string();
    if !world.is_admin(&call.actor, &agency) {
        owner_for_grant(world, call, key)?;
    }
    let asset = super::asset(world, key)?;
    let is_agency = asset
        .access_of(&agency)
        .is_some_and(|a| a.access_type == AccessType::Agency);
    if !is_agency {
        return Err(GraphError::rule(
            subcode::NOT_IN_BUSINESS,
            format!(
                "Business {agency} is not an agency of {} {}",
                asset.kind.label(),
                asset.graph_id()
            ),
        ));
    }
    world.drop_access(key, &agency);
    Ok(success())
}

/// IG07 GET /{instagram_account_id}/authorized_adaccounts business=,
/// PX07 GET /{pixel_id}/shared_accounts business=, AP08 GET
/// /{app_id}/authorized_adaccounts (business= optional: else the caller's
/// business with access): the ad accounts linked to the asset for the
/// business.
pub(super) fn authorized_ad_accounts(
    world: &mut World,
    call: &Call,
    key: &str,
) -> Result<Value, GraphError> {
    let ig = super::asset(world, key)?;
    require_visible(world, &call.actor, ig)?;
    let biz = context_business(world, call, ig, false)?;
    let items = ig
        .authorized_ad_accounts
        .iter()
        .filter(|a| a.business == biz)
        .filter_map(|a| world.assets.get(&a.ad_account))
        .map(|a| {
            let view = View {
                business: Some(&biz),
                ..View::default()
            };
            render::asset(world, a, view)
        })
        .collect();
    list(call, &AD_ACCOUNT, items, None)
}

/// IG08 POST /{instagram_account_id}/authorized_adaccounts account_id=,
/// business=; PX08 POST /{pixel_id}/shared_accounts account_id=, business=:
/// the business must have confirmed access to both, and the caller must be
/// its admin. Linking an account twice is no change.
pub(super) fn authorize_ad_account(
    world: &mut World,
    call: &Call,
    key: &str,
) -> Result<Value, GraphError> {
    let ig = super::asset(world, key)?;
    let biz = context_business(world, call, ig, true)?;
    require_admin(world, &call.actor, &biz)?;
    let account = param_asset(world, call, "account_id", AssetKind::AdAccount)?;
    let ad_account = super::asset(world, &account)?;
    if !ad_account.confirmed_for(&biz) {
        return Err(GraphError::rule(
            subcode::NOT_IN_BUSINESS,
            format!(
                "Business {biz} does not have confirmed access to ad account {}",
                ad_account.graph_id()
            ),
        ));
    }
    if let Some(ig) = world.assets.get_mut(key) {
        let known = ig
            .authorized_ad_accounts
            .iter()
            .any(|a| a.ad_account == account && a.business == biz);
        if !known {
            ig.authorized_ad_accounts.push(AuthorizedAdAccount {
                ad_account: account,
                business: biz,
            });
        }
    }
    Ok(success())
}

/// PX09 DELETE /{pixel_id}/shared_accounts account_id=, business=: by an
/// admin of the business the sharing was made for; an ad account the pixel
/// is not shared with (for that business) is code 100.
pub(super) fn unauthorize_ad_account(
    world: &mut World,
    call: &Call,
    key: &str,
) -> Result<Value, GraphError> {
    let asset = super::asset(world, key)?;
    let biz = context_business(world, call, asset, true)?;
    require_admin(world, &call.actor, &biz)?;
    let account = param_asset(world, call, "account_id", AssetKind::AdAccount)?;
    let linked = asset
        .authorized_ad_accounts
        .iter()
        .any(|a| a.ad_account == account && a.business == biz);
    if !linked {
        return Err(GraphError::param(format!(
            "Ad account act_{account} is not shared with {} {} for business {biz}",
            asset.kind.label(),
            asset.graph_id()
        )));
    }
    if let Some(asset) = world.assets.get_mut(key) {
        asset
            .authorized_ad_accounts
            .retain(|a| !(a.ad_account == account && a.business == biz));
    }
    Ok(success())
}
