//! Reads of single nodes: GET /me (ME01), GET /{id} of a user, business or
//! asset (AG02 lives with the asset groups).

use serde_json::{json, Value};

use super::{node, require_member, require_visible, visible_businesses, Call};
use crate::sandbox::render::{self, View, BUSINESS, PAGE, USER};
use crate::sandbox::wire::GraphError;
use crate::sandbox::world::{AssetKind, TokenRecord, World};
use crate::vault::TokenKind;

/// ME01 GET /me, and GET /{user_id}: the caller itself, or a user the
/// caller shares a business with.
pub(super) fn user(world: &mut World, call: &Call, id: &str) -> Result<Value, GraphError> {
    visible_businesses(world, &call.actor, id)?;
    let user = world
        .users
        .get(id)
        .ok_or_else(|| GraphError::unknown_object("GET", id))?;
    node(call, &USER, &render::user(user))
}

/// GET /{business_id}.
pub(super) fn business(world: &mut World, call: &Call, id: &str) -> Result<Value, GraphError> {
    require_member(world, &call.actor, id)?;
    node(call, &BUSINESS, &render::business(world, id, None))
}

/// GET /{asset_id} (and /act_N). A page's `access_token` field answers a
/// page token when the caller holds tasks on the page (as Graph does); the
/// sandbox then accepts that token, acting as the caller.
pub(super) fn asset(world: &mut World, call: &Call, key: &str) -> Result<Value, GraphError> {
    let asset = super::asset(world, key)?;
    require_visible(world, &call.actor, asset)?;
    let view = View {
        user: Some(&call.actor),
        ..View::default()
    };
    let mut full = render::asset(world, asset, view);
    let ty = render::node_type(asset.kind);
    let wants_token = asset.kind == AssetKind::Page
        && call
            .fields
            .as_ref()
            .is_some_and(|f| f.iter().any(|s| s.name == "access_token"));
    if wants_token
        && PAGE
            .validate(call.fields.as_deref().unwrap_or_default())
            .is_ok()
    {
        let entitled = asset.admins.contains_key(&call.actor)
            || !world.effective_tasks(asset, &call.actor, None).is_empty();
        if entitled {
            let value = page_token(world, key, &call.actor);
            full.insert("access_token".into(), json!(value));
        }
    }
    node(call, ty, &full)
}

/// Issues (or re-issues) the page token of a user for a page.
fn page_token(world: &mut World, page: &str, user: &str) -> String {
    let value = format!("sandbox-page-token-{page}-{user}");
    world
        .tokens
        .entry(value.clone())
        // Asking again issues a fresh token, as Graph does: an expired one is
        // replaced.
        .and_modify(|t| t.expired = false)
        .or_insert_with(|| TokenRecord {
            name: format!("page-{page}-user-{user}"),
            user: user.to_string(),
            kind: TokenKind::Page,
            businesses: Vec::new(),
            page: Some(page.to_string()),
            expired: false,
            listed: None,
        });
    value
}
