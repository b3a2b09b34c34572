//! Caller policy: which businesses, and within them which assets, each
//! authenticated caller may act on, read only or read and write, through
//! which services. Checked by the engine right after a call is planned,
//! before the cache, the vault and Graph, so a denied call reads no cached
//! data and sends nothing upstream; workflows check every step they will run
//! before the first one runs.
//!
//! What a call touches comes from the proto declarations, read once at
//! start-up into the route table (`crate::routes`): the business it
//! acts for (`(field).business`), every asset id it names (`(field).asset`),
//! and whether it acts on the business itself (`(graph).acts_on_business`:
//! creating, claiming or removing an asset, agencies and clients,
//! asset-group membership and contents, the business's own lists).
//!
//! A caller may do what its `[[policy]]` grants allow:
//! - `services`: empty covers every gateway service (VaultService is for
//!   `admin` callers, never policy); workflows are checked against
//!   WorkflowService, not the services of their steps;
//! - `businesses`: the business the call acts for (the request's business
//!   field, else the owner the gateway learned from lists) must be listed;
//!   `["*"]` also covers calls whose business is not known;
//! - a grant without asset lists is **business-wide**: it covers every call
//!   for its businesses, including those that act on the business itself;
//! - a grant with asset lists (`ad_accounts`, `pages`, `apps`, `pixels`,
//!   `catalogs`, `instagram_accounts`, `asset_groups`, `custom_audiences`,
//!   `obo_requests`, `sharing_requests`, `custom_conversions`,
//!   `offline_conversion_data_sets`, `whatsapp_business_accounts`) is
//!   **scoped**: it covers a call only
//!   when the call names at least one asset, does not act on the business
//!   itself, and every asset it names is listed by a scoped grant (of any
//!   type list: an empty list of one type never means "any");
//! - `access`: "read" allows reads only; "write" allows mutations too, and
//!   every grant that a call relies on must have enough of it.
//! - `graph_paths`: the governed pass-through (GraphPassthroughService) is
//!   allowed only by grants that list the call, "METHOD /path/template"
//!   (`*` for any method), the template as the caller writes it; every other
//!   rule applies too (the path's ids are assets of undeclared type, and a
//!   path naming the business acts on the business itself).
//!
//! User ids, other businesses (an agency, a client) and other ids are not
//! assets: they narrow nothing. Anything no grant allows is denied.

use std::collections::{HashMap, HashSet};

// --- the grants (`[[policy]]` tables, read by `config`) ----------------------

/// One grant. A caller may do what any of its grants allows.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyRule {
    /// The caller (a name of `[[auth.callers]]`).
    pub caller: String,
    /// Business ids the caller may act for; `["*"]`: every business, and
    /// calls whose business the gateway cannot tell.
    pub businesses: Vec<String>,
    /// Asset lists: a grant with any of them is scoped to the assets they
    /// name (every asset a call names must be listed, and calls that act on
    /// the business itself need a grant without lists). Ad accounts
    /// (`act_123` or `123`).
    pub ad_accounts: Vec<String>,
    /// Pages.
    pub pages: Vec<String>,
    /// Apps.
    pub apps: Vec<String>,
    /// Pixels.
    pub pixels: Vec<String>,
    /// Product catalogs.
    pub catalogs: Vec<String>,
    /// Instagram accounts.
    pub instagram_accounts: Vec<String>,
    /// Business asset groups.
    pub asset_groups: Vec<String>,
    /// Custom audiences.
    pub custom_audiences: Vec<String>,
    /// On-behalf-of requests.
    pub obo_requests: Vec<String>,
    /// Audience sharing requests (relationships).
    pub sharing_requests: Vec<String>,
    /// Custom conversions.
    pub custom_conversions: Vec<String>,
    /// Offline conversion data sets.
    pub offline_conversion_data_sets: Vec<String>,
    /// WhatsApp Business accounts.
    pub whatsapp_business_accounts: Vec<String>,
    /// Read only, or read and write.
    pub access: PolicyAccess,
    /// Full service names the grant covers; empty: every gateway service
    /// (VaultService needs `admin` instead).
    pub services: Vec<String>,
    /// The governed pass-through (GraphPassthroughService.CallGraph): the
    /// calls the grant allows, each "METHOD /path/template" ("GET", "POST",
    /// "DELETE" or "*"), the template exactly as the caller sends it. Empty:
    /// no pass-through call, whatever else the grant allows.
    pub graph_paths: Vec<String>,
}

