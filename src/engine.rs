//! The pipeline, one path for every RPC:
//! validation -> cache (reads) -> vault -> quota -> Graph -> response;
//! successful mutations invalidate what they change.
//!
//! The engine knows nothing of tonic: it takes request messages and a
//! [`CallContext`] and returns response messages or a [`GatewayError`].

mod args;
pub mod batch;
pub mod memo;
mod mint;
mod mutation;
mod passthrough;
pub use passthrough::PassthroughAnswer;
pub mod response;
mod scrape;
pub mod token_health;
pub mod transcode;
pub use crate::routes;
pub use crate::routes::{page_token, request};

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;
use tracing::Instrument as _;

use crate::cache::{CacheKey, ReadCache, Served};
use crate::error::GatewayError;
use crate::graph::GraphClient;
use crate::quota::{Quota, QuotaKeys};
use crate::vault::{TokenEntry, TokenKind, TokenQuery, Vault};
pub use args::Arg;
use request::Plan;
use routes::{Route, RouteTable};
use transcode::ResponsePlans;

pub use crate::context::CallContext;

/// The pipeline.
pub struct Engine {
    table: Arc<RouteTable>,
    /// The response side's plans, compiled from the table (issue 15).
    plans: Arc<ResponsePlans>,
    graph: GraphClient,
    vault: Arc<dyn Vault>,
    quota: Arc<dyn Quota>,
    cache: Arc<dyn ReadCache>,
    max_upstream: Duration,
    /// Asset id -> the business whose list showed it, so calls addressed to
    /// an asset find their token without a business hint.
    owners: moka::future::Cache<String, Arc<str>>,
    /// Retries, the circuit breaker and the idempotency store.
    reliability: Arc<crate::retry::Reliability>,
    /// Caller policy, audit, token-health publishing (src/auth.rs).
    security: Arc<crate::auth::Security>,
    /// Reads' plans by request bytes (issue 15).
    memo: memo::PlanMemo,
    /// Bulk operations' state (src/operations.rs) and settings.
    operations: Arc<dyn crate::operations::OperationStore>,
    bulk: crate::config::BulkConfig,
}

// === impl Engine ===

impl Engine {
    /// Assembles the pipeline.
    pub fn new(
        table: Arc<RouteTable>,
        graph: GraphClient,
        vault: Arc<dyn Vault>,
        quota: Arc<dyn Quota>,
        cache: Arc<dyn ReadCache>,
        max_upstream: Duration,
    ) -> Self {
        let owners = moka::future::Cache::builder()
            .max_capacity(OWNER_INDEX_CAPACITY)
            .build();
        let plans = Arc::new(ResponsePlans::new(&table));
        Self {
            table,
            plans,
            graph,
            vault,
            quota,
            cache,
            max_upstream,
            owners,
            reliability: Arc::new(crate::retry::Reliability::default()),
            security: Arc::new(crate::auth::Security::open()),
            memo: memo::PlanMemo::default(),
            operations: Arc::new(crate::operations::LocalStore::default()),
            bulk: crate::config::BulkConfig::default(),
        }
    }

    /// With this store of bulk operations and these settings (the default:
    /// in process, batches of 50).
    pub fn with_operations(
        mut self,
        store: Arc<dyn crate::operations::OperationStore>,
        bulk: crate::config::BulkConfig,
    ) -> Self {
        self.operations = store;
        self.bulk = bulk;
        self
    }

    /// The store of bulk operations.
    pub fn operations(&self) -> &Arc<dyn crate::operations::OperationStore> {
        &self.operations
    }

    /// Bulk operations' settings.
    pub fn bulk(&self) -> &crate::config::BulkConfig {
        &self.bulk
    }

    /// With this caller policy and audit trail (the default: no policy,
    /// audit to the log).
    pub fn with_security(mut self, security: Arc<crate::auth::Security>) -> Self {
        self.security = security;
        self
    }

    /// Caller policy, audit, token-health publishing.
    pub fn security(&self) -> &Arc<crate::auth::Security> {
        &self.security
    }

    /// The Graph client (token health checks use it).
    pub fn graph(&self) -> &GraphClient {
        &self.graph
    }

    /// With these retries, breaker and idempotency store (the default:
    /// `[retry]`, `[breaker]`, `[idempotency]` defaults, in process).
    pub fn with_reliability(mut self, reliability: Arc<crate::retry::Reliability>) -> Self {
        self.reliability = reliability;
        self
    }

