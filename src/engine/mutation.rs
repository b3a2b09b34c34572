//! The mutation path of the engine: request_id, the store, and settling
//! mutations whose outcome is in doubt (see `crate::idempotency`).

use std::collections::HashSet;
use std::sync::Arc;

use bytes::Bytes;
use prost::Message as _;
use prost_reflect::{DynamicMessage, Value};
use tokio::time::Instant;

use super::{CallContext, Engine};
use crate::error::GatewayError;
use crate::idempotency::replay::{self, CreateSpec, Replay, Source};
use crate::idempotency::Settled;
use crate::retry::Failure;
use crate::routes::request::{self, Plan};
use crate::routes::Route;
use crate::vault::TokenEntry;

/// Most pages read when listing what a creation may have created.
const MAX_LIST_PAGES: usize = 50;
/// Page size of those reads.
const LIST_PAGE_SIZE: i32 = 1000;

/// Runs one mutation: once per request_id when the request has one.
pub async fn run(
    engine: &Engine,
    route: &Route,
    ctx: &CallContext,
    plan: &Plan,
    token: &Arc<TokenEntry>,
) -> Result<Bytes, GatewayError> {
    let Some(request_id) = plan.request_id.as_deref() else {
        return match engine.send(route, ctx, plan, token).await {
            Ok(bytes) => Ok(bytes),
            Err(f) => match classify(f) {
                Settled::InDoubt { error, .. } => {
                    Err(crate::idempotency::outcome_unknown(&error, false))
                }
                Settled::Final(r) => r,
                Settled::NotApplied(e) => Err(e),
            },
        };
    };
    let key = crate::idempotency::key(ctx.caller.as_deref(), &route.operation_id, request_id);
    let fp = crate::idempotency::fingerprint(&route.operation_id, &plan.graph);
    let deadline = engine.deadline(ctx);
    engine
        .reliability()
        .idempotency
        .run(&key, &fp, deadline, |prior| {
            settle(engine, route, ctx, plan, token, prior)
        })
        .await
}

/// One attempt at the outcome, given the in-doubt record of an earlier call.
async fn settle(
    engine: &Engine,
    route: &Route,
    ctx: &CallContext,
    plan: &Plan,
    token: &Arc<TokenEntry>,
    prior: Option<crate::idempotency::Record>,
) -> Settled {
    let in_doubt_before = prior.is_some();
    match replay::of(route) {
        Replay::Create(spec) => {
            // A creation is never sent while an earlier attempt may have
            // worked: in doubt, look first. A fresh request is sent without
            // any look-up.
            let snapshot = match prior {
                Some(crate::idempotency::Record::InDoubt { snapshot, .. }) => {
                    match find_created(engine, route, spec, ctx, plan, token, snapshot.as_deref())
                        .await
                    {
                        Ok(Lookup::Found(found)) => return Settled::Final(Ok(found)),
                        Ok(Lookup::Absent(ids)) => Some(snapshot.unwrap_or(ids)),
                        Err(error) => return Settled::InDoubt { error, snapshot },
                    }
                }
                _ => None,
            };
            match engine.send(route, ctx, plan, token).await {
                Ok(bytes) => Settled::Final(Ok(bytes)),
                Err(f) => match classify(f) {
                    Settled::InDoubt { error, .. } => {
                        // A read settles it at once when the object is there.
                        match find_created(
                            engine,
                            route,
                            spec,
                            ctx,
                            plan,
                            token,
                            snapshot.as_deref(),
                        )
                        .await
                        {
                            Ok(Lookup::Found(found)) => {
                                tracing::info!(op = %route.operation_id, "lost answer settled: the creation is in Graph");
                                Settled::Final(Ok(found))
                            }
                            _ => Settled::InDoubt { error, snapshot },
                        }
                    }
                    other => other,
                },
            }
        }
        Replay::Repeatable => match engine.send(route, ctx, plan, token).await {
            Ok(bytes) => Settled::Final(Ok(bytes)),
            Err(f) => classify(f),
        },
        Replay::Transition => match engine.send(route, ctx, plan, token).await {
            Ok(bytes) => Settled::Final(Ok(bytes)),
            Err(f) => match classify(f) {
                // The earlier attempt took effect: Graph finds nothing to do.
                Settled::Final(Err(GatewayError::Graph(g))) if in_doubt_before && g.code == 100 => {
                    match done(engine, route) {
                        Some(bytes) => {
                            tracing::info!(op = %route.operation_id, "lost answer settled: the earlier attempt took effect");
                            Settled::Final(Ok(bytes))
                        }
                        None => Settled::Final(Err(GatewayError::Graph(g))),
                    }
                }
                other => other,
            },
        },
    }
}

