//! The simulated world: users, businesses, assets, asset groups and tokens,
//! plus the queries the rules are built on (who may see what, which tasks a
//! user effectively holds and where they come from).
//!
//! Every asset type shares one shape ([`Asset`]): per-business access entries
//! (OWNER/AGENCY, PENDING/CONFIRMED, permitted tasks), per-user task grants
//! made by a business, and personal admins (e.g. page admins with the time
//! they became admin). Later features (agency requests between businesses,
//! on-behalf-of requests, audience sharing) add entries of the same kind.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use super::spec::{Exceptions, EXCEPTIONS};
use crate::vault::TokenKind;

/// A business member's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// Business admin.
    Admin,
    /// Business employee.
    Employee,
    /// Another of the roles Meta's spec enumerates (finance, developer,
    /// partner center...): a member without admin rights.
    Other(&'static str),
}

/// The roles Meta's spec (v26.0) enumerates for business_users,
/// system_users and BusinessUser.
pub(crate) const ROLES: &[&str] = &[
    "ADMIN",
    "ADS_RIGHTS_REVIEWER",
    "DEFAULT",
    "DEVELOPER",
    "EMPLOYEE",
    "FINANCE_ANALYST",
    "FINANCE_EDIT",
    "FINANCE_EDITOR",
    "FINANCE_VIEW",
    "MANAGE",
    "PARTNER_CENTER_ADMIN",
    "PARTNER_CENTER_ANALYST",
    "PARTNER_CENTER_EDUCATION",
    "PARTNER_CENTER_MARKETING",
    "PARTNER_CENTER_OPERATIONS",
];

// === impl Role ===

impl Role {
    /// The role Graph spells so (case-insensitive), if it is one of Meta's.
    pub(crate) fn parse(raw: &str) -> Option<Role> {
        let upper = raw.to_ascii_uppercase();
        match upper.as_str() {
            "ADMIN" => Some(Role::Admin),
            "EMPLOYEE" => Some(Role::Employee),
            other => ROLES.iter().find(|r| **r == other).map(|r| Role::Other(r)),
        }
    }

    /// How Graph spells the role.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "ADMIN",
            Role::Employee => "EMPLOYEE",
            Role::Other(r) => r,
        }
    }
}

/// What kind of principal a user is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum UserKind {
    /// A person.
    Person,
    /// A business's system user.
    SystemUser,
}

/// A person or system user.
#[derive(Clone, Debug)]
pub(crate) struct User {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) kind: UserKind,
    /// When it was created (system users created by SU02) and by whom.
    pub(crate) created: Option<(u64, String)>,
}

/// An invitation to join a business (BU02), listed by pending_users (BU05)
/// as Graph's BusinessRoleRequest.
#[derive(Clone, Debug)]
pub(crate) struct Invitation {
    pub(crate) id: String,
    pub(crate) business: String,
    pub(crate) email: String,
    pub(crate) role: Role,
    pub(crate) tasks: Vec<String>,
    pub(crate) invited_user_type: Vec<String>,
    /// Who sent it.
    pub(crate) created_by: String,
    pub(crate) created: u64,
    /// When it expires unanswered (Graph: 30 days).
    pub(crate) expires: u64,
    /// Withdrawn (BU06): no longer listed; its id is never reused.
    pub(crate) canceled: bool,
}

/// A business (Business Manager).
#[derive(Clone, Debug)]
pub(crate) struct Business {
    pub(crate) id: String,
    pub(crate) name: String,
    /// Members by user id.
    pub(crate) members: BTreeMap<String, Role>,
    /// The business that owns this one (a child business: CB01–CB03).
    pub(crate) parent: Option<String>,
    /// Fields of the business node (vertical, timezone_id, the parent's
    /// child_business_external_id).
    pub(crate) attrs: Map<String, Value>,
}

/// The asset types the sandbox models.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum AssetKind {
    AdAccount,
    Page,
    App,
    Pixel,
    InstagramAccount,
    Catalog,
    OfflineConversionDataSet,
    CustomConversion,
    WhatsAppBusinessAccount,
}

