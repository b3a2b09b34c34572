//! Caller authentication as a tower layer around every gRPC service: it runs
//! before any handler. Exempt services (health, reflection) pass untouched.
//! Otherwise, when callers are configured, the request must carry a known
//! API key (`authorization: Bearer …`) or a client certificate of a known
//! caller, else it is answered UNAUTHENTICATED; VaultService needs an admin,
//! and a caller whose policy covers no grant for the service is answered
//! PERMISSION_DENIED. The caller is placed in the request's extensions
//! ([`Authenticated`]) and the `authorization` header is removed, so no
//! handler ever sees the key.

use std::collections::HashMap;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::{Either, Ready};
use tonic::Code;
use tonic_types::{ErrorDetails, StatusExt as _};

use super::{AuthFailure, Authenticated, RpcPath, Security};
use crate::config::VAULT_SERVICE;
use crate::error::status::GATEWAY_DOMAIN;

/// Adds [`AuthService`] around a service.
#[derive(Clone)]
pub struct AuthLayer {
    security: Arc<Security>,
}

/// Authenticates each request before `inner` sees it.
#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    security: Arc<Security>,
}

// === impl AuthLayer ===

impl AuthLayer {
    /// Enforces `security`'s callers (a pass-through when none are
    /// configured).
    pub fn new(security: Arc<Security>) -> Self {
        Self { security }
    }
}

impl<S> tower_layer::Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> AuthService<S> {
        AuthService {
            inner,
            security: self.security.clone(),
        }
    }
}

// === impl AuthService ===

impl<S, B, R> tower_service::Service<http::Request<B>> for AuthService<S>
where
    S: tower_service::Service<http::Request<B>, Response = http::Response<R>> + Clone,
    R: Default,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Either<S::Future, Ready<Result<S::Response, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        // The clone that was polled ready serves this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let path: Arc<str> = Arc::from(req.uri().path());
        let service = service_of(&path);
        match self.admit(&mut req, service) {
            Ok(()) => {
                req.extensions_mut().insert(RpcPath(path.clone()));
                Either::Left(inner.call(req))
            }
            Err(status) => Either::Right(futures::future::ready(Ok(status.into_http()))),
        }
    }
}

impl<S> AuthService<S> {
    /// Authenticates and places the caller in `req`'s extensions, or says
    /// why not.
    fn admit<B>(&self, req: &mut http::Request<B>, service: &str) -> Result<(), tonic::Status> {
        let Some(auth) = self.security.authenticator() else {
            return Ok(());
        };
        if auth.is_exempt(service) {
            return Ok(());
        }
        let certs = req
            .extensions()
            .get::<tonic::transport::server::TlsConnectInfo<tonic::transport::server::TcpConnectInfo>>()
            .and_then(|info| info.peer_certs());
        let principal = auth
            .authenticate(
                req.headers().get(http::header::AUTHORIZATION).map(|v| v.as_bytes()),
                || {
                    certs
                        .as_ref()
                        .and_then(|c| c.first())
                        .map(|leaf| super::cert::identities(leaf.as_ref()))
                        .unwrap_or_default()
                },
            )
            .map_err(|failure| {
                tracing::warn!(target: "auth", rpc = %req.uri().path(), reason = failure.reason(), "caller not authenticated");
                unauthenticated(&failure)
            })?;
        req.headers_mut().remove(http::header::AUTHORIZATION);
        if service == VAULT_SERVICE {
            if !principal.admin {
                return Err(denied(
                    "ADMIN_REQUIRED",
                    format!(
                        "caller {} is not an admin: VaultService is for callers with admin = true",
                        principal.name
                    ),
                    &principal.name,
                    service,
                ));
            }
        } else if !self
            .security
            .policy()
            .allows_service(&principal.name, service)
        {
            return Err(denied(
                "SERVICE_NOT_ALLOWED",
                format!("caller {} may not call {service}", principal.name),
                &principal.name,
                service,
            ));
        }
        req.extensions_mut().insert(Authenticated(principal));
        Ok(())
    }
}

/// "graphgateway.v1.PageService" of "/graphgateway.v1.PageService/ListOwnedPages".
pub(crate) fn service_of(path: &str) -> &str {
    path.trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default()
}

fn unauthenticated(failure: &AuthFailure) -> tonic::Status {
    let d = ErrorDetails::with_error_info(failure.reason(), GATEWAY_DOMAIN, HashMap::new());
    tonic::Status::with_error_details(Code::Unauthenticated, failure.to_string(), d)
}

fn denied(reason: &str, message: String, caller: &str, service: &str) -> tonic::Status {
    tracing::warn!(target: "auth", caller, service, reason, "call refused");
    let d = ErrorDetails::with_error_info(
        reason,
        GATEWAY_DOMAIN,
        HashMap::from([
            ("caller".to_string(), caller.to_string()),
            ("service".to_string(), service.to_string()),
        ]),
    );
    tonic::Status::with_error_details(Code::PermissionDenied, message, d)
}
