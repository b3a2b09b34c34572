//! Custom audience sharing between businesses: AS01–AS04, and beyond the
//! catalogue (issue 16) the accounts an audience is shared with (AS05) and
//! unsharing (AS06).
//!
//! Sharing to an ad account of the audience's own business is immediate.
//! Otherwise it needs an approved relationship from the audience's business
//! to the account's business: with one, the audience is SHARED; with one in
//! progress, it joins that request (IN_PROGRESS); without one, a new request
//! is created (IN_PROGRESS). Only admins of the audience's business may
//! share (others get NOT_SHARED with the seed's error text).

use serde_json::{json, Value};

use super::{list, node, require_admin, require_member, success, Call};
use crate::sandbox::render::{self, CUSTOM_AUDIENCE, CUSTOM_AUDIENCE_AD_ACCOUNT, SHARING_REQUEST};
use crate::sandbox::wire::GraphError;
use crate::sandbox::world::{AssetKind, CustomAudience, SharingRelationship, SharingStatus, World};

/// First id of sharing relationships.
const SHARING_IDS: u64 = 8_300_000_001;

/// The relationship types Graph accepts.
const RELATIONSHIP_TYPES: &[&str] = &[
    "Audience Info Provider",
    "Information Manager",
    "Ad Optimizer",
    "Agency",
];

const NO_PERMISSION: &str =
    "You don't have permission to initiate a sharing relationship for this ad account/business";

/// The business owning an audience (through its ad account).
fn audience_business(world: &World, id: &str) -> Option<String> {
    let audience = world.audiences.get(id)?;
    let account = world.assets.get(&audience.ad_account)?;
    account.owner().map(|o| o.business.clone())
}

/// The audience `id`, when the caller can see it (through its ad account).
fn visible<'w>(world: &'w World, call: &Call, id: &str) -> Result<&'w CustomAudience, GraphError> {
    let audience = world
        .audiences
        .get(id)
        .ok_or_else(|| GraphError::unknown_object("GET", id))?;
    let visible = world
        .assets
        .get(&audience.ad_account)
        .is_some_and(|a| world.can_see(a, &call.actor));
    if !visible {
        return Err(GraphError::permission(format!(
            "User {} does not have permission to access custom audience {id}",
            call.actor
        )));
    }
    Ok(audience)
}

/// GET /{custom_audience_id}.
pub(super) fn read(world: &mut World, call: &Call, id: &str) -> Result<Value, GraphError> {
    let audience = visible(world, call, id)?;
    node(call, &CUSTOM_AUDIENCE, &render::custom_audience(audience))
}

/// AS01 POST /{custom_audience_id}/adaccounts adaccounts=[...],
/// relationship_type=[...], permissions= (accepted, not modelled),
/// replace= (true: the audience stops being shared with ad accounts of
/// other businesses not in this call): one `sharing_data` entry per ad
/// account.
pub(super) fn share(world: &mut World, call: &Call, id: &str) -> Result<Value, GraphError> {
    let types = call.params.require_list("relationship_type")?;
    if let Some(bad) = types
        .iter()
        .find(|t| !RELATIONSHIP_TYPES.contains(&t.as_str()))
    {
        return Err(GraphError::param(format!(
            "Param relationship_type contains an invalid value: {bad}. Valid values: {}",
            RELATIONSHIP_TYPES.join(", ")
        )));
    }
    let accounts = call.params.require_list("adaccounts")?;
    let owner = audience_business(world, id);
    let may_share = owner
        .as_ref()
        .is_some_and(|o| world.is_admin(&call.actor, o));
    let replace = call
        .params
        .get("replace")
        .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
    if replace && may_share {
        let keep: Vec<String> = accounts
            .iter()
            .map(|a| a.strip_prefix("act_").unwrap_or(a).to_string())
            .collect();
        let own = world.audiences.get(id).map(|a| a.ad_account.clone());
        if let Some(a) = world.audiences.get_mut(id) {
            a.shared_with
                .retain(|x| keep.contains(x) || own.as_ref() == Some(x));
        }
    }
    let mut sharing_data = Vec::new();
    for raw in accounts {
        let key = raw.strip_prefix("act_").unwrap_or(&raw).to_string();
        let recipient = world
            .assets
            .get(&key)
            .filter(|a| a.kind == AssetKind::AdAccount)
            .and_then(|a| a.owner())
            .map(|o| o.business.clone());
        let (status, errors) = match (owner.as_deref(), recipient.as_deref()) {
            (_, None) => (
                "NOT_SHARED",
                vec![format!(
                    "Ad account {raw} is not a business-owned ad account"
                )],
            ),
            (Some(o), Some(r)) if may_share => {
                (share_one(world, id, &key, o, r, &types), Vec::new())
            }
            _ => ("NOT_SHARED", vec![NO_PERMISSION.to_string()]),
        };
        sharing_data.push(json!({
            "ad_acct_id": key,
            "business_id": recipient.unwrap_or_default(),
            "audience_share_status": status,
            "errors": errors,
        }));
    }
    Ok(json!({ "success": true, "sharing_data": sharing_data }))
}