// === impl AssetKind ===

impl AssetKind {
    /// How messages name the kind.
    pub(crate) fn label(self) -> &'static str {
        match self {
            AssetKind::AdAccount => "ad account",
            AssetKind::Page => "Page",
            AssetKind::App => "app",
            AssetKind::Pixel => "pixel",
            AssetKind::InstagramAccount => "Instagram account",
            AssetKind::Catalog => "catalog",
            AssetKind::OfflineConversionDataSet => "offline event set",
            AssetKind::CustomConversion => "custom conversion",
            AssetKind::WhatsAppBusinessAccount => "WhatsApp Business account",
        }
    }

    /// Tasks users may hold on the asset (`assigned_users`), in Graph's order.
    pub(crate) fn user_tasks(self) -> &'static [&'static str] {
        match self {
            // Meta's spec (v26.0) enums: AA08 tasks, BB03 permitted_tasks.
            AssetKind::AdAccount => &["MANAGE", "ADVERTISE", "ANALYZE", "DRAFT", "AA_ANALYZE"],
            // PG07 tasks, PG02/BB04 permitted_tasks, AG07 page_tasks.
            AssetKind::Page => PAGE_TASKS,
            // CT03 tasks, CT07 permitted_tasks.
            AssetKind::Catalog => &["MANAGE", "ADVERTISE", "MANAGE_AR", "AA_ANALYZE"],
            // AG07 pixel_tasks (MANAGE kept: the owner's own permitted tasks).
            AssetKind::Pixel => &[
                "MANAGE",
                "EDIT",
                "UPLOAD",
                "ADVERTISE",
                "ANALYZE",
                "AA_ANALYZE",
            ],
            // AG07 offline_conversion_data_set_tasks.
            AssetKind::OfflineConversionDataSet => &[
                "MANAGE",
                "EDIT",
                "UPLOAD",
                "VIEW",
                "ADVERTISE",
                "ANALYZE",
                "AA_ANALYZE",
            ],
            // IG04 permitted_tasks, plus the seed's names.
            AssetKind::InstagramAccount => &[
                "MANAGE",
                "CONTENT",
                "MODERATE",
                "MESSAGES",
                "COMMUNITY_ACTIVITY",
                "ADVERTISE",
                "ANALYZE",
                "INSIGHTS",
            ],
            AssetKind::App => &["MANAGE", "DEVELOP", "TEST", "ADVERTISE", "ANALYZE"],
            AssetKind::CustomConversion => &["MANAGE", "ADVERTISE", "ANALYZE"],
            // WA04 tasks (Meta's spec, v26.0), MANAGE first.
            AssetKind::WhatsAppBusinessAccount => &[
                "MANAGE",
                "DEVELOP",
                "MANAGE_TEMPLATES",
                "MANAGE_PHONE",
                "VIEW_COST",
                "MANAGE_EXTENSIONS",
                "VIEW_PHONE_ASSETS",
                "MANAGE_PHONE_ASSETS",
                "VIEW_TEMPLATES",
                "MESSAGING",
            ],
        }
    }

    /// The tasks an owner business's access lists as `permitted_tasks`: the
    /// classic ones (an owner may still assign every task, see
    /// `ops::people::assign`).
    pub(crate) fn owner_tasks(self) -> &'static [&'static str] {
        match self {
            AssetKind::AdAccount => &["MANAGE", "ADVERTISE", "ANALYZE"],
            AssetKind::Page => &PAGE_TASKS[..5],
            AssetKind::Catalog => &["MANAGE", "ADVERTISE"],
            AssetKind::Pixel => &["MANAGE", "EDIT", "UPLOAD", "ADVERTISE", "ANALYZE"],
            AssetKind::OfflineConversionDataSet => {
                &["MANAGE", "EDIT", "UPLOAD", "VIEW", "ADVERTISE", "ANALYZE"]
            }
            AssetKind::InstagramAccount => &[
                "MANAGE",
                "CONTENT",
                "MODERATE",
                "MESSAGES",
                "ADVERTISE",
                "ANALYZE",
                "INSIGHTS",
            ],
            other => other.user_tasks(),
        }
    }

    /// Tasks a business may be permitted on the asset (agencies, owners),
    /// as accepted in requests.
    pub(crate) fn business_tasks(self) -> &'static [&'static str] {
        match self {
            // CT07's seed grants catalog agencies the role ADMIN (or
            // ADVERTISER); they are stored as the tasks they stand for.
            AssetKind::Catalog => &[
                "MANAGE",
                "ADVERTISE",
                "MANAGE_AR",
                "AA_ANALYZE",
                "ADMIN",
                "ADVERTISER",
            ],
            other => other.user_tasks(),
        }
    }

    /// Whether business asset groups carry roles for this kind (and so
    /// asset-level changes are refused for group-derived permissions).
    pub(crate) fn group_role_key(self) -> Option<&'static str> {
        match self {
            AssetKind::AdAccount => Some("adaccount_roles"),
            AssetKind::Page => Some("page_roles"),
            AssetKind::Pixel => Some("pixel_roles"),
            AssetKind::OfflineConversionDataSet => Some("offline_conversion_data_set_roles"),
            _ => None,
        }
    }
}

