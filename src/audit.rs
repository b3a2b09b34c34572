//! The audit trail: one structured record per mutation (Graph RPCs that
//! change something, and workflow steps, whether they succeed, fail, or are
//! refused by policy), per page token derivation, and per VaultService call.
//!
//! Each record goes to the log as an event of target `audit` (level info,
//! one field per record field), and, when `redis.url` is set, to the Redis
//! stream `audit.redis_stream` (XADD, field `record` = the record as JSON),
//! from where operators ship it anywhere. Records never hold a secret: ids,
//! names, tasks and outcomes only.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;

use crate::context::CallContext;
use crate::error::GatewayError;
use crate::routes::request::Plan;
use crate::routes::{IdFormat, Route};

/// Records waiting for Redis; beyond this they are only in the log.
const REDIS_BACKLOG: usize = 10_000;

/// One audited action.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct AuditRecord {
    /// When, RFC 3339 UTC.
    pub time: String,
    /// The authenticated caller (or the `x-caller` name when authentication
    /// is off; empty when unknown).
    pub caller: String,
    /// How the caller authenticated: "api_key", "certificate", or "none".
    pub auth: String,
    /// The RPC called, e.g. "/graphgateway.v1.PageService/AssignPageUser".
    pub rpc: String,
    /// The catalogue operation (e.g. "PG07"), or the VaultService method.
    pub operation: String,
    /// The business the call acted for, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub business: Option<String>,
    /// The Graph call, e.g. "POST /3000000001/assigned_users" (ids only).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub graph_call: String,
    /// The objects acted on, by parameter name (ids only).
    pub objects: BTreeMap<String, String>,
    /// Tasks and roles set, by parameter name.
    pub changes: BTreeMap<String, Vec<String>>,
    /// The vault token used (its name, never its value).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// "OK" or the gRPC code, e.g. "PERMISSION_DENIED".
    pub outcome: String,
    /// The ErrorInfo reason of a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The request id of the call.
    pub request_id: String,
    /// Graph's trace id, when Graph answered with an error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fbtrace_id: Option<String>,
}

/// Where records go.
pub struct Audit {
    redis: Option<mpsc::Sender<String>>,
}

// === impl AuditRecord ===

impl AuditRecord {
    /// A record of `ctx`'s call, now, with outcome "OK".
    pub fn new(ctx: &CallContext, operation: impl Into<String>) -> Self {
        let (caller, auth) = match &ctx.principal {
            Some(p) => (p.name.clone(), p.method.as_str().to_string()),
            None => (ctx.caller.clone().unwrap_or_default(), "none".to_string()),
        };
        Self {
            time: rfc3339(SystemTime::now()),
            caller,
            auth,
            rpc: ctx.rpc.clone(),
            operation: operation.into(),
            outcome: "OK".to_string(),
            request_id: ctx.request_id.clone(),
            ..Self::default()
        }
    }

    /// Sets the outcome from a call's result.
    pub fn outcome<T>(mut self, result: Result<T, &GatewayError>) -> Self {
        if let Err(e) = result {
            let (code, reason) = code_and_reason(e);
            self.outcome = code;
            self.reason = reason;
            if let GatewayError::Graph(g) = e {
                self.fbtrace_id = g.fbtrace_id.clone();
            }
        }
        self
    }
}

// === impl Audit ===

impl Audit {
    /// Records go to the log only.
    pub fn log_only() -> Self {
        Self { redis: None }
    }

    /// Records go to the log and to the Redis stream `stream` (trimmed to
    /// about `max_len` entries). Connects lazily; must run inside a tokio
    /// runtime.
    pub fn with_redis(
        redis: &crate::config::RedisConfig,
        stream: String,
        max_len: u64,
        timeout: Duration,
    ) -> Result<Self, String> {
        let link = crate::redis_link::RedisLink::from_config(redis)?
            .ok_or_else(|| "the audit stream needs redis.url".to_string())?;
        let (tx, rx) = mpsc::channel(REDIS_BACKLOG);
        tokio::spawn(writer(link, stream, max_len, timeout, rx));
        Ok(Self { redis: Some(tx) })
    }

    /// Writes a record.
    pub fn record(&self, rec: &AuditRecord) {
        let objects = serde_json::to_string(&rec.objects).unwrap_or_default();
        let changes = serde_json::to_string(&rec.changes).unwrap_or_default();
        tracing::info!(
            target: "audit",
            time = %rec.time,
            caller = %rec.caller,
            auth = %rec.auth,
            rpc = %rec.rpc,
            operation = %rec.operation,
            business = rec.business.as_deref().unwrap_or_default(),
            graph_call = %rec.graph_call,
            objects = %objects,
            changes = %changes,
            token = rec.token.as_deref().unwrap_or_default(),
            outcome = %rec.outcome,
            reason = rec.reason.as_deref().unwrap_or_default(),
            request_id = %rec.request_id,
            fbtrace_id = rec.fbtrace_id.as_deref().unwrap_or_default(),
            "audit"
        );
        if let Some(tx) = &self.redis {
            match serde_json::to_string(rec) {
                Ok(json) => {
                    if tx.try_send(json).is_err() {
                        tracing::error!(target: "audit", request_id = %rec.request_id, "audit stream backlog full: record kept in the log only");
                    }
                }
                Err(e) => {
                    tracing::error!(target: "audit", error = %e, "audit record not encodable")
                }
            }
        }
    }

