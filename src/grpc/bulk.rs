//! Bulk operations (BulkService, issue 16 item 3): one mutation RPC applied
//! to up to 10,000 targets as a long-running operation (AIP-151).
//!
//! - **Start.** Every step is built (the template with the target in
//!   `target_field`), validated and checked by the caller's policy before
//!   anything is stored or sent; then the operation is stored
//!   (src/operations.rs) and run in the background.
//! - **Run.** A runner holds the operation's lease, renewed before every
//!   batch. Each step goes through the pipeline as a call of the RPC by the
//!   caller who started it: its policy, the vault, the shared quota (at the
//!   caller's weight and priority), audit, cache invalidation. Up to
//!   `bulk.batch_size` steps that share a token go in one Graph batch
//!   request; steps the quota cannot admit yet wait for the next one.
//! - **Exactly once.** A step is marked sent before its call leaves and
//!   gets its outcome after. On a restart (or on another replica, once the
//!   lease lapsed) a step found sent without an outcome is settled by
//!   reading Graph's state (the list the RPC invalidates) before it would be
//!   sent again.
//! - **Stop.** On shutdown runners stop at a step boundary and give their
//!   leases up, so another replica (or the restarted one) continues at once.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use prost::Message as _;
use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, Value};
use tokio::time::Instant;

use crate::context::{AuthMethod, CallContext, Principal};
use crate::engine::batch::{Prepared, Sent};
use crate::engine::Engine;
use crate::error::{FieldViolation, GatewayError, Refusal, RefusalReason};
use crate::grpc::{context, status, GatewayService};
use crate::operations::{self, Created, Delta, Failure, Spec, Step, StoredPrincipal, MAX_TARGETS};
use crate::proto::google::longrunning::Operation;
use crate::proto::{
    BulkOperationMetadata, BulkOperationResult, BulkTargetFailure, StartBulkOperationRequest,
};
use crate::routes::{ResponseShape, Role, Route};

/// Times a step that Graph did not apply (throttled, transient, not run)
/// is sent again before it fails.
const MAX_ATTEMPTS: u32 = 5;
/// How long a batch waits for more quota permits once it has one. Short on
/// purpose: a permit counts in the gateway's window from when it is granted,
/// in Meta's from when the call arrives, and `quota.window_margin_ms` covers
/// only that gap (a 250 ms gather against a 100 ms margin let Meta's count
/// reach 100% and hold the key). When the quota paces the operation, batches
/// are therefore small; when it does not, every permit is there at once.
const GATHER: Duration = Duration::from_millis(20);
/// Pages read at most to settle a step in doubt.
const SETTLE_PAGES: usize = 100;

/// The runners of this replica.
pub struct Runners {
    engine: Arc<Engine>,
    /// This replica's lease holder id.
    holder: String,
    running: parking_lot::Mutex<HashMap<String, tokio::task::JoinHandle<()>>>,
    stop: tokio::sync::watch::Sender<bool>,
}

/// How a run ended.
enum Ended {
    Finished,
    /// Shutdown, a lost lease or a store error: another run continues.
    Left,
}

impl Runners {
    /// Runners for `engine`'s operations.
    pub fn new(engine: Arc<Engine>) -> Arc<Self> {
        let (stop, _) = tokio::sync::watch::channel(false);
        Arc::new(Self {
            engine,
            holder: format!("{:032x}", rand::random::<u128>()),
            running: parking_lot::Mutex::new(HashMap::new()),
            stop,
        })
    }

    /// Runs `name` here, unless a runner of this replica already does.
    pub fn ensure(self: &Arc<Self>, name: &str) {
        if *self.stop.borrow() {
            return;
        }
        let mut running = self.running.lock();
        if running.get(name).is_some_and(|h| !h.is_finished()) {
            return;
        }
        let me = self.clone();
        let owned = name.to_string();
        let handle = tokio::spawn(async move {
            me.run(&owned).await;
        });
        running.insert(name.to_string(), handle);
    }