/// Page tasks, as Meta's spec (v26.0) enumerates them; the five classic
/// ones first, in Graph's order.
const PAGE_TASKS: &[&str] = &[
    "MANAGE",
    "CREATE_CONTENT",
    "MODERATE",
    "ADVERTISE",
    "ANALYZE",
    "CASHIER_ROLE",
    "GLOBAL_STRUCTURE_MANAGEMENT",
    "MANAGE_JOBS",
    "MANAGE_LEADS",
    "MESSAGING",
    "MODERATE_COMMUNITY",
    "PAGES_MESSAGING",
    "PAGES_MESSAGING_SUBSCRIPTIONS",
    "PROFILE_PLUS_ADVERTISE",
    "PROFILE_PLUS_ANALYZE",
    "PROFILE_PLUS_CREATE_CONTENT",
    "PROFILE_PLUS_FACEBOOK_ACCESS",
    "PROFILE_PLUS_FULL_CONTROL",
    "PROFILE_PLUS_GLOBAL_STRUCTURE_MANAGEMENT",
    "PROFILE_PLUS_MANAGE",
    "PROFILE_PLUS_MANAGE_LEADS",
    "PROFILE_PLUS_MESSAGING",
    "PROFILE_PLUS_MODERATE",
    "PROFILE_PLUS_MODERATE_DELEGATE_COMMUNITY",
    "PROFILE_PLUS_REVENUE",
    "READ_PAGE_MAILBOXES",
    "VIEW_MONETIZATION_INSIGHTS",
];

/// How a business holds an asset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AccessType {
    Owner,
    Agency,
}

// === impl AccessType ===

impl AccessType {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            AccessType::Owner => "OWNER",
            AccessType::Agency => "AGENCY",
        }
    }
}

/// The state of a business's access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AccessStatus {
    /// Waits for the asset's admins.
    Pending,
    /// Waits for the client business (agency requests, BB02).
    ClientResponsePending,
    /// Granted.
    Confirmed,
}

// === impl AccessStatus ===

impl AccessStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            AccessStatus::Pending => "PENDING",
            AccessStatus::ClientResponsePending => "CLIENT_RESPONSE_PENDING",
            AccessStatus::Confirmed => "CONFIRMED",
        }
    }
}

/// One business's access to an asset.
#[derive(Clone, Debug)]
pub(crate) struct Access {
    pub(crate) business: String,
    pub(crate) access_type: AccessType,
    pub(crate) status: AccessStatus,
    /// Tasks the business may assign to its people on the asset.
    pub(crate) permitted_tasks: Vec<String>,
    pub(crate) requested_at: u64,
    pub(crate) updated_at: u64,
}

/// Tasks a business gave one of its users on an asset.
#[derive(Clone, Debug)]
pub(crate) struct TaskGrant {
    pub(crate) user: String,
    pub(crate) business: String,
    pub(crate) tasks: Vec<String>,
    /// When the grant was made (or last gained MANAGE).
    pub(crate) since: u64,
}