/// Where a failed mutation stands.
pub fn classify(f: Failure) -> Settled {
    if !f.sent {
        return Settled::NotApplied(f.error);
    }
    match f.error {
        // Refused by the rate limits: not applied.
        GatewayError::Graph(g) if g.is_throttling() => Settled::NotApplied(GatewayError::Graph(g)),
        GatewayError::Graph(g) if crate::idempotency::is_final(&g) => {
            Settled::Final(Err(GatewayError::Graph(g)))
        }
        error => Settled::InDoubt {
            error,
            snapshot: None,
        },
    }
}

/// The answer Graph gives a successful transition (`true`), as the route's
/// response message; None when the response has no `success`.
fn done(engine: &Engine, route: &Route) -> Option<Bytes> {
    route.output.get_field_by_name("success")?;
    let msg = crate::engine::response::decode(engine.routes(), route, b"true").ok()?;
    Some(Bytes::from(msg.encode_to_vec()))
}

/// The list route of a creation, and its request for one page.
fn list_request(
    engine: &Engine,
    spec: &CreateSpec,
    parent: &str,
    page_token: Option<&str>,
) -> Result<(Arc<Route>, Plan), GatewayError> {
    let route = engine
        .routes()
        .by_operation(spec.list_operation)
        .ok_or_else(|| GatewayError::Internal(format!("no route {}", spec.list_operation)))?
        .clone();
    let mut msg = DynamicMessage::new(route.input.clone());
    let set = |msg: &mut DynamicMessage, name: &str, v: Value| -> Result<(), GatewayError> {
        msg.try_set_field_by_name(name, v)
            .map_err(|e| GatewayError::Internal(format!("{}: {e}", spec.list_operation)))
    };
    set(
        &mut msg,
        spec.parent_field,
        Value::String(parent.to_string()),
    )?;
    set(&mut msg, "page_size", Value::I32(LIST_PAGE_SIZE))?;
    if let Some(t) = page_token {
        set(&mut msg, "page_token", Value::String(t.to_string()))?;
    }
    let plan = request::plan(engine.routes(), &route, &msg)?;
    Ok((route, plan))
}

/// Every item of the parent's list (fresh from Graph, never the cache).
async fn list_items(
    engine: &Engine,
    spec: &CreateSpec,
    ctx: &CallContext,
    plan: &Plan,
    token: &Arc<TokenEntry>,
) -> Result<Vec<DynamicMessage>, GatewayError> {
    let parent = plan
        .business
        .clone()
        .ok_or_else(|| GatewayError::Internal("a creation without a business".into()))?;
    // The caller may be gone (a detached call finishing): the lookup has its
    // own deadline.
    let ctx = CallContext {
        deadline: Some(Instant::now() + engine.max_upstream()),
        ..ctx.clone()
    };
    let mut items = Vec::new();
    let mut page_token: Option<String> = None;
    for _ in 0..MAX_LIST_PAGES {
        let (route, list_plan) = list_request(engine, spec, &parent, page_token.as_deref())?;
        let bytes = engine
            .send(&route, &ctx, &list_plan, token)
            .await
            .map_err(GatewayError::from)?;
        let page = DynamicMessage::decode(route.output.clone(), bytes.as_ref()).map_err(|e| {
            GatewayError::Internal(format!("re-decoding {}: {e}", route.operation_id))
        })?;
        let crate::routes::ResponseShape::List {
            items: field,
            next_page_token,
        } = &route.response
        else {
            return Err(GatewayError::Internal(format!(
                "{} is not a list",
                route.operation_id
            )));
        };
        if let Some(list) = page.get_field(field).as_list() {
            items.extend(list.iter().filter_map(|v| v.as_message().cloned()));
        }
        let next = page
            .get_field(next_page_token)
            .as_str()
            .unwrap_or_default()
            .to_string();
        if next.is_empty() {
            return Ok(items);
        }
        page_token = Some(next);
    }
    Err(GatewayError::Unavailable(format!(
        "{} has more than {} pages; cannot check what the creation did",
        spec.list_operation, MAX_LIST_PAGES
    )))
}

