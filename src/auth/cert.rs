//! Caller identity from an mTLS client certificate: its subject alternative
//! names (DNS names and URIs, e.g. SPIFFE ids), else its subject common name.
//! The TLS handshake has already verified the chain against
//! `tls.client_ca_file`; this only reads names.

use x509_parser::extensions::GeneralName;

/// The identities the certificate (DER) asserts; empty when it cannot be
/// parsed or names nothing.
pub fn identities(der: &[u8]) -> Vec<String> {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(s) | GeneralName::URI(s) => out.push(s.to_string()),
                _ => {}
            }
        }
    }
    if out.is_empty() {
        out.extend(
            cert.subject()
                .iter_common_name()
                .filter_map(|cn| cn.as_str().ok())
                .map(str::to_string),
        );
    }
    out
}
