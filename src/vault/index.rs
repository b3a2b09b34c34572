//! The in-memory index every vault serves `select` from: the entries by
//! name, plus lookup tables rebuilt on every change (changes are rare,
//! selections are on every call), plus each token's state (health from
//! debug_token, last use), kept across rebuilds while its value is unchanged.
//! `select` skips tokens known to be invalid.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use super::health::{now_secs, HealthState, TokenHealth, TokenStatus};
use super::{TokenEntry, TokenKind, TokenQuery, VaultError};

/// Entries by name; name order is the tie-break order.
pub(super) type Entries = BTreeMap<String, Arc<TokenEntry>>;

/// The index.
pub(super) struct Index {
    current: RwLock<Snapshot>,
    /// Serializes changes, so two concurrent puts cannot both start from the
    /// same entries and lose one (held across the file write).
    writer: tokio::sync::Mutex<()>,
}

/// A change in progress: a copy of the entries to edit, then `install`.
pub(super) struct Txn<'a> {
    index: &'a Index,
    _writer: tokio::sync::MutexGuard<'a, ()>,
    pub(super) entries: Entries,
}

/// One consistent state of the vault with its lookup tables.
#[derive(Default)]
struct Snapshot {
    entries: Entries,
    /// Business id -> the tokens serving it, best first.
    by_business: HashMap<String, Vec<Arc<TokenEntry>>>,
    /// Asset id -> the tokens serving it, best first.
    by_asset: HashMap<String, Vec<Arc<TokenEntry>>>,
    /// The only non-page token, when there is exactly one.
    sole: Option<Arc<TokenEntry>>,
    /// Name -> health and last use.
    states: HashMap<String, Arc<TokenState>>,
}

/// What the index knows of a token beyond its entry.
#[derive(Default)]
struct TokenState {
    /// Seconds since the epoch; 0: never.
    last_used: AtomicU64,
    /// `health.state == Invalid`, readable without the lock.
    invalid: AtomicBool,
    health: Mutex<TokenHealth>,
}

// === impl Index ===

impl Index {
    /// An index of `entries`; a later entry replaces an earlier one of the
    /// same name.
    pub(super) fn new(entries: impl IntoIterator<Item = TokenEntry>) -> Self {
        let entries = entries
            .into_iter()
            .map(|e| (e.name.clone(), Arc::new(e)))
            .collect();
        Self {
            current: RwLock::new(Snapshot::build(entries, None)),
            writer: tokio::sync::Mutex::new(()),
        }
    }

    /// Picks the token for a call, skipping tokens known to be invalid;
    /// allocates only on failure.
    pub(super) fn select(&self, query: &TokenQuery<'_>) -> Result<Arc<TokenEntry>, VaultError> {
        let snap = self.current.read();
        let mut invalid: Option<&Arc<TokenEntry>> = None;
        let empty: &[Arc<TokenEntry>] = &[];
        let by_asset = query
            .asset
            .and_then(|asset| snap.by_asset.get(asset))
            .map_or(empty, Vec::as_slice);
        if let Some(found) = snap.first_usable(by_asset, query.kind, &mut invalid) {
            return Ok(found);
        }
        let candidates = match query.business {
            Some(business) => snap.by_business.get(business).map_or(empty, Vec::as_slice),
            None => snap.sole.as_slice(),
        };
        if let Some(found) = snap.first_usable(candidates, query.kind, &mut invalid) {
            return Ok(found);
        }
        Err(match invalid {
            Some(token) => VaultError::Invalid(format!(
                "{}: vault token {} is invalid ({}); replace it (VaultService.PutToken) or re-check it \
                 (VaultService.CheckToken)",
                describe(query),
                token.name,
                snap.detail(&token.name)
            )),
            None => VaultError::NoToken(describe(query)),
        })
    }

    /// A token's health and last use.
    pub(super) fn status(&self, name: &str) -> Option<TokenStatus> {
        let state = self.current.read().states.get(name).cloned()?;
        let last_used = state.last_used.load(Ordering::Relaxed);
        let health = state.health.lock().clone();
        Some(TokenStatus {
            health,
            last_used: (last_used > 0).then_some(last_used),
        })
    }

    /// Records a token's health; an invalid token is skipped by `select`.
    pub(super) fn set_health(&self, name: &str, health: TokenHealth) {
        let snap = self.current.read();
        if let Some(state) = snap.states.get(name) {
            state
                .invalid
                .store(health.state == HealthState::Invalid, Ordering::Relaxed);
            *state.health.lock() = health;
        }
    }

    /// Every entry, in name order.
    pub(super) fn entries(&self) -> Vec<Arc<TokenEntry>> {
        self.current.read().entries.values().cloned().collect()
    }

