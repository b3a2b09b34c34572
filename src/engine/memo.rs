//! Validated read plans by request bytes (issue 15, the hit path). A plan
//! is a pure function of the route table and the request message, so a
//! read whose bytes were planned before skips decoding and validation: the
//! memo keeps the decoded message (policy reads it) and the plan.
//!
//! Only reads are kept (a mutation carries its own request_id), only
//! requests of at most [`MAX_REQUEST`] bytes, and at most [`MAX_ENTRIES`]
//! of them: a full memo is emptied and refilled by the calls that follow.
//! Nothing here depends on the vault, the owner index, the policy or the
//! cache; those are consulted on every call as before.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::RwLock;
use prost_reflect::DynamicMessage;

use crate::routes::request::Plan;
use crate::routes::Route;

/// Requests larger than this are planned on every call.
pub const MAX_REQUEST: usize = 1024;
/// Plans kept before the memo is emptied.
pub const MAX_ENTRIES: usize = 4096;

/// A request as decoded and planned.
pub struct Planned {
    /// The route's operation id, checked on every use.
    operation: String,
    /// The request, decoded against the route's input descriptor.
    pub msg: DynamicMessage,
    /// Its validated plan.
    pub plan: Plan,
    /// Its cache key's parts.
    pub key: ReadKey,
}

/// The parts of a read's cache key its plan fixes.
#[derive(Clone, Debug)]
pub struct ReadKey {
    /// The operation id.
    pub operation: Arc<str>,
    /// The Graph path.
    pub path: Arc<str>,
    /// The parameters, canonical (sorted, `k=v&`).
    pub params: Arc<str>,
}

impl ReadKey {
    /// The key parts of `plan`.
    pub fn of(route: &Route, plan: &Plan) -> Self {
        let mut params = String::new();
        for (k, v) in &plan.graph.params {
            params.push_str(k);
            params.push('=');
            params.push_str(v);
            params.push('&');
        }
        Self {
            operation: Arc::from(route.operation_id.as_str()),
            path: Arc::from(plan.graph.path.as_str()),
            params: Arc::from(params),
        }
    }
}

/// The memo. Keys are the route's address in the engine's table and the
/// request's bytes; an entry is used only for the route it was made for
/// (its operation id is compared too).
#[derive(Default)]
pub struct PlanMemo {
    map: RwLock<HashMap<(usize, Bytes), Arc<Planned>>>,
}

impl PlanMemo {
    /// The plan of `request` for `route`, when planned before.
    pub fn get(&self, route: &Route, request: &Bytes) -> Option<Arc<Planned>> {
        let key = (address(route), request.clone());
        let found = self.map.read().get(&key).cloned()?;
        (found.operation == route.operation_id).then_some(found)
    }

    /// Keeps a plan of `request` for `route` (when the route and the
    /// request qualify), and returns it.
    pub fn insert(
        &self,
        route: &Route,
        request: Bytes,
        msg: DynamicMessage,
        plan: Plan,
    ) -> Arc<Planned> {
        let planned = Arc::new(Planned {
            operation: route.operation_id.clone(),
            key: ReadKey::of(route, &plan),
            msg,
            plan,
        });
        if qualifies(route, &request) {
            let mut map = self.map.write();
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
            // A copy: the request may be a slice of a larger receive buffer.
            map.insert(
                (address(route), Bytes::copy_from_slice(&request)),
                planned.clone(),
            );
        }
        planned
    }

    /// Plans kept.
    pub fn len(&self) -> usize {
        self.map.read().len()
    }

    /// True when no plan is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Reads only; page-token routes choose their token per call and are
/// planned per call too.
pub fn qualifies(route: &Route, request: &Bytes) -> bool {
    route.is_read() && !route.page_token && request.len() <= MAX_REQUEST
}

fn address(route: &Route) -> usize {
    std::ptr::from_ref(route) as usize
}