    /// Every `bulk.scan_interval_ms`, takes up operations no replica runs
    /// (after a restart, or when a replica died): their lease is free.
    pub fn supervise(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        let mut stop = self.stop.subscribe();
        tokio::spawn(async move {
            let every = Duration::from_millis(me.engine.bulk().scan_interval_ms);
            loop {
                match me.engine.operations().active().await {
                    Ok(names) => {
                        for name in names {
                            me.ensure(&name);
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "bulk: cannot list running operations"),
                }
                tokio::select! {
                    () = tokio::time::sleep(every) => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
            }
        })
    }

    /// Stops every runner at its next step boundary (their leases given
    /// up); waits for them at most `timeout`.
    pub async fn stop(&self, timeout: Duration) {
        self.stop.send_replace(true);
        let handles: Vec<_> = self.running.lock().drain().map(|(_, h)| h).collect();
        let all = futures::future::join_all(handles);
        if tokio::time::timeout(timeout, all).await.is_err() {
            tracing::warn!("bulk: runners still busy at the drain timeout");
        }
    }

    fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    fn lease(&self) -> Duration {
        Duration::from_millis(self.engine.bulk().lease_ms)
    }

    async fn run(self: Arc<Self>, name: &str) {
        let store = self.engine.operations().clone();
        match store.lease(name, &self.holder, self.lease()).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                tracing::warn!(operation = %name, error = %e, "bulk: cannot take the lease");
                return;
            }
        }
        let ended = match self.drive(name).await {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(operation = %name, error = %e, "bulk: run interrupted; it continues on the next scan");
                Ended::Left
            }
        };
        if let Err(e) = store.release(name, &self.holder).await {
            tracing::warn!(operation = %name, error = %e, "bulk: lease not given up (it lapses)");
        }
        if matches!(ended, Ended::Finished) {
            tracing::info!(operation = %name, "bulk operation finished");
        }
    }

    /// Runs the operation's remaining steps.
    async fn drive(&self, name: &str) -> Result<Ended, GatewayError> {
        let store = self.engine.operations().clone();
        let keep = Duration::from_secs(self.engine.bulk().keep_secs);
        let Some(spec) = store.spec(name).await.map_err(unavailable)? else {
            return Ok(Ended::Finished);
        };
        let job = match Job::of(&self.engine, &spec) {
            Ok(j) => j,
            Err(e) => {
                // The RPC is gone (a downgrade): every step left fails.
                let steps = store.steps(name).await.map_err(unavailable)?;
                let failed: Vec<(u32, Step)> = (0..spec.targets.len() as u32)
                    .filter(|i| !matches!(steps.get(i), Some(Step::Ok { .. } | Step::Failed(_))))
                    .map(|i| (i, Step::Failed(failure(&e))))
                    .collect();
                store
                    .record(name, &failed, Delta::default())
                    .await
                    .map_err(unavailable)?;
                store.finish(name, false, keep).await.map_err(unavailable)?;
                return Ok(Ended::Finished);
            }
        };
        let steps = store.steps(name).await.map_err(unavailable)?;
        let mut pending: VecDeque<u32> = (0..spec.targets.len() as u32)
            .filter(|i| !steps.contains_key(i))
            .collect();
        let in_doubt: Vec<u32> = steps
            .iter()
            .filter(|(_, s)| matches!(s, Step::Sent))
            .map(|(i, _)| *i)
            .collect();
        // Steps whose outcome a stopped run lost: settled first.
        for i in in_doubt {
            if self.stopping() {
                return Ok(Ended::Left);
            }
            let ctx = job.ctx(self.step_deadline());
            match self.settle(&job, &ctx, i).await {
                Some(step) => store
                    .record(name, &[(i, step)], Delta::default())
                    .await
                    .map_err(unavailable)?,
                None => pending.push_front(i),
            }
        }
        let mut pace = Pace::new(spec.targets.len());
        let mut attempts: HashMap<u32, u32> = HashMap::new();
        let mut batch = self.engine.bulk().batch && self.engine.bulk().batch_size > 1;
        loop {
            if self.stopping() {
                return Ok(Ended::Left);
            }
            let progress = store
                .progress(name)
                .await
                .map_err(unavailable)?
                .unwrap_or_default();
            pace.observe((progress.succeeded + progress.failed) as usize);
            if progress.done {
                return Ok(Ended::Finished);
            }
            if progress.cancel_requested || pending.is_empty() {
                store
                    .finish(name, progress.cancel_requested && !pending.is_empty(), keep)
                    .await
                    .map_err(unavailable)?;
                return Ok(Ended::Finished);
            }
            if !store
                .lease(name, &self.holder, self.lease())
                .await
                .map_err(unavailable)?
            {
                return Ok(Ended::Left);
            }
            let ctx = job.ctx(self.step_deadline());
            let size = if batch {
                self.engine.bulk().batch_size
            } else {
                1
            };
            let chunk: Vec<u32> = (0..size).map_while(|_| pending.pop_front()).collect();
            let mut outcomes = Vec::new();
            let mut delta = Delta::default();
            let mut retry = Vec::new();
            if batch {
                if self
                    .batch(&job, &ctx, name, &chunk, &mut outcomes, &mut retry)
                    .await?
                {
                    delta.batch_requests = 1;
                }
            } else if let Some(&i) = chunk.first() {
                self.single(&job, &ctx, name, i, &mut outcomes, &mut retry)
                    .await?;
            }
            // Not applied: sent again later, up to MAX_ATTEMPTS.
            let mut wait = None;
            for (i, e) in retry {
                let n = attempts.entry(i).or_insert(0);
                *n += 1;
                if *n >= MAX_ATTEMPTS && !is_quota_wait(&e) {
                    outcomes.push((i, Step::Failed(failure(&e))));
                } else {
                    if is_quota_wait(&e)
                        || matches!(&e, GatewayError::Graph(g) if g.is_throttling())
                    {
                        wait = Some(e.clone());
                    }
                    pending.push_back(i);
                }
                // A Graph that refuses batches as such: one call per step.
                if batch && refuses_batches(&e) {
                    tracing::warn!(operation = %name, error = %e, "bulk: Graph refused a batch request; sending one call per step");
                    batch = false;
                }
            }
            let finished = outcomes.len();
            pace.done += finished;
            (delta.next_step_ms, delta.end_ms) = pace.eta(pending.len());
            if !outcomes.is_empty() || delta.batch_requests > 0 {
                store
                    .record(name, &outcomes, delta)
                    .await
                    .map_err(unavailable)?;
            }
            // Nothing admitted (the quota is exhausted for now): a short
            // pause before asking again, so the loop does not spin.
            if finished == 0 {
                if let Some(e) = wait {
                    let pause = match &e {
                        GatewayError::Throttled { retry_after, .. } => {
                            (*retry_after).min(self.lease() / 4)
                        }
                        _ => Duration::from_millis(200),
                    };
                    let mut stop = self.stop.subscribe();
                    tokio::select! {
                        () = tokio::time::sleep(pause) => {}
                        _ = stop.wait_for(|s| *s) => {}
                    }
                }
            }
        }
    }
}

