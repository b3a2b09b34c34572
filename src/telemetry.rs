//! Logging and traces: tracing with a span per RPC and per upstream call;
//! human or JSON output; RUST_LOG-style filter (RUST_LOG wins over the
//! config); optionally, the spans exported to an OpenTelemetry collector
//! (`[otel] endpoint`, OTLP over HTTP with protobuf).
//!
//! Trace context is W3C `traceparent`: taken from the caller's gRPC metadata
//! as the parent of the RPC's span ([`rpc_span`]), and sent on to Graph with
//! every upstream call ([`trace_headers`]), so a caller's trace continues
//! through the gateway.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use opentelemetry::propagation::{Extractor, TextMapPropagator as _};
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::OtelConfig;

mod batch;
mod lean;
pub use lean::{civil_from_days, LeanFields, LeanFormat};

/// Target of the span every RPC runs in. At TRACE, so logs leave it out
/// unless asked; the OpenTelemetry export always takes it.
pub const RPC_SPAN_TARGET: &str = "otel_rpc";

/// A boxed layer of the subscriber `S`.
pub type BoxLayer<S> = Box<dyn Layer<S> + Send + Sync + 'static>;

/// What `init` installed; [`Telemetry::shutdown`] flushes the spans not yet
/// exported.
#[derive(Debug, Default)]
#[must_use = "shut it down at exit, or the last spans are lost"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
    /// The log writer's worker: dropping it writes the lines still queued.
    log_writer: Option<batch::Flusher>,
}

impl Telemetry {
    /// Exports the spans still buffered and stops the exporter. Blocks (up
    /// to the exporter's timeout); call it once, at exit.
    pub fn shutdown(self) {
        // The queued log lines first.
        if let Some(f) = self.log_writer {
            f.stop();
        }
        if let Some(provider) = self.provider {
            if let Err(e) = provider.shutdown() {
                eprintln!("graph-gateway: flushing traces: {e}");
            }
        }
    }
}

/// Installs the global subscriber, writing each line to stdout as it is
/// logged (the sandbox, tools). `format` is "human" or "json".
pub fn init(format: &str, filter: &str) {
    // Without an exporter nothing can fail.
    let _ = install(format, filter, &OtelConfig::default(), LogWriter::Direct);
}

/// Installs the global subscriber of the gateway, exporting spans when
/// `otel.endpoint` is set. Log lines are written to stdout in batches
/// (`batch`): the RPC that logs a line only formats it and appends it to
/// a buffer, never waits for a write or wakes a thread (issue 15, the
/// per-RPC record). Nothing is dropped, and [`Telemetry::shutdown`] writes
/// what is still pending.
pub fn init_with(format: &str, filter: &str, otel: &OtelConfig) -> anyhow::Result<Telemetry> {
    install(format, filter, otel, LogWriter::Batched)
}

/// Where log lines go.
enum LogWriter {
    /// Straight to stdout, one write per line.
    Direct,
    /// Buffered, written in batches by a flusher thread.
    Batched,
}

