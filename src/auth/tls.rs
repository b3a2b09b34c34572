//! TLS on the gRPC port from `[tls]`: the server identity, and client
//! certificates verified against `tls.client_ca_file` (optional, so API-key
//! callers still connect, or required).

use tonic::transport::{Certificate, Identity, ServerTlsConfig};

use crate::config::TlsConfig;

/// The server TLS configuration, or None for plaintext. Errors name the key
/// and the file, never their content.
pub fn server_config(cfg: &TlsConfig) -> Result<Option<ServerTlsConfig>, String> {
    let read = |key: &str, path: &std::path::Path| {
        std::fs::read(path).map_err(|e| format!("{key}: cannot read {}: {e}", path.display()))
    };
    let (cert, key) = match (&cfg.cert_file, &cfg.key_file) {
        (None, None) => {
            if cfg.client_ca_file.is_some() {
                return Err(
                    "tls.client_ca_file: client certificates need TLS: set tls.cert_file and tls.key_file"
                        .to_string(),
                );
            }
            return Ok(None);
        }
        (Some(cert), Some(key)) => (read("tls.cert_file", cert)?, read("tls.key_file", key)?),
        (Some(_), None) => return Err("tls.cert_file needs tls.key_file".to_string()),
        (None, Some(_)) => return Err("tls.key_file needs tls.cert_file".to_string()),
    };
    let mut tls = ServerTlsConfig::new().identity(Identity::from_pem(cert, key));
    if let Some(ca) = &cfg.client_ca_file {
        tls = tls
            .client_ca_root(Certificate::from_pem(read("tls.client_ca_file", ca)?))
            .client_auth_optional(cfg.client_auth != "required");
    }
    Ok(Some(tls))
}