    /// Audits a Graph mutation (or a refused one): ids, tasks and roles from
    /// the plan, the outcome from `result`.
    pub fn mutation<T>(
        &self,
        ctx: &CallContext,
        route: &Route,
        plan: &Plan,
        token: Option<&str>,
        result: Result<T, &GatewayError>,
    ) {
        let mut rec = AuditRecord::new(ctx, route.operation_id.clone());
        if rec.rpc.is_empty() {
            rec.rpc = route.full_method.clone();
        }
        rec.business = plan.business.clone();
        rec.graph_call = format!("{} {}", plan.graph.method.as_str(), plan.graph.path);
        rec.token = token.map(str::to_string);
        let id_params: Vec<&str> = route
            .fields
            .iter()
            .filter(|f| f.id_format != IdFormat::Any)
            .map(|f| f.graph_name.as_str())
            .collect();
        for (name, value) in &plan.graph.params {
            if is_change(name) {
                rec.changes.insert(name.clone(), list(value));
            } else if id_params.contains(&name.as_str()) || is_id_name(name) {
                rec.objects.insert(name.clone(), value.clone());
            }
        }
        for (i, id) in path_ids(&plan.graph.path).into_iter().enumerate() {
            rec.objects.insert(format!("path[{i}]"), id);
        }
        self.record(&rec.outcome(result));
    }
}

impl std::fmt::Debug for Audit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Audit")
            .field("redis", &self.redis.is_some())
            .finish()
    }
}

/// Tasks and roles: `tasks`, `permitted_tasks`, `page_roles`,
/// `adaccount_roles`, `pixel_roles`, `role`, ...
fn is_change(name: &str) -> bool {
    name.ends_with("tasks") || name.ends_with("roles") || name == "role"
}

fn is_id_name(name: &str) -> bool {
    name == "user" || name == "business" || name.ends_with("_id") || name.ends_with("_ids")
}

/// A parameter as a list: a JSON array's items, or the value itself.
fn list(value: &str) -> Vec<String> {
    match serde_json::from_str::<Vec<serde_json::Value>>(value) {
        Ok(items) => items
            .into_iter()
            .map(|v| match v {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            })
            .collect(),
        Err(_) => vec![value.to_string()],
    }
}

/// The ids in a Graph path (`act_N` or digits).
fn path_ids(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| {
            let digits = s.strip_prefix("act_").unwrap_or(s);
            !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
        })
        .map(str::to_string)
        .collect()
}

/// The gRPC code name and ErrorInfo reason of an error.
fn code_and_reason(e: &GatewayError) -> (String, Option<String>) {
    if let GatewayError::Internal(_) = e {
        // to_status logs internal details; the audit needs only the code.
        return ("INTERNAL".to_string(), Some("INTERNAL".to_string()));
    }
    let status = crate::error::status::to_status(e);
    let reason = tonic_types::StatusExt::get_error_details(&status)
        .error_info()
        .map(|i| i.reason.clone());
    (code_name(status.code()), reason)
}

/// "PermissionDenied" -> "PERMISSION_DENIED".
pub fn code_name(code: tonic::Code) -> String {
    let debug = format!("{code:?}");
    let mut out = String::new();
    for (i, c) in debug.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// RFC 3339 UTC with milliseconds.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, day) = crate::telemetry::civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// Adds records to the stream, one at a time, reconnecting after failures.
async fn writer(
    link: crate::redis_link::RedisLink,
    stream: String,
    max_len: u64,
    timeout: Duration,
    mut rx: mpsc::Receiver<String>,
) {
    let mut conn: Option<crate::redis_link::RedisConn> = None;
    let mut failing = false;
    while let Some(json) = rx.recv().await {
        let result = async {
            if conn.is_none() {
                let c = tokio::time::timeout(timeout, link.connect())
                    .await
                    .map_err(|_| "connect timed out".to_string())?
                    .map_err(|e| format!("{:?}", e.kind()))?;
                conn = Some(c);
            }
            let Some(c) = conn.as_mut() else {
                return Err("no connection".to_string());
            };
            let mut cmd = ::redis::cmd("XADD");
            cmd.arg(&stream);
            if max_len > 0 {
                cmd.arg("MAXLEN").arg("~").arg(max_len);
            }
            cmd.arg("*").arg("record").arg(&json);
            tokio::time::timeout(timeout, cmd.query_async::<String>(c))
                .await
                .map_err(|_| "XADD timed out".to_string())?
                .map_err(|e| e.to_string())
        }
        .await;
        match result {
            Ok(_) if failing => {
                failing = false;
                tracing::info!(target: "audit", %stream, "audit stream writable again");
            }
            Ok(_) => {}
            Err(why) => {
                conn = None;
                if !failing {
                    failing = true;
                }
                tracing::error!(target: "audit", %stream, error = %why, "audit record not added to the Redis stream (it is in the log)");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_format_as_rfc3339() {
        let t = UNIX_EPOCH + Duration::from_millis(1_767_225_600_123);
        assert_eq!(rfc3339(t), "2026-01-01T00:00:00.123Z");
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn tasks_become_lists_and_ids_are_found_in_paths() {
        assert_eq!(list(r#"["MANAGE","ANALYZE"]"#), ["MANAGE", "ANALYZE"]);
        assert_eq!(list("ADMIN"), ["ADMIN"]);
        assert_eq!(path_ids("/act_123/assigned_users"), ["act_123"]);
        assert_eq!(path_ids("/3000000001/agencies"), ["3000000001"]);
        assert!(is_change("permitted_tasks") && is_change("page_roles"));
        assert!(!is_change("user"));
    }

    #[test]
    fn code_names_are_upper_snake() {
        assert_eq!(
            code_name(tonic::Code::PermissionDenied),
            "PERMISSION_DENIED"
        );
        assert_eq!(code_name(tonic::Code::Ok), "OK");
    }
}
