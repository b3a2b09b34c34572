//! The token vault: named Graph tokens, each with the businesses (and assets)
//! it serves, stored encrypted at rest. The engine asks it for a token by
//! business or asset; token values never leave the process.
//!
//! CONTRACT (used by the engine; keep these signatures):
//! - `TokenKind`, `TokenEntry`, `TokenQuery`, `VaultError` as below.
//! - `trait Vault`: `select` is synchronous and served from memory (hot path);
//!   `put`/`remove`/`list` are async (a Redis backend comes later).
//! - `FileVault::open(&VaultConfig, &dyn EnvSource)` loads the encrypted file
//!   (if any), merges the seed file (seed wins by name), persists, and returns
//!   the vault. The key comes from `GRAPH_GATEWAY_VAULT_KEY`, else
//!   `vault.key_file`, else `vault.key`.
//! - `MemoryVault::new(entries)` for the sandbox and tests.
//!
//! Selection (`select`): with `kind`, only tokens of that kind. A token whose
//! `assets` hold the asset wins; else the tokens whose `businesses` hold the
//! business, system user before user before page, then by name. A query that
//! names neither (or an asset nobody holds, and no business) falls back to the
//! only non-page token, when there is exactly one (single-tenant convenience).
//!
//! The file (`vault.file`) is JSON; only token values are encrypted, with
//! XChaCha20-Poly1305, each record's metadata bound as associated data. See
//! `vault/store.rs` for the format. `vault.backend = "redis"` keeps the same
//! sealed records in Redis instead, shared by every replica
//! (`vault/redis.rs`); Redis never sees a token in the clear.
//!
//! Keys have ids (`vault/crypto.rs`): the active key seals, older keys
//! (`vault.old_keys`) still open, and `rotate_key` re-seals every record with
//! the active key. Token health from Graph's debug_token (`vault/health.rs`)
//! makes `select` skip tokens known to be invalid. VaultService, the admin
//! API, is in `grpc/vault.rs`.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{EnvSource, RedisConfig, VaultConfig};
use crate::secret::Secret;

use self::crypto::Keyring;
use self::index::{Index, Txn};
use self::store::Store;

mod crypto;
pub mod health;
mod index;
mod redis;
mod seed;
mod store;

pub use self::health::{HealthState, TokenHealth, TokenStatus};
pub use self::redis::RedisVault;

/// What kind of token an entry holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    /// A business system user's token (preferred for business calls).
    SystemUser,
    /// A person's user token.
    User,
    /// A page token (page agency grants need one).
    Page,
}

/// One named token.
#[derive(Clone, Debug)]
pub struct TokenEntry {
    /// The token's name: its identity in logs, cache keys and quota keys.
    pub name: String,
    /// What kind of token it is.
    pub kind: TokenKind,
    /// Business ids it serves.
    pub businesses: Vec<String>,
    /// Asset ids it serves directly (e.g. the page of a page token).
    pub assets: Vec<String>,
    /// The token value.
    pub secret: Secret,
    /// Expiry, seconds since the epoch, when known.
    pub expires_at: Option<u64>,
}

/// What the engine knows when it needs a token.
#[derive(Clone, Debug, Default)]
pub struct TokenQuery<'a> {
    /// The business the call acts for.
    pub business: Option<&'a str>,
    /// The asset the call targets.
    pub asset: Option<&'a str>,
    /// A required kind (page agency grants need a page token).
    pub kind: Option<TokenKind>,
}

/// Why no token could be had.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// No token serves the business or asset.
    #[error("no vault token serves {0}")]
    NoToken(String),
    /// The vault file or seed could not be read or written.
    #[error("vault storage: {0}")]
    Storage(String),
    /// The vault key is missing or wrong, or a record fails to decrypt.
    #[error("vault key: {0}")]
    Key(String),
    /// Every token that could serve the call is known to be invalid.
    #[error("{0}")]
    Invalid(String),
}

/// What a key rotation did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rotation {
    /// The key every record is now sealed with; None when nothing is at rest
    /// (a memory vault).
    pub key_id: Option<String>,
    /// Records re-sealed by this rotation.
    pub rewritten: usize,
    /// Records in the vault.
    pub total: usize,
}

