use std::fmt;

/// A Graph API error object: `{"error": {message, type, code, error_subcode,
/// is_transient, fbtrace_id}}`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
pub struct GraphError {
    /// Graph's error code (e.g. 100, 190, 200, 17, 80004).
    pub code: i64,
    /// Graph's subcode, when any.
    #[serde(rename = "error_subcode", default)]
    pub subcode: Option<i64>,
    /// Graph's error type, e.g. "OAuthException".
    #[serde(rename = "type", default)]
    pub error_type: String,
    /// Graph's message.
    #[serde(default)]
    pub message: String,
    /// Graph says a retry may succeed.
    #[serde(default)]
    pub is_transient: bool,
    /// Graph's trace id, for Meta support.
    #[serde(default)]
    pub fbtrace_id: Option<String>,
    /// The HTTP status it came with.
    #[serde(skip)]
    pub http_status: u16,
}

#[derive(serde::Deserialize)]
struct Envelope {
    error: GraphError,
}

// === impl GraphError ===

impl GraphError {
    /// Parses a Graph error body; None when the body is not one. Only a
    /// JSON object is one: serde would also read a one-element array as the
    /// envelope, and a batch's answer to one call (`[{"code":200,...}]`)
    /// then passed for error #200, though the call had run.
    pub fn parse(body: &[u8], http_status: u16) -> Option<Self> {
        if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return None;
        }
        let mut e = serde_json::from_slice::<Envelope>(body).ok()?.error;
        e.http_status = http_status;
        Some(e)
    }

    /// The same error with every secret and token-shaped string scrubbed
    /// from its text (`crate::secret::scrub`), `extra` included: Graph's
    /// messages may echo the token they were called with.
    pub fn scrubbed(mut self, extra: &[&crate::secret::Secret]) -> Self {
        use crate::secret::scrub;
        self.message = scrub(&self.message, extra);
        self.error_type = scrub(&self.error_type, extra);
        self.fbtrace_id = self.fbtrace_id.map(|t| scrub(&t, extra));
        self
    }

    /// Graph's throttling codes: app (4), user (17), page (32), custom rate
    /// (613), business use case (80000-80014).
    pub fn is_throttling(&self) -> bool {
        matches!(self.code, 4 | 17 | 32 | 613 | 80_000..=80_014)
    }

    /// Errors worth retrying: unknown (1), service (2), or flagged transient.
    pub fn is_transient(&self) -> bool {
        self.is_transient || matches!(self.code, 1 | 2)
    }
}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Graph API error (#{}", self.code)?;
        if let Some(s) = self.subcode {
            write!(f, "/{s}")?;
        }
        write!(f, "): {}", self.message)
    }
}