/// What a grant allows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyAccess {
    /// Reads only.
    #[default]
    Read,
    /// Reads and mutations.
    Write,
}

impl PolicyRule {
    /// Every asset list, by its key (`crate::policy::AssetType::LISTED`).
    pub fn asset_lists(&self) -> [(&'static str, &Vec<String>); 13] {
        [
            ("ad_accounts", &self.ad_accounts),
            ("pages", &self.pages),
            ("apps", &self.apps),
            ("pixels", &self.pixels),
            ("catalogs", &self.catalogs),
            ("instagram_accounts", &self.instagram_accounts),
            ("asset_groups", &self.asset_groups),
            ("custom_audiences", &self.custom_audiences),
            ("obo_requests", &self.obo_requests),
            ("sharing_requests", &self.sharing_requests),
            ("custom_conversions", &self.custom_conversions),
            (
                "offline_conversion_data_sets",
                &self.offline_conversion_data_sets,
            ),
            (
                "whatsapp_business_accounts",
                &self.whatsapp_business_accounts,
            ),
        ]
    }

    /// An asset list by its key, for the configuration reader.
    pub fn asset_list_mut(&mut self, key: &str) -> Option<&mut Vec<String>> {
        Some(match key {
            "ad_accounts" => &mut self.ad_accounts,
            "pages" => &mut self.pages,
            "apps" => &mut self.apps,
            "pixels" => &mut self.pixels,
            "catalogs" => &mut self.catalogs,
            "instagram_accounts" => &mut self.instagram_accounts,
            "asset_groups" => &mut self.asset_groups,
            "custom_audiences" => &mut self.custom_audiences,
            "obo_requests" => &mut self.obo_requests,
            "sharing_requests" => &mut self.sharing_requests,
            "custom_conversions" => &mut self.custom_conversions,
            "offline_conversion_data_sets" => &mut self.offline_conversion_data_sets,
            "whatsapp_business_accounts" => &mut self.whatsapp_business_accounts,
            _ => return None,
        })
    }
}

impl PolicyAccess {
    /// "read" or "write".
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyAccess::Read => "read",
            PolicyAccess::Write => "write",
        }
    }
}

// --- pass-through paths (`graph_paths`) --------------------------------------

/// One `graph_paths` entry: "GET /{business_id}/owned_whatsapp_business_accounts".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphPath {
    /// "GET", "POST", "DELETE", or "*" (any of them).
    pub method: String,
    /// The path template, as written.
    pub template: String,
}

/// One segment of a pass-through path template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathSegment {
    /// A literal edge name, e.g. "owned_pages".
    Literal(String),
    /// A placeholder `{name}`, filled with a Graph id; `act` when written
    /// `act_{name}` (an ad account: the id is sent after "act_").
    Id {
        /// The placeholder's name.
        name: String,
        /// Written after a literal "act_".
        act: bool,
    },
}