/// The vault as the engine sees it.
#[async_trait::async_trait]
pub trait Vault: Send + Sync + 'static {
    /// Picks the token for a call. Served from memory.
    fn select(&self, query: &TokenQuery<'_>) -> Result<Arc<TokenEntry>, VaultError>;
    /// Adds or replaces a token by name.
    async fn put(&self, entry: TokenEntry) -> Result<(), VaultError>;
    /// Removes a token by name; true when it existed.
    async fn remove(&self, name: &str) -> Result<bool, VaultError>;
    /// Every entry (callers must not expose `secret`).
    fn entries(&self) -> Vec<Arc<TokenEntry>>;
    /// A token's health (debug_token) and last use; None for an unknown name.
    fn status(&self, _name: &str) -> Option<TokenStatus> {
        None
    }
    /// Records a token's health: a token known to be invalid is no longer
    /// selected.
    fn set_health(&self, _name: &str, _health: TokenHealth) {}
    /// Re-seals every stored token with the active key (key rotation).
    async fn rotate_key(&self) -> Result<Rotation, VaultError> {
        Ok(Rotation::default())
    }
    /// Where the tokens are kept: "memory", "file" or "redis".
    fn backend(&self) -> &'static str {
        "memory"
    }
}

/// Opens the vault the configuration names: Redis (`vault.backend =
/// "redis"`, shared by every replica), else the encrypted file (or memory,
/// when `vault.file` is unset).
pub async fn open(
    cfg: &VaultConfig,
    redis: &RedisConfig,
    env: &dyn EnvSource,
) -> Result<Arc<dyn Vault>, VaultError> {
    if cfg.backend == "redis" {
        let link = crate::redis_link::RedisLink::from_config(redis)
            .map_err(VaultError::Storage)?
            .ok_or_else(|| {
                VaultError::Storage("vault.backend = \"redis\" needs redis.url".to_string())
            })?;
        let timeout = Duration::from_millis(redis.timeout_ms).max(Duration::from_secs(2));
        let vault = RedisVault::open(cfg, link, &redis.key_prefix, timeout, env).await?;
        Ok(vault)
    } else {
        Ok(Arc::new(FileVault::open(cfg, env)?))
    }
}

/// A vault held in memory only: the sandbox's, and tests'.
pub struct MemoryVault {
    shared: Shared,
}

/// The vault of a running gateway: the in-memory index, persisted to the
/// encrypted `vault.file` when one is configured (else memory only).
pub struct FileVault {
    shared: Shared,
}

/// What both vaults are: the index that serves `select`, and where changes
/// are persisted, if anywhere.
struct Shared {
    index: Index,
    store: Option<Store>,
}

// === impl TokenKind ===

impl TokenKind {
    /// The name used in files and messages (`system_user`, `user`, `page`).
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::SystemUser => "system_user",
            TokenKind::User => "user",
            TokenKind::Page => "page",
        }
    }

    /// Parses `as_str`'s names.
    pub fn parse(name: &str) -> Option<TokenKind> {
        match name {
            "system_user" => Some(TokenKind::SystemUser),
            "user" => Some(TokenKind::User),
            "page" => Some(TokenKind::Page),
            _ => None,
        }
    }
}

impl fmt::Display for TokenKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// === impl MemoryVault ===

impl MemoryVault {
    /// A vault of these entries (a later entry replaces an earlier one of the
    /// same name).
    pub fn new(entries: Vec<TokenEntry>) -> Self {
        Self {
            shared: Shared {
                index: Index::new(entries),
                store: None,
            },
        }
    }
}

#[async_trait::async_trait]
impl Vault for MemoryVault {
    fn select(&self, query: &TokenQuery<'_>) -> Result<Arc<TokenEntry>, VaultError> {
        self.shared.index.select(query)
    }

    async fn put(&self, entry: TokenEntry) -> Result<(), VaultError> {
        self.shared.put(entry).await
    }

    async fn remove(&self, name: &str) -> Result<bool, VaultError> {
        self.shared.remove(name).await
    }

    fn entries(&self) -> Vec<Arc<TokenEntry>> {
        self.shared.index.entries()
    }

    fn status(&self, name: &str) -> Option<TokenStatus> {
        self.shared.index.status(name)
    }

    fn set_health(&self, name: &str, health: TokenHealth) {
        self.shared.index.set_health(name, health);
    }

    async fn rotate_key(&self) -> Result<Rotation, VaultError> {
        self.shared.rotate().await
    }
}

impl fmt::Debug for MemoryVault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryVault")
            .field("tokens", &self.shared.index.len())
            .finish()
    }
}

// === impl FileVault ===

impl FileVault {
    /// Loads the encrypted vault file (if configured and present), merges the
    /// seed file over it (seed wins by name), writes the result back, and
    /// serves it. A vault file needs a key: `GRAPH_GATEWAY_VAULT_KEY`, else
    /// `vault.key_file`, else `vault.key`.
    pub fn open(cfg: &VaultConfig, env: &dyn EnvSource) -> Result<FileVault, VaultError> {
        let seeded = match &cfg.seed_file {
            Some(path) => seed::load(path)?,
            None => Vec::new(),
        };
        let store = match &cfg.file {
            Some(path) => Some(Store::new(path.clone(), Keyring::from_config(cfg, env)?)),
            None => None,
        };
        let stored = match &store {
            Some(store) => store.load()?,
            None => Vec::new(),
        };
        let (stored_count, seeded_count) = (stored.len(), seeded.len());
        // Later entries win in `Index::new`, so the seed goes last.
        let index = Index::new(stored.into_iter().chain(seeded));
        if let Some(store) = &store {
            index.with_entries(|entries| store.save_blocking(entries))?;
        }
        tracing::info!(
            tokens = index.len(),
            from_file = stored_count,
            from_seed = seeded_count,
            file = ?cfg.file,
            "vault opened"
        );
        Ok(FileVault {
            shared: Shared { index, store },
        })
    }

