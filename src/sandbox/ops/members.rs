//! The people of a business, beyond the catalogue (issue 16): its users and
//! their roles (BU01, BU03, BU04), invitations (BU02, BU05, BU06) and system users
//! (SU01, SU02; their assigned assets are `people::user_assets`) and their
//! access tokens (SU05).
//!
//! Rules: members may read the lists; only admins invite, change roles,
//! remove people and create system users. A business always keeps an admin
//! person: its last one can be neither demoted nor removed. A removed person loses
//! the tasks the business gave them on its assets and their place in its
//! asset groups. Roles are Meta's enum (`world::ROLES`). An invitation is
//! pending until it expires (30 days); one email has at most one pending
//! invitation per business. A business has at most `MAX_SYSTEM_USERS`
//! system users (the sandbox's bound).

use serde_json::{json, Map, Value};

use super::{list, require_admin, require_member, success, Call};
use crate::sandbox::render::{self, BUSINESS_ROLE_REQUEST, BUSINESS_USER, SYSTEM_USER};
use crate::sandbox::wire::{subcode, GraphError};
use crate::sandbox::world::{
    AssetKind, Invitation, Role, TokenRecord, User, UserKind, World, DAY, INVITATION_IDS, ROLES,
    SYSTEM_USER_IDS,
};
use crate::vault::TokenKind;

/// How long an invitation waits for an answer.
const INVITATION_TTL: u64 = 30 * DAY;

/// The most system users a business may have in the sandbox.
pub(crate) const MAX_SYSTEM_USERS: usize = 10;

/// BU01 GET /{business_id}/business_users: the people (not system users) of
/// the business with their roles; for its members.
pub(super) fn business_users(
    world: &mut World,
    call: &Call,
    biz: &str,
) -> Result<Value, GraphError> {
    require_member(world, &call.actor, biz)?;
    let Some(business) = world.businesses.get(biz) else {
        return Err(GraphError::unknown_object("GET", biz));
    };
    let items = business
        .members
        .iter()
        .filter_map(|(id, role)| {
            let user = world.users.get(id)?;
            (user.kind == UserKind::Person).then(|| business_user(world, user, biz, *role))
        })
        .collect();
    list(call, &BUSINESS_USER, items, None)
}

fn business_user(world: &World, user: &User, biz: &str, role: Role) -> Map<String, Value> {
    let mut out = render::user(user);
    let (first, last) = user.name.split_once(' ').unwrap_or((&user.name, ""));
    out.insert("first_name".into(), json!(first));
    out.insert("last_name".into(), json!(last));
    out.insert("role".into(), json!(role.as_str()));
    out.insert("business".into(), world.business_ref(biz));
    out
}

/// The role in `role` (default EMPLOYEE), checked against Meta's enum.
fn param_role(call: &Call, default: Option<Role>) -> Result<Option<Role>, GraphError> {
    match call.params.get("role") {
        None | Some("") => Ok(default),
        Some(raw) => Role::parse(raw).map(Some).ok_or_else(|| {
            GraphError::param(format!(
                "Param role must be one of {{{}}}, got {raw}",
                ROLES.join(", ")
            ))
        }),
    }
}

/// The `tasks` list, upper-cased and checked against Meta's enum.
fn param_tasks(call: &Call) -> Result<Vec<String>, GraphError> {
    let tasks = call.params.list("tasks")?.unwrap_or_default();
    tasks
        .into_iter()
        .map(|t| {
            Role::parse(&t)
                .map(|r| r.as_str().to_string())
                .ok_or_else(|| {
                    GraphError::param(format!(
                        "Param tasks[] must be one of {{{}}}, got {t}",
                        ROLES.join(", ")
                    ))
                })
        })
        .collect()
}

/// True when `s` has the shape of an email address.
fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && !s.chars().any(char::is_whitespace)
        && domain
            .split_once('.')
            .is_some_and(|(a, b)| !a.is_empty() && !b.is_empty())
}

/// BU02 POST /{business_id}/business_users email=, role=, tasks=: invites a
/// person; admins only. Answers the invitation's id.
pub(super) fn invite(world: &mut World, call: &Call, biz: &str) -> Result<Value, GraphError> {
    let email = call.params.require("email")?.trim().to_ascii_lowercase();
    if !is_email(&email) {
        return Err(GraphError::param(
            "Param email must be a valid email address",
        ));
    }
    let role = param_role(call, Some(Role::Employee))?.unwrap_or(Role::Employee);
    let tasks = param_tasks(call)?;
    let invited_user_type = call
        .params
        .list("invited_user_type")?
        .unwrap_or_else(|| vec!["FB".to_string()]);
    require_admin(world, &call.actor, biz)?;
    let now = world.now();
    let taken = world
        .invitations
        .values()
        .any(|i| i.business == biz && i.email == email && i.expires > now && !i.canceled);
    if taken {
        return Err(GraphError::rule(
            subcode::ALREADY_INVITED,
            format!("{email} already has a pending invitation to business {biz}"),
        ));
    }
    let id = world.next_id(INVITATION_IDS);
    world.invitations.insert(
        id.clone(),
        Invitation {
            id: id.clone(),
            business: biz.to_string(),
            email,
            role,
            tasks,
            invited_user_type,
            created_by: call.actor.clone(),
            created: now,
            expires: now + INVITATION_TTL,
            canceled: false,
        },
    );
    Ok(json!({ "id": id }))
}