impl Runners {
    /// A step's deadline: well inside the lease, so a step never outlives
    /// the lease that let it start.
    fn step_deadline(&self) -> Instant {
        Instant::now() + (self.lease() / 3).min(self.engine.max_upstream())
    }

    /// One Graph batch request: the chunk's steps are prepared (policy,
    /// token), those sharing the first one's token are admitted by the
    /// quota as far as it allows now, marked sent, and sent together.
    /// Returns whether a batch request went out.
    async fn batch(
        &self,
        job: &Job,
        ctx: &CallContext,
        name: &str,
        chunk: &[u32],
        outcomes: &mut Vec<(u32, Step)>,
        retry: &mut Vec<(u32, GatewayError)>,
    ) -> Result<bool, GatewayError> {
        let mut ready: Vec<(u32, Prepared)> = Vec::new();
        for &i in chunk {
            match self.engine.prepare(&job.route, ctx, &job.step(i)).await {
                Ok(p) => ready.push((i, p)),
                Err(e) if not_applied(&e) => retry.push((i, e)),
                Err(e) => outcomes.push((i, Step::Failed(failure(&e)))),
            }
        }
        // One token per batch: the others wait for the next one.
        let Some(token) = ready.first().map(|(_, p)| p.token.name.clone()) else {
            return Ok(false);
        };
        let (same, other): (Vec<_>, Vec<_>) =
            ready.into_iter().partition(|(_, p)| p.token.name == token);
        for (i, _) in other {
            retry.push((i, GatewayError::DeadlineExceeded));
        }
        let items: Vec<Prepared> = same.iter().map(|(_, p)| p.clone()).collect();
        let admitted = match self
            .engine
            .admit(&job.route, ctx, &items, deadline_of(ctx), GATHER)
            .await
        {
            Ok(n) => n,
            Err(e) => {
                for (i, _) in &same {
                    retry.push((*i, e.clone()));
                }
                return Ok(false);
            }
        };
        for (i, _) in &same[admitted..] {
            retry.push((*i, GatewayError::DeadlineExceeded));
        }
        let same = &same[..admitted];
        if same.is_empty() {
            return Ok(false);
        }
        let indexes: Vec<u32> = same.iter().map(|(i, _)| *i).collect();
        self.engine
            .operations()
            .mark_sent(name, &indexes)
            .await
            .map_err(unavailable)?;
        let items: Vec<Prepared> = same.iter().map(|(_, p)| p.clone()).collect();
        let answers = self.engine.send_batch(&job.route, ctx, &items).await;
        let mut applied = Vec::new();
        for ((i, p), sent) in same.iter().zip(answers) {
            match sent {
                Sent::Done(Ok(_)) => {
                    applied.push(p);
                    outcomes.push((*i, Step::Ok { by_read: false }));
                }
                Sent::Done(Err(e)) => outcomes.push((*i, Step::Failed(failure(&e)))),
                Sent::NotApplied(e) => retry.push((*i, e)),
                Sent::InDoubt(e) => {
                    tracing::warn!(operation = %name, step = i, error = %e, "bulk: a step's answer was lost; settling it by reading Graph");
                    match self.settle(job, ctx, *i).await {
                        Some(step) => outcomes.push((*i, step)),
                        None => retry.push((*i, e)),
                    }
                }
            }
        }
        self.engine.invalidate_applied(&applied).await;
        Ok(true)
    }

