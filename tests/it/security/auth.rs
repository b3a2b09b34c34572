//! Caller authentication: API keys (missing, malformed, wrong, good), exempt
//! health and reflection, and mTLS with a CA made in the test (rcgen).

use std::sync::Arc;

use graph_gateway::config::CallerAuth;
use graph_gateway::grpc::server::{serve_with, ServeOptions};
use graph_gateway::proto::page_service_client::PageServiceClient;
use graph_gateway::proto::ListOwnedPagesRequest;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use tokio::net::TcpListener;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

use super::*;
use crate::harness::TestGateway;

fn list(business: &str) -> ListOwnedPagesRequest {
    ListOwnedPagesRequest {
        business_id: business.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn missing_malformed_and_wrong_keys_are_unauthenticated_before_anything_runs() {
    let gw = TestGateway::sandbox_with(secured()).await;
    for (header, reason) in [
        ("", "CREDENTIALS_MISSING"),
        ("Basic dXNlcjpwYXNz", "CREDENTIALS_MALFORMED"),
        ("ggw_not-a-key-of-anyone", "UNKNOWN_KEY"),
        // A configured key's hash is not a key.
        (key_sha256(BILLING_KEY).as_str(), "UNKNOWN_KEY"),
    ] {
        let mut c =
            PageServiceClient::new(InterceptedService::new(gw.channel().await, bearer(header)));
        let st = c.list_owned_pages(list(ACME)).await.unwrap_err();
        assert_eq!(st.code(), Code::Unauthenticated, "{header:?}: {st:?}");
        let info = error_info(&st);
        assert_eq!(info.reason, reason, "{header:?}");
        assert_eq!(info.domain, "graph-gateway");
        assert!(!st.message().contains(header) || header.is_empty());
    }
    // x-caller names nobody once callers must authenticate.
    let mut c = PageServiceClient::new(gw.channel().await);
    let mut req = tonic::Request::new(list(ACME));
    req.metadata_mut()
        .insert("x-caller", "everyone".parse().unwrap());
    let st = c.list_owned_pages(req).await.unwrap_err();
    assert_eq!(st.code(), Code::Unauthenticated);
    assert_eq!(gw.sb().request_count(), 0, "nothing reached Graph");

    // The right key.
    let mut c = PageServiceClient::new(as_caller(&gw, BILLING_KEY).await);
    let pages = c.list_owned_pages(list(ACME)).await.unwrap().into_inner();
    assert!(!pages.pages.is_empty());
    assert_eq!(gw.sb().request_count(), 1);
    // Graph saw the vault's token, never the caller's key.
    let sent = gw.sb().last_request().unwrap();
    assert!(sent.headers.iter().all(|(_, v)| !v.contains(BILLING_KEY)));
}

#[tokio::test]
async fn health_and_reflection_need_no_credentials() {
    let gw = TestGateway::sandbox_with(secured()).await;
    let mut h = HealthClient::new(gw.channel().await);
    for service in ["readiness", "liveness", "graphgateway.v1.PageService"] {
        let r = h
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.status, ServingStatus::Serving as i32, "{service}");
    }
    use tokio_stream::StreamExt as _;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    let mut r = ServerReflectionClient::new(gw.channel().await);
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = r
        .server_reflection_info(tokio_stream::iter(vec![req]))
        .await
        .unwrap()
        .into_inner();
    assert!(stream.next().await.unwrap().is_ok());
}

/// A test PKI: a CA, a server certificate for localhost, client
/// certificates.
struct Pki {
    ca: rcgen::Certificate,
    ca_key: KeyPair,
}

impl Pki {
    fn new() -> Self {
        let ca_key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "graph-gateway test CA");
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = params.self_signed(&ca_key).unwrap();
        Self { ca, ca_key }
    }

    fn ca_pem(&self) -> String {
        self.ca.pem()
    }

    /// (certificate PEM, key PEM) signed by the CA.
    fn issue(&self, sans: &[&str], cn: &str, usage: ExtendedKeyUsagePurpose) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![usage];
        let cert = params.signed_by(&key, &self.ca, &self.ca_key).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// A secured gateway on TLS with client certificates verified against the
/// test CA, and a plaintext health-only listener.
struct TlsGateway {
    addr: std::net::SocketAddr,
    health: std::net::SocketAddr,
    _gw: TestGateway,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn tls_gateway(pki: &Pki, required: bool) -> TlsGateway {
    let mut cfg = secured();
    // mTLS callers: by SAN (billing), by CN (reader, whose cert has no SAN).
    cfg.auth.callers.0.push(CallerAuth {
        name: "billing-svc".into(),
        cert_names: vec!["billing.internal.example".into()],
        ..CallerAuth::default()
    });
    cfg.auth.callers.0.push(CallerAuth {
        name: "reader-svc".into(),
        ..CallerAuth::default()
    });
    cfg.policy.0.push(graph_gateway::config::PolicyRule {
        caller: "billing-svc".into(),
        businesses: vec![ACME.into()],
        access: graph_gateway::config::PolicyAccess::Write,
        ..Default::default()
    });
    // The plain gateway (and its sandbox) from the harness; a second server
    // on TLS over the same engine.
    let gw = TestGateway::sandbox_with(cfg.clone()).await;
    let (server_cert, server_key) = pki.issue(
        &["localhost"],
        "localhost",
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    cfg.tls.cert_file = Some(write("tls.crt", &server_cert));
    cfg.tls.key_file = Some(write("tls.key", &server_key));
    cfg.tls.client_ca_file = Some(write("ca.crt", &pki.ca_pem()));
    cfg.tls.client_auth = if required { "required" } else { "optional" }.into();
    let tls = graph_gateway::auth::tls::server_config(&cfg.tls).unwrap();
    let health = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let health_addr = health.local_addr().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve_with(
        gw.engine.clone(),
        listener,
        async move {
            let _ = stopped.await;
        },
        ServeOptions {
            tls,
            health_listener: Some(Arc::new(health)),
            ..ServeOptions::default()
        },
    ));
    TlsGateway {
        addr,
        health: health_addr,
        _gw: gw,
        _stop: stop,
    }
}

async fn tls_channel(
    gw: &TlsGateway,
    pki: &Pki,
    client: Option<(String, String)>,
) -> Result<Channel, tonic::transport::Error> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(pki.ca_pem()))
        .domain_name("localhost");
    if let Some((cert, key)) = client {
        tls = tls.identity(Identity::from_pem(cert, key));
    }
    Channel::from_shared(format!("https://localhost:{}", gw.addr.port()))
        .unwrap()
        .tls_config(tls)?
        .connect()
        .await
}

