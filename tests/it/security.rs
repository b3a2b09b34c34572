//! Issue 5: callers, policy, vault and audit. Caller authentication (API
//! keys, mTLS with a test CA), policy (businesses, read-only, assets,
//! services) checked before the cache and Graph, the vault's admin API,
//! Redis backend, key rotation and debug_token health, the audit trail, and
//! no secret in any output.

mod audit;
mod auth;
mod echo;
mod policy;
mod policy_matrix;
mod readme_policy;
mod redaction;
mod vault;

use graph_gateway::config::{AuthCallers, CallerAuth, Config, Policies, PolicyAccess, PolicyRule};
use graph_gateway::secret::Secret;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic_types::StatusExt as _;

use crate::harness::TestGateway;

/// The pepper of the test callers' key hashes.
pub const PEPPER: &str = "test-pepper-4c1f7d2e9a8b6c5d3e2f1a0b";
/// Acme, read and write.
pub const BILLING_KEY: &str = "ggw_test-billing-2f8e1c7d9b3a6e5f4d0c";
/// Acme, read only.
pub const READER_KEY: &str = "ggw_test-reader-8a1b2c3d4e5f6a7b8c9d";
/// Every business, read and write.
pub const EVERYONE_KEY: &str = "ggw_test-everyone-0f9e8d7c6b5a4f3e2d1c";
/// Acme, page 3000000002 only, PageService only.
pub const SCOPED_KEY: &str = "ggw_test-scoped-5e4d3c2b1a0f9e8d7c6b";
/// Admin (VaultService), no policy.
pub const OPS_KEY: &str = "ggw_test-ops-admin-6d5c4b3a2f1e0d9c8b7a";

pub const ACME: &str = "1000000001";
pub const GLOBEX: &str = "1000000002";

/// Every caller key the tests use (the redaction test looks for them).
pub const CALLER_KEYS: &[&str] = &[BILLING_KEY, READER_KEY, EVERYONE_KEY, SCOPED_KEY, OPS_KEY];

/// The hash the configuration holds for `key`.
pub fn key_sha256(key: &str) -> String {
    graph_gateway::auth::keys::hex_digest(&Secret::new(PEPPER), &Secret::new(key))
}

fn caller(name: &str, key: &str, admin: bool) -> CallerAuth {
    CallerAuth {
        name: name.into(),
        key_sha256: vec![key_sha256(key)],
        cert_names: vec![],
        admin,
    }
}

fn grant(caller: &str, businesses: &[&str], access: PolicyAccess) -> PolicyRule {
    PolicyRule {
        caller: caller.into(),
        businesses: businesses.iter().map(|s| s.to_string()).collect(),
        access,
        ..PolicyRule::default()
    }
}

/// The default configuration with the test callers and their policy.
pub fn secured() -> Config {
    let mut cfg = Config::default();
    cfg.auth.pepper = Some(Secret::new(PEPPER));
    cfg.auth.callers = AuthCallers(vec![
        caller("billing", BILLING_KEY, false),
        caller("reader", READER_KEY, false),
        caller("everyone", EVERYONE_KEY, false),
        caller("scoped", SCOPED_KEY, false),
        caller("ops", OPS_KEY, true),
    ]);
    let mut scoped = grant("scoped", &[ACME], PolicyAccess::Write);
    scoped.pages = vec!["3000000002".into()];
    scoped.services = vec!["graphgateway.v1.PageService".into()];
    cfg.policy = Policies(vec![
        grant("billing", &[ACME], PolicyAccess::Write),
        grant("reader", &[ACME], PolicyAccess::Read),
        grant("everyone", &["*"], PolicyAccess::Write),
        scoped,
    ]);
    cfg
}

/// Adds `authorization: Bearer <key>` (and an `x-request-id`, when given)
/// to every call.
#[derive(Clone)]
pub struct Bearer {
    key: Option<String>,
    request_id: Option<String>,
}

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(key) = &self.key {
            req.metadata_mut()
                .insert("authorization", key.parse().expect("ascii key"));
        }
        if let Some(id) = &self.request_id {
            req.metadata_mut()
                .insert("x-request-id", id.parse().expect("ascii id"));
        }
        Ok(req)
    }
}

/// A channel whose calls carry `authorization: Bearer <key>` (or `header`
/// verbatim when it has no key form).
pub async fn as_caller(gw: &TestGateway, key: &str) -> InterceptedService<Channel, Bearer> {
    InterceptedService::new(gw.channel().await, bearer(key))
}

/// The interceptor for `key` ("" sends no authorization header; a value
/// with a space is sent verbatim).
pub fn bearer(key: &str) -> Bearer {
    Bearer {
        key: match key {
            "" => None,
            k if k.contains(' ') => Some(k.to_string()),
            k => Some(format!("Bearer {k}")),
        },
        request_id: None,
    }
}

/// The same, with a request id.
pub fn bearer_with_id(key: &str, request_id: &str) -> Bearer {
    Bearer {
        request_id: Some(request_id.to_string()),
        ..bearer(key)
    }
}

/// The status's ErrorInfo (reason, domain, metadata).
pub fn error_info(st: &tonic::Status) -> tonic_types::ErrorInfo {
    st.get_error_details()
        .error_info()
        .cloned()
        .unwrap_or_else(|| panic!("no ErrorInfo in {st:?}"))
}