/// Segments a pass-through template may have.
pub const MAX_PATH_SEGMENTS: usize = 4;
/// Characters of a literal segment or a placeholder name.
const MAX_SEGMENT_CHARS: usize = 64;

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_SEGMENT_CHARS
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Parses a pass-through path template: "/" then 1 to [`MAX_PATH_SEGMENTS`]
/// segments separated by "/", each a literal of lowercase letters, digits
/// and '_', or a placeholder `{name}` (optionally `act_{name}`); the first
/// is a placeholder (a node id: no "/me", "/oauth/...", "/debug_token" or
/// batch "/"); placeholder names are unique; no literal names a token edge
/// (contains "token"). The message says what is wrong, quoting nothing of
/// the caller's text.
pub fn parse_template(template: &str) -> Result<Vec<PathSegment>, String> {
    let Some(rest) = template.strip_prefix('/') else {
        return Err("must start with \"/\"".to_string());
    };
    let parts: Vec<&str> = rest.split('/').collect();
    if parts.len() > MAX_PATH_SEGMENTS {
        return Err(format!("has more than {MAX_PATH_SEGMENTS} segments"));
    }
    let mut out = Vec::with_capacity(parts.len());
    let mut names = HashSet::new();
    for (i, part) in parts.iter().enumerate() {
        let (act, body) = match part.strip_prefix("act_") {
            Some(b) if b.starts_with('{') => (true, b),
            _ => (false, *part),
        };
        if let Some(name) = body.strip_prefix('{').and_then(|b| b.strip_suffix('}')) {
            if !is_name(name) || !name.starts_with(|c: char| c.is_ascii_lowercase()) {
                return Err(format!(
                    "segment {}: a placeholder is {{name}}, the name 1-{MAX_SEGMENT_CHARS} lowercase letters, digits and '_', starting with a letter",
                    i + 1
                ));
            }
            if !names.insert(name) {
                return Err(format!(
                    "segment {}: placeholder {{{name}}} is used twice",
                    i + 1
                ));
            }
            out.push(PathSegment::Id {
                name: name.to_string(),
                act,
            });
        } else {
            if i == 0 {
                return Err(
                    "must start with a node id placeholder, e.g. \"/{business_id}/...\" or \"/act_{ad_account_id}/...\""
                        .to_string(),
                );
            }
            if !is_name(part) {
                return Err(format!(
                    "segment {}: must be an edge name (1-{MAX_SEGMENT_CHARS} lowercase letters, digits and '_') or a {{placeholder}}",
                    i + 1
                ));
            }
            if part.contains("token") {
                return Err(format!(
                    "segment {}: token edges are never served by the pass-through",
                    i + 1
                ));
            }
            out.push(PathSegment::Literal(part.to_string()));
        }
    }
    Ok(out)
}

impl GraphPath {
    /// Parses "METHOD /template" (one space; METHOD is GET, POST, DELETE or
    /// "*").
    pub fn parse(entry: &str) -> Result<Self, String> {
        let (method, template) = entry
            .trim()
            .split_once(' ')
            .ok_or_else(|| "expected \"METHOD /path/template\", e.g. \"GET /{business_id}/owned_whatsapp_business_accounts\"".to_string())?;
        if !matches!(method, "GET" | "POST" | "DELETE" | "*") {
            return Err("the method must be GET, POST, DELETE or *".to_string());
        }
        let template = template.trim();
        parse_template(template).map_err(|e| format!("the path template {e}"))?;
        Ok(Self {
            method: method.to_string(),
            template: template.to_string(),
        })
    }
}

// --- evaluation ---------------------------------------------------------------

/// What an id in a request names (mirrors `graphgateway.v1.AssetType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AssetType {
    /// An ad account (kept as digits, without `act_`).
    AdAccount,
    /// A Facebook page.
    Page,
    /// An app.
    App,
    /// A pixel.
    Pixel,
    /// A product catalog.
    Catalog,
    /// An Instagram account.
    InstagramAccount,
    /// A business asset group.
    AssetGroup,
    /// A business-scoped user (not an asset).
    User,
    /// A custom audience.
    CustomAudience,
    /// An on-behalf-of request.
    OboRequest,
    /// An audience sharing request.
    SharingRequest,
    /// A business (not an asset): the one acted for, or another one.
    Business,
    /// A custom conversion.
    CustomConversion,
    /// An offline conversion data set.
    OfflineConversionDataSet,
    /// An asset of a type the request does not declare: matched against
    /// every list.
    AnyAsset,
    /// Not an asset of the business (a time zone, a funding source, ...).
    Other,
    /// A WhatsApp Business account.
    WhatsAppBusinessAccount,
}

/// One asset a call touches.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Asset {
    /// Its type.
    pub kind: AssetType,
    /// Its id (ad accounts as digits).
    pub id: String,
}

/// Every caller's grants.
#[derive(Debug, Default)]
pub struct Policy {
    by_caller: HashMap<String, Vec<Grant>>,
}

/// One `[[policy]]` grant.
#[derive(Debug)]
struct Grant {
    /// None: every business (`"*"`).
    businesses: Option<HashSet<String>>,
    /// The listed assets by type; empty: a business-wide grant.
    assets: HashMap<AssetType, HashSet<String>>,
    write: bool,
    services: HashSet<String>,
    /// Pass-through calls: (method or "*", template).
    graph_paths: HashSet<(String, String)>,
}

