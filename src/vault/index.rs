//! The in-memory index both vaults serve `select` from: the entries by name,
//! plus lookup tables rebuilt on every change (changes are rare, selections
//! are on every call).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use parking_lot::RwLock;

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
            current: RwLock::new(Snapshot::build(entries)),
            writer: tokio::sync::Mutex::new(()),
        }
    }

    /// Picks the token for a call; allocates only on failure.
    pub(super) fn select(&self, query: &TokenQuery<'_>) -> Result<Arc<TokenEntry>, VaultError> {
        let snap = self.current.read();
        let fits = |e: &&Arc<TokenEntry>| query.kind.is_none_or(|kind| e.kind == kind);
        let best = |table: &HashMap<String, Vec<Arc<TokenEntry>>>, id: &str| {
            table
                .get(id)
                .and_then(|tokens| tokens.iter().find(fits))
                .cloned()
        };
        if let Some(found) = query.asset.and_then(|asset| best(&snap.by_asset, asset)) {
            return Ok(found);
        }
        let found = match query.business {
            Some(business) => best(&snap.by_business, business),
            None => snap.sole.as_ref().filter(fits).cloned(),
        };
        found.ok_or_else(|| VaultError::NoToken(describe(query)))
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
    /// Makes the edited entries the ones `select` sees.
    pub(super) fn install(self) {
        let snapshot = Snapshot::build(self.entries);
        *self.index.current.write() = snapshot;
    }
}

// === impl Snapshot ===

impl Snapshot {
    fn build(entries: Entries) -> Self {
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
        }
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