    /// One step as one call of its RPC.
    async fn single(
        &self,
        job: &Job,
        ctx: &CallContext,
        name: &str,
        i: u32,
        outcomes: &mut Vec<(u32, Step)>,
        retry: &mut Vec<(u32, GatewayError)>,
    ) -> Result<(), GatewayError> {
        let msg = job.step(i);
        // Policy and validation first: a refused step was never sent.
        if let Err(e) = self.engine.check_step(&job.route, ctx, &msg).await {
            if not_applied(&e) {
                retry.push((i, e));
            } else {
                outcomes.push((i, Step::Failed(failure(&e))));
            }
            return Ok(());
        }
        self.engine
            .operations()
            .mark_sent(name, &[i])
            .await
            .map_err(unavailable)?;
        match self
            .engine
            .execute_dynamic(&job.route, ctx, &msg, None)
            .await
        {
            Ok(_) => outcomes.push((i, Step::Ok { by_read: false })),
            Err(GatewayError::Refused(r)) if r.reason == RefusalReason::OutcomeUnknown => {
                match self.settle(job, ctx, i).await {
                    Some(step) => outcomes.push((i, step)),
                    None => retry.push((i, GatewayError::Refused(r))),
                }
            }
            Err(e) if not_applied(&e) => retry.push((i, e)),
            Err(e) => outcomes.push((i, Step::Failed(failure(&e)))),
        }
        Ok(())
    }

    /// A step whose outcome was lost: Graph's state says whether it was
    /// applied (the list the RPC invalidates shows the target, or no longer
    /// does for a removal). None: send it again (not applied, or no list
    /// tells and Graph applies the RPC idempotently).
    async fn settle(&self, job: &Job, ctx: &CallContext, i: u32) -> Option<Step> {
        match read_back(&self.engine, job, ctx, i).await {
            Some(true) => Some(Step::Ok { by_read: true }),
            Some(false) => None,
            None => match crate::idempotency::replay::of(&job.route) {
                crate::idempotency::replay::Replay::Create(_) => Some(Step::Failed(Failure {
                    code: tonic::Code::Unavailable as i32,
                    message: "the step reached Graph but its answer was lost, and no list \
                              shows whether it was applied: check before running it again"
                        .to_string(),
                    ..Failure::default()
                })),
                _ => None,
            },
        }
    }
}