    /// How many entries there are.
    pub(super) fn len(&self) -> usize {
        self.current.read().entries.len()
    }

    /// Runs `f` on the current entries.
    pub(super) fn with_entries<R>(&self, f: impl FnOnce(&Entries) -> R) -> R {
        f(&self.current.read().entries)
    }

    /// Starts a change; waits for any change in progress.
    pub(super) async fn begin(&self) -> Txn<'_> {
        let writer = self.writer.lock().await;
        let entries = self.current.read().entries.clone();
        Txn {
            index: self,
            _writer: writer,
            entries,
        }
    }
}

// === impl Txn ===

impl Txn<'_> {
    /// Makes the edited entries the ones `select` sees. Tokens whose value
    /// is unchanged keep their health and last use.
    pub(super) fn install(self) {
        let snapshot = {
            let previous = self.index.current.read();
            Snapshot::build(self.entries, Some(&previous))
        };
        *self.index.current.write() = snapshot;
    }
}

// === impl Snapshot ===

impl Snapshot {
    fn build(entries: Entries, previous: Option<&Snapshot>) -> Self {
        let states = entries
            .values()
            .map(|entry| {
                let kept = previous.and_then(|p| {
                    let same = p
                        .entries
                        .get(&entry.name)
                        .is_some_and(|old| old.secret == entry.secret);
                    same.then(|| p.states.get(&entry.name).cloned()).flatten()
                });
                (entry.name.clone(), kept.unwrap_or_default())
            })
            .collect();
        let mut by_business: HashMap<String, Vec<Arc<TokenEntry>>> = HashMap::new();
        let mut by_asset: HashMap<String, Vec<Arc<TokenEntry>>> = HashMap::new();
        // Entries come in name order, so after the stable sort by kind below
        // each list is ordered by (kind preference, name).
        for entry in entries.values() {
            for business in &entry.businesses {
                push_once(by_business.entry(business.clone()).or_default(), entry);
            }
            for asset in &entry.assets {
                push_once(by_asset.entry(asset.clone()).or_default(), entry);
            }
        }
        for tokens in by_business.values_mut().chain(by_asset.values_mut()) {
            tokens.sort_by_key(|e| preference(e.kind));
        }
        let mut non_page = entries.values().filter(|e| e.kind != TokenKind::Page);
        let sole = match (non_page.next(), non_page.next()) {
            (Some(only), None) => Some(only.clone()),
            _ => None,
        };
        Self {
            entries,
            by_business,
            by_asset,
            sole,
            states,
        }
    }

    /// The first token of `tokens` of the kind asked for that is not known
    /// to be invalid (its last use is noted); remembers the first invalid one.
    fn first_usable<'a>(
        &'a self,
        tokens: &'a [Arc<TokenEntry>],
        kind: Option<TokenKind>,
        invalid: &mut Option<&'a Arc<TokenEntry>>,
    ) -> Option<Arc<TokenEntry>> {
        for entry in tokens.iter().filter(|e| kind.is_none_or(|k| e.kind == k)) {
            match self.states.get(&entry.name) {
                Some(state) if state.invalid.load(Ordering::Relaxed) => {
                    invalid.get_or_insert(entry);
                }
                state => {
                    if let Some(state) = state {
                        state.last_used.store(now_secs(), Ordering::Relaxed);
                    }
                    return Some(entry.clone());
                }
            }
        }
        None
    }

    /// Why a token is invalid, for messages.
    fn detail(&self, name: &str) -> String {
        self.states
            .get(name)
            .map(|s| s.health.lock().detail.clone())
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| "Graph's debug_token says so".to_string())
    }
}

/// Lower is preferred: system users act for a business most reliably.
fn preference(kind: TokenKind) -> u8 {
    match kind {
        TokenKind::SystemUser => 0,
        TokenKind::User => 1,
        TokenKind::Page => 2,
    }
}

/// Adds `entry` unless it is already last (an id listed twice in one entry).
fn push_once(tokens: &mut Vec<Arc<TokenEntry>>, entry: &Arc<TokenEntry>) {
    if !tokens.last().is_some_and(|last| Arc::ptr_eq(last, entry)) {
        tokens.push(entry.clone());
    }
}

/// What was asked, for `NoToken`: ids and kind only, never a token.
fn describe(query: &TokenQuery<'_>) -> String {
    let mut what = match (query.asset, query.business) {
        (Some(asset), Some(business)) => format!("asset {asset} (business {business})"),
        (Some(asset), None) => format!("asset {asset}"),
        (None, Some(business)) => format!("business {business}"),
        (None, None) => "a call naming no business or asset (no single default token)".to_string(),
    };
    if let Some(kind) = query.kind {
        what.push_str(&format!(" with a {kind} token"));
    }
    what
}