/// What a call wants to do.
#[derive(Clone, Debug, Default)]
pub struct Target<'a> {
    /// The service called, e.g. "graphgateway.v1.PageService".
    pub service: &'a str,
    /// The business the call acts for, when known.
    pub business: Option<&'a str>,
    /// The assets the request names (only asset types: see
    /// [`AssetType::is_asset`]).
    pub assets: Vec<Asset>,
    /// The call acts on the business itself: only a business-wide grant
    /// allows it.
    pub acts_on_business: bool,
    /// A mutation.
    pub write: bool,
    /// A pass-through call: (method, path template); only grants listing
    /// it in `graph_paths` allow it.
    pub graph_path: Option<(&'a str, &'a str)>,
}

/// Why a call is refused: an ErrorInfo reason and a message naming the
/// caller and what it asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denial {
    /// ErrorInfo reason.
    pub reason: &'static str,
    /// For the caller.
    pub message: String,
}

/// Every ErrorInfo reason a policy denial can carry.
pub const DENIAL_REASONS: &[&str] = &[
    "NO_POLICY",
    "NO_CALLER",
    "SERVICE_NOT_ALLOWED",
    "BUSINESS_UNKNOWN",
    "BUSINESS_NOT_ALLOWED",
    "GRAPH_PATH_NOT_ALLOWED",
    "BUSINESS_WIDE_REQUIRED",
    "ASSET_NOT_ALLOWED",
    "READ_ONLY",
];

// === impl AssetType ===

impl AssetType {
    /// Every type that a `[[policy]]` list names, with the list's key.
    pub const LISTED: [(AssetType, &'static str); 13] = [
        (AssetType::AdAccount, "ad_accounts"),
        (AssetType::Page, "pages"),
        (AssetType::App, "apps"),
        (AssetType::Pixel, "pixels"),
        (AssetType::Catalog, "catalogs"),
        (AssetType::InstagramAccount, "instagram_accounts"),
        (AssetType::AssetGroup, "asset_groups"),
        (AssetType::CustomAudience, "custom_audiences"),
        (AssetType::OboRequest, "obo_requests"),
        (AssetType::SharingRequest, "sharing_requests"),
        (AssetType::CustomConversion, "custom_conversions"),
        (
            AssetType::OfflineConversionDataSet,
            "offline_conversion_data_sets",
        ),
        (
            AssetType::WhatsAppBusinessAccount,
            "whatsapp_business_accounts",
        ),
    ];

    /// The type of a `graphgateway.v1.AssetType` number; None for
    /// UNSPECIFIED (and unknown numbers).
    pub fn from_number(n: i32) -> Option<Self> {
        Some(match n {
            1 => AssetType::AdAccount,
            2 => AssetType::Page,
            3 => AssetType::App,
            4 => AssetType::Pixel,
            5 => AssetType::Catalog,
            6 => AssetType::InstagramAccount,
            7 => AssetType::AssetGroup,
            8 => AssetType::User,
            9 => AssetType::CustomAudience,
            10 => AssetType::OboRequest,
            11 => AssetType::SharingRequest,
            12 => AssetType::Business,
            13 => AssetType::CustomConversion,
            14 => AssetType::OfflineConversionDataSet,
            15 => AssetType::AnyAsset,
            16 => AssetType::Other,
            17 => AssetType::WhatsAppBusinessAccount,
            _ => return None,
        })
    }

    /// True for the types that scope policy (everything but users,
    /// businesses and other ids).
    pub fn is_asset(self) -> bool {
        !matches!(
            self,
            AssetType::User | AssetType::Business | AssetType::Other
        )
    }

    /// The `[[policy]]` list of this type ("pages"); None for types no list
    /// names.
    pub fn config_key(self) -> Option<&'static str> {
        Self::LISTED
            .iter()
            .find(|(t, _)| *t == self)
            .map(|(_, k)| *k)
    }

