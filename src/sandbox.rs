//! The Graph sandbox: a stateful, in-memory simulator of the Graph API
//! endpoints the gateway covers. A product feature: internal developers work
//! against it without touching Meta, and it is the embedded default upstream
//! of `graph-gateway serve`. It keeps Meta's rules (claims, removals, asset
//! group limitations, task validation, permissions) so users meet real
//! behaviour, and speaks Graph's wire format (versioned paths, bearer or
//! `access_token` auth, `appsecret_proof`, `fields=`, cursor paging, error
//! bodies, usage headers).
//!
//! CONTRACT (used by cli and tests; keep these signatures):
//! - `Sandbox::demo() -> Sandbox` (demo businesses, users, assets, tokens)
//! - `Sandbox::demo_tokens(&self) -> Vec<crate::vault::TokenEntry>`
//! - `Sandbox::router(&self) -> axum::Router`
//! - `Sandbox::serve(self, listener, shutdown) -> std::io::Result<()>`
//! - test hooks: `request_count()`, `requests_to(path)`, `pause()`, `resume()`, `arrivals()`
//!
//! Also: builders [`Sandbox::with_app_secret`], [`Sandbox::with_scoring`],
//! [`Sandbox::with_legacy_edges`]; test hooks [`Sandbox::set_legacy_edges`],
//! [`Sandbox::last_request`], [`Sandbox::advance_clock`],
//! [`Sandbox::expire_token`], [`Sandbox::approve_access`], [`Sandbox::respond`],
//! and the rate-limit counters [`Sandbox::throttled_count`],
//! [`Sandbox::calls_admitted`], [`Sandbox::points_spent`], [`Sandbox::score`].
//!
//! Layout: `http` (the axum handler: auth, hooks, headers), `ops` (routing
//! and one module per area), `world` (the state and its queries), `render`
//! (node types and fields), `wire` (errors, parameters, `fields=`, paging),
//! `spec` (Meta's published spec and the justified exceptions: parameter,
//! enum and field checks, edges gone from the spec),
//! `usage` (Meta's rate-limit scoring model), `demo` (the demo world and its id table).

mod demo;
mod faults;
mod http;
mod ops;
mod render;
mod spec;
mod usage;
mod wire;
mod world;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use tokio::sync::watch;

use crate::secret::Secret;
use crate::vault::TokenEntry;

pub use faults::{FaultConfig, FaultKind, FaultRule};
pub use usage::{AccessTier, Decay, ScoringConfig, UseCase};

/// A running simulator's shared state. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct Sandbox {
    inner: Arc<Inner>,
}

struct Inner {
    world: Mutex<world::World>,
    app_secret: RwLock<Option<Secret>>,
    usage: Mutex<usage::UsageMeter>,
    hooks: Hooks,
    /// Injected faults (see [`Sandbox::with_faults`]).
    faults: RwLock<Option<Arc<faults::Faults>>>,
}

/// Request bookkeeping for the test hooks.
struct Hooks {
    /// Requests handled (past the pause gate).
    handled: AtomicU64,
    /// Requests arrived, including those waiting at the pause gate.
    arrivals: AtomicU64,
    /// Handled requests by path after the version.
    by_path: Mutex<HashMap<String, u64>>,
    last: Mutex<Option<RecordedRequest>>,
    /// True while paused.
    paused: watch::Sender<bool>,
}

/// One request as the sandbox received it (test hook; it includes the
/// `Authorization` header, so never log it).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecordedRequest {
    /// HTTP method, e.g. `POST`.
    pub method: String,
    /// The full path, e.g. `/v26.0/1000000001/owned_pages`.
    pub path: String,
    /// The Graph version of the path (`v26.0`), when it had one.
    pub version: Option<String>,
    /// Query string pairs, in order.
    pub query: Vec<(String, String)>,
    /// Headers (lower-case names), in order.
    pub headers: Vec<(String, String)>,
    /// Body parameters (urlencoded, multipart or JSON), in order.
    pub form: Vec<(String, String)>,
}

// === impl RecordedRequest ===

impl RecordedRequest {
    /// The first query parameter of that name.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        find(&self.query, name)
    }

    /// The first body parameter of that name.
    pub fn form_param(&self, name: &str) -> Option<&str> {
        find(&self.form, name)
    }

    /// A parameter from the body, else the query (as Graph merges them).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.form_param(name).or_else(|| self.query_param(name))
    }

    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn find<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

// === impl Sandbox ===

impl Sandbox {
    fn from_world(mut world: world::World) -> Self {
        world.legacy_edges = true;
        let (paused, _) = watch::channel(false);
        Self {
            inner: Arc::new(Inner {
                world: Mutex::new(world),
                app_secret: RwLock::new(None),
                usage: Mutex::new(usage::UsageMeter::new(ScoringConfig::default())),
                hooks: Hooks {
                    handled: AtomicU64::new(0),
                    arrivals: AtomicU64::new(0),
                    by_path: Mutex::new(HashMap::new()),
                    last: Mutex::new(None),
                    paused,
                },
                faults: RwLock::new(None),
            }),
        }
    }