/// An ad account linked to an asset (an Instagram account or app it may run
/// ads with, a pixel shared with it), per business.
#[derive(Clone, Debug)]
pub(crate) struct AuthorizedAdAccount {
    pub(crate) ad_account: String,
    pub(crate) business: String,
}

/// Any business asset. Ad accounts are keyed by their numeric id (no `act_`).
#[derive(Clone, Debug)]
pub(crate) struct Asset {
    pub(crate) id: String,
    pub(crate) kind: AssetKind,
    pub(crate) name: String,
    /// Kind-specific fields (currency, timezone_id, username, category, ...).
    pub(crate) attrs: Map<String, Value>,
    pub(crate) access: Vec<Access>,
    pub(crate) grants: Vec<TaskGrant>,
    /// Personal admins (page admins, ad account admins, app admins) and when
    /// they became admin, seconds since the epoch.
    pub(crate) admins: BTreeMap<String, u64>,
    /// Ad accounts linked per business: an Instagram account's authorized
    /// ad accounts, a pixel's shared accounts, an app's authorized ad
    /// accounts.
    pub(crate) authorized_ad_accounts: Vec<AuthorizedAdAccount>,
}

// === impl Asset ===

impl Asset {
    /// A new asset with no access, grants or admins.
    pub(crate) fn new(kind: AssetKind, id: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            kind,
            name: name.into(),
            attrs: Map::new(),
            access: Vec::new(),
            grants: Vec::new(),
            admins: BTreeMap::new(),
            authorized_ad_accounts: Vec::new(),
        }
    }

    /// The id as Graph spells it (`act_N` for ad accounts).
    pub(crate) fn graph_id(&self) -> String {
        match self.kind {
            AssetKind::AdAccount => format!("act_{}", self.id),
            _ => self.id.clone(),
        }
    }

    /// The business's access entry.
    pub(crate) fn access_of(&self, business: &str) -> Option<&Access> {
        self.access.iter().find(|a| a.business == business)
    }

    /// True when the business has confirmed access (owner or agency).
    pub(crate) fn confirmed_for(&self, business: &str) -> bool {
        self.access_of(business)
            .is_some_and(|a| a.status == AccessStatus::Confirmed)
    }

    /// The owner business with confirmed access.
    pub(crate) fn owner(&self) -> Option<&Access> {
        self.access
            .iter()
            .find(|a| a.access_type == AccessType::Owner && a.status == AccessStatus::Confirmed)
    }
}

/// A user's roles in a business asset group, per asset type.
#[derive(Clone, Debug, Default)]
pub(crate) struct GroupRoles {
    pub(crate) page_roles: Vec<String>,
    pub(crate) adaccount_roles: Vec<String>,
    pub(crate) pixel_roles: Vec<String>,
    pub(crate) offline_conversion_data_set_roles: Vec<String>,
}

// === impl GroupRoles ===

impl GroupRoles {
    /// The roles for an asset kind (empty when groups carry none for it).
    pub(crate) fn for_kind(&self, kind: AssetKind) -> &[String] {
        match kind {
            AssetKind::Page => &self.page_roles,
            AssetKind::AdAccount => &self.adaccount_roles,
            AssetKind::Pixel => &self.pixel_roles,
            AssetKind::OfflineConversionDataSet => &self.offline_conversion_data_set_roles,
            _ => &[],
        }
    }

    /// The task list of an asset kind (None when groups carry none for it).
    pub(crate) fn for_kind_mut(&mut self, kind: AssetKind) -> Option<&mut Vec<String>> {
        match kind {
            AssetKind::Page => Some(&mut self.page_roles),
            AssetKind::AdAccount => Some(&mut self.adaccount_roles),
            AssetKind::Pixel => Some(&mut self.pixel_roles),
            AssetKind::OfflineConversionDataSet => {
                Some(&mut self.offline_conversion_data_set_roles)
            }
            _ => None,
        }
    }
}