    /// "page", "ad account", ... for messages.
    pub fn label(self) -> &'static str {
        match self {
            AssetType::AdAccount => "ad account",
            AssetType::Page => "page",
            AssetType::App => "app",
            AssetType::Pixel => "pixel",
            AssetType::Catalog => "catalog",
            AssetType::InstagramAccount => "Instagram account",
            AssetType::AssetGroup => "asset group",
            AssetType::User => "user",
            AssetType::CustomAudience => "custom audience",
            AssetType::OboRequest => "on-behalf-of request",
            AssetType::SharingRequest => "audience sharing request",
            AssetType::Business => "business",
            AssetType::CustomConversion => "custom conversion",
            AssetType::OfflineConversionDataSet => "offline conversion data set",
            AssetType::WhatsAppBusinessAccount => "WhatsApp Business account",
            AssetType::AnyAsset => "asset",
            AssetType::Other => "id",
        }
    }

    /// An id as policy compares it: ad accounts without `act_`.
    pub fn normalize(self, id: &str) -> String {
        match self {
            AssetType::AdAccount | AssetType::AnyAsset => {
                id.strip_prefix("act_").unwrap_or(id).to_string()
            }
            _ => id.to_string(),
        }
    }
}

impl std::fmt::Display for Asset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind {
            AssetType::AdAccount => write!(f, "ad account act_{}", self.id),
            k => write!(f, "{} {}", k.label(), self.id),
        }
    }
}

// === impl Grant ===

impl Grant {
    fn business_wide(&self) -> bool {
        self.assets.is_empty()
    }

    fn lists_path(&self, method: &str, template: &str) -> bool {
        self.graph_paths
            .iter()
            .any(|(m, t)| t == template && (m == "*" || m == method))
    }

    fn names(&self, a: &Asset) -> bool {
        match a.kind {
            AssetType::AnyAsset => self.assets.values().any(|ids| ids.contains(&a.id)),
            k => self.assets.get(&k).is_some_and(|ids| ids.contains(&a.id)),
        }
    }
}

// === impl Policy ===

impl Policy {
    /// The grants of `rules`.
    pub fn new(rules: &[PolicyRule]) -> Self {
        let mut by_caller: HashMap<String, Vec<Grant>> = HashMap::new();
        for r in rules {
            let businesses = if r.businesses.iter().any(|b| b == "*") {
                None
            } else {
                Some(r.businesses.iter().cloned().collect())
            };
            let mut assets: HashMap<AssetType, HashSet<String>> = HashMap::new();
            for (kind, ids) in r.asset_lists() {
                let Some(kind) = AssetType::LISTED
                    .iter()
                    .find(|(_, k)| *k == kind)
                    .map(|(t, _)| *t)
                else {
                    continue;
                };
                if !ids.is_empty() {
                    assets
                        .entry(kind)
                        .or_default()
                        .extend(ids.iter().map(|id| kind.normalize(id)));
                }
            }
            by_caller.entry(r.caller.clone()).or_default().push(Grant {
                businesses,
                assets,
                write: r.access == PolicyAccess::Write,
                services: r.services.iter().cloned().collect(),
                graph_paths: r
                    .graph_paths
                    .iter()
                    .filter_map(|p| GraphPath::parse(p).ok())
                    .map(|p| (p.method, p.template))
                    .collect(),
            });
        }
        Self { by_caller }
    }

    /// True when some grant of `caller` covers `service` (the transport's
    /// early check; the engine checks the rest).
    pub fn allows_service(&self, caller: &str, service: &str) -> bool {
        self.by_caller.get(caller).is_some_and(|grants| {
            grants
                .iter()
                .any(|g| g.services.is_empty() || g.services.contains(service))
        })
    }

