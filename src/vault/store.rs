//! The encrypted vault file.
//!
//! ```json
//! {"version": 1, "key_id": "k1", "records": [
//!   {"name": "acme-admin", "kind": "system_user", "businesses": ["1000000001"],
//!    "assets": [], "expires_at": null, "nonce": "<base64>", "ciphertext": "<base64>"}]}
//! ```
//!
//! Only the token value is encrypted. The associated data binds the record's
//! name and the rest of its metadata (kind, businesses, assets, expiry), so a
//! record cannot be renamed, swapped with another, or pointed at other
//! businesses without failing to decrypt. `key_id` names the key the file is
//! sealed with; a record sealed with another key (after rotation) carries its
//! own `key_id`.
//!
//! Writes go to a temporary file in the same directory (mode 0600 on unix),
//! are synced, then renamed over the file, so a crash leaves the old or the
//! new vault, never half of one.

use std::collections::HashSet;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::crypto::{Keyring, OpenError, NONCE_LEN};
use super::index::Entries;
use super::{check_entry, TokenEntry, TokenKind, VaultError};
use crate::secret::Secret;

/// The version this build reads and writes.
const VERSION: u32 = 1;

/// Prefix of every record's associated data, so a value sealed for another
/// purpose (or format version) never opens as a vault record.
const AAD_CONTEXT: &[u8] = b"graph-gateway vault record v1\0";

/// Where the vault persists, and the keys to do it with.
pub(super) struct Store {
    path: PathBuf,
    keyring: Keyring,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct VaultFile {
    version: u32,
    key_id: String,
    records: Vec<Record>,
}

/// One sealed token: metadata in the clear, the value sealed. The same
/// record is a value of the Redis backend's hash (`vault/redis.rs`), where it
/// always carries its `key_id`.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Record {
    pub(super) name: String,
    kind: TokenKind,
    businesses: Vec<String>,
    assets: Vec<String>,
    expires_at: Option<u64>,
    /// In the file: set only when it differs from the file's `key_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) key_id: Option<String>,
    nonce: String,
    ciphertext: String,
}

/// What the associated data covers, serialized as JSON in this field order.
#[derive(serde::Serialize)]
struct Bound<'a> {
    name: &'a str,
    kind: TokenKind,
    businesses: &'a [String],
    assets: &'a [String],
    expires_at: Option<u64>,
}

// === impl Store ===

impl Store {
    pub(super) fn new(path: PathBuf, keyring: Keyring) -> Self {
        Self { path, keyring }
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// The id of the key new writes are sealed with.
    pub(super) fn key_id(&self) -> &str {
        self.keyring.current_id()
    }

    /// The stored entries; none when the file does not exist yet.
    pub(super) fn load(&self) -> Result<Vec<TokenEntry>, VaultError> {
        let bytes = match fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.storage(format_args!("cannot read: {e}"))),
        };
        decode(&self.keyring, &bytes).map_err(|e| match e {
            VaultError::Storage(why) => self.storage(why),
            VaultError::Key(why) => {
                VaultError::Key(format!("vault file {}: {why}", self.path.display()))
            }
            other => other,
        })
    }

    /// Writes `entries`, from synchronous code (startup).
    pub(super) fn save_blocking(&self, entries: &Entries) -> Result<(), VaultError> {
        let bytes = encode(&self.keyring, entries)?;
        write_atomic(&self.path, &bytes)
            .map_err(|e| self.storage(format_args!("cannot write: {e}")))
    }

    /// Writes `entries`, off the async workers.
    pub(super) async fn save(&self, entries: &Entries) -> Result<(), VaultError> {
        let bytes = encode(&self.keyring, entries)?;
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || write_atomic(&path, &bytes))
            .await
            .map_err(|e| self.storage(format_args!("write task failed: {e}")))?
            .map_err(|e| self.storage(format_args!("cannot write: {e}")))
    }

    fn storage(&self, why: impl std::fmt::Display) -> VaultError {
        VaultError::Storage(format!("vault file {}: {why}", self.path.display()))
    }
}

/// `entry` sealed with the keyring's active key; the record names the key.
pub(super) fn seal_record(keyring: &Keyring, entry: &TokenEntry) -> Result<Record, VaultError> {
    let aad = associated_data(&Bound {
        name: &entry.name,
        kind: entry.kind,
        businesses: &entry.businesses,
        assets: &entry.assets,
        expires_at: entry.expires_at,
    })?;
    let sealed = keyring.seal(&aad, entry.secret.expose().as_bytes())?;
    Ok(Record {
        name: entry.name.clone(),
        kind: entry.kind,
        businesses: entry.businesses.clone(),
        assets: entry.assets.clone(),
        expires_at: entry.expires_at,
        key_id: Some(sealed.key_id),
        nonce: STANDARD.encode(sealed.nonce),
        ciphertext: STANDARD.encode(&sealed.ciphertext),
    })
}