fn install(
    format: &str,
    filter: &str,
    otel: &OtelConfig,
    writer: LogWriter,
) -> anyhow::Result<Telemetry> {
    let (make_writer, log_writer) = match writer {
        LogWriter::Direct => (
            tracing_subscriber::fmt::writer::BoxMakeWriter::new(std::io::stdout),
            None,
        ),
        LogWriter::Batched => {
            let (w, flusher) = batch::stdout();
            (
                tracing_subscriber::fmt::writer::BoxMakeWriter::new(w),
                flusher,
            )
        }
    };
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for a person at a terminal: never in files, pipes or
    // a collector's log stream, and not when NO_COLOR is set.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout())
        && std::env::var_os("NO_COLOR").is_none();
    let lean = format != "json" && !ansi;
    let fmt: BoxLayer<_> = if format == "json" {
        tracing_subscriber::fmt::layer()
            .with_writer(make_writer)
            .with_target(true)
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .with_filter(filter)
            .boxed()
    } else {
        if ansi {
            tracing_subscriber::fmt::layer()
                .with_writer(make_writer)
                .with_target(true)
                .with_ansi(true)
                .compact()
                .with_filter(filter)
                .boxed()
        } else {
            // The same line, without colours and cheaper to write.
            tracing_subscriber::fmt::layer()
                .with_writer(make_writer)
                .event_format(LeanFormat)
                .fmt_fields(LeanFields)
                .with_filter(filter)
                .boxed()
        }
    };
    let (otel_layer, provider) = match otel_layer(otel)? {
        Some((layer, provider)) => (Some(layer), Some(provider)),
        None => (None, None),
    };
    let exported = otel_layer.is_some();
    // A second init (tests) is harmless: keep the first subscriber.
    let installed = tracing_subscriber::registry()
        .with(fmt)
        .with(otel_layer)
        .try_init()
        .is_ok();
    // The lean format writes the RPC's fields itself; spans stay for the
    // JSON and colour formats (their `span`/`spans` and `rpc{...}`) and
    // whenever spans are exported.
    if installed {
        LOCAL_RPC.store(lean && !exported, Ordering::Relaxed);
    }
    if let Some(endpoint) = &otel.endpoint {
        tracing::info!(%endpoint, service = %otel.service_name, "exporting traces (OTLP/HTTP)");
    }
    Ok(Telemetry {
        provider,
        log_writer,
    })
}