    /// Allows the call, or says why not (the most specific reason any grant
    /// gave).
    pub fn check(&self, caller: &str, t: &Target<'_>) -> Result<(), Denial> {
        let Some(grants) = self.by_caller.get(caller) else {
            return Err(Denial {
                reason: "NO_POLICY",
                message: format!(
                    "caller {caller} has no [[policy]] grant: it may not call {}",
                    t.service
                ),
            });
        };
        // Higher is more specific.
        let mut worst: (u8, &'static str) = (0, "SERVICE_NOT_ALLOWED");
        let mut note = |rank: u8, reason: &'static str| {
            if rank > worst.0 {
                worst = (rank, reason);
            }
        };
        // The grants that cover the service and the business.
        let mut covering = Vec::new();
        for g in grants {
            if !g.services.is_empty() && !g.services.contains(t.service) {
                note(1, "SERVICE_NOT_ALLOWED");
                continue;
            }
            match (&g.businesses, t.business) {
                (None, _) => {}
                (Some(_), None) => {
                    note(2, "BUSINESS_UNKNOWN");
                    continue;
                }
                (Some(set), Some(b)) if !set.contains(b) => {
                    note(3, "BUSINESS_NOT_ALLOWED");
                    continue;
                }
                _ => {}
            }
            if let Some((method, template)) = t.graph_path {
                if !g.lists_path(method, template) {
                    note(4, "GRAPH_PATH_NOT_ALLOWED");
                    continue;
                }
            }
            covering.push(g);
        }
        let enough = |g: &&Grant| g.write || !t.write;
        // A business-wide grant covers everything of its businesses.
        for g in covering.iter().filter(|g| g.business_wide()) {
            if enough(g) {
                return Ok(());
            }
            note(7, "READ_ONLY");
        }
        let scoped: Vec<&Grant> = covering
            .iter()
            .copied()
            .filter(|g| !g.business_wide())
            .collect();
        let assets: Vec<&Asset> = t.assets.iter().filter(|a| a.kind.is_asset()).collect();
        let mut unlisted: Vec<&Asset> = Vec::new();
        if !scoped.is_empty() {
            if t.acts_on_business || assets.is_empty() {
                note(5, "BUSINESS_WIDE_REQUIRED");
            } else {
                let mut read_only = false;
                for a in &assets {
                    let naming: Vec<&&Grant> = scoped.iter().filter(|g| g.names(a)).collect();
                    if naming.is_empty() {
                        unlisted.push(a);
                    } else if !naming.iter().any(|g| enough(g)) {
                        read_only = true;
                    }
                }
                if !unlisted.is_empty() {
                    note(6, "ASSET_NOT_ALLOWED");
                } else if read_only {
                    note(7, "READ_ONLY");
                } else {
                    return Ok(());
                }
            }
        }
        let business = t.business.unwrap_or("(not named)");
        let message = match worst.1 {
            "READ_ONLY" => format!(
                "caller {caller} has read-only access to business {business}: it may not make changes ({})",
                t.service
            ),
            "ASSET_NOT_ALLOWED" => format!(
                "caller {caller} may not act on {} of business {business}: no [[policy]] grant lists {}",
                describe(&unlisted),
                if unlisted.len() == 1 { "it" } else { "them" }
            ),
            "BUSINESS_WIDE_REQUIRED" => format!(
                "caller {caller} may act only on the assets its grants list, and this call {} of \
                 business {business}: it needs a business-wide [[policy]] grant (one without asset lists)",
                if t.acts_on_business {
                    "acts on the business itself"
                } else {
                    "names no asset"
                }
            ),
            "BUSINESS_NOT_ALLOWED" => {
                format!("caller {caller} may not act for business {business}")
            }
            "GRAPH_PATH_NOT_ALLOWED" => {
                let (method, template) = t.graph_path.unwrap_or_default();
                format!(
                    "caller {caller} may not call {method} {template} through the pass-through for \
                     business {business}: no [[policy]] grant lists it in graph_paths"
                )
            }
            "BUSINESS_UNKNOWN" => format!(
                "caller {caller} may act only for named businesses, and this call names none: \
                 set its business field (business_id or business)"
            ),
            _ => format!("caller {caller} may not call {}", t.service),
        };
        Err(Denial {
            reason: worst.1,
            message,
        })
    }
}