/// AS05 GET /{custom_audience_id}/adaccounts: the audience's own ad
/// account, then the accounts it is shared with (not those still waiting on
/// a relationship request); for anyone who can see the audience.
pub(super) fn shared_accounts(
    world: &mut World,
    call: &Call,
    id: &str,
) -> Result<Value, GraphError> {
    let audience = visible(world, call, id)?;
    let mut accounts = vec![audience.ad_account.clone()];
    accounts.extend(
        audience
            .shared_with
            .iter()
            .filter(|a| **a != audience.ad_account)
            .cloned(),
    );
    let items = accounts
        .into_iter()
        .map(|a| {
            let mut m = serde_json::Map::new();
            m.insert("id".into(), Value::String(a));
            m
        })
        .collect();
    list(call, &CUSTOM_AUDIENCE_AD_ACCOUNT, items, None)
}

/// AS06 DELETE /{custom_audience_id}/adaccounts adaccounts=[...]: stops
/// sharing with those accounts; admins of the audience's business only.
/// The audience's own account cannot be removed; accounts it is not shared
/// with are left as they are.
pub(super) fn unshare(world: &mut World, call: &Call, id: &str) -> Result<Value, GraphError> {
    let accounts = call.params.require_list("adaccounts")?;
    let own = world
        .audiences
        .get(id)
        .map(|a| a.ad_account.clone())
        .ok_or_else(|| GraphError::unknown_object("DELETE", id))?;
    let owner = audience_business(world, id).unwrap_or_default();
    require_admin(world, &call.actor, &owner)?;
    let keys: Vec<String> = accounts
        .iter()
        .map(|a| a.strip_prefix("act_").unwrap_or(a).to_string())
        .collect();
    if keys.contains(&own) {
        return Err(GraphError::param(format!(
            "Ad account {own} owns custom audience {id} and cannot be removed from it"
        )));
    }
    if let Some(a) = world.audiences.get_mut(id) {
        a.shared_with.retain(|x| !keys.contains(x));
    }
    Ok(success())
}

fn share_one(
    world: &mut World,
    audience: &str,
    account: &str,
    owner: &str,
    recipient: &str,
    types: &[String],
) -> &'static str {
    let mark_shared = |world: &mut World| {
        if let Some(a) = world.audiences.get_mut(audience) {
            a.shared_with.insert(account.to_string());
        }
    };
    if owner == recipient {
        mark_shared(world);
        return "SHARED";
    }
    let existing = world
        .sharing
        .values()
        .filter(|r| r.initiator == owner && r.recipient == recipient)
        .find(|r| r.status != SharingStatus::Declined)
        .map(|r| (r.id.clone(), r.status));
    match existing {
        Some((_, SharingStatus::Approved)) => {
            mark_shared(world);
            "SHARED"
        }
        Some((rel, _)) => {
            if let Some(r) = world.sharing.get_mut(&rel) {
                let entry = (audience.to_string(), account.to_string());
                if !r.audiences.contains(&entry) {
                    r.audiences.push(entry);
                }
            }
            "IN_PROGRESS"
        }
        None => {
            let id = world.next_id(SHARING_IDS);
            world.sharing.insert(
                id.clone(),
                SharingRelationship {
                    id,
                    initiator: owner.to_string(),
                    recipient: recipient.to_string(),
                    relationship_type: types.to_vec(),
                    status: SharingStatus::InProgress,
                    audiences: vec![(audience.to_string(), account.to_string())],
                },
            );
            "IN_PROGRESS"
        }
    }
}