/// A business asset group.
#[derive(Clone, Debug)]
pub(crate) struct AssetGroup {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) business: String,
    /// Contained asset ids (ad accounts without `act_`).
    pub(crate) assets: BTreeSet<String>,
    /// Assigned users and their roles.
    pub(crate) users: BTreeMap<String, GroupRoles>,
}

/// A token the sandbox accepts.
#[derive(Clone, Debug)]
pub(crate) struct TokenRecord {
    /// The vault name of the token.
    pub(crate) name: String,
    /// The user (or system user) the token belongs to.
    pub(crate) user: String,
    pub(crate) kind: TokenKind,
    /// Businesses the token serves (vault metadata).
    pub(crate) businesses: Vec<String>,
    /// The page of a page token.
    pub(crate) page: Option<String>,
    /// Expired tokens answer code 190 subcode 463.
    pub(crate) expired: bool,
    /// Position in `Sandbox::demo_tokens` (unlisted when `None`).
    pub(crate) listed: Option<usize>,
}

/// The state of an on-behalf-of request (OB01–OB06).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OboStatus {
    InProgress,
    Approve,
    Decline,
    Canceled,
}

// === impl OboStatus ===

impl OboStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            OboStatus::InProgress => "IN_PROGRESS",
            OboStatus::Approve => "APPROVE",
            OboStatus::Decline => "DECLINE",
            OboStatus::Canceled => "CANCELED",
        }
    }
}

/// A request by an agency to act on behalf of a client business with one of
/// its ad accounts.
#[derive(Clone, Debug)]
pub(crate) struct OboRequest {
    pub(crate) id: String,
    pub(crate) requesting: String,
    pub(crate) receiving: String,
    /// The ad account (numeric id).
    pub(crate) ad_account: String,
    pub(crate) status: OboStatus,
}

/// A custom audience (AS01), owned through its ad account.
#[derive(Clone, Debug)]
pub(crate) struct CustomAudience {
    pub(crate) id: String,
    pub(crate) name: String,
    /// The ad account it belongs to (numeric id).
    pub(crate) ad_account: String,
    /// Ad accounts it is shared with (numeric ids).
    pub(crate) shared_with: BTreeSet<String>,
}

/// The state of an audience sharing relationship.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SharingStatus {
    InProgress,
    Approved,
    Declined,
}

// === impl SharingStatus ===

impl SharingStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SharingStatus::InProgress => "IN_PROGRESS",
            // Meta's request_status enum (AS03/AS04) spells them so.
            SharingStatus::Approved => "APPROVE",
            SharingStatus::Declined => "DECLINE",
        }
    }
}

/// An audience sharing relationship between two businesses (one direction).
#[derive(Clone, Debug)]
pub(crate) struct SharingRelationship {
    pub(crate) id: String,
    pub(crate) initiator: String,
    pub(crate) recipient: String,
    pub(crate) relationship_type: Vec<String>,
    pub(crate) status: SharingStatus,
    /// Audiences waiting for (or shared by) the relationship, with the
    /// recipient ad account each is for.
    pub(crate) audiences: Vec<(String, String)>,
}

/// Everything the sandbox knows.
#[derive(Debug, Default)]
pub(crate) struct World {
    pub(crate) users: BTreeMap<String, User>,
    pub(crate) businesses: BTreeMap<String, Business>,
    pub(crate) assets: BTreeMap<String, Asset>,
    pub(crate) groups: BTreeMap<String, AssetGroup>,
    pub(crate) obo_requests: BTreeMap<String, OboRequest>,
    pub(crate) audiences: BTreeMap<String, CustomAudience>,
    pub(crate) sharing: BTreeMap<String, SharingRelationship>,
    /// Tokens by value.
    pub(crate) tokens: HashMap<String, TokenRecord>,
    /// Seconds added to the wall clock (test hook `advance_clock`).
    pub(crate) clock_offset: u64,
    /// Whether edges gone from Meta's spec are served (an app with legacy
    /// access; `Sandbox::with_legacy_edges`).
    pub(crate) legacy_edges: bool,
    /// Exception rows added at run time (unit tests), on top of the
    /// embedded `graph-exceptions.tsv`.
    pub(crate) extra_exceptions: Option<Exceptions>,
    /// Ids of access requests (pending_* lists), by (asset, business).
    pub(crate) access_requests: BTreeMap<(String, String), String>,
    /// Invitations to businesses waiting on an answer (BU02, BU05), by id.
    pub(crate) invitations: BTreeMap<String, Invitation>,
}