/// The file's bytes for `entries`, every value freshly sealed.
fn encode(keyring: &Keyring, entries: &Entries) -> Result<Vec<u8>, VaultError> {
    let file_key = keyring.current_id();
    let records = entries
        .values()
        .map(|entry| {
            let mut record = seal_record(keyring, entry)?;
            if record.key_id.as_deref() == Some(file_key) {
                record.key_id = None;
            }
            Ok(record)
        })
        .collect::<Result<Vec<_>, VaultError>>()?;
    let file = VaultFile {
        version: VERSION,
        key_id: file_key.to_string(),
        records,
    };
    let mut bytes = serde_json::to_vec_pretty(&file)
        .map_err(|e| VaultError::Storage(format!("cannot encode: {e}")))?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// The entries in a file's bytes. `Storage` for a malformed file, `Key` for a
/// record that does not decrypt.
fn decode(keyring: &Keyring, bytes: &[u8]) -> Result<Vec<TokenEntry>, VaultError> {
    // Read the version alone first, so a newer file gets a clear message
    // rather than an unknown-field error.
    #[derive(serde::Deserialize)]
    struct Version {
        version: u32,
    }
    let Version { version } = serde_json::from_slice(bytes)
        .map_err(|e| VaultError::Storage(format!("not a vault file: {e}")))?;
    if version != VERSION {
        return Err(VaultError::Storage(format!(
            "version {version} is not supported (this build reads version {VERSION})"
        )));
    }
    let file: VaultFile = serde_json::from_slice(bytes)
        .map_err(|e| VaultError::Storage(format!("malformed: {e}")))?;

    let mut names = HashSet::new();
    let mut entries = Vec::with_capacity(file.records.len());
    for record in file.records {
        if !names.insert(record.name.clone()) {
            return Err(VaultError::Storage(format!(
                "record {:?} appears twice",
                record.name
            )));
        }
        entries.push(open_record(keyring, &file.key_id, record)?);
    }
    Ok(entries)
}

/// The entry a record seals; `file_key` is the key of a record naming none.
pub(super) fn open_record(
    keyring: &Keyring,
    file_key: &str,
    record: Record,
) -> Result<TokenEntry, VaultError> {
    let name = &record.name;
    let malformed = |what: &str| VaultError::Storage(format!("record {name:?}: {what}"));
    let nonce: [u8; NONCE_LEN] = STANDARD
        .decode(&record.nonce)
        .ok()
        .and_then(|n| n.try_into().ok())
        .ok_or_else(|| malformed("nonce is not 24 bytes of base64"))?;
    let ciphertext = STANDARD
        .decode(&record.ciphertext)
        .map_err(|_| malformed("ciphertext is not base64"))?;
    let aad = associated_data(&Bound {
        name,
        kind: record.kind,
        businesses: &record.businesses,
        assets: &record.assets,
        expires_at: record.expires_at,
    })?;
    let key_id = record.key_id.as_deref().unwrap_or(file_key);
    let plaintext = keyring
        .open(key_id, &nonce, &aad, &ciphertext)
        .map_err(|e| {
            VaultError::Key(match e {
                OpenError::UnknownKey => {
                    format!("record {name:?} is sealed with key {key_id:?}, which is not loaded")
                }
                OpenError::Rejected => format!(
                "record {name:?} does not decrypt: the vault key is wrong, or the file was altered"
            ),
            })
        })?;
    let value = std::str::from_utf8(&plaintext).map_err(|_| {
        VaultError::Key(format!(
            "record {name:?} decrypts to something that is not text"
        ))
    })?;
    let entry = TokenEntry {
        name: record.name.clone(),
        kind: record.kind,
        businesses: record.businesses,
        assets: record.assets,
        secret: Secret::new(value),
        expires_at: record.expires_at,
    };
    check_entry(&entry).map_err(|why| VaultError::Storage(format!("record {name:?}: {why}")))?;
    Ok(entry)
}

fn associated_data(bound: &Bound<'_>) -> Result<Vec<u8>, VaultError> {
    let mut aad = AAD_CONTEXT.to_vec();
    serde_json::to_writer(&mut aad, bound)
        .map_err(|e| VaultError::Storage(format!("cannot encode record metadata: {e}")))?;
    Ok(aad)
}

/// Writes `bytes` to `path` via a synced temporary file and a rename.
fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"))?;
    fs::create_dir_all(dir)?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(
        ".{}.{:016x}.tmp",
        std::process::id(),
        rand::random::<u64>()
    ));
    let tmp = dir.join(tmp_name);

    let written = (|| {
        let mut file = create_private(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)
    })();
    if written.is_err() {
        // Best effort: the original error is the one worth reporting.
        let _ = fs::remove_file(&tmp);
    }
    written?;
    sync_dir(dir);
    Ok(())
}

/// A new file only its owner can read.
#[cfg(unix)]
fn create_private(path: &Path) -> io::Result<fs::File> {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    // The umask can only narrow 0600, but be exact.
    file.set_permissions(fs::Permissions::from_mode(0o600))?;
    Ok(file)
}

#[cfg(not(unix))]
fn create_private(path: &Path) -> io::Result<fs::File> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

/// Makes the rename durable (unix); best effort, as some filesystems refuse.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}
