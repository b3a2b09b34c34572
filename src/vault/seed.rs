//! The seed file: plaintext TOML tokens loaded at start, typically a mounted
//! Kubernetes Secret.
//!
//! ```toml
//! [[token]]
//! name = "acme-admin"
//! kind = "system_user"          # system_user | user | page
//! businesses = ["1000000001"]
//! assets = []                   # optional
//! value = "EAAB..."
//! expires_at = 1767225600       # optional: epoch seconds or a TOML date-time
//! ```
//!
//! The file is walked as a `toml::Value` rather than deserialized, so every
//! mistake is reported at once, and so no message can quote a value: serde's
//! and toml's messages may echo the offending text, which here is a token.

use std::collections::HashSet;
use std::path::Path;

use zeroize::Zeroizing;

use super::{check_entry, TokenEntry, TokenKind, VaultError};
use crate::secret::Secret;

/// The tokens of the seed file at `path`.
pub(super) fn load(path: &Path) -> Result<Vec<TokenEntry>, VaultError> {
    let text = std::fs::read_to_string(path)
        .map(Zeroizing::new)
        .map_err(|e| {
            VaultError::Storage(format!("seed file {}: cannot read: {e}", path.display()))
        })?;
    parse(&text).map_err(|errors| {
        VaultError::Storage(format!(
            "seed file {}: {}",
            path.display(),
            errors.join("; ")
        ))
    })
}

/// Every token, or every mistake.
pub(super) fn parse(text: &str) -> Result<Vec<TokenEntry>, Vec<String>> {
    let table = text.parse::<toml::Table>().map_err(|e| {
        // The message and line only: toml's Display quotes the line.
        let line = e
            .span()
            .map(|s| text.get(..s.start).unwrap_or(text).matches('\n').count() + 1);
        let at = line.map(|l| format!("line {l}: ")).unwrap_or_default();
        vec![format!(
            "{at}not valid TOML: {}",
            e.message().trim().replace('\n', "; ")
        )]
    })?;

    let mut errors = Vec::new();
    for key in table.keys().filter(|k| *k != "token") {
        errors.push(format!(
            "{key}: unknown key (tokens go in [[token]] tables)"
        ));
    }
    let tokens = match table.get("token") {
        None => &[][..],
        Some(toml::Value::Array(tokens)) => tokens.as_slice(),
        Some(other) => {
            errors.push(format!(
                "token: expected [[token]] tables, found {}",
                other.type_str()
            ));
            &[][..]
        }
    };

    let mut entries = Vec::with_capacity(tokens.len());
    let mut names = HashSet::new();
    for (i, token) in tokens.iter().enumerate() {
        let mut reader = Reader {
            at: format!("token[{i}]"),
            errors: &mut errors,
        };
        let Some(token) = token.as_table() else {
            reader.error("", format!("expected a table, found {}", token.type_str()));
            continue;
        };
        if let Some(name) = token.get("name").and_then(toml::Value::as_str) {
            reader.at = format!("token[{i}] ({name:?})");
        }
        if let Some(entry) = reader.entry(token) {
            if names.insert(entry.name.clone()) {
                entries.push(entry);
            } else {
                reader.error("name", "used by an earlier token too");
            }
        }
    }
    if errors.is_empty() {
        Ok(entries)
    } else {
        Err(errors)
    }
}

/// Reads one `[[token]]` table, collecting its mistakes.
struct Reader<'a> {
    at: String,
    errors: &'a mut Vec<String>,
}

// === impl Reader ===