    /// A sandbox with demo data (see `src/sandbox/demo.rs` for the ids,
    /// names and tokens).
    pub fn demo() -> Self {
        Self::from_world(demo::world())
    }

    /// Requires `appsecret_proof` = hex(HMAC-SHA256(app secret, token)) on
    /// every call, as Graph does for apps with "Require App Secret".
    pub fn with_app_secret(self, secret: Secret) -> Self {
        *self.inner.app_secret.write() = Some(secret);
        self
    }

    /// Sets the rate-limit scoring model's numbers and forgets all usage so
    /// far (see [`ScoringConfig`]; the default is Meta's standard tier, e.g.
    /// `with_scoring(ScoringConfig::development())` for the development tier).
    pub fn with_scoring(self, config: ScoringConfig) -> Self {
        self.inner.usage.lock().configure(config);
        self
    }

    /// Whether the edges gone from Meta's spec (rows of kind `edge` in
    /// `tests/data/graph-exceptions.tsv`: AG04, AG24–AG26, AP04, BB01, OB01,
    /// OB03, OB05, OB06) are served, as for an app that kept legacy access
    /// (the default), or refused with Graph's own answers, as for an app
    /// without that access.
    pub fn with_legacy_edges(self, served: bool) -> Self {
        self.set_legacy_edges(served);
        self
    }

    /// The Graph API version and spec commit the sandbox follows
    /// (`("v26.0", "ad2b0b6…")`, from `tests/data/graph-spec.json`).
    pub fn spec_version() -> (String, String) {
        (spec::SPEC.version.clone(), spec::SPEC.commit.clone())
    }

    /// Vault entries for the demo tokens: the admin system-user token of
    /// each business first, then personal user tokens (which serve no
    /// business in the vault, so the engine never picks them by business).
    pub fn demo_tokens(&self) -> Vec<TokenEntry> {
        let world = self.inner.world.lock();
        let mut listed: Vec<(usize, TokenEntry)> = world
            .tokens
            .iter()
            .filter_map(|(value, t)| {
                t.listed.map(|pos| {
                    let entry = TokenEntry {
                        name: t.name.clone(),
                        kind: t.kind,
                        businesses: t.businesses.clone(),
                        assets: t.page.iter().cloned().collect(),
                        secret: Secret::new(value.clone()),
                        expires_at: None,
                    };
                    (pos, entry)
                })
            })
            .collect();
        listed.sort_by_key(|(pos, _)| *pos);
        listed.into_iter().map(|(_, e)| e).collect()
    }

    /// The HTTP router: every path is a Graph call.
    pub fn router(&self) -> axum::Router {
        axum::Router::new()
            .fallback(http::handle)
            .with_state(self.clone())
    }

