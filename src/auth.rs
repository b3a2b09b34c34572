//! Who is calling, and may they: caller authentication (API keys and mTLS
//! client certificates, `auth/`), the policy check the engine runs on every
//! planned call (`crate::policy`), and the audit trail (`crate::audit`),
//! bundled as [`Security`], which the engine and the server share.
//!
//! Authentication is off until `[[auth.callers]]` lists a caller (the dev
//! sandbox run): then every caller is anonymous and `x-caller` names it for
//! quotas and logs, no policy applies, VaultService is refused, and the
//! pass-through serves only the calls `passthrough.paths` lists. Once a
//! caller is configured, every RPC except `auth.exempt` (health, reflection)
//! must present a known API key (`authorization: Bearer <key>`) or a client
//! certificate whose SAN (DNS or URI) or CN names a caller, and `[[policy]]`
//! says what each caller may do.

pub mod cert;
pub mod keys;
pub mod layer;
pub mod tls;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use prost_reflect::DynamicMessage;

use crate::audit::{Audit, AuditRecord};
use crate::config::{AuthConfig, Config};
use crate::context::CallContext;
use crate::error::GatewayError;
use crate::policy::{Asset, AssetType, Policy, Target};
use crate::routes::request::Plan;
use crate::routes::Route;
use crate::secret::Secret;
use crate::vault::{TokenEntry, Vault};

pub use layer::AuthLayer;

pub use crate::context::{AuthMethod, Principal};

/// The pass-through's service, for policy.
pub const PASSTHROUGH_SERVICE: &str = "graphgateway.v1.GraphPassthroughService";
/// The operation name pass-through calls carry in audit records.
pub const PASSTHROUGH_OPERATION: &str = "PASSTHROUGH";

/// A pass-through call as policy sees it.
#[derive(Clone, Debug)]
pub struct PassthroughTarget<'a> {
    /// "GET", "POST" or "DELETE".
    pub method: &'a str,
    /// The path template, as the caller wrote it.
    pub template: &'a str,
    /// The business whose token serves the call.
    pub business: &'a str,
    /// The ids filling the template, in path order (ad accounts as digits).
    pub ids: Vec<&'a str>,
}

/// Request extension: the authenticated caller (set by [`AuthLayer`]).
#[derive(Clone, Debug)]
pub struct Authenticated(pub Arc<Principal>);

/// Request extension: the RPC's path, "/package.Service/Method".
#[derive(Clone, Debug)]
pub struct RpcPath(pub Arc<str>);

/// Checks credentials against the configured callers.
pub struct Authenticator {
    pepper: Option<Secret>,
    /// (HMAC of a key, its caller); compared in constant time, all of them.
    keys: Vec<([u8; 32], Arc<Principal>)>,
    /// Certificate identity -> caller.
    certs: HashMap<String, Arc<Principal>>,
    exempt: HashSet<String>,
}

/// Why a request was not authenticated. Messages never quote a credential.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    /// Neither a key nor a client certificate.
    #[error("no caller credentials: send `authorization: Bearer <key>` or a client certificate")]
    Missing,
    /// An `authorization` header that is not `Bearer <key>`.
    #[error("the authorization header must be `Bearer <key>`")]
    Malformed,
    /// A key no caller has.
    #[error("unknown caller key")]
    WrongKey,
    /// A certificate naming no configured caller.
    #[error("the client certificate ({0}) names no configured caller")]
    UnknownCertificate(String),
    /// The key and the certificate name different callers.
    #[error("the API key and the client certificate name different callers")]
    Conflict,
}

/// Authentication, policy, audit and token-health publishing: what the
/// engine and the server share.
pub struct Security {
    authenticator: Option<Authenticator>,
    policy: Policy,
    audit: Audit,
    token_check_interval: Duration,
    health: OnceLock<tonic_health::server::HealthReporter>,
    /// `passthrough.paths`: the pass-through calls allowed while
    /// authentication is off, as (method or "*", template).
    open_paths: Vec<(String, String)>,
}

// === impl AuthMethod ===

impl AuthMethod {
    /// "api_key" or "certificate".
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::ApiKey => "api_key",
            AuthMethod::Certificate => "certificate",
        }
    }
}

