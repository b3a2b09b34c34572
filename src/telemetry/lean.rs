//! The human log format when no person watches (a file, a pipe, a
//! collector): the same line as tracing-subscriber's compact format without
//! colours, written with plain string writes instead of `Debug` formatting,
//! and with the timestamp's date and time formatted once per second (issue
//! 15: the per-RPC line is on every RPC's path).
//!
//! ```text
//! 2026-12-07T01:20:00.123456Z  INFO rpc{rpc=/graphgateway.v1.PageService/ListOwnedPages request_id=9f1c… caller=ads-sync}: graph_gateway::telemetry: rpc done code=OK ms=0
//! ```
//!
//! Values are written bare unless they hold a space, a quote, `=`, a
//! control character or nothing; those are quoted with `"` and `\` escaped,
//! so one line is always one record.

use std::cell::RefCell;
use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// The event format (see the module docs).
#[derive(Debug, Default, Clone, Copy)]
pub struct LeanFormat;

/// The field format: `name=value` pairs separated by spaces.
#[derive(Debug, Default, Clone, Copy)]
pub struct LeanFields;

impl<'w> FormatFields<'w> for LeanFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut v = FieldVisitor {
            w: &mut writer,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut v);
        v.result
    }

    fn add_fields(
        &self,
        current: &'w mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        let first = current.fields.is_empty();
        let mut v = FieldVisitor {
            w: &mut current.as_writer(),
            first,
            result: Ok(()),
        };
        fields.record(&mut v);
        v.result
    }
}

/// Writes one event's or span's fields; `message` is written bare and first
/// in events (tracing records it first).
struct FieldVisitor<'a, 'w> {
    w: &'a mut Writer<'w>,
    first: bool,
    result: fmt::Result,
}

impl FieldVisitor<'_, '_> {
    fn sep(&mut self) -> fmt::Result {
        if self.first {
            self.first = false;
            Ok(())
        } else {
            self.w.write_char(' ')
        }
    }

    fn pair(&mut self, field: &Field, value: &str) {
        if self.result.is_err() {
            return;
        }
        self.result = (|| {
            self.sep()?;
            if field.name() == "message" {
                return self.w.write_str(value);
            }
            self.w.write_str(field.name())?;
            self.w.write_char('=')?;
            write_value(self.w, value)
        })();
    }
}

impl Visit for FieldVisitor<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.pair(field, value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.pair(field, if value { "true" } else { "false" });
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        let mut buf = itoa::Buffer::new();
        self.pair(field, buf.format(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        let mut buf = itoa::Buffer::new();
        self.pair(field, buf.format(value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.pair(field, &value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // `%x` and `?x` fields, and format_args! messages.
        SCRATCH.with(|s| {
            let mut s = s.borrow_mut();
            s.clear();
            let _ = write!(s, "{value:?}");
            self.pair(field, &s);
        });
    }
}

thread_local! {
    /// Reused for `Debug` values, so they allocate once per thread.
    static SCRATCH: RefCell<String> = const { RefCell::new(String::new()) };
    /// The last second formatted ("2026-12-07T01:20:00") and its epoch.
    static CLOCK: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

/// `value`, quoted only when it must be.
fn write_value(w: &mut Writer<'_>, value: &str) -> fmt::Result {
    let plain = !value.is_empty()
        && !value
            .bytes()
            .any(|b| b <= b' ' || b == b'"' || b == b'=' || b == b'\\' || b == 0x7f);
    if plain {
        return w.write_str(value);
    }
    w.write_char('"')?;
    let mut rest = value;
    while let Some(i) = rest.find(|c: char| c == '"' || c == '\\' || c.is_control()) {
        w.write_str(&rest[..i])?;
        let c = rest[i..].chars().next().unwrap_or(' ');
        match c {
            '"' => w.write_str("\\\"")?,
            '\\' => w.write_str("\\\\")?,
            '\n' => w.write_str("\\n")?,
            '\r' => w.write_str("\\r")?,
            '\t' => w.write_str("\\t")?,
            other => write!(w, "\\u{{{:x}}}", other as u32)?,
        }
        rest = &rest[i + c.len_utf8()..];
    }
    w.write_str(rest)?;
    w.write_char('"')
}

impl<S, N> FormatEvent<S, N> for LeanFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        write_now(&mut w)?;
        let meta = event.metadata();
        w.write_str(match *meta.level() {
            tracing::Level::ERROR => " ERROR ",
            tracing::Level::WARN => "  WARN ",
            tracing::Level::INFO => "  INFO ",
            tracing::Level::DEBUG => " DEBUG ",
            tracing::Level::TRACE => " TRACE ",
        })?;
        let mut any = false;
        // The RPC's fields, when they come as a task-local (crate::telemetry::RpcRecord).
        if let Some(r) = super::RpcFields::with_current(|f| write_rpc(&mut w, f)) {
            r?;
            any = true;
        }
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                if any {
                    w.write_char(':')?;
                }
                any = true;
                w.write_str(span.name())?;
                let ext = span.extensions();
                if let Some(fields) = ext.get::<FormattedFields<N>>() {
                    if !fields.is_empty() {
                        w.write_char('{')?;
                        w.write_str(fields)?;
                        w.write_char('}')?;
                    }
                }
            }
        }
        if any {
            w.write_str(": ")?;
        }
        w.write_str(meta.target())?;
        w.write_str(": ")?;
        ctx.format_fields(w.by_ref(), event)?;
        w.write_char('\n')
    }
}

/// `rpc{rpc=… request_id=… caller=…}`, as the `rpc` span would be written.
fn write_rpc(w: &mut Writer<'_>, f: &super::RpcFields) -> fmt::Result {
    w.write_str("rpc{")?;
    for (i, (name, value)) in f.pairs().into_iter().enumerate() {
        if i > 0 {
            w.write_char(' ')?;
        }
        w.write_str(name)?;
        w.write_char('=')?;
        write_value(w, value)?;
    }
    w.write_char('}')
}

/// The current UTC time as RFC 3339 with microseconds.
fn write_now(w: &mut Writer<'_>) -> fmt::Result {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    CLOCK.with(|c| {
        let mut c = c.borrow_mut();
        if c.0 != secs {
            c.1.clear();
            let _ = write_datetime(&mut c.1, secs);
            c.0 = secs;
        }
        w.write_str(&c.1)
    })?;
    let micros = now.subsec_micros();
    let mut digits = [b'0'; 6];
    let mut n = micros;
    for d in digits.iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
    w.write_char('.')?;
    w.write_str(std::str::from_utf8(&digits).unwrap_or("000000"))?;
    w.write_char('Z')
}

