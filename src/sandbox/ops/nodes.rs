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

/// GET /debug_token?input_token=...: what a token is (the gateway's token
/// health checks send it as a POST with `method=get`, the token in the form
/// body, never in a URL). An unknown or expired input token answers
/// `is_valid: false` with Graph's error object.
pub(super) fn debug_token(world: &World, call: &Call) -> Result<Value, GraphError> {
    let input = call.params.require("input_token")?;
    let Some(t) = world.tokens.get(input) else {
        return Ok(json!({"data": {
            "is_valid": false,
            "scopes": [],
            "error": {"code": 190, "message": "Invalid OAuth access token."},
        }}));
    };
    let (kind, scopes): (&str, &[&str]) = match t.kind {
        TokenKind::SystemUser => (
            "SYSTEM_USER",
            &[
                "business_management",
                "ads_management",
                "pages_manage_metadata",
                "pages_show_list",
                "catalog_management",
            ],
        ),
        TokenKind::User => ("USER", &["business_management", "pages_show_list"]),
        TokenKind::Page => ("PAGE", &["pages_manage_metadata", "pages_show_list"]),
    };
    let mut data = json!({
        "app_id": "4000000000",
        "type": kind,
        "application": "graph-gateway sandbox",
        "data_access_expires_at": 0,
        "expires_at": 0,
        "is_valid": !t.expired,
        "scopes": scopes,
        "user_id": t.user,
    });
    if let Some(page) = &t.page {
        data["profile_id"] = json!(page);
    }
    if t.expired {
        data["error"] = json!({
            "code": 190,
            "subcode": 463,
            "message": "Error validating access token: Session has expired.",
        });
    }
    Ok(json!({ "data": data }))
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