/// BU05 GET /{business_id}/pending_users (email=): the business's
/// invitations, oldest first; for its members.
pub(super) fn pending_users(
    world: &mut World,
    call: &Call,
    biz: &str,
) -> Result<Value, GraphError> {
    require_member(world, &call.actor, biz)?;
    let email = call
        .params
        .get("email")
        .map(|e| e.trim().to_ascii_lowercase());
    let now = world.now();
    let items = world
        .invitations
        .values()
        .filter(|i| i.business == biz && !i.canceled)
        .filter(|i| email.as_ref().is_none_or(|e| *e == i.email))
        .map(|i| {
            let mut out = Map::new();
            out.insert("id".into(), json!(i.id));
            out.insert("email".into(), json!(i.email));
            out.insert("role".into(), json!(i.role.as_str()));
            out.insert("tasks".into(), json!(i.tasks));
            let status = if i.expires > now {
                "PENDING"
            } else {
                "EXPIRED"
            };
            out.insert("status".into(), json!(status));
            out.insert("created_time".into(), json!(render::graph_time(i.created)));
            let expires = json!(render::graph_time(i.expires));
            out.insert("expiration_time".into(), expires.clone());
            out.insert("expiry_time".into(), expires);
            out.insert("owner".into(), world.business_ref(&i.business));
            if let Some(u) = world.users.get(&i.created_by) {
                out.insert("created_by".into(), Value::Object(render::user(u)));
            }
            out.insert("invited_user_type".into(), json!(i.invited_user_type));
            out
        })
        .collect();
    list(call, &BUSINESS_ROLE_REQUEST, items, None)
}

/// BU06 DELETE /{business_role_request_id}: withdraws an invitation; admins
/// of the business it invites to only.
pub(super) fn cancel_invitation(
    world: &mut World,
    call: &Call,
    id: &str,
) -> Result<Value, GraphError> {
    let Some(biz) = world
        .invitations
        .get(id)
        .filter(|i| !i.canceled)
        .map(|i| i.business.clone())
    else {
        return Err(GraphError::unknown_object("DELETE", id));
    };
    require_admin(world, &call.actor, &biz)?;
    if let Some(i) = world.invitations.get_mut(id) {
        i.canceled = true;
    }
    Ok(success())
}

/// The business a change to `target` acts in: one the target belongs to
/// and the caller administers (the first such, by id).
fn managed_business(world: &World, actor: &str, target: &str) -> Result<String, GraphError> {
    let shared: Vec<String> = world
        .businesses_of(target)
        .into_iter()
        .filter(|b| world.role(actor, b).is_some())
        .collect();
    if let Some(b) = shared.iter().find(|b| world.is_admin(actor, b)) {
        return Ok(b.clone());
    }
    match shared.first() {
        Some(b) => require_admin(world, actor, b).map(|()| b.clone()),
        None => Err(GraphError::permission(format!(
            "User {actor} does not share a business with user {target}"
        ))),
    }
}

/// The person the node path names (system users have no such edge).
fn person(world: &World, call: &Call, target: &str) -> Result<(), GraphError> {
    match world.users.get(target) {
        Some(u) if u.kind == UserKind::Person => Ok(()),
        _ => Err(GraphError::unknown_object(call.verb.as_str(), target)),
    }
}

/// Refuses to leave the business without an admin person (system users
/// cannot sign in to Business Manager to administer it).
fn keep_an_admin(world: &World, biz: &str, target: &str) -> Result<(), GraphError> {
    let admins = world
        .businesses
        .get(biz)
        .map(|b| {
            b.members
                .iter()
                .filter(|(u, r)| **r == Role::Admin && u.as_str() != target)
                .filter(|(u, _)| {
                    world
                        .users
                        .get(*u)
                        .is_some_and(|u| u.kind == UserKind::Person)
                })
                .count()
        })
        .unwrap_or_default();
    if world.is_admin(target, biz) && admins == 0 {
        return Err(GraphError::rule(
            subcode::LAST_ADMIN,
            format!("User {target} is the last admin of business {biz}: a business must keep an admin person"),
        ));
    }
    Ok(())
}

/// BU03 POST /{business_scoped_user_id} role=, tasks=: changes a person's
/// role; admins of the person's business only. The last admin stays admin.
pub(super) fn update(world: &mut World, call: &Call, target: &str) -> Result<Value, GraphError> {
    person(world, call, target)?;
    let role = param_role(call, None)?;
    param_tasks(call)?;
    let biz = managed_business(world, &call.actor, target)?;
    let Some(role) = role else {
        return Ok(success());
    };
    if role != Role::Admin {
        keep_an_admin(world, &biz, target)?;
    }
    if let Some(b) = world.businesses.get_mut(&biz) {
        b.members.insert(target.to_string(), role);
    }
    Ok(success())
}