// === impl AuthFailure ===

impl AuthFailure {
    /// ErrorInfo reason.
    pub fn reason(&self) -> &'static str {
        match self {
            AuthFailure::Missing => "CREDENTIALS_MISSING",
            AuthFailure::Malformed => "CREDENTIALS_MALFORMED",
            AuthFailure::WrongKey => "UNKNOWN_KEY",
            AuthFailure::UnknownCertificate(_) => "UNKNOWN_CERTIFICATE",
            AuthFailure::Conflict => "CREDENTIALS_CONFLICT",
        }
    }
}

// === impl Authenticator ===

impl Authenticator {
    /// The callers of `cfg`; None when none are configured (authentication
    /// off).
    pub fn new(cfg: &AuthConfig) -> Result<Option<Self>, String> {
        if !cfg.enforced() {
            return Ok(None);
        }
        let mut keys = Vec::new();
        let mut certs = HashMap::new();
        for c in &cfg.callers.0 {
            let principal = |method| {
                Arc::new(Principal {
                    name: c.name.clone(),
                    admin: c.admin,
                    method,
                })
            };
            let by_key = principal(AuthMethod::ApiKey);
            for h in &c.key_sha256 {
                let digest = keys::parse_hex(h).ok_or_else(|| {
                    format!("auth.callers: {}: key_sha256 is not 64 hex digits", c.name)
                })?;
                keys.push((digest, by_key.clone()));
            }
            let by_cert = principal(AuthMethod::Certificate);
            if c.cert_names.is_empty() {
                certs.insert(c.name.clone(), by_cert);
            } else {
                for n in &c.cert_names {
                    certs.insert(n.clone(), by_cert.clone());
                }
            }
        }
        if !keys.is_empty() && cfg.pepper.is_none() {
            return Err(
                "auth.pepper: caller keys need the pepper they were hashed with".to_string(),
            );
        }
        Ok(Some(Self {
            pepper: cfg.pepper.clone(),
            keys,
            certs,
            exempt: cfg.exempt.0.iter().cloned().collect(),
        }))
    }

    /// True for services callable without credentials.
    pub fn is_exempt(&self, service: &str) -> bool {
        self.exempt.contains(service)
    }

    /// The caller of a request: its `authorization` header, else the
    /// identities of its client certificate (asked for only when needed).
    pub fn authenticate(
        &self,
        authorization: Option<&[u8]>,
        cert_identities: impl FnOnce() -> Vec<String>,
    ) -> Result<Arc<Principal>, AuthFailure> {
        let by_key = match authorization {
            Some(header) => Some(self.by_key(header)?),
            None => None,
        };
        let identities = cert_identities();
        let by_cert = if identities.is_empty() {
            None
        } else {
            match identities.iter().find_map(|id| self.certs.get(id)) {
                Some(p) => Some(p.clone()),
                // A key decides alone; a certificate that names nobody does
                // not spoil it.
                None if by_key.is_some() => None,
                None => return Err(AuthFailure::UnknownCertificate(identities.join(", "))),
            }
        };
        match (by_key, by_cert) {
            (Some(k), Some(c)) if k.name != c.name => Err(AuthFailure::Conflict),
            (Some(k), _) => Ok(k),
            (None, Some(c)) => Ok(c),
            (None, None) => Err(AuthFailure::Missing),
        }
    }

    fn by_key(&self, header: &[u8]) -> Result<Arc<Principal>, AuthFailure> {
        let text = std::str::from_utf8(header).map_err(|_| AuthFailure::Malformed)?;
        let (scheme, key) = text.trim().split_once(' ').ok_or(AuthFailure::Malformed)?;
        let key = key.trim();
        if !scheme.eq_ignore_ascii_case("bearer") || key.is_empty() {
            return Err(AuthFailure::Malformed);
        }
        let Some(pepper) = &self.pepper else {
            return Err(AuthFailure::WrongKey);
        };
        let digest = keys::digest(pepper, key.as_bytes());
        // Every hash is compared, so timing tells nothing of which matched.
        let mut found = None;
        for (h, p) in &self.keys {
            if keys::ct_eq(h, &digest) && found.is_none() {
                found = Some(p.clone());
            }
        }
        found.ok_or(AuthFailure::WrongKey)
    }
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("keys", &self.keys.len())
            .field("certificate_identities", &self.certs.len())
            .field("exempt", &self.exempt)
            .finish()
    }
}