    /// The encrypted file this vault persists to, if any.
    pub fn path(&self) -> Option<&Path> {
        self.shared.store.as_ref().map(Store::path)
    }
}

#[async_trait::async_trait]
impl Vault for FileVault {
    fn select(&self, query: &TokenQuery<'_>) -> Result<Arc<TokenEntry>, VaultError> {
        self.shared.index.select(query)
    }

    async fn put(&self, entry: TokenEntry) -> Result<(), VaultError> {
        self.shared.put(entry).await
    }

    async fn remove(&self, name: &str) -> Result<bool, VaultError> {
        self.shared.remove(name).await
    }

    fn entries(&self) -> Vec<Arc<TokenEntry>> {
        self.shared.index.entries()
    }

    fn status(&self, name: &str) -> Option<TokenStatus> {
        self.shared.index.status(name)
    }

    fn set_health(&self, name: &str, health: TokenHealth) {
        self.shared.index.set_health(name, health);
    }

    async fn rotate_key(&self) -> Result<Rotation, VaultError> {
        self.shared.rotate().await
    }

    fn backend(&self) -> &'static str {
        if self.shared.store.is_some() {
            "file"
        } else {
            "memory"
        }
    }
}

impl fmt::Debug for FileVault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileVault")
            .field("tokens", &self.shared.index.len())
            .field("file", &self.path())
            .finish()
    }
}

// === impl Shared ===

impl Shared {
    async fn put(&self, entry: TokenEntry) -> Result<(), VaultError> {
        check_entry(&entry).map_err(VaultError::Storage)?;
        let (name, kind) = (entry.name.clone(), entry.kind);
        let mut txn = self.index.begin().await;
        txn.entries.insert(name.clone(), Arc::new(entry));
        self.commit(txn).await?;
        tracing::info!(token = %name, %kind, "vault: token stored");
        Ok(())
    }

    async fn remove(&self, name: &str) -> Result<bool, VaultError> {
        let mut txn = self.index.begin().await;
        if txn.entries.remove(name).is_none() {
            return Ok(false);
        }
        self.commit(txn).await?;
        tracing::info!(token = %name, "vault: token removed");
        Ok(true)
    }

    /// Persists first, then serves: a change that cannot be written is not
    /// applied, so memory never runs ahead of the file. (If the caller is
    /// cancelled mid-write, the write still finishes on its blocking thread
    /// but memory keeps the old state until the next change rewrites the
    /// file from memory.)
    /// Re-seals every record with the active key: the file is rewritten
    /// whole, so one write rotates it.
    async fn rotate(&self) -> Result<Rotation, VaultError> {
        let txn = self.index.begin().await;
        let total = txn.entries.len();
        let Some(store) = &self.store else {
            return Ok(Rotation {
                key_id: None,
                rewritten: 0,
                total,
            });
        };
        store.save(&txn.entries).await?;
        let key_id = store.key_id().to_string();
        tracing::info!(target: "vault", key_id = %key_id, records = total, "vault file re-sealed with the active key");
        Ok(Rotation {
            key_id: Some(key_id),
            rewritten: total,
            total,
        })
    }

    async fn commit(&self, txn: Txn<'_>) -> Result<(), VaultError> {
        if let Some(store) = &self.store {
            store.save(&txn.entries).await?;
        }
        txn.install();
        Ok(())
    }
}

/// Checks that a vault key (base64 of 32 bytes) is well formed; the message
/// never quotes the key.
pub fn check_key(key: &Secret) -> Result<(), String> {
    crate::secret::check_vault_key(key)
}

/// What every entry must have, wherever it comes from.
fn check_entry(entry: &TokenEntry) -> Result<(), String> {
    if entry.name.trim().is_empty() {
        return Err("a token needs a name".to_string());
    }
    if entry.secret.is_empty() {
        return Err(format!("token {:?} has an empty value", entry.name));
    }
    Ok(())
}

impl From<VaultError> for crate::error::GatewayError {
    fn from(e: VaultError) -> Self {
        match e {
            VaultError::NoToken(_) => Self::NoToken(e.to_string()),
            VaultError::Invalid(_) => Self::TokenInvalid(e.to_string()),
            other => Self::Internal(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests;
