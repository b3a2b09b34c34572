//! Logging and traces: tracing with a span per RPC and per upstream call;
//! human or JSON output; RUST_LOG-style filter (RUST_LOG wins over the
//! config); optionally, the spans exported to an OpenTelemetry collector
//! (`[otel] endpoint`, OTLP over HTTP with protobuf).
//!
//! Trace context is W3C `traceparent`: taken from the caller's gRPC metadata
//! as the parent of the RPC's span ([`rpc_span`]), and sent on to Graph with
//! every upstream call ([`trace_headers`]), so a caller's trace continues
//! through the gateway.

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
        // Colours only for a person at a terminal: never in files, pipes or
        // a collector's log stream, and not when NO_COLOR is set.
        let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout())
            && std::env::var_os("NO_COLOR").is_none();
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
    // A second init (tests) is harmless: keep the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(fmt)
        .with(otel_layer)
        .try_init();
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

/// The per-RPC record of a Graph-route call: the `rpc` span it runs in
/// (rpc, request_id, caller) and its one `info` line, "rpc done" or "rpc
/// failed", with the code, the milliseconds and the status message.
pub struct RpcRecord {
    span: tracing::Span,
    started: tokio::time::Instant,
}

impl RpcRecord {
    /// Opens the record of the RPC `rpc` called with `ctx`.
    pub fn start(rpc: &str, ctx: &crate::context::CallContext) -> Self {
        let span = tracing::info_span!(
            "rpc",
            rpc,
            request_id = ctx.request_id.as_str(),
            caller = ctx.caller.as_deref().unwrap_or_default()
        );
        Self {
            span,
            started: tokio::time::Instant::now(),
        }
    }

    /// The span the call runs in.
    pub fn span(&self) -> &tracing::Span {
        &self.span
    }

    /// Closes the record with the call's outcome: one line at `info`, in
    /// the RPC's span, with the gRPC code and the milliseconds taken (and,
    /// for a failure, the status message, which the error mapping has
    /// scrubbed of secrets).
    pub fn finish(self, outcome: Result<(), &tonic::Status>) {
        let _entered = self.span.enter();
        let ms = self.started.elapsed().as_millis() as u64;
        match outcome {
            Ok(()) => tracing::info!(code = "OK", ms, "rpc done"),
            Err(s) => tracing::info!(
                code = crate::error::status::code_name(s.code()),
                ms,
                error = s.message(),
                "rpc failed"
            ),
        }
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

    #[test]
    fn no_trace_headers_without_an_exported_span() {
        assert!(trace_headers().is_empty());
    }
}