// === impl Security ===

impl Security {
    /// No authentication, no policy, audit to the log only.
    pub fn open() -> Self {
        Self {
            authenticator: None,
            policy: Policy::default(),
            audit: Audit::log_only(),
            token_check_interval: Duration::ZERO,
            health: OnceLock::new(),
            open_paths: Vec::new(),
        }
    }

    /// With these pass-through calls allowed while authentication is off
    /// (`passthrough.paths`, "METHOD /template" each; unparsable entries
    /// allow nothing).
    pub fn with_open_paths(mut self, paths: &[String]) -> Self {
        self.open_paths = paths
            .iter()
            .filter_map(|p| crate::policy::GraphPath::parse(p).ok())
            .map(|p| (p.method, p.template))
            .collect();
        self
    }

    /// From the configuration. The audit stream connects lazily; must run
    /// inside a tokio runtime when `redis.url` is set.
    pub fn from_config(cfg: &Config) -> Result<Self, String> {
        let authenticator = Authenticator::new(&cfg.auth)?;
        let audit = match &cfg.redis.url {
            Some(_) => {
                let stream = if cfg.audit.redis_stream.is_empty() {
                    format!("{{{}}}:audit", cfg.redis.key_prefix)
                } else {
                    cfg.audit.redis_stream.clone()
                };
                Audit::with_redis(
                    &cfg.redis,
                    stream,
                    cfg.audit.redis_max_len,
                    Duration::from_millis(cfg.redis.timeout_ms).max(Duration::from_secs(1)),
                )?
            }
            None => Audit::log_only(),
        };
        if authenticator.is_none() {
            tracing::info!(target: "auth", "caller authentication is off (no [[auth.callers]]): x-caller names callers, VaultService is refused");
        }
        Ok(Self {
            authenticator,
            policy: Policy::new(&cfg.policy.0),
            audit,
            token_check_interval: Duration::from_secs(cfg.vault.check_interval_secs),
            health: OnceLock::new(),
            open_paths: Vec::new(),
        }
        .with_open_paths(&cfg.passthrough.paths.0))
    }

    /// True when callers must authenticate and policy applies.
    pub fn enforced(&self) -> bool {
        self.authenticator.is_some()
    }

    /// The authenticator, when authentication is on.
    pub fn authenticator(&self) -> Option<&Authenticator> {
        self.authenticator.as_ref()
    }

    /// The callers' grants.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The audit trail.
    pub fn audit(&self) -> &Audit {
        &self.audit
    }

    /// How often tokens are checked with debug_token (zero: never).
    pub fn token_check_interval(&self) -> Duration {
        self.token_check_interval
    }

    /// Lets token health reach the gRPC health service (the server calls
    /// this once).
    pub fn attach_health(&self, reporter: tonic_health::server::HealthReporter) {
        let _ = self.health.set(reporter);
    }

    /// Publishes the vault's health (`vault`, `vault/<business>`).
    pub async fn publish_vault_health(&self, vault: &dyn Vault) {
        let Some(reporter) = self.health.get() else {
            return;
        };
        for (name, status) in crate::vault::health::statuses(vault) {
            reporter.set_service_status(name, status).await;
        }
    }

    /// Checks a planned call against the caller's policy: the business it
    /// acts for, the assets it names and whether it acts on the business
    /// itself, as the route declares them. A refused mutation is audited.
    /// Runs before the cache and the vault.
    pub fn authorize(
        &self,
        ctx: &CallContext,
        route: &Route,
        plan: &Plan,
        msg: &DynamicMessage,
    ) -> Result<(), GatewayError> {
        if !self.enforced() {
            return Ok(());
        }
        let target = Target {
            service: service_called(ctx, route),
            business: plan.business.as_deref(),
            assets: route.touches(msg),
            acts_on_business: route.acts_on_business,
            write: !route.is_read(),
            graph_path: None,
        };
        let result = self.check(ctx, &target);
        if let Err(e) = &result {
            if target.write {
                self.audit.mutation(ctx, route, plan, None, Err::<(), _>(e));
            }
        }
        result
    }