    /// Retries, the circuit breaker and the idempotency store.
    pub fn reliability(&self) -> &Arc<crate::retry::Reliability> {
        &self.reliability
    }

    /// The upper bound of one upstream call.
    pub fn max_upstream(&self) -> Duration {
        self.max_upstream
    }

    /// The call's deadline: the caller's, else the upper bound of a call.
    pub fn deadline(&self, ctx: &CallContext) -> Instant {
        ctx.deadline
            .unwrap_or_else(|| Instant::now() + self.max_upstream)
    }

    /// The route table.
    pub fn routes(&self) -> &Arc<RouteTable> {
        &self.table
    }

    /// The cache (for stats).
    pub fn cache(&self) -> &Arc<dyn ReadCache> {
        &self.cache
    }

    /// The vault.
    pub fn vault(&self) -> &Arc<dyn Vault> {
        &self.vault
    }

    /// The quota engine (QuotaService reads its snapshot).
    pub fn quota(&self) -> &Arc<dyn Quota> {
        &self.quota
    }

    /// Runs one RPC declared with a graph route.
    pub async fn execute<Req, Resp>(
        &self,
        full_method: &str,
        ctx: &CallContext,
        req: &Req,
    ) -> Result<Resp, GatewayError>
    where
        Req: prost::Message,
        Resp: prost::Message + Default,
    {
        let route = self
            .table
            .get(full_method)
            .ok_or_else(|| GatewayError::Internal(format!("{full_method} has no Graph route")))?
            .clone();
        let msg = request::to_dynamic(&route, req)?;
        let bytes = self.execute_dynamic(&route, ctx, &msg, None).await?;
        Resp::decode(bytes)
            .map_err(|e| GatewayError::Internal(format!("re-decoding response: {e}")))
    }

    /// Runs one RPC declared with a graph route on its encoded request, and
    /// returns the encoded response (a cache hit as the cache keeps it). The
    /// request is decoded once, against the route's descriptor; a malformed
    /// one is the caller's error. A read planned before with the same bytes
    /// skips decoding and validation ([`memo`]).
    pub async fn execute_encoded(
        &self,
        route: &Route,
        ctx: &CallContext,
        request: Bytes,
    ) -> Result<Bytes, GatewayError> {
        let memoize = memo::qualifies(route, &request);
        if memoize {
            if let Some(p) = self.memo.get(route, &request) {
                return self
                    .execute_planned(
                        route,
                        ctx,
                        &p.msg,
                        Cow::Borrowed(&p.plan),
                        None,
                        Some(&p.key),
                    )
                    .await;
            }
        }
        let msg = prost_reflect::DynamicMessage::decode(route.input.clone(), request.clone())
            .map_err(|e| {
                GatewayError::invalid("request", format!("is not a valid protobuf message: {e}"))
            })?;
        let plan = request::plan(&self.table, route, &msg)?;
        if memoize {
            let p = self.memo.insert(route, request, msg, plan);
            return self
                .execute_planned(
                    route,
                    ctx,
                    &p.msg,
                    Cow::Borrowed(&p.plan),
                    None,
                    Some(&p.key),
                )
                .await;
        }
        self.execute_planned(route, ctx, &msg, Cow::Owned(plan), None, None)
            .await
    }

    /// Runs a route on a dynamic request message, with the vault's token or
    /// the one given (workflows pass page tokens). Returns the encoded
    /// response message.
    pub async fn execute_dynamic(
        &self,
        route: &Route,
        ctx: &CallContext,
        msg: &prost_reflect::DynamicMessage,
        token: Option<Arc<TokenEntry>>,
    ) -> Result<Bytes, GatewayError> {
        let plan = request::plan(&self.table, route, msg)?;
        self.execute_planned(route, ctx, msg, Cow::Owned(plan), token, None)
            .await
    }

    /// A planned call: the owner index, the caller's policy, the token,
    /// then [`Engine::run`] (with the read's cache key parts when the memo
    /// has them).
    async fn execute_planned(
        &self,
        route: &Route,
        ctx: &CallContext,
        msg: &prost_reflect::DynamicMessage,
        plan: Cow<'_, Plan>,
        token: Option<Arc<TokenEntry>>,
        read_key: Option<&memo::ReadKey>,
    ) -> Result<Bytes, GatewayError> {
        let (plan, token) = self.resolve(route, ctx, msg, plan, token).await?;
        self.run(route, ctx, &plan, &token, read_key).await
    }