fn text(item: &DynamicMessage, field: &str) -> String {
    match item.get_field_by_name(field).as_deref() {
        Some(Value::String(s)) => s.clone(),
        Some(Value::I64(n)) => n.to_string(),
        Some(Value::I32(n)) => n.to_string(),
        Some(Value::U64(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// What a look-up for a creation found.
enum Lookup {
    /// The object, as the creation's response message.
    Found(Bytes),
    /// Not there; every id listed (the snapshot a later look-up compares
    /// with).
    Absent(Vec<String>),
}

/// A numeric order of ids (`act_123` after `act_45`).
fn id_order(id: &str) -> (usize, String) {
    let digits: String = id.chars().filter(char::is_ascii_digit).collect();
    (digits.len(), digits)
}

/// The object the creation made: a listed item that matches the request
/// (name and currency, in the business the call acts for) and was not in
/// `snapshot` (the ids listed before an attempt sent in doubt). Without a
/// snapshot (the first attempt's answer was lost, or the store lost its
/// record) the newest match by creation order (ids grow) is taken: a
/// same-named account of the same currency made earlier by another request
/// would be mistaken for it, never a second one created.
async fn find_created(
    engine: &Engine,
    route: &Route,
    spec: &CreateSpec,
    ctx: &CallContext,
    plan: &Plan,
    token: &Arc<TokenEntry>,
    snapshot: Option<&[String]>,
) -> Result<Lookup, GatewayError> {
    let before: HashSet<&str> = snapshot
        .unwrap_or_default()
        .iter()
        .map(String::as_str)
        .collect();
    let param = |name: &str| {
        plan.graph
            .params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let items = list_items(engine, spec, ctx, plan, token).await?;
    let mut found: Vec<&DynamicMessage> = items
        .iter()
        .filter(|item| {
            !before.contains(text(item, "id").as_str())
                && spec
                    .matches
                    .iter()
                    .all(|(p, f)| text(item, f).eq_ignore_ascii_case(&param(p)))
        })
        .collect();
    found.sort_by_key(|item| id_order(&text(item, "id")));
    let Some(item) = found.pop() else {
        return Ok(Lookup::Absent(
            items.iter().map(|i| text(i, "id")).collect(),
        ));
    };
    if !found.is_empty() {
        tracing::warn!(op = %route.operation_id, "several objects match one creation; answering the newest");
    }
    let mut json = serde_json::Map::new();
    for (name, source) in spec.response {
        let value = match source {
            Source::Item(f) => text(item, f),
            Source::Param(p) => param(p),
            Source::Business => plan.business.clone().unwrap_or_default(),
        };
        json.insert((*name).to_string(), serde_json::Value::String(value));
    }
    let body = serde_json::to_vec(&json)
        .map_err(|e| GatewayError::Internal(format!("rebuilding the answer: {e}")))?;
    let msg = crate::engine::response::decode(engine.routes(), route, &body)?;
    Ok(Lookup::Found(Bytes::from(msg.encode_to_vec())))
}