/// BU04 DELETE /{business_scoped_user_id}: removes a person from the
/// business, with the tasks it gave them and their asset group places;
/// admins of the person's business only. The last admin stays.
pub(super) fn remove(world: &mut World, call: &Call, target: &str) -> Result<Value, GraphError> {
    person(world, call, target)?;
    let biz = managed_business(world, &call.actor, target)?;
    keep_an_admin(world, &biz, target)?;
    if let Some(b) = world.businesses.get_mut(&biz) {
        b.members.remove(target);
    }
    for asset in world.assets.values_mut() {
        asset
            .grants
            .retain(|g| !(g.user == target && g.business == biz));
    }
    for group in world.groups.values_mut().filter(|g| g.business == biz) {
        group.users.remove(target);
    }
    Ok(success())
}

/// SU01 GET /{business_id}/system_users: the business's system users; for
/// its members.
pub(super) fn system_users(world: &mut World, call: &Call, biz: &str) -> Result<Value, GraphError> {
    require_member(world, &call.actor, biz)?;
    let Some(business) = world.businesses.get(biz) else {
        return Err(GraphError::unknown_object("GET", biz));
    };
    let items = business
        .members
        .keys()
        .filter_map(|id| world.users.get(id))
        .filter(|u| u.kind == UserKind::SystemUser)
        .map(|u| {
            let mut out = render::user(u);
            if let Some((at, by)) = &u.created {
                out.insert("created_time".into(), json!(render::graph_time(*at)));
                if let Some(creator) = world.users.get(by) {
                    out.insert("created_by".into(), Value::Object(render::user(creator)));
                }
            }
            out
        })
        .collect();
    list(call, &SYSTEM_USER, items, None)
}

/// SU02 POST /{business_id}/system_users name=, role=: creates a system
/// user (an employee unless `role` says otherwise); admins only.
pub(super) fn create_system_user(
    world: &mut World,
    call: &Call,
    biz: &str,
) -> Result<Value, GraphError> {
    let name = call.params.require("name")?.trim().to_string();
    if name.is_empty() {
        return Err(GraphError::required("name"));
    }
    let role = param_role(call, Some(Role::Employee))?.unwrap_or(Role::Employee);
    require_admin(world, &call.actor, biz)?;
    let count = world
        .businesses
        .get(biz)
        .map(|b| {
            b.members
                .keys()
                .filter(|id| {
                    world
                        .users
                        .get(*id)
                        .is_some_and(|u| u.kind == UserKind::SystemUser)
                })
                .count()
        })
        .unwrap_or_default();
    if count >= MAX_SYSTEM_USERS {
        return Err(GraphError::rule(
            subcode::SYSTEM_USER_LIMIT,
            format!("Business {biz} already has {count} system users, the most it may have"),
        ));
    }
    let id = world.next_id(SYSTEM_USER_IDS);
    let now = world.now();
    world.users.insert(
        id.clone(),
        User {
            id: id.clone(),
            name,
            kind: UserKind::SystemUser,
            created: Some((now, call.actor.clone())),
        },
    );
    if let Some(b) = world.businesses.get_mut(biz) {
        b.members.insert(id.clone(), role);
    }
    Ok(json!({ "id": id }))
}

/// SU05 POST /{system_user_id}/access_tokens business_app= scope=: a new
/// token of the system user for an app its business has confirmed access
/// to, which the sandbox accepts from then on; by an admin of a business the
/// system user belongs to. Answers `{"access_token"}`.
pub(super) fn mint_token(
    world: &mut World,
    call: &Call,
    target: &str,
) -> Result<Value, GraphError> {
    let is_system_user = world
        .users
        .get(target)
        .is_some_and(|u| u.kind == UserKind::SystemUser);
    if !is_system_user {
        return Err(GraphError::param(format!(
            "User {target} is not a system user: only system users get tokens this way"
        )));
    }
    let app = call.params.require("business_app")?.to_string();
    let scope = call.params.list("scope")?.unwrap_or_default();
    if scope.is_empty() || scope.iter().any(|s| s.trim().is_empty()) {
        return Err(GraphError::param(
            "Param scope must name at least one permission",
        ));
    }
    let biz = managed_business(world, &call.actor, target)?;
    let app_ok = world
        .assets
        .get(&app)
        .is_some_and(|a| a.kind == AssetKind::App && a.confirmed_for(&biz));
    if !app_ok {
        return Err(GraphError::param(format!(
            "Param business_app must be an app of business {biz}: '{app}' is not"
        )));
    }
    let n = world.tokens.values().filter(|t| t.user == target).count() + 1;
    let value = format!("sandbox-token-su-{target}-{n}");
    world.tokens.insert(
        value.clone(),
        TokenRecord {
            name: minted_name(target),
            user: target.to_string(),
            kind: TokenKind::SystemUser,
            businesses: vec![biz],
            page: None,
            expired: false,
            listed: None,
        },
    );
    Ok(json!({ "access_token": value }))
}

/// The vault name a gateway gives a minted token (see
/// `engine::mint::minted_token_name`).
fn minted_name(user: &str) -> String {
    format!("system-user-{user}")
}