/// GET /{sharing_relationship_id}: for members of either business.
pub(super) fn read_request(world: &mut World, call: &Call, id: &str) -> Result<Value, GraphError> {
    let rel = world
        .sharing
        .get(id)
        .ok_or_else(|| GraphError::unknown_object("GET", id))?;
    if world.role(&call.actor, &rel.initiator).is_none() {
        require_member(world, &call.actor, &rel.recipient)?;
    }
    node(call, &SHARING_REQUEST, &render::sharing_request(world, rel))
}

/// AS02 POST /{sharing_relationship_id} request_response=approve|decline:
/// by an admin of the recipient business; approving shares the waiting
/// audiences.
pub(super) fn respond(world: &mut World, call: &Call, id: &str) -> Result<Value, GraphError> {
    let rel = world
        .sharing
        .get(id)
        .ok_or_else(|| GraphError::unknown_object("POST", id))?;
    require_admin(world, &call.actor, &rel.recipient)?;
    let answer = call
        .params
        .require("request_response")?
        .to_ascii_lowercase();
    let answer = answer.trim_matches('"');
    let approve = match answer {
        "approve" => true,
        "decline" => false,
        _ => {
            return Err(GraphError::param(
                "Param request_response must be one of {approve, decline}",
            ))
        }
    };
    if rel.status != SharingStatus::InProgress {
        return Err(GraphError::param(format!(
            "Sharing relationship {id} is already {}",
            rel.status.as_str()
        )));
    }
    answer_sharing(world, id, approve);
    Ok(success())
}

/// Approves or declines a sharing relationship (also the `respond` hook).
pub(crate) fn answer_sharing(world: &mut World, id: &str, approve: bool) -> bool {
    let Some(rel) = world.sharing.get_mut(id) else {
        return false;
    };
    if rel.status != SharingStatus::InProgress {
        return false;
    }
    rel.status = if approve {
        SharingStatus::Approved
    } else {
        SharingStatus::Declined
    };
    if approve {
        let waiting = rel.audiences.clone();
        for (audience, account) in waiting {
            if let Some(a) = world.audiences.get_mut(&audience) {
                a.shared_with.insert(account);
            }
        }
    }
    true
}

/// AS03/AS04: `request_status` (Meta's enum, checked by the spec) and
/// `initiator_id` (AS03) / `recipient_id` (AS04) filter the requests.
fn requests(world: &World, call: &Call, biz: &str, received: bool) -> Result<Value, GraphError> {
    require_member(world, &call.actor, biz)?;
    let status = call
        .params
        .get("request_status")
        .map(str::to_ascii_uppercase);
    let (other_param, other) = if received {
        ("initiator_id", call.params.get("initiator_id"))
    } else {
        ("recipient_id", call.params.get("recipient_id"))
    };
    if let Some(o) = other {
        if !o.chars().all(|c| c.is_ascii_digit()) {
            return Err(GraphError::param(format!(
                "Param {other_param} must be a valid business id"
            )));
        }
    }
    let items = world
        .sharing
        .values()
        .filter(|r| {
            if received {
                r.recipient == biz && other.is_none_or(|o| r.initiator == o)
            } else {
                r.initiator == biz && other.is_none_or(|o| r.recipient == o)
            }
        })
        .filter(|r| status.as_deref().is_none_or(|s| r.status.as_str() == s))
        .map(|r| render::sharing_request(world, r))
        .collect();
    list(call, &SHARING_REQUEST, items, None)
}

/// AS03 GET /{business_id}/received_audience_sharing_requests.
pub(super) fn received(world: &mut World, call: &Call, biz: &str) -> Result<Value, GraphError> {
    requests(world, call, biz, true)
}

/// AS04 GET /{business_id}/initiated_audience_sharing_requests.
pub(super) fn initiated(world: &mut World, call: &Call, biz: &str) -> Result<Value, GraphError> {
    requests(world, call, biz, false)
}