/// Whether Graph shows step `i` applied: Some(true) applied, Some(false)
/// not, None when no list can tell.
async fn read_back(engine: &Engine, job: &Job, ctx: &CallContext, i: u32) -> Option<bool> {
    let msg = job.step(i);
    let table = engine.routes();
    let (list, items_field) = std::iter::once(&job.route.template)
        .chain(job.route.invalidates.iter())
        .find_map(|t| {
            table.iter().find_map(|r| match &r.response {
                ResponseShape::List { items, .. } if r.is_read() && r.template.raw == t.raw => {
                    Some((r.clone(), items.clone()))
                }
                _ => None,
            })
        })?;
    // The list's request from the step's fields of the same names.
    let mut req = DynamicMessage::new(list.input.clone());
    let mut used = Vec::new();
    // The business, whatever each request calls its field.
    let business = job
        .route
        .fields
        .iter()
        .find(|f| f.business)
        .map(|f| f.field.clone());
    for fp in &list.fields {
        let name = fp.field.name();
        let src = job
            .route
            .input
            .get_field_by_name(name)
            .or_else(|| business.clone().filter(|_| fp.business));
        let Some(src) = src else {
            if fp.required {
                return None;
            }
            continue;
        };
        if !msg.has_field(&src) {
            if fp.required {
                return None;
            }
            continue;
        }
        if fp.in_path {
            used.push(name.to_string());
        }
        if src.kind() != fp.field.kind() || src.is_list() != fp.field.is_list() {
            return None;
        }
        req.set_field(&fp.field, msg.get_field(&src).into_owned());
    }
    // What the list would show: the step's ids that its path does not use.
    let subjects: Vec<String> = job
        .route
        .fields
        .iter()
        .filter(|fp| {
            fp.role == Role::Param && !fp.business && !used.contains(&fp.field.name().to_string())
        })
        .filter_map(|fp| msg.get_field(&fp.field).as_str().map(normalize))
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        .collect();
    if subjects.is_empty() {
        return None;
    }
    // Graph's state, not the cache's.
    if let Ok(plan) = crate::routes::request::plan(table, &list, &req) {
        engine.cache().invalidate(&[plan.graph.path]).await;
    }
    let token_field = list
        .fields
        .iter()
        .find(|f| f.role == Role::PageToken)
        .map(|f| f.field.clone());
    let mut list_ctx = ctx.clone();
    list_ctx.rpc = list.full_method.clone();
    let mut found = false;
    for _ in 0..SETTLE_PAGES {
        let bytes = engine
            .execute_dynamic(&list, &list_ctx, &req, None)
            .await
            .ok()?;
        let page = DynamicMessage::decode(list.output.clone(), bytes.as_ref()).ok()?;
        if let Value::List(items) = page.get_field(&items_field).as_ref() {
            found = items.iter().any(|item| {
                item.as_message()
                    .and_then(|m| m.get_field_by_name("id"))
                    .and_then(|v| v.as_str().map(normalize))
                    .is_some_and(|id| subjects.contains(&id))
            });
        }
        let next = page
            .get_field_by_name("next_page_token")
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        match (&token_field, found || next.is_empty()) {
            (Some(tf), false) => req.set_field(tf, Value::String(next)),
            _ => break,
        }
    }
    let removal = job.route.http == crate::routes::HttpMethod::Delete;
    Some(found != removal)
}

fn normalize(id: &str) -> String {
    id.strip_prefix("act_").unwrap_or(id).to_string()
}

/// The deadline a step's context carries.
fn deadline_of(ctx: &CallContext) -> Instant {
    ctx.deadline
        .unwrap_or_else(|| Instant::now() + Duration::from_secs(5))
}

/// Errors after which Graph has not applied the step, worth trying again.
fn not_applied(e: &GatewayError) -> bool {
    match e {
        GatewayError::Throttled { .. }
        | GatewayError::DeadlineExceeded
        | GatewayError::NotSent(_) => true,
        GatewayError::Graph(g) => g.is_throttling() || g.is_transient(),
        GatewayError::Refused(r) => matches!(
            r.reason,
            RefusalReason::Overloaded | RefusalReason::CircuitOpen | RefusalReason::ShuttingDown
        ),
        _ => false,
    }
}

/// The quota could not admit the step in time (not a failure of it).
fn is_quota_wait(e: &GatewayError) -> bool {
    matches!(
        e,
        GatewayError::Throttled { .. } | GatewayError::DeadlineExceeded
    )
}

/// A batch request Graph (or what answers in its place) does not take.
fn refuses_batches(e: &GatewayError) -> bool {
    match e {
        GatewayError::Graph(g) => !g.is_throttling() && !g.is_transient() && g.http_status != 0,
        _ => false,
    }
}

fn failure(e: &GatewayError) -> Failure {
    let st = status::to_status(e);
    let mut f = Failure {
        code: st.code() as i32,
        message: st.message().to_string(),
        ..Failure::default()
    };
    if let GatewayError::Graph(g) = e {
        f.graph_code = i32::try_from(g.code).unwrap_or_default();
        f.graph_subcode = g
            .subcode
            .and_then(|s| i32::try_from(s).ok())
            .unwrap_or_default();
        f.fbtrace_id = g.fbtrace_id.clone().unwrap_or_default();
    }
    f
}

fn unavailable(e: operations::StoreError) -> GatewayError {
    GatewayError::Refused(
        Refusal::new(
            RefusalReason::OperationsUnavailable,
            format!("the operation store cannot answer ({e}); retry"),
        )
        .retry_after(Duration::from_secs(1)),
    )
}