fn describe(assets: &[&Asset]) -> String {
    if assets.is_empty() {
        "these assets".to_string()
    } else {
        assets
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(caller: &str, businesses: &[&str], access: PolicyAccess) -> PolicyRule {
        PolicyRule {
            caller: caller.into(),
            businesses: businesses.iter().map(|s| s.to_string()).collect(),
            access,
            ..PolicyRule::default()
        }
    }

    fn target(business: Option<&'static str>, write: bool) -> Target<'static> {
        Target {
            service: "graphgateway.v1.PageService",
            business,
            acts_on_business: true,
            write,
            ..Target::default()
        }
    }

    fn asset(kind: AssetType, id: &str) -> Asset {
        Asset {
            kind,
            id: id.into(),
        }
    }

    #[test]
    fn business_access_and_write_rules() {
        let p = Policy::new(&[
            rule("billing", &["1"], PolicyAccess::Read),
            rule("ops", &["1", "2"], PolicyAccess::Write),
            rule("root", &["*"], PolicyAccess::Write),
        ]);
        assert!(p.check("billing", &target(Some("1"), false)).is_ok());
        assert_eq!(
            p.check("billing", &target(Some("1"), true))
                .unwrap_err()
                .reason,
            "READ_ONLY"
        );
        assert_eq!(
            p.check("billing", &target(Some("2"), false))
                .unwrap_err()
                .reason,
            "BUSINESS_NOT_ALLOWED"
        );
        assert_eq!(
            p.check("billing", &target(None, false)).unwrap_err().reason,
            "BUSINESS_UNKNOWN"
        );
        assert!(p.check("ops", &target(Some("2"), true)).is_ok());
        assert!(p.check("root", &target(None, true)).is_ok());
        assert_eq!(
            p.check("stranger", &target(Some("1"), false))
                .unwrap_err()
                .reason,
            "NO_POLICY"
        );
    }

    #[test]
    fn assets_and_services_narrow_a_grant() {
        let mut r = rule("ads", &["1"], PolicyAccess::Write);
        r.ad_accounts = vec!["act_7".into()];
        r.services = vec!["graphgateway.v1.AdAccountService".into()];
        let p = Policy::new(&[r]);
        let mut t = Target {
            service: "graphgateway.v1.AdAccountService",
            business: Some("1"),
            assets: vec![asset(AssetType::AdAccount, "7")],
            write: true,
            ..Target::default()
        };
        assert!(p.check("ads", &t).is_ok());
        t.assets = vec![asset(AssetType::AdAccount, "8")];
        let d = p.check("ads", &t).unwrap_err();
        assert_eq!(d.reason, "ASSET_NOT_ALLOWED");
        assert!(d.message.contains("act_8"), "{}", d.message);
        t.assets.clear();
        assert_eq!(
            p.check("ads", &t).unwrap_err().reason,
            "BUSINESS_WIDE_REQUIRED",
            "a call naming no asset is the business's"
        );
        t.service = "graphgateway.v1.PageService";
        assert_eq!(
            p.check("ads", &t).unwrap_err().reason,
            "SERVICE_NOT_ALLOWED"
        );
        assert!(p.allows_service("ads", "graphgateway.v1.AdAccountService"));
        assert!(!p.allows_service("ads", "graphgateway.v1.PageService"));
    }

    #[test]
    fn a_scoped_grant_is_scoped_for_every_asset_type() {
        // Pages only: an ad account is not "any ad account".
        let mut r = rule("pages", &["1"], PolicyAccess::Write);
        r.pages = vec!["30".into()];
        let p = Policy::new(&[r]);
        let t = |assets: Vec<Asset>, acts_on_business: bool| Target {
            service: "graphgateway.v1.AgencyService",
            business: Some("1"),
            assets,
            acts_on_business,
            write: true,
            graph_path: None,
        };
        assert!(p
            .check("pages", &t(vec![asset(AssetType::Page, "30")], false))
            .is_ok());
        assert_eq!(
            p.check("pages", &t(vec![asset(AssetType::AdAccount, "20")], false))
                .unwrap_err()
                .reason,
            "ASSET_NOT_ALLOWED"
        );
        assert_eq!(
            p.check(
                "pages",
                &t(
                    vec![asset(AssetType::Page, "30"), asset(AssetType::App, "40")],
                    false
                )
            )
            .unwrap_err()
            .reason,
            "ASSET_NOT_ALLOWED"
        );
        // Claiming or removing even a listed page acts on the business.
        assert_eq!(
            p.check("pages", &t(vec![asset(AssetType::Page, "30")], true))
                .unwrap_err()
                .reason,
            "BUSINESS_WIDE_REQUIRED"
        );
        // Users and other businesses are not assets.
        assert!(p
            .check(
                "pages",
                &t(
                    vec![
                        asset(AssetType::Page, "30"),
                        asset(AssetType::User, "5"),
                        asset(AssetType::Business, "2")
                    ],
                    false
                )
            )
            .is_ok());
        // An asset of undeclared type matches any list.
        assert!(p
            .check("pages", &t(vec![asset(AssetType::AnyAsset, "30")], false))
            .is_ok());
    }

    #[test]
    fn assets_may_come_from_several_grants_each_with_enough_access() {
        let mut pages = rule("x", &["1"], PolicyAccess::Write);
        pages.pages = vec!["30".into()];
        let mut ads = rule("x", &["1"], PolicyAccess::Read);
        ads.ad_accounts = vec!["20".into()];
        let p = Policy::new(&[pages, ads]);
        let both = vec![
            asset(AssetType::Page, "30"),
            asset(AssetType::AdAccount, "20"),
        ];
        let t = |write: bool| Target {
            service: "graphgateway.v1.InstagramAccountService",
            business: Some("1"),
            assets: both.clone(),
            acts_on_business: false,
            write,
            graph_path: None,
        };
        assert!(p.check("x", &t(false)).is_ok());
        assert_eq!(p.check("x", &t(true)).unwrap_err().reason, "READ_ONLY");
    }

    #[test]
    fn any_grant_may_allow() {
        let p = Policy::new(&[
            rule("x", &["1"], PolicyAccess::Read),
            rule("x", &["2"], PolicyAccess::Write),
        ]);
        assert!(p.check("x", &target(Some("2"), true)).is_ok());
        assert_eq!(
            p.check("x", &target(Some("1"), true)).unwrap_err().reason,
            "READ_ONLY"
        );
    }

    #[test]
    fn the_pass_through_is_denied_unless_a_grant_lists_the_call() {
        let everything = rule("root", &["*"], PolicyAccess::Write);
        let mut waba = rule("wa", &["1"], PolicyAccess::Read);
        waba.graph_paths = vec![
            "GET /{business_id}/owned_whatsapp_business_accounts".into(),
            "* /{waba_id}/assigned_users".into(),
        ];
        let p = Policy::new(&[everything, waba]);
        let t = |method: &'static str, template: &'static str, write: bool| Target {
            service: "graphgateway.v1.GraphPassthroughService",
            business: Some("1"),
            acts_on_business: true,
            write,
            graph_path: Some((method, template)),
            ..Target::default()
        };
        // Everything else allowed, the pass-through still not.
        let d = p
            .check("root", &t("GET", "/{business_id}/owned_pages", false))
            .unwrap_err();
        assert_eq!(d.reason, "GRAPH_PATH_NOT_ALLOWED");
        assert!(
            d.message.contains("GET /{business_id}/owned_pages"),
            "{}",
            d.message
        );
        assert!(p
            .check(
                "wa",
                &t(
                    "GET",
                    "/{business_id}/owned_whatsapp_business_accounts",
                    false
                )
            )
            .is_ok());
        // Only that method, only that template, exactly as written.
        for (m, tpl) in [
            ("POST", "/{business_id}/owned_whatsapp_business_accounts"),
            ("GET", "/{id}/owned_whatsapp_business_accounts"),
        ] {
            assert_eq!(
                p.check("wa", &t(m, tpl, m != "GET")).unwrap_err().reason,
                "GRAPH_PATH_NOT_ALLOWED"
            );
        }
        // "*" lists every method; a write still needs write access.
        assert!(p
            .check("wa", &t("GET", "/{waba_id}/assigned_users", false))
            .is_ok());
        assert_eq!(
            p.check("wa", &t("POST", "/{waba_id}/assigned_users", true))
                .unwrap_err()
                .reason,
            "READ_ONLY"
        );
        // The business still counts.
        let mut other = t("GET", "/{waba_id}/assigned_users", false);
        other.business = Some("2");
        assert_eq!(
            p.check("wa", &other).unwrap_err().reason,
            "BUSINESS_NOT_ALLOWED"
        );
    }

    #[test]
    fn graph_path_entries_parse_strictly() {
        let ok = GraphPath::parse("POST /act_{ad_account_id}/assigned_users").unwrap();
        assert_eq!(ok.method, "POST");
        assert_eq!(ok.template, "/act_{ad_account_id}/assigned_users");
        assert_eq!(
            parse_template("/act_{a}/x/{b}").unwrap(),
            vec![
                PathSegment::Id {
                    name: "a".into(),
                    act: true
                },
                PathSegment::Literal("x".into()),
                PathSegment::Id {
                    name: "b".into(),
                    act: false
                },
            ]
        );
        for bad in [
            "/{a}/edge",
            "PATCH /{a}/edge",
            "get /{a}/edge",
            "GET /me",
            "GET /{a}/access_tokens",
            "GET /{a}/b/c/d/e",
        ] {
            assert!(GraphPath::parse(bad).is_err(), "{bad}");
        }
    }
}