    /// Everything before the call: the owner index, the caller's policy and
    /// the token (the one given, a page's, or the vault's).
    async fn resolve<'p>(
        &self,
        route: &Route,
        ctx: &CallContext,
        msg: &prost_reflect::DynamicMessage,
        mut plan: Cow<'p, Plan>,
        token: Option<Arc<TokenEntry>>,
    ) -> Result<(Cow<'p, Plan>, Arc<TokenEntry>), GatewayError> {
        let named_business = plan.business.is_some();
        let learned = match (&plan.business, &plan.asset) {
            (None, Some(asset)) => self.owners.get(asset).await,
            _ => None,
        };
        if let Some(business) = learned {
            plan.to_mut().business = Some(business.to_string());
        }
        // The caller's policy, before the cache and the vault are touched.
        self.security.authorize(ctx, route, &plan, msg)?;
        let token = match token {
            Some(t) => t,
            // Graph wants the page's own token (BB04): the vault's, or one
            // derived with the business's token.
            None if route.page_token => {
                let page = plan.asset.clone().ok_or_else(|| {
                    GatewayError::Internal(format!("{} names no page", route.operation_id))
                })?;
                match plan.business.clone() {
                    Some(business) => {
                        let t = self.page_token(ctx, &business, &page, false).await?;
                        plan.to_mut().page_token_for = Some((business, page));
                        t
                    }
                    // No business to derive with: only a stored page token.
                    None => self
                        .vault
                        .select(&TokenQuery {
                            business: None,
                            asset: Some(&page),
                            kind: Some(TokenKind::Page),
                        })
                        .map_err(|_| {
                            GatewayError::NoToken(format!(
                                "the vault holds no page token for page {page}; name the \
                                 owner in business_id so that its token derives one"
                            ))
                        })?,
                }
            }
            // The business's token when the caller names the business; the
            // asset's own token for calls that name none, before the
            // business is learned from lists.
            None => self.vault.select(&TokenQuery {
                business: plan.business.as_deref(),
                asset: plan.asset.as_deref().filter(|_| !named_business),
                kind: None,
            })?,
        };
        Ok((plan, token))
    }

    /// Runs one catalogue operation (e.g. "PG10") with fields set by name:
    /// strings, lists of strings, and enums by their Graph spelling. The
    /// workflows' way into the pipeline.
    pub async fn operation(
        &self,
        operation_id: &str,
        ctx: &CallContext,
        args: &[(&str, Arg)],
        token: Option<Arc<TokenEntry>>,
    ) -> Result<prost_reflect::DynamicMessage, GatewayError> {
        let route = self
            .table
            .by_operation(operation_id)
            .ok_or_else(|| {
                GatewayError::Internal(format!("no route for operation {operation_id}"))
            })?
            .clone();
        let msg = args::build(&self.table, &route, args)?;
        let bytes = self.execute_dynamic(&route, ctx, &msg, token).await?;
        prost_reflect::DynamicMessage::decode(route.output.clone(), bytes.as_ref()).map_err(|e| {
            GatewayError::Internal(format!("re-decoding {operation_id} response: {e}"))
        })
    }

    /// Checks the caller's policy for one catalogue operation a workflow is
    /// about to run, with the arguments known before its first step (ids an
    /// earlier step will find are left out: the step is then checked as
    /// acting on the business itself). Nothing is sent, read or cached.
    pub async fn authorize_operation(
        &self,
        operation_id: &str,
        ctx: &CallContext,
        args: &[(&str, Arg)],
    ) -> Result<(), GatewayError> {
        let route = self.table.by_operation(operation_id).ok_or_else(|| {
            GatewayError::Internal(format!("no route for operation {operation_id}"))
        })?;
        let msg = args::build(&self.table, route, args)?;
        let mut business = route.business_of(&msg);
        if business.is_none() {
            if let Some(first) = route.touches(&msg).first() {
                business = self.owners.get(&first.id).await.map(|b| b.to_string());
            }
        }
        self.security
            .authorize_step(ctx, route, business.as_deref(), &msg)
    }

    /// Reads one secret-bearing field of a node (e.g. a page's
    /// `access_token`) with `token`: through the quota, never through the
    /// cache, never logged; the value comes back wrapped as a [`Secret`].
    pub async fn fetch_secret_field(
        &self,
        ctx: &CallContext,
        token: &Arc<TokenEntry>,
        node_id: &str,
        field: &str,
    ) -> Result<crate::secret::Secret, GatewayError> {
        if node_id.is_empty() || !node_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(GatewayError::invalid(
                "page_id",
                "must be a Graph id (digits)",
            ));
        }
        self.security.authorize_secret_read(ctx, token, node_id)?;
        let keys = QuotaKeys {
            token: &token.name,
            business: None,
            ad_account: None,
            class: routes::QuotaClass::App,
            use_case: "pages",
            write: false,
            caller: ctx.caller.as_deref(),
        };
        let deadline = ctx
            .deadline
            .unwrap_or_else(|| Instant::now() + self.max_upstream);
        let waited = Instant::now();
        let acquired = self.quota.acquire(&keys, Some(deadline)).await;
        crate::metrics::quota_wait(waited.elapsed(), acquired.is_ok());
        acquired?;
        let timeout = deadline
            .saturating_duration_since(Instant::now())
            .min(self.max_upstream);
        let req = crate::graph::GraphRequest {
            method: crate::graph::HttpMethod::Get,
            path: format!("/{node_id}"),
            params: vec![("fields".to_string(), field.to_string())],
        };
        let started = Instant::now();
        let (result, usage) = self.graph.call(&req, &token.secret, timeout).await;
        crate::metrics::upstream_call("/{page_id}", result.as_ref().map(drop), started.elapsed());
        self.quota.observe(
            &keys,
            &usage,
            match &result {
                Err(GatewayError::Graph(g)) => Some(g),
                _ => None,
            },
        );
        let body = result?;
        let json: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|_| GatewayError::Malformed(format!("/{node_id} answered invalid JSON")))?;
        json.get(field)
            .and_then(serde_json::Value::as_str)
            .filter(|s| !s.is_empty())
            .map(crate::secret::Secret::new)
            .ok_or_else(|| {
                GatewayError::NoToken(format!(
                    "Graph issued no {field} for {node_id}: vault token {} holds no role on it",
                    token.name
                ))
            })
    }

    /// The page token of `page`: the vault's (unless `refresh`), or one
    /// derived with `business`'s vault token (GET /{page}?fields=access_token)
    /// and stored in the vault as `page-{page}`. The value never leaves the
    /// vault and the Graph client; the derivation is audited by name.
    pub async fn page_token(
        &self,
        ctx: &CallContext,
        business: &str,
        page: &str,
        refresh: bool,
    ) -> Result<Arc<TokenEntry>, GatewayError> {
        let stored = TokenQuery {
            business: None,
            asset: Some(page),
            kind: Some(TokenKind::Page),
        };
        if !refresh {
            if let Ok(t) = self.vault.select(&stored) {
                return Ok(t);
            }
        }
        let result = async {
            let owner = self.vault.select(&TokenQuery {
                business: Some(business),
                asset: None,
                kind: None,
            })?;
            let secret = self
                .fetch_secret_field(ctx, &owner, page, "access_token")
                .await?;
            self.vault
                .put(TokenEntry {
                    name: format!("page-{page}"),
                    kind: TokenKind::Page,
                    businesses: Vec::new(),
                    assets: vec![page.to_string()],
                    secret,
                    expires_at: None,
                })
                .await?;
            Ok::<_, GatewayError>(self.vault.select(&stored)?)
        }
        .await;
        // A vault change: audited (the token's name, never its value).
        let mut rec = crate::audit::AuditRecord::new(ctx, "DERIVE_PAGE_TOKEN");
        rec.business = Some(business.to_string());
        rec.graph_call = format!("GET /{page}?fields=access_token");
        rec.objects.insert("page_id".to_string(), page.to_string());
        rec.token = result.as_ref().ok().map(|t| t.name.clone());
        self.security
            .record(&rec.outcome(result.as_ref().map(drop)));
        result
    }

    /// Runs a planned call with a chosen token: reads through the cache,
    /// mutations then invalidation. Workflows call this for each step.
    pub async fn run(
        &self,
        route: &Route,
        ctx: &CallContext,
        plan: &Plan,
        token: &Arc<TokenEntry>,
        read_key: Option<&memo::ReadKey>,
    ) -> Result<Bytes, GatewayError> {
        if route.mints_token {
            return self.mint_token(route, ctx, plan, token).await;
        }
        if route.is_read() {
            let parts = match read_key {
                Some(k) => Cow::Borrowed(k),
                None => Cow::Owned(memo::ReadKey::of(route, plan)),
            };
            let key = CacheKey {
                token: Arc::from(token.name.as_str()),
                operation: parts.operation.clone(),
                path: parts.path.clone(),
                params: parts.params.clone(),
                generation: self.cache.generation(&plan.graph.path),
            };
            let (bytes, served) = self
                .cache
                .get_or_fetch(key, Box::pin(self.fetch(route, ctx, plan, token)))
                .await?;
            tracing::debug!(cache = served_label(served), "read served");
            Ok(bytes)
        } else {
            // Once per request_id; a lost answer is settled, never resent
            // blindly (crate::idempotency).
            let result = mutation::run(self, route, ctx, plan, token).await;
            self.security.audit().mutation(
                ctx,
                route,
                plan,
                Some(&token.name),
                result.as_ref().map(drop),
            );
            let bytes = result?;
            self.cache.invalidate(&plan.invalidates).await;
            Ok(bytes)
        }
    }

    /// Quota, then the Graph call, then the response transcoding. The result
    /// is the encoded response message (what the cache keeps).
    async fn fetch(
        &self,
        route: &Route,
        ctx: &CallContext,
        plan: &Plan,
        token: &Arc<TokenEntry>,
    ) -> Result<Bytes, GatewayError> {
        self.send(route, ctx, plan, token)
            .await
            .map_err(GatewayError::from)
    }

    /// The upstream part of a call, attempt after attempt as the retry
    /// policy allows (reads on transient failures; mutations only when
    /// Graph never received them), within the caller's deadline. A failure
    /// says whether Graph may have received the request.
    pub(crate) async fn send(
        &self,
        route: &Route,
        ctx: &CallContext,
        plan: &Plan,
        token: &Arc<TokenEntry>,
    ) -> Result<Bytes, crate::retry::Failure> {
        let first = self.send_with(route, ctx, plan, token).await;
        // A page token the engine chose and Graph rejected (190: not
        // applied): derived again once, then the call is made again.
        let Some((business, page)) = &plan.page_token_for else {
            return first;
        };
        match &first {
            Err(f) if matches!(&f.error, GatewayError::Graph(g) if g.code == 190) => {
                match self.page_token(ctx, business, page, true).await {
                    Ok(fresh) => self.send_with(route, ctx, plan, &fresh).await,
                    Err(e) => {
                        tracing::warn!(page = %page, error = %e, "the rejected page token could not be derived again");
                        first
                    }
                }
            }
            _ => first,
        }
    }

    /// [`Engine::send`] with one token.
    async fn send_with(
        &self,
        route: &Route,
        ctx: &CallContext,
        plan: &Plan,
        token: &Arc<TokenEntry>,
    ) -> Result<Bytes, crate::retry::Failure> {
        let keys = QuotaKeys {
            token: &token.name,
            business: plan.business.as_deref(),
            ad_account: plan.ad_account.as_deref(),
            class: route.quota_class,
            use_case: &route.use_case,
            write: !route.is_read(),
            caller: ctx.caller.as_deref(),
        };
        // A caller without a deadline still gets one: the configured upper
        // bound of a call, so nothing queues forever.
        let deadline = self.deadline(ctx);
        let class = if route.is_read() {
            crate::retry::CallClass::Read
        } else {
            crate::retry::CallClass::Mutation
        };
        self.reliability
            .retry
            .run(class, deadline, |attempt| {
                self.attempt(route, ctx, plan, token, &keys, class, deadline, attempt)
            })
            .await
    }

    /// One attempt: the circuit breaker, quota, the Graph call, the response
    /// transcoding.
    #[allow(clippy::too_many_arguments)]
    async fn attempt(
        &self,
        route: &Route,
        ctx: &CallContext,
        plan: &Plan,
        token: &Arc<TokenEntry>,
        keys: &QuotaKeys<'_>,
        class: crate::retry::CallClass,
        deadline: Instant,
        attempt: u32,
    ) -> Result<Bytes, crate::retry::Failure> {
        let call = Upstream {
            req: &plan.graph,
            label: &route.template.raw,
            op: &route.operation_id,
            token,
            keys,
            class,
            deadline,
        };
        let transcoded = self
            .attempt_call(ctx, &call, attempt, |body| {
                self.plans.transcode(route, &body)
            })
            .await?;
        if let Some(business) = &plan.business {
            self.learn_owners(&transcoded.item_ids, business).await;
        }
        Ok(transcoded.bytes)
    }

    /// One attempt at any Graph call (typed routes and the pass-through):
    /// the circuit breaker, quota, the call, the usage it reports, and
    /// `decode` of the answer (its failure counts against Graph's health).
    pub(crate) async fn attempt_call<T>(
        &self,
        ctx: &CallContext,
        call: &Upstream<'_>,
        attempt: u32,
        decode: impl FnOnce(Bytes) -> Result<T, GatewayError>,
    ) -> Result<T, crate::retry::Failure> {
        use crate::retry::Failure;
        let (keys, deadline) = (call.keys, call.deadline);
        ctx.cancel.check().map_err(Failure::not_sent)?;
        // Fail fast while the circuit is open, before waiting for quota.
        if self.reliability.breaker.is_open() {
            if let Err(r) = self.reliability.breaker.admit() {
                return Err(Failure::not_sent(r.into()));
            }
        }
        let waited = Instant::now();
        tokio::select! {
            acquired = self.quota.acquire(keys, Some(deadline)) => {
                crate::metrics::quota_wait(waited.elapsed(), acquired.is_ok());
                acquired.map_err(Failure::not_sent)?;
            }
            () = ctx.cancel.cancelled() => return Err(Failure::not_sent(crate::retry::Cancel::error())),
        }
        let timeout =
            self.reliability
                .retry
                .attempt_timeout(call.class, deadline, self.max_upstream);
        if timeout.is_zero() || Instant::now() >= deadline {
            return Err(Failure::not_sent(GatewayError::DeadlineExceeded));
        }
        // Last chance to abandon: past this point the call goes out and, for
        // a mutation, completes whatever the caller does.
        ctx.cancel.check().map_err(Failure::not_sent)?;
        let permit = self
            .reliability
            .breaker
            .admit()
            .map_err(|r| Failure::not_sent(r.into()))?;
        let span = tracing::info_span!(
            "graph",
            method = call.req.method.as_str(),
            path = %call.label,
            op = %call.op,
            token = %call.token.name,
            attempt,
            status = tracing::field::Empty,
            ms = tracing::field::Empty,
        );
        async {
            let started = Instant::now();
            let (result, usage) = self.graph.call(call.req, &call.token.secret, timeout).await;
            crate::metrics::upstream_call(call.label, result.as_ref().map(drop), started.elapsed());
            let span = tracing::Span::current();
            span.record("ms", started.elapsed().as_millis() as u64);
            span.record(
                "status",
                result.as_ref().map_or_else(|e| e.kind(), |_| "ok"),
            );
            self.quota.observe(
                keys,
                &usage,
                match &result {
                    Err(GatewayError::Graph(g)) => Some(g),
                    _ => None,
                },
            );
            let decoded = result.and_then(decode);
            permit.record(crate::retry::health_of(&decoded));
            let decoded = decoded.map_err(Failure::sent)?;
            tracing::debug!("upstream call done");
            Ok(decoded)
        }
        .instrument(span)
        .await
    }
}