/// "YYYY-MM-DDTHH:MM:SS" of a Unix time (proleptic Gregorian, UTC).
fn write_datetime(out: &mut String, secs: u64) -> fmt::Result {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    write!(
        out,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian:
/// Howard Hinnant's `civil_from_days` (log lines and audit records).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_match_the_calendar() {
        let mut s = String::new();
        write_datetime(&mut s, 0).unwrap();
        assert_eq!(s, "1970-01-01T00:00:00");
        s.clear();
        // 2026-12-07T01:20:05Z
        write_datetime(&mut s, 1_796_606_405).unwrap();
        assert_eq!(s, "2026-12-07T01:20:05");
        s.clear();
        // A leap day.
        write_datetime(&mut s, 951_782_400).unwrap();
        assert_eq!(s, "2000-02-29T00:00:00");
    }

    #[test]
    fn values_are_quoted_only_when_they_must_be() {
        let mut out = String::new();
        for v in ["OK", "", "a b", "x=\"y\"", "line\nbreak", "back\\slash"] {
            let mut w = Writer::new(&mut out);
            write_value(&mut w, v).unwrap();
            out.push('|');
        }
        assert_eq!(
            out,
            "OK|\"\"|\"a b\"|\"x=\\\"y\\\"\"|\"line\\nbreak\"|\"back\\\\slash\"|"
        );
    }

    #[test]
    fn a_line_has_the_span_fields_and_the_event_fields() {
        use tracing_subscriber::layer::SubscriberExt as _;
        let buf = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
        let sink = buf.clone();
        let layer = tracing_subscriber::fmt::layer()
            .event_format(LeanFormat)
            .fmt_fields(LeanFields)
            .with_writer(move || Sink(sink.clone()));
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("rpc", rpc = "/a.B/C", request_id = %"r-1", caller = "");
            let _e = span.enter();
            tracing::info!(code = "OK", ms = 3u64, "rpc done");
            tracing::warn!(error = "bad \"thing\"", "rpc failed");
        });
        let text = String::from_utf8(buf.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(
            lines[0].ends_with(
                "  INFO rpc{rpc=/a.B/C request_id=r-1 caller=\"\"}: graph_gateway::telemetry::lean::tests: rpc done code=OK ms=3"
            ),
            "{}",
            lines[0]
        );
        assert!(
            lines[0].as_bytes()[4] == b'-' && lines[0].contains('T'),
            "{}",
            lines[0]
        );
        assert!(
            lines[1].ends_with("rpc failed error=\"bad \\\"thing\\\"\""),
            "{}",
            lines[1]
        );
    }

    struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}