/// The layer exporting spans to `otel.endpoint` (None when unset), and its
/// provider (flush it with `force_flush`, stop it with `shutdown`). Exports
/// the RPC spans and the gateway's own spans at INFO and above.
pub fn otel_layer<S>(otel: &OtelConfig) -> anyhow::Result<Option<(BoxLayer<S>, SdkTracerProvider)>>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
{
    let Some(endpoint) = &otel.endpoint else {
        return Ok(None);
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_endpoint(traces_url(endpoint))
        .build()
        .map_err(|e| anyhow::anyhow!("otel.endpoint: {e}"))?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(otel.service_name.clone())
        .build();
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build();
    let tracer = provider.tracer("graph-gateway");
    let targets = Targets::new()
        .with_target(RPC_SPAN_TARGET, LevelFilter::TRACE)
        .with_target("graph_gateway", LevelFilter::INFO);
    let layer = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_filter(targets)
        .boxed();
    Ok(Some((layer, provider)))
}

/// `<endpoint>/v1/traces`, unless the endpoint already names a path.
fn traces_url(endpoint: &str) -> String {
    let trimmed = endpoint.trim_end_matches('/');
    match url::Url::parse(trimmed) {
        Ok(u) if u.path() == "/" || u.path().is_empty() => format!("{trimmed}/v1/traces"),
        _ => trimmed.to_string(),
    }
}

/// True when RPCs carry their context to log lines as a task-local
/// ([`RpcFields`]) instead of a tracing span: set by [`init`] and
/// [`init_with`] for the lean human format without span export, where the
/// format itself writes the `rpc{...}` prefix. A span per RPC costs about
/// as much as a cache hit's engine work (issue 15, the per-RPC record).
static LOCAL_RPC: AtomicBool = AtomicBool::new(false);

tokio::task_local! {
    /// The RPC the current task serves (in local mode).
    static RPC: Arc<RpcFields>;
}

/// The fields of the RPC a line is logged in: what the `rpc` span would
/// hold (rpc, request_id, caller).
#[derive(Debug)]
pub struct RpcFields {
    rpc: String,
    request_id: String,
    caller: String,
}

impl RpcFields {
    /// Calls `f` with the fields of the RPC the current task serves, if
    /// any (only in local mode).
    pub fn with_current<R>(f: impl FnOnce(&RpcFields) -> R) -> Option<R> {
        RPC.try_with(|r| f(r)).ok()
    }

    /// The fields in the span's order, as (name, value).
    pub fn pairs(&self) -> [(&'static str, &str); 3] {
        [
            ("rpc", &self.rpc),
            ("request_id", &self.request_id),
            ("caller", &self.caller),
        ]
    }
}

/// The per-RPC record of a Graph-route call: the context it runs in (rpc,
/// request_id, caller), as an `rpc` span or, in the default lean format, a
/// task-local the format reads; and its one `info` line, "rpc done" or "rpc
/// failed", with the code, the milliseconds and the status message.
pub struct RpcRecord {
    scope: RpcScope,
    started: tokio::time::Instant,
}

enum RpcScope {
    Span(tracing::Span),
    Local(Arc<RpcFields>),
}

/// The future of an RPC run in its record's context ([`RpcRecord::wrap`]).
pub type InRpc<F> = futures::future::Either<
    tracing::instrument::Instrumented<F>,
    tokio::task::futures::TaskLocalFuture<Arc<RpcFields>, F>,
>;

impl RpcRecord {
    /// Opens the record of the RPC `rpc` called with `ctx`.
    pub fn start(rpc: &str, ctx: &crate::context::CallContext) -> Self {
        Self::start_as(LOCAL_RPC.load(Ordering::Relaxed), rpc, ctx)
    }

    fn start_as(local: bool, rpc: &str, ctx: &crate::context::CallContext) -> Self {
        let caller = ctx.caller.as_deref().unwrap_or_default();
        let scope = if local {
            RpcScope::Local(Arc::new(RpcFields {
                rpc: rpc.to_string(),
                request_id: ctx.request_id.clone(),
                caller: caller.to_string(),
            }))
        } else {
            RpcScope::Span(tracing::info_span!(
                "rpc",
                rpc,
                request_id = ctx.request_id.as_str(),
                caller
            ))
        };
        Self {
            scope,
            started: tokio::time::Instant::now(),
        }
    }

    /// `fut`, run in the RPC's context: lines it logs carry the RPC's
    /// fields.
    pub fn wrap<F: Future>(&self, fut: F) -> InRpc<F> {
        use tracing::Instrument as _;
        match &self.scope {
            RpcScope::Span(span) => futures::future::Either::Left(fut.instrument(span.clone())),
            RpcScope::Local(fields) => {
                futures::future::Either::Right(RPC.scope(fields.clone(), fut))
            }
        }
    }

    /// Closes the record with the call's outcome: one line at `info`, in
    /// the RPC's context, with the gRPC code and the milliseconds taken
    /// (and, for a failure, the status message, which the error mapping has
    /// scrubbed of secrets).
    pub fn finish(self, outcome: Result<(), &tonic::Status>) {
        let ms = self.started.elapsed().as_millis() as u64;
        let line = || match outcome {
            Ok(()) => tracing::info!(code = "OK", ms, "rpc done"),
            Err(s) => tracing::info!(
                code = crate::error::status::code_name(s.code()),
                ms,
                error = s.message(),
                "rpc failed"
            ),
        };
        match self.scope {
            RpcScope::Span(span) => span.in_scope(line),
            RpcScope::Local(fields) => RPC.sync_scope(fields, line),
        }
    }
}

/// `fut` in the context of the RPC the current task serves: for work an RPC
/// hands to another task (`tokio::spawn`), so its lines keep the RPC's
/// fields. Pair it with `in_current_span`, which carries a span context.
pub fn in_current_rpc<F: Future>(
    fut: F,
) -> futures::future::Either<F, tokio::task::futures::TaskLocalFuture<Arc<RpcFields>, F>> {
    match RPC.try_with(Arc::clone) {
        Ok(fields) => futures::future::Either::Right(RPC.scope(fields, fut)),
        Err(_) => futures::future::Either::Left(fut),
    }
}

/// The span an RPC runs in: a server span named after the RPC path, child of
/// the caller's W3C trace context (`traceparent` metadata) when there is
/// one. Disabled (free) unless a subscriber wants [`RPC_SPAN_TARGET`].
pub fn rpc_span(path: &str, headers: &http::HeaderMap) -> tracing::Span {
    let span = tracing::span!(
        target: RPC_SPAN_TARGET,
        tracing::Level::TRACE,
        "grpc",
        otel.name = path,
        otel.kind = "server",
        rpc.system = "grpc",
    );
    if !span.is_disabled() {
        let parent = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
        if parent.span().span_context().is_valid() {
            let _ = span.set_parent(parent);
        }
    }
    span
}

/// The W3C trace context headers (`traceparent`, `tracestate`) of the
/// current span, for an upstream call; empty when spans are not exported.
pub fn trace_headers() -> Vec<(String, String)> {
    let cx = tracing::Span::current().context();
    if !cx.span().span_context().is_valid() {
        return Vec::new();
    }
    let mut out = std::collections::HashMap::new();
    TraceContextPropagator::new().inject_context(&cx, &mut out);
    let mut out: Vec<(String, String)> = out.into_iter().collect();
    out.sort();
    out
}

/// Reads trace context from HTTP/2 headers (gRPC metadata).
struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traces_url_appends_the_signal_path_once() {
        assert_eq!(traces_url("http://c:4318"), "http://c:4318/v1/traces");
        assert_eq!(traces_url("http://c:4318/"), "http://c:4318/v1/traces");
        assert_eq!(
            traces_url("http://c:4318/v1/traces"),
            "http://c:4318/v1/traces"
        );
    }

    /// In local mode the RPC's fields reach every line logged in the RPC,
    /// including work handed to another task, and its closing line, with
    /// the same prefix the `rpc` span gives.
    #[tokio::test]
    async fn local_mode_lines_carry_the_rpc_fields() {
        use tracing_subscriber::layer::SubscriberExt as _;
        let buf = Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
        let sink = buf.clone();
        let layer = tracing_subscriber::fmt::layer()
            .event_format(LeanFormat)
            .fmt_fields(LeanFields)
            .with_writer(move || Sink(sink.clone()));
        let subscriber = tracing_subscriber::registry().with(layer);
        let _default = tracing::subscriber::set_default(subscriber);
        let ctx = crate::context::CallContext {
            request_id: "r-9".into(),
            caller: Some("ads sync".into()),
            ..crate::context::CallContext::default()
        };
        let record = RpcRecord::start_as(true, "/a.B/C", &ctx);
        record
            .wrap(async {
                tracing::warn!("inside");
                // Spawned work keeps the fields (retry::detached).
                let _ = tokio::spawn(in_current_rpc(async {
                    tracing::warn!("spawned");
                }))
                .await;
            })
            .await;
        record.finish(Err(&tonic::Status::not_found("gone")));
        tracing::warn!("outside");
        let text = String::from_utf8(buf.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        let prefix =
            "rpc{rpc=/a.B/C request_id=r-9 caller=\"ads sync\"}: graph_gateway::telemetry::tests: ";
        assert!(
            lines[0].ends_with(&format!("  WARN {prefix}inside")),
            "{}",
            lines[0]
        );
        assert!(
            lines[1].ends_with(&format!("  WARN {prefix}spawned")),
            "{}",
            lines[1]
        );
        assert!(
            lines[2].ends_with(&format!(
                "  INFO {}rpc failed code=NOT_FOUND ms=0 error=gone",
                prefix.replace(
                    "graph_gateway::telemetry::tests",
                    "graph_gateway::telemetry"
                )
            )),
            "{}",
            lines[2]
        );
        assert!(
            lines[3].ends_with("  WARN graph_gateway::telemetry::tests: outside"),
            "{}",
            lines[3]
        );
    }

    struct Sink(Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn no_trace_headers_without_an_exported_span() {
        assert!(trace_headers().is_empty());
    }
}