/// An operation's steps, ready to run.
struct Job {
    route: Arc<Route>,
    template: DynamicMessage,
    target: FieldDescriptor,
    targets: Vec<String>,
    caller: Option<String>,
    principal: Option<Arc<Principal>>,
    name: String,
}

impl Job {
    fn of(engine: &Engine, spec: &Spec) -> Result<Self, GatewayError> {
        let route =
            engine.routes().get(&spec.method).cloned().ok_or_else(|| {
                GatewayError::Internal(format!("{} has no Graph route", spec.method))
            })?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&spec.template)
            .map_err(|e| GatewayError::Internal(format!("stored template unreadable: {e}")))?;
        let template = DynamicMessage::decode(route.input.clone(), bytes.as_slice())
            .map_err(|e| GatewayError::Internal(format!("stored template unreadable: {e}")))?;
        let target = route
            .input
            .get_field_by_name(&spec.target_field)
            .ok_or_else(|| GatewayError::Internal(format!("no field {}", spec.target_field)))?;
        Ok(Self {
            route,
            template,
            target,
            targets: spec.targets.clone(),
            caller: spec.caller.clone(),
            principal: spec.principal.as_ref().map(|p| {
                Arc::new(Principal {
                    name: p.name.clone(),
                    admin: p.admin,
                    method: if p.method == "certificate" {
                        AuthMethod::Certificate
                    } else {
                        AuthMethod::ApiKey
                    },
                })
            }),
            name: spec.name.clone(),
        })
    }

    /// Step `i`'s request.
    fn step(&self, i: u32) -> DynamicMessage {
        let mut msg = self.template.clone();
        if let Some(t) = self.targets.get(i as usize) {
            msg.set_field(&self.target, Value::String(t.clone()));
        }
        msg
    }

    /// The steps' context: the caller who started the operation, as a call
    /// of the step's RPC.
    fn ctx(&self, deadline: Instant) -> CallContext {
        CallContext {
            deadline: Some(deadline),
            request_id: self.name.clone(),
            caller: self.caller.clone(),
            cancel: Default::default(),
            rpc: self.route.full_method.clone(),
            principal: self.principal.clone(),
        }
    }
}

/// The pace so far, for the ETA in the metadata.
struct Pace {
    started: std::time::Instant,
    /// Steps with an outcome when this run started.
    at_start: Option<usize>,
    done: usize,
    total: usize,
}

impl Pace {
    fn new(total: usize) -> Self {
        Self {
            started: std::time::Instant::now(),
            at_start: None,
            done: 0,
            total,
        }
    }

    /// The steps with an outcome, from the store.
    fn observe(&mut self, done: usize) {
        self.at_start.get_or_insert(done);
        self.done = done;
    }

    /// (next step, last step) expected ends, ms since the epoch (0: not
    /// known yet).
    fn eta(&mut self, pending: usize) -> (u64, u64) {
        let at_start = self.at_start.unwrap_or(self.done);
        let run = self.done.saturating_sub(at_start);
        if run == 0 || pending == 0 {
            return (0, 0);
        }
        let per_step = self.started.elapsed().as_secs_f64() / run as f64;
        let now = operations::now_ms() as f64;
        let remaining = pending.min(self.total) as f64;
        (
            (now + per_step * 1000.0) as u64,
            (now + per_step * remaining * 1000.0) as u64,
        )
    }
}

// --- BulkService.StartBulkOperation ------------------------------------------

/// At most this many field violations are listed for the targets.
const MAX_TARGET_VIOLATIONS: usize = 20;

/// BulkService.StartBulkOperation.
pub(crate) async fn start_bulk_operation(
    svc: &GatewayService,
    request: tonic::Request<StartBulkOperationRequest>,
) -> Result<tonic::Response<Operation>, tonic::Status> {
    let ctx = context::from_request(&request);
    let record = crate::telemetry::RpcRecord::start(START, &ctx);
    let result = record
        .wrap(start(svc, ctx, request.into_inner()))
        .await
        .map_err(|e| status::to_status(&e));
    record.finish(result.as_ref().map(drop));
    result.map(tonic::Response::new)
}

/// The RPC's own name (logs).
const START: &str = "/graphgateway.v1.BulkService/StartBulkOperation";