    /// Checks a pass-through call (GraphPassthroughService): denied unless
    /// a grant of the caller lists its method and template in `graph_paths`
    /// and allows its business, its ids (a scoped grant must list every id
    /// the path names; a path naming the business itself, or no id but the
    /// business, needs a business-wide grant) and, for POST and DELETE,
    /// writes. While authentication is off, `passthrough.paths` decides.
    /// A refused write is audited.
    pub fn authorize_passthrough(
        &self,
        ctx: &CallContext,
        call: &PassthroughTarget<'_>,
    ) -> Result<(), GatewayError> {
        let service = match ctx.rpc.as_str() {
            "" => PASSTHROUGH_SERVICE,
            rpc => layer::service_of(rpc),
        };
        let result = if self.enforced() {
            let assets: Vec<Asset> = call
                .ids
                .iter()
                .filter(|id| **id != call.business)
                .map(|id| Asset {
                    kind: AssetType::AnyAsset,
                    id: AssetType::AnyAsset.normalize(id),
                })
                .collect();
            let target = Target {
                service,
                business: Some(call.business),
                acts_on_business: assets.is_empty() || call.ids.contains(&call.business),
                assets,
                write: call.method != "GET",
                graph_path: Some((call.method, call.template)),
            };
            self.check(ctx, &target)
        } else if self
            .open_paths
            .iter()
            .any(|(m, t)| t == call.template && (m == "*" || m == call.method))
        {
            Ok(())
        } else {
            Err(GatewayError::PermissionDenied {
                reason: "GRAPH_PATH_NOT_ALLOWED",
                message: format!(
                    "{} {} is not open: while caller authentication is off, the pass-through \
                     serves only the calls listed in passthrough.paths",
                    call.method, call.template
                ),
                metadata: vec![
                    ("service".to_string(), service.to_string()),
                    (
                        "graph_path".to_string(),
                        format!("{} {}", call.method, call.template),
                    ),
                ],
            })
        };
        if let Err(e) = &result {
            if call.method != "GET" {
                let mut rec = AuditRecord::new(ctx, PASSTHROUGH_OPERATION);
                rec.business = Some(call.business.to_string());
                rec.graph_call = format!("{} {}", call.method, call.template);
                for (i, id) in call.ids.iter().enumerate() {
                    rec.objects.insert(format!("path[{i}]"), id.to_string());
                }
                self.audit.record(&rec.outcome(Err::<(), _>(e)));
            }
        }
        result.map_err(|e| match e {
            GatewayError::PermissionDenied {
                reason,
                message,
                mut metadata,
            } => {
                if !metadata.iter().any(|(k, _)| k == "graph_path") {
                    metadata.push((
                        "graph_path".to_string(),
                        format!("{} {}", call.method, call.template),
                    ));
                }
                GatewayError::PermissionDenied {
                    reason,
                    message,
                    metadata,
                }
            }
            other => other,
        })
    }

    /// Checks a workflow step before the workflow runs its first step: as
    /// [`Security::authorize`], with the business given (`business`) and the
    /// request as far as it is known; a step whose asset ids are not known
    /// yet (found by an earlier step) is checked as acting on the business
    /// itself. A refused mutation is audited.
    pub fn authorize_step(
        &self,
        ctx: &CallContext,
        route: &Route,
        business: Option<&str>,
        msg: &DynamicMessage,
    ) -> Result<(), GatewayError> {
        if !self.enforced() {
            return Ok(());
        }
        let assets = route.touches(msg);
        let target = Target {
            service: service_called(ctx, route),
            business,
            acts_on_business: route.acts_on_business || route.lacks_required_asset(msg),
            write: !route.is_read(),
            assets,
            graph_path: None,
        };
        let result = self.check(ctx, &target);
        if let Err(e) = &result {
            if target.write {
                let mut rec = AuditRecord::new(ctx, route.operation_id.clone());
                if rec.rpc.is_empty() {
                    rec.rpc = route.full_method.clone();
                }
                rec.business = business.map(str::to_string);
                rec.graph_call = format!("{} {}", route.http.as_str(), route.template.raw);
                for (i, a) in target.assets.iter().enumerate() {
                    rec.objects.insert(format!("asset[{i}]"), a.to_string());
                }
                self.audit.record(&rec.outcome(Err::<(), _>(e)));
            }
        }
        result
    }