#[tokio::test]
async fn mtls_client_certificates_identify_callers() {
    let pki = Pki::new();
    let gw = tls_gateway(&pki, false).await;

    // SAN DNS name -> billing-svc, allowed for Acme.
    let billing = pki.issue(
        &["billing.internal.example"],
        "ignored when a SAN is present",
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    let mut c =
        PageServiceClient::new(tls_channel(&gw, &pki, Some(billing.clone())).await.unwrap());
    assert!(!c
        .list_owned_pages(list(ACME))
        .await
        .unwrap()
        .into_inner()
        .pages
        .is_empty());
    let st = c.list_owned_pages(list(GLOBEX)).await.unwrap_err();
    assert_eq!(st.code(), Code::PermissionDenied, "{st:?}");
    assert_eq!(
        error_info(&st).metadata.get("caller").map(String::as_str),
        Some("billing-svc")
    );

    // CN only -> reader-svc, which has no policy grant at all.
    let reader = pki.issue(&[], "reader-svc", ExtendedKeyUsagePurpose::ClientAuth);
    let mut c = PageServiceClient::new(tls_channel(&gw, &pki, Some(reader)).await.unwrap());
    let st = c.list_owned_pages(list(ACME)).await.unwrap_err();
    assert_eq!(st.code(), Code::PermissionDenied, "{st:?}");

    // A certificate from the CA that names no caller.
    let stranger = pki.issue(
        &["stranger.example"],
        "stranger",
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    let mut c = PageServiceClient::new(tls_channel(&gw, &pki, Some(stranger)).await.unwrap());
    let st = c.list_owned_pages(list(ACME)).await.unwrap_err();
    assert_eq!(st.code(), Code::Unauthenticated);
    assert_eq!(error_info(&st).reason, "UNKNOWN_CERTIFICATE");

    // Client certificates are optional here: an API key over TLS works.
    let channel = tls_channel(&gw, &pki, None).await.unwrap();
    let mut c = PageServiceClient::new(InterceptedService::new(
        channel.clone(),
        bearer(BILLING_KEY),
    ));
    assert!(c.list_owned_pages(list(ACME)).await.is_ok());
    let mut c = PageServiceClient::new(channel);
    assert_eq!(
        c.list_owned_pages(list(ACME)).await.unwrap_err().code(),
        Code::Unauthenticated
    );

    // A key and a certificate naming different callers are refused.
    let channel = tls_channel(&gw, &pki, Some(billing)).await.unwrap();
    let mut c = PageServiceClient::new(InterceptedService::new(channel, bearer(READER_KEY)));
    let st = c.list_owned_pages(list(ACME)).await.unwrap_err();
    assert_eq!(error_info(&st).reason, "CREDENTIALS_CONFLICT");

    // The kubelet's plaintext health port answers health only.
    let plain = Channel::from_shared(format!("http://{}", gw.health))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let r = HealthClient::new(plain.clone())
        .check(HealthCheckRequest {
            service: "readiness".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.status, ServingStatus::Serving as i32);
    let st = PageServiceClient::new(plain)
        .list_owned_pages(list(ACME))
        .await
        .unwrap_err();
    assert_eq!(
        st.code(),
        Code::Unimplemented,
        "only health on the health port"
    );
}

#[tokio::test]
async fn required_client_certificates_refuse_a_handshake_without_one() {
    let pki = Pki::new();
    let gw = tls_gateway(&pki, true).await;
    let result = match tls_channel(&gw, &pki, None).await {
        Err(e) => Err(e.to_string()),
        Ok(channel) => {
            let mut c =
                PageServiceClient::new(InterceptedService::new(channel, bearer(BILLING_KEY)));
            c.list_owned_pages(list(ACME))
                .await
                .map(drop)
                .map_err(|s| s.to_string())
        }
    };
    assert!(result.is_err(), "no client certificate, no call");
    // Another CA's certificate is refused as well.
    let other = Pki::new();
    let foreign = other.issue(
        &["billing.internal.example"],
        "x",
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    let result = match tls_channel(&gw, &pki, Some(foreign)).await {
        Err(e) => Err(e.to_string()),
        Ok(channel) => PageServiceClient::new(channel)
            .list_owned_pages(list(ACME))
            .await
            .map(drop)
            .map_err(|s| s.to_string()),
    };
    assert!(result.is_err(), "a certificate from another CA is refused");
    // With the right certificate it works.
    let billing = pki.issue(
        &["billing.internal.example"],
        "b",
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    let mut c = PageServiceClient::new(tls_channel(&gw, &pki, Some(billing)).await.unwrap());
    assert!(c.list_owned_pages(list(ACME)).await.is_ok());
}