async fn start(
    svc: &GatewayService,
    ctx: CallContext,
    req: StartBulkOperationRequest,
) -> Result<Operation, GatewayError> {
    let engine = svc.engine();
    let (route, template, target) = check(engine, &req)?;
    let mut step_ctx = ctx.clone();
    step_ctx.rpc = route.full_method.clone();
    // Every step is validated and checked by policy before anything starts.
    let mut violations = Vec::new();
    let mut denied = None;
    for (i, t) in req.targets.iter().enumerate() {
        let mut msg = template.clone();
        msg.set_field(&target, Value::String(t.clone()));
        match engine.check_step(&route, &step_ctx, &msg).await {
            Ok(()) => {}
            Err(GatewayError::InvalidArgument(v)) => {
                for f in v {
                    if violations.len() < MAX_TARGET_VIOLATIONS {
                        let field = if f.field == req.target_field {
                            format!("targets[{i}]")
                        } else {
                            format!("template.{}", f.field)
                        };
                        violations.push(FieldViolation {
                            field,
                            description: f.description,
                        });
                    }
                }
            }
            Err(e) => {
                denied.get_or_insert(e);
            }
        }
    }
    if !violations.is_empty() {
        violations.dedup();
        return Err(GatewayError::InvalidArgument(violations));
    }
    if let Some(e) = denied {
        return Err(e);
    }
    let spec = Spec {
        name: operations::name_for(ctx.caller.as_deref(), &req.request_id),
        caller: ctx.caller.clone(),
        principal: ctx.principal.as_ref().map(|p| StoredPrincipal {
            name: p.name.clone(),
            admin: p.admin,
            method: match p.method {
                AuthMethod::ApiKey => "api_key".to_string(),
                AuthMethod::Certificate => "certificate".to_string(),
            },
        }),
        request_id: req.request_id.clone(),
        method: route.full_method.clone(),
        template: base64::engine::general_purpose::STANDARD.encode(template.encode_to_vec()),
        target_field: req.target_field.clone(),
        targets: req.targets.clone(),
        create_time_ms: operations::now_ms(),
    };
    let store = engine.operations();
    let name = match store.create(&spec).await.map_err(unavailable)? {
        Created::New => {
            tracing::info!(operation = %spec.name, method = %spec.method, targets = spec.targets.len(), "bulk operation started");
            svc.bulk().ensure(&spec.name);
            spec.name.clone()
        }
        Created::Existing(name) => {
            let first = store.spec(&name).await.map_err(unavailable)?;
            if first.as_ref().is_some_and(|f| {
                f.method != spec.method
                    || f.template != spec.template
                    || f.target_field != spec.target_field
                    || f.targets != spec.targets
            }) {
                return Err(GatewayError::Refused(Refusal::new(
                    RefusalReason::RequestIdReused,
                    "request_id already started a different bulk operation",
                )));
            }
            name
        }
    };
    super::operations::load(engine, &name, &ctx)
        .await?
        .ok_or_else(|| GatewayError::Internal("the operation just stored is gone".into()))
}