/// First id of invitations (BusinessRoleRequest).
pub(crate) const INVITATION_IDS: u64 = 8_800_000_001;

/// First id of system users created by SU02.
pub(crate) const SYSTEM_USER_IDS: u64 = 1_200_000_001;

/// First id of access requests (BusinessAdAccountRequest,
/// BusinessPageRequest, BusinessApplicationRequest).
pub(crate) const ACCESS_REQUEST_IDS: u64 = 8_500_000_001;

/// First id of child businesses created by CB02.
pub(crate) const CREATED_BUSINESS_IDS: u64 = 1_000_000_101;

/// Seconds in a day.
pub(crate) const DAY: u64 = 24 * 60 * 60;

// === impl World ===

impl World {
    /// The exception rows in force: the embedded ones plus any added.
    pub(crate) fn exceptions(&self) -> &Exceptions {
        self.extra_exceptions.as_ref().unwrap_or(&EXCEPTIONS)
    }

    /// The id of the business's access request for an asset (pending_*
    /// lists), allocated on first use.
    pub(crate) fn access_request_id(&mut self, asset: &str, business: &str) -> String {
        let key = (asset.to_string(), business.to_string());
        if let Some(id) = self.access_requests.get(&key) {
            return id.clone();
        }
        let id = self.next_id(ACCESS_REQUEST_IDS);
        self.access_requests.insert(key, id.clone());
        id
    }

    /// The sandbox's clock, seconds since the epoch.
    pub(crate) fn now(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default()
            + self.clock_offset
    }

    /// The user's role in the business.
    pub(crate) fn role(&self, user: &str, business: &str) -> Option<Role> {
        self.businesses
            .get(business)
            .and_then(|b| b.members.get(user).copied())
    }

    /// True when the user is an admin of the business.
    pub(crate) fn is_admin(&self, user: &str, business: &str) -> bool {
        self.role(user, business) == Some(Role::Admin)
    }

    /// Businesses the user belongs to.
    pub(crate) fn businesses_of(&self, user: &str) -> Vec<String> {
        self.businesses
            .values()
            .filter(|b| b.members.contains_key(user))
            .map(|b| b.id.clone())
            .collect()
    }

    /// `{id, name}` of a business.
    pub(crate) fn business_ref(&self, id: &str) -> Value {
        let name = self
            .businesses
            .get(id)
            .map(|b| b.name.clone())
            .unwrap_or_default();
        serde_json::json!({ "id": id, "name": name })
    }

    /// Groups (of businesses with confirmed access to the asset) that contain
    /// the asset and give the user roles on its kind. With `business`, only
    /// that business's groups.
    pub(crate) fn group_grants(
        &self,
        asset: &Asset,
        user: &str,
        business: Option<&str>,
    ) -> Vec<(&AssetGroup, &[String])> {
        self.groups
            .values()
            .filter(|g| business.is_none_or(|b| g.business == b))
            .filter(|g| g.assets.contains(&asset.id) && asset.confirmed_for(&g.business))
            .filter_map(|g| {
                let roles = g.users.get(user)?.for_kind(asset.kind);
                (!roles.is_empty()).then_some((g, roles))
            })
            .collect()
    }