    /// Checks that the caller may derive a secret (a page token) from
    /// `token` for node `page`: write access to the page, for a business
    /// `token` serves.
    pub fn authorize_secret_read(
        &self,
        ctx: &CallContext,
        token: &TokenEntry,
        page: &str,
    ) -> Result<(), GatewayError> {
        if !self.enforced() {
            return Ok(());
        }
        let service = match ctx.rpc.as_str() {
            "" => "graphgateway.v1.WorkflowService",
            rpc => layer::service_of(rpc),
        };
        let businesses: Vec<Option<&str>> = if token.businesses.is_empty() {
            vec![None]
        } else {
            token.businesses.iter().map(|b| Some(b.as_str())).collect()
        };
        let mut denial = None;
        for business in businesses {
            let target = Target {
                service,
                business,
                assets: vec![Asset {
                    kind: AssetType::Page,
                    id: page.to_string(),
                }],
                acts_on_business: false,
                write: true,
                graph_path: None,
            };
            match self.check(ctx, &target) {
                Ok(()) => return Ok(()),
                Err(e) => denial = Some(e),
            }
        }
        match denial {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The admin calling VaultService.
    pub fn require_admin(&self, ctx: &CallContext) -> Result<Arc<Principal>, GatewayError> {
        let refuse = |reason: &'static str, message: String| GatewayError::PermissionDenied {
            reason,
            message,
            metadata: vec![(
                "service".to_string(),
                crate::config::VAULT_SERVICE.to_string(),
            )],
        };
        if !self.enforced() {
            return Err(refuse(
                "AUTH_REQUIRED",
                "VaultService needs caller authentication: configure [[auth.callers]] with an admin = true caller"
                    .to_string(),
            ));
        }
        match &ctx.principal {
            Some(p) if p.admin => Ok(p.clone()),
            Some(p) => Err(refuse(
                "ADMIN_REQUIRED",
                format!(
                    "caller {} is not an admin: VaultService is for callers with admin = true",
                    p.name
                ),
            )),
            None => Err(refuse("NO_CALLER", "no authenticated caller".to_string())),
        }
    }

    /// Writes an audit record.
    pub fn record(&self, rec: &AuditRecord) {
        self.audit.record(rec);
    }

    fn check(&self, ctx: &CallContext, target: &Target<'_>) -> Result<(), GatewayError> {
        let Some(principal) = &ctx.principal else {
            return Err(GatewayError::PermissionDenied {
                reason: "NO_CALLER",
                message: "no authenticated caller".to_string(),
                metadata: vec![("service".to_string(), target.service.to_string())],
            });
        };
        self.policy.check(&principal.name, target).map_err(|d| {
            tracing::warn!(target: "auth", caller = %principal.name, service = target.service, business = target.business.unwrap_or_default(), reason = d.reason, request_id = %ctx.request_id, "call refused by policy");
            let mut metadata = vec![
                ("caller".to_string(), principal.name.clone()),
                ("service".to_string(), target.service.to_string()),
                (
                    "access".to_string(),
                    if target.write { "write" } else { "read" }.to_string(),
                ),
            ];
            if let Some(b) = target.business {
                metadata.push(("business".to_string(), b.to_string()));
            }
            GatewayError::PermissionDenied {
                reason: d.reason,
                message: d.message,
                metadata,
            }
        })
    }
}

impl fmt::Debug for Security {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Security")
            .field("authenticator", &self.authenticator)
            .field("audit", &self.audit)
            .finish()
    }
}

/// The service a call is checked against: the RPC's (a workflow's steps are
/// checked against WorkflowService), else the route's.
fn service_called<'a>(ctx: &'a CallContext, route: &'a Route) -> &'a str {
    match ctx.rpc.as_str() {
        "" => route.service.as_str(),
        rpc => layer::service_of(rpc),
    }
}