    /// Serves until `shutdown` resolves.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let addr = listener.local_addr()?;
        let names: Vec<String> = self.demo_tokens().into_iter().map(|t| t.name).collect();
        tracing::info!(%addr, tokens = ?names, "graph sandbox listening");
        axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown)
            .await
    }

    /// Misbehaves as `faults` says: HTTP 500/503, slow answers, broken
    /// connections, truncated, malformed or huge bodies, mutations applied
    /// whose answer is lost (see [`FaultConfig`]).
    pub fn with_faults(self, faults: FaultConfig) -> Self {
        self.set_faults(Some(faults));
        self
    }

    // --- test hooks -------------------------------------------------------

    /// Test hook: serves (true) or refuses (false) the edges gone from
    /// Meta's spec from now on (see [`Sandbox::with_legacy_edges`]).
    pub fn set_legacy_edges(&self, served: bool) {
        self.inner.world.lock().legacy_edges = served;
    }

    /// Test hook: replaces the exception rows in force by these only.
    #[cfg(test)]
    pub(crate) fn set_exceptions(&self, tsv: &str) {
        self.inner.world.lock().extra_exceptions = Some(spec::Exceptions::parse(tsv));
    }

    /// Test hook: adds exception rows (the tsv format of
    /// `tests/data/graph-exceptions.tsv`) to the embedded ones.
    #[cfg(test)]
    pub(crate) fn add_exceptions(&self, tsv: &str) {
        let mut world = self.inner.world.lock();
        let mut exc = world.exceptions().clone();
        exc.add(tsv);
        world.extra_exceptions = Some(exc);
    }

    /// Test hook: replaces the injected faults (None: none), with a fresh
    /// random generator from the config's seed.
    pub fn set_faults(&self, faults: Option<FaultConfig>) {
        *self.inner.faults.write() = faults.map(|f| Arc::new(faults::Faults::new(f)));
    }

    /// Test hook: faults injected so far, by kind (`http_500`, `reset`,
    /// `lost_response`, ...).
    pub fn faults_injected(&self) -> std::collections::BTreeMap<&'static str, u64> {
        self.inner
            .faults
            .read()
            .as_ref()
            .map(|f| f.injected())
            .unwrap_or_default()
    }

    /// Test hook: API requests handled so far (all paths, all outcomes).
    pub fn request_count(&self) -> u64 {
        self.inner.hooks.handled.load(Ordering::SeqCst)
    }

    /// Test hook: handled requests whose path after the version equals
    /// `path`, e.g. `"/1000000001/owned_pages"` (query excluded).
    pub fn requests_to(&self, path: &str) -> u64 {
        self.inner
            .hooks
            .by_path
            .lock()
            .get(path)
            .copied()
            .unwrap_or_default()
    }

    /// Test hook: holds incoming API requests (they wait, without sleeping,
    /// until [`Sandbox::resume`]); [`Sandbox::arrivals`] still counts them.
    pub fn pause(&self) {
        self.inner.hooks.paused.send_replace(true);
    }

    /// Test hook: releases held requests and stops holding new ones.
    pub fn resume(&self) {
        self.inner.hooks.paused.send_replace(false);
    }

    /// Test hook: requests that have arrived, including held ones.
    pub fn arrivals(&self) -> u64 {
        self.inner.hooks.arrivals.load(Ordering::SeqCst)
    }

    /// Test hook: the last handled request (headers include Authorization).
    pub fn last_request(&self) -> Option<RecordedRequest> {
        self.inner.hooks.last.lock().clone()
    }

    /// Test hook: moves the sandbox clock forward (e.g. past the 7 days a
    /// page admin needs for an OWNER claim to be confirmed at once).
    /// The rate-limit windows, decays and blocks move with it.
    pub fn advance_clock(&self, by: Duration) {
        self.inner.world.lock().clock_offset += by.as_secs();
        self.inner.usage.lock().advance(by);
    }

    /// Test hook: calls refused for a rate limit (codes 4, 17, 800xx).
    pub fn throttled_count(&self) -> u64 {
        self.inner.usage.lock().throttled_count()
    }

    /// Test hook: calls admitted by the rate limits (and so counted in the
    /// usage headers); calls failing authentication never reach them.
    pub fn calls_admitted(&self) -> u64 {
        self.inner.usage.lock().calls_admitted()
    }

    /// Test hook: points admitted for the ad account (`act_N` or `N`) since
    /// the start or the last [`Sandbox::with_scoring`], decayed or not.
    pub fn points_spent(&self, ad_account: &str) -> u64 {
        self.inner.usage.lock().points_spent(ad_account)
    }

    /// Test hook: the ad account's current score in percent of the maximum,
    /// as `acc_id_util_pct` shows it.
    pub fn score(&self, ad_account: &str) -> f64 {
        self.inner.usage.lock().score(ad_account)
    }

    /// Test hook: approves a PENDING access request as the asset's admins
    /// would in Business Manager (`asset` as Graph spells it: `act_N` or an
    /// id). False when the business has no pending access to the asset.
    pub fn approve_access(&self, asset: &str, business: &str) -> bool {
        let mut world = self.inner.world.lock();
        let key = asset.strip_prefix("act_").unwrap_or(asset).to_string();
        let Some(entry) = world
            .assets
            .get(&key)
            .and_then(|a| a.access_of(business))
            .filter(|a| a.status != world::AccessStatus::Confirmed)
            .cloned()
        else {
            return false;
        };
        let now = world.now();
        if let Some(a) = world.assets.get_mut(&key) {
            for access in a.access.iter_mut().filter(|x| x.business == business) {
                access.status = world::AccessStatus::Confirmed;
                access.updated_at = now;
            }
            if entry.access_type == world::AccessType::Owner {
                // The asset has one owner: other ownership claims lapse.
                a.access.retain(|x| {
                    x.business == business || x.access_type != world::AccessType::Owner
                });
            }
        }
        true
    }

    /// Test hook: answers an IN_PROGRESS on-behalf-of request (OB) or audience
    /// sharing relationship (AS) as the receiving business would. False when
    /// there is no such request in progress.
    pub fn respond(&self, request_id: &str, approve: bool) -> bool {
        let mut world = self.inner.world.lock();
        if let Some(r) = world.obo_requests.get_mut(request_id) {
            if r.status != world::OboStatus::InProgress {
                return false;
            }
            r.status = if approve {
                world::OboStatus::Approve
            } else {
                world::OboStatus::Decline
            };
            return true;
        }
        ops::answer_sharing(&mut world, request_id, approve)
    }

    /// Test hook: makes the named token answer code 190 subcode 463
    /// ("Session has expired"). False when no token has that name.
    pub fn expire_token(&self, name: &str) -> bool {
        let mut world = self.inner.world.lock();
        let mut found = false;
        for token in world.tokens.values_mut().filter(|t| t.name == name) {
            token.expired = true;
            found = true;
        }
        found
    }
}
