//! On-behalf-of requests: OB01–OB06. An agency asks a client business to
//! let one of the agency's ad accounts act on the client's behalf; the
//! request starts IN_PROGRESS and the client answers it in Business Manager
//! (the test hook `Sandbox::respond` plays the client).

use serde_json::{json, Value};

use super::{
    list, node, param_asset, param_business, require_admin, require_member, require_visible,
    success, Call,
};
use crate::sandbox::render::{self, OBO_REQUEST};
use crate::sandbox::wire::{subcode, GraphError};
use crate::sandbox::world::{AssetKind, OboRequest, OboStatus, World};

/// First id of on-behalf-of requests.
pub(crate) const OBO_IDS: u64 = 8_400_000_001;

fn request<'w>(world: &'w World, id: &str) -> Result<&'w OboRequest, GraphError> {
    world
        .obo_requests
        .get(id)
        .ok_or_else(|| GraphError::unknown_object("GET", id))
}

/// OB01 POST /{business_id}/sent_inprogress_onbehalf_requests
/// receiving_business=, business_owned_object=act_N: the ad account must be
/// the requesting business's. Answers `{"id": ...}`.
pub(super) fn create(world: &mut World, call: &Call, biz: &str) -> Result<Value, GraphError> {
    require_admin(world, &call.actor, biz)?;
    let receiving = param_business(world, call, "receiving_business")?.to_string();
    if receiving == biz {
        return Err(GraphError::param(
            "Param receiving_business must be another business than the requesting one",
        ));
    }
    let account = param_asset(world, call, "business_owned_object", AssetKind::AdAccount)?;
    let owned = super::asset(world, &account)?
        .owner()
        .is_some_and(|o| o.business == biz);
    if !owned {
        return Err(GraphError::rule(
            subcode::NOT_IN_BUSINESS,
            format!("Ad account act_{account} is not owned by business {biz}"),
        ));
    }
    let existing = world.obo_requests.values().find(|r| {
        r.requesting == biz
            && r.receiving == receiving
            && r.ad_account == account
            && r.status == OboStatus::InProgress
    });
    if let Some(r) = existing {
        return Ok(json!({ "id": r.id }));
    }
    let id = world.next_id(OBO_IDS);
    world.obo_requests.insert(
        id.clone(),
        OboRequest {
            id: id.clone(),
            requesting: biz.to_string(),
            receiving,
            ad_account: account,
            status: OboStatus::InProgress,
        },
    );
    Ok(json!({ "id": id }))
}

/// OB02 GET /{obo_request_id}: for members of either business.
pub(super) fn read(world: &mut World, call: &Call, id: &str) -> Result<Value, GraphError> {
    let r = request(world, id)?;
    if world.role(&call.actor, &r.requesting).is_none() {
        require_member(world, &call.actor, &r.receiving)?;
    }
    node(call, &OBO_REQUEST, &render::obo_request(world, r))
}

/// OB03 DELETE /{obo_request_id}: cancels an IN_PROGRESS request.
pub(super) fn cancel(world: &mut World, call: &Call, id: &str) -> Result<Value, GraphError> {
    let r = request(world, id)?;
    require_admin(world, &call.actor, &r.requesting)?;
    if r.status != OboStatus::InProgress {
        return Err(GraphError::param(format!(
            "Only IN_PROGRESS requests can be canceled; request {id} is {}",
            r.status.as_str()
        )));
    }
    if let Some(r) = world.obo_requests.get_mut(id) {
        r.status = OboStatus::Canceled;
    }
    Ok(success())
}

/// OB04 GET /act_{id}/onbehalf_requests status= (Meta's 12-value enum,
/// checked by the spec; a status the sandbox never reaches lists nothing;
/// without it, every request but CANCELED ones).
pub(super) fn for_ad_account(
    world: &mut World,
    call: &Call,
    key: &str,
) -> Result<Value, GraphError> {
    let asset = super::asset(world, key)?;
    require_visible(world, &call.actor, asset)?;
    let status = call.params.get("status").map(str::to_ascii_uppercase);
    let items = world
        .obo_requests
        .values()
        .filter(|r| r.ad_account == key)
        .filter(|r| match &status {
            Some(s) => r.status.as_str() == s,
            None => r.status != OboStatus::Canceled,
        })
        .map(|r| render::obo_request(world, r))
        .collect();
    list(call, &OBO_REQUEST, items, None)
}

fn in_progress(
    world: &World,
    call: &Call,
    biz: &str,
    side: fn(&OboRequest) -> &str,
) -> Result<Value, GraphError> {
    require_member(world, &call.actor, biz)?;
    let items = world
        .obo_requests
        .values()
        .filter(|r| side(r) == biz && r.status == OboStatus::InProgress)
        .map(|r| render::obo_request(world, r))
        .collect();
    list(call, &OBO_REQUEST, items, None)
}

/// OB05 GET /{business_id}/received_inprogress_onbehalf_requests.
pub(super) fn received(world: &mut World, call: &Call, biz: &str) -> Result<Value, GraphError> {
    in_progress(world, call, biz, |r| &r.receiving)
}

/// OB06 GET /{business_id}/sent_inprogress_onbehalf_requests.
pub(super) fn sent(world: &mut World, call: &Call, biz: &str) -> Result<Value, GraphError> {
    in_progress(world, call, biz, |r| &r.requesting)
}