/// Checks the request's own fields: the method, the template, the target
/// field, the targets, the request_id.
fn check(
    engine: &Engine,
    req: &StartBulkOperationRequest,
) -> Result<(Arc<Route>, DynamicMessage, FieldDescriptor), GatewayError> {
    let mut violations = Vec::new();
    let mut bad = |field: &str, description: String| {
        violations.push(FieldViolation {
            field: field.to_string(),
            description,
        })
    };
    if req.request_id.is_empty() {
        bad(
            "request_id",
            "is required: a repeat with the same request_id answers the same operation".into(),
        );
    }
    if req.targets.is_empty() || req.targets.len() > MAX_TARGETS {
        bad(
            "targets",
            format!(
                "must hold 1 to {MAX_TARGETS} targets, got {}",
                req.targets.len()
            ),
        );
    }
    let mut seen = HashMap::new();
    for (i, t) in req.targets.iter().enumerate() {
        if t.is_empty() {
            bad(&format!("targets[{i}]"), "must not be empty".into());
        } else if let Some(j) = seen.insert(t.as_str(), i) {
            bad(&format!("targets[{i}]"), format!("repeats targets[{j}]"));
        }
    }
    let method = format!("/{}", req.method.trim_start_matches('/'));
    let route = engine
        .routes()
        .get(&method)
        .cloned()
        .filter(|r| !r.is_read() && !r.mints_token);
    let Some(route) = route else {
        let shown: String = req.method.chars().take(64).collect();
        bad(
            "method",
            format!(
                "must name a mutation RPC of the gateway (a Graph route that writes), e.g. \
                 \"graphgateway.v1.AdAccountService/AssignAdAccountUser\"; got {shown:?}"
            ),
        );
        return Err(GatewayError::InvalidArgument(
            crate::error::status::bounded_violations(&violations),
        ));
    };
    let want = route.input.full_name();
    let template = match &req.template {
        None => {
            bad("template", format!("is required: a packed {want}"));
            None
        }
        Some(any) if any.type_url.rsplit('/').next() != Some(want) => {
            let shown: String = any.type_url.chars().take(96).collect();
            bad(
                "template",
                format!(
                    "must be a packed {want} for {}, got type {shown:?}",
                    route.method
                ),
            );
            None
        }
        Some(any) => match DynamicMessage::decode(route.input.clone(), any.value.as_slice()) {
            Ok(m) => Some(m),
            Err(e) => {
                bad("template", format!("is not a valid {want} message: {e}"));
                None
            }
        },
    };
    let target = route
        .input
        .get_field_by_name(&req.target_field)
        .filter(|f| f.kind() == Kind::String && !f.is_list() && f.name() != "request_id");
    if target.is_none() {
        let shown: String = req.target_field.chars().take(64).collect();
        bad(
            "target_field",
            format!("must name a string field of {want} (not request_id); got {shown:?}"),
        );
    }
    if let (Some(t), Some(m)) = (&target, &template) {
        if m.has_field(t) && m.get_field(t).as_str().is_some_and(|s| !s.is_empty()) {
            bad(
                "template",
                format!("must leave {} empty: each target fills it", t.name()),
            );
        }
        if let Some(rid) = route.input.get_field_by_name("request_id") {
            if m.get_field(&rid).as_str().is_some_and(|s| !s.is_empty()) {
                bad(
                    "template",
                    "must leave request_id empty: each step has its own".into(),
                );
            }
        }
    }
    match (template, target) {
        (Some(m), Some(t)) if violations.is_empty() => Ok((route, m, t)),
        _ => Err(GatewayError::InvalidArgument(
            crate::error::status::bounded_violations(&violations),
        )),
    }
}

/// Packs a message as an Any.
pub(crate) fn pack<M: prost::Message>(type_name: &str, m: &M) -> prost_types::Any {
    prost_types::Any {
        type_url: format!("type.googleapis.com/{type_name}"),
        value: m.encode_to_vec(),
    }
}

/// The metadata of an operation.
pub(crate) fn metadata(spec: &Spec, p: &operations::Progress) -> BulkOperationMetadata {
    let total = spec.targets.len() as i32;
    let done = (p.succeeded + p.failed) as i32;
    let ts = |ms: u64| {
        (ms > 0).then(|| prost_types::Timestamp {
            seconds: (ms / 1000) as i64,
            nanos: ((ms % 1000) * 1_000_000) as i32,
        })
    };
    BulkOperationMetadata {
        method: spec.method.trim_start_matches('/').to_string(),
        target_field: spec.target_field.clone(),
        total,
        succeeded: p.succeeded as i32,
        failed: p.failed as i32,
        remaining: (total - done).max(0),
        create_time: ts(spec.create_time_ms),
        update_time: ts(p.update_time_ms),
        next_step_time: if p.done { None } else { ts(p.next_step_ms) },
        estimated_end_time: if p.done { None } else { ts(p.end_ms) },
        cancel_requested: p.cancel_requested,
        batch_requests: p.batch_requests as i32,
        settled_by_read: p.settled_by_read as i32,
    }
}

/// The result of a finished operation.
pub(crate) fn result(
    spec: &Spec,
    p: &operations::Progress,
    steps: &HashMap<u32, Step>,
) -> BulkOperationResult {
    let mut failed: Vec<(&u32, &Failure)> = steps
        .iter()
        .filter_map(|(i, s)| match s {
            Step::Failed(f) => Some((i, f)),
            _ => None,
        })
        .collect();
    failed.sort_by_key(|(i, _)| **i);
    BulkOperationResult {
        succeeded: p.succeeded as i32,
        failed: p.failed as i32,
        failures: failed
            .into_iter()
            .map(|(i, f)| BulkTargetFailure {
                target: spec.targets.get(*i as usize).cloned().unwrap_or_default(),
                code: f.code,
                message: f.message.clone(),
                graph_code: f.graph_code,
                graph_subcode: f.graph_subcode,
                fbtrace_id: f.fbtrace_id.clone(),
            })
            .collect(),
    }
}