impl Reader<'_> {
    fn error(&mut self, key: &str, why: impl Into<String>) {
        let sep = if key.is_empty() { "" } else { "." };
        self.errors
            .push(format!("{}{sep}{key}: {}", self.at, why.into()));
    }

    fn entry(&mut self, token: &toml::Table) -> Option<TokenEntry> {
        const KEYS: [&str; 6] = [
            "name",
            "kind",
            "businesses",
            "assets",
            "value",
            "expires_at",
        ];
        let before = self.errors.len();
        for key in token.keys().filter(|k| !KEYS.contains(&k.as_str())) {
            self.error(key, "unknown key");
        }
        let name = self.string(token, "name");
        let kind = self.string(token, "kind").and_then(|kind| {
            let parsed = TokenKind::parse(&kind);
            if parsed.is_none() {
                self.error("kind", "must be system_user, user or page");
            }
            parsed
        });
        let businesses = self.ids(token, "businesses");
        let assets = self.ids(token, "assets");
        let value = match token.get("value") {
            Some(toml::Value::String(value)) => Some(Secret::new(value.trim())),
            Some(other) => {
                self.error(
                    "value",
                    format!("expected a string, found {}", other.type_str()),
                );
                None
            }
            None => {
                self.error("value", "missing");
                None
            }
        };
        let expires_at = token
            .get("expires_at")
            .and_then(|v| match epoch_seconds(v) {
                Ok(at) => Some(at),
                Err(why) => {
                    self.error("expires_at", why);
                    None
                }
            });
        let entry = TokenEntry {
            name: name?,
            kind: kind?,
            businesses,
            assets,
            secret: value?,
            expires_at,
        };
        if self.errors.len() > before {
            return None;
        }
        if let Err(why) = check_entry(&entry) {
            self.error("", why);
            return None;
        }
        Some(entry)
    }

    /// A required string.
    fn string(&mut self, token: &toml::Table, key: &str) -> Option<String> {
        match token.get(key) {
            Some(toml::Value::String(s)) => Some(s.clone()),
            Some(other) => {
                self.error(
                    key,
                    format!("expected a string, found {}", other.type_str()),
                );
                None
            }
            None => {
                self.error(key, "missing");
                None
            }
        }
    }

    /// An optional list of ids; integers are accepted, as ids look like numbers.
    fn ids(&mut self, token: &toml::Table, key: &str) -> Vec<String> {
        let items = match token.get(key) {
            None => return Vec::new(),
            Some(toml::Value::Array(items)) => items,
            Some(other) => {
                self.error(
                    key,
                    format!("expected a list of ids, found {}", other.type_str()),
                );
                return Vec::new();
            }
        };
        let mut ids = Vec::with_capacity(items.len());
        for item in items {
            match item {
                toml::Value::String(id) if !id.trim().is_empty() => ids.push(id.trim().to_string()),
                toml::Value::Integer(id) if *id >= 0 => ids.push(id.to_string()),
                other => self.error(
                    key,
                    format!("ids must be non-empty strings, found {}", other.type_str()),
                ),
            }
        }
        ids
    }
}

/// Epoch seconds from an integer or a TOML date-time with an offset (a bare
/// date means midnight UTC).
fn epoch_seconds(value: &toml::Value) -> Result<u64, String> {
    let datetime = match value {
        toml::Value::Integer(n) => {
            return u64::try_from(*n).map_err(|_| "must not be negative".to_string())
        }
        toml::Value::Datetime(dt) => dt,
        other => {
            return Err(format!(
                "expected epoch seconds or a date-time, found {}",
                other.type_str()
            ))
        }
    };
    let date = datetime.date.ok_or("a time needs a date")?;
    let (time_secs, offset_minutes) = match (datetime.time, datetime.offset) {
        (None, _) => (0, 0),
        (Some(_), None) => {
            return Err("a date-time needs an offset, e.g. 2026-01-01T00:00:00Z".to_string())
        }
        (Some(t), Some(offset)) => {
            let minutes = match offset {
                toml::value::Offset::Z => 0,
                toml::value::Offset::Custom { minutes } => i64::from(minutes),
            };
            (
                i64::from(t.hour) * 3600 + i64::from(t.minute) * 60 + i64::from(t.second),
                minutes,
            )
        }
    };
    let days = days_from_civil(
        i64::from(date.year),
        i64::from(date.month),
        i64::from(date.day),
    );
    let secs = days * 86_400 + time_secs - offset_minutes * 60;
    u64::try_from(secs).map_err(|_| "must not be before 1970".to_string())
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12; // March = 0
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}