/// One Graph call as [`Engine::attempt_call`] makes it.
pub(crate) struct Upstream<'a> {
    /// The call.
    pub(crate) req: &'a crate::routes::GraphRequest,
    /// The path template (span and metrics label).
    pub(crate) label: &'a str,
    /// The operation (span).
    pub(crate) op: &'a str,
    /// The vault token that makes it.
    pub(crate) token: &'a Arc<TokenEntry>,
    /// What it counts against.
    pub(crate) keys: &'a QuotaKeys<'a>,
    /// Read or mutation (attempt timeouts).
    pub(crate) class: crate::retry::CallClass,
    /// The caller's deadline.
    pub(crate) deadline: Instant,
}

/// How many asset -> business facts are kept.
const OWNER_INDEX_CAPACITY: u64 = 200_000;

impl Engine {
    /// Remembers which business listed which assets: the ids of a list's
    /// items (ad accounts without their `act_` prefix).
    async fn learn_owners(&self, item_ids: &[String], business: &str) {
        if item_ids.is_empty() {
            return;
        }
        let business: Arc<str> = Arc::from(business);
        for id in item_ids {
            let id = id.strip_prefix("act_").unwrap_or(id);
            if !id.is_empty() && self.owners.get(id).await.is_none() {
                self.owners.insert(id.to_string(), business.clone()).await;
            }
        }
    }
}

fn served_label(s: Served) -> &'static str {
    match s {
        Served::Hit => "hit",
        Served::Miss => "miss",
        Served::Coalesced => "coalesced",
    }
}

#[cfg(test)]
mod tests;