    /// The tasks a user holds on an asset through the given businesses
    /// (direct grants and asset groups), in Graph's order. `None` = through
    /// any business.
    pub(crate) fn effective_tasks(
        &self,
        asset: &Asset,
        user: &str,
        businesses: Option<&[String]>,
    ) -> Vec<String> {
        let allowed = |b: &str| businesses.is_none_or(|list| list.iter().any(|x| x == b));
        let mut held: BTreeSet<&str> = BTreeSet::new();
        for grant in asset.grants.iter().filter(|g| g.user == user) {
            if allowed(&grant.business) && asset.confirmed_for(&grant.business) {
                held.extend(grant.tasks.iter().map(String::as_str));
            }
        }
        for (group, roles) in self.group_grants(asset, user, None) {
            if allowed(&group.business) {
                held.extend(roles.iter().map(String::as_str));
            }
        }
        order_tasks(asset.kind, held.into_iter())
    }

    /// True when the user administers the asset personally or holds MANAGE
    /// on it through a business.
    pub(crate) fn is_asset_admin(&self, asset: &Asset, user: &str) -> bool {
        asset.admins.contains_key(user)
            || self
                .effective_tasks(asset, user, None)
                .iter()
                .any(|t| t == "MANAGE")
    }

    /// Since when the user has been admin (or MANAGER) of the asset.
    pub(crate) fn admin_since(&self, asset: &Asset, user: &str) -> Option<u64> {
        let personal = asset.admins.get(user).copied();
        let granted = asset
            .grants
            .iter()
            .filter(|g| g.user == user && g.tasks.iter().any(|t| t == "MANAGE"))
            .filter(|g| asset.confirmed_for(&g.business))
            .map(|g| g.since)
            .min();
        match (personal, granted) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// True when the user may see the asset: through a business it belongs
    /// to with confirmed access, through tasks, or as a personal admin.
    pub(crate) fn can_see(&self, asset: &Asset, user: &str) -> bool {
        asset.admins.contains_key(user)
            || asset.access.iter().any(|a| {
                a.status == AccessStatus::Confirmed && self.role(user, &a.business).is_some()
            })
            || !self.effective_tasks(asset, user, None).is_empty()
    }

    /// Removes a business's access to an asset with everything hanging off
    /// it: its task grants, its asset groups' containment, its Instagram
    /// authorizations.
    pub(crate) fn drop_access(&mut self, asset_id: &str, business: &str) {
        if let Some(asset) = self.assets.get_mut(asset_id) {
            asset.access.retain(|a| a.business != business);
            asset.grants.retain(|g| g.business != business);
            asset
                .authorized_ad_accounts
                .retain(|a| a.business != business);
        }
        for group in self.groups.values_mut().filter(|g| g.business == business) {
            group.assets.remove(asset_id);
        }
        self.access_requests
            .remove(&(asset_id.to_string(), business.to_string()));
    }

    /// The next free id in the range that starts at `first` (ids of one
    /// kind share a range of 10-digit ids).
    pub(crate) fn next_id(&self, first: u64) -> String {
        let range_end = first + 99_999_999;
        let max = self
            .ids()
            .filter_map(|k| k.parse::<u64>().ok())
            .filter(|n| (first..range_end).contains(n))
            .max();
        let mut next = max.map_or(first, |m| m + 1);
        while self.ids().any(|id| *id == next.to_string()) {
            next += 1;
        }
        next.to_string()
    }

    /// Every node id in use.
    fn ids(&self) -> impl Iterator<Item = &String> {
        self.assets
            .keys()
            .chain(self.groups.keys())
            .chain(self.businesses.keys())
            .chain(self.users.keys())
            .chain(self.obo_requests.keys())
            .chain(self.audiences.keys())
            .chain(self.sharing.keys())
            .chain(self.access_requests.values())
            .chain(self.invitations.keys())
    }
}

/// Sorts and dedups tasks in the kind's canonical order (unknown last).
pub(crate) fn order_tasks<'a>(
    kind: AssetKind,
    tasks: impl Iterator<Item = &'a str>,
) -> Vec<String> {
    let canonical = kind.business_tasks();
    let mut list: Vec<&str> = tasks.collect();
    list.sort_by_key(|t| {
        (
            canonical.iter().position(|c| c == t).unwrap_or(usize::MAX),
            *t,
        )
    });
    list.dedup();
    list.into_iter().map(str::to_string).collect()
}
