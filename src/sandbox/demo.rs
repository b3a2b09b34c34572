//! The demo world of `Sandbox::demo()`. Ids are stable: tests, docs and
//! README examples use them. Times are relative to when the sandbox starts.
//!
//! # Businesses and people
//!
//! | id | name | members |
//! |---|---|---|
//! | 1000000001 | Acme Retail | admins 10001 Alice Admin, 10101 Acme Admin System User; employees 10002 Bob Employee, 10003 Carol Analyst, 10102 Acme Employee System User |
//! | 1000000002 | Globex Agency | admins 10004 Dan Agency, 10201 Globex Admin System User; employee 10006 Frank Planner |
//! | 1000000003 | Initech Holdings | admins 10007 Grace Initech, 10301 Initech Admin System User |
//! | 1000000005 | Acme Outlet Stores | child business of Acme (RETAIL, external id acme-outlets); admin 10101 Acme Admin System User; owns act_2000000008 and page 3000000010 |
//! | 1000000004 | Umbrella Brands | admin 10401 Umbrella Admin System User; employee 10402 Uma Planner; owns 1,200 ad accounts (act_2200000001..act_2200001200) and 1,200 pages (3100000001..3100001200), for bulk operations |
//! | — | (no business) | 10005 Erin Outsider |
//!
//! # Tokens (fake values, accepted only by the sandbox)
//!
//! | vault name | value | kind | user | vault businesses |
//! |---|---|---|---|---|
//! | sandbox-acme-admin | sandbox-token-acme-admin | system_user | 10101 | 1000000001, 1000000005 |
//! | sandbox-globex-admin | sandbox-token-globex-admin | system_user | 10201 | 1000000002 |
//! | sandbox-initech-admin | sandbox-token-initech-admin | system_user | 10301 | 1000000003 |
//! | sandbox-umbrella-admin | sandbox-token-umbrella-admin | system_user | 10401 | 1000000004 |
//! | sandbox-acme-employee | sandbox-token-acme-employee | system_user | 10102 (Acme employee) | — |
//! | sandbox-alice | sandbox-token-alice | user | 10001 | — |
//! | sandbox-bob | sandbox-token-bob | user | 10002 | — |
//! | sandbox-carol | sandbox-token-carol | user | 10003 | — |
//! | sandbox-erin | sandbox-token-erin | user | 10005 | — |
//!
//! Only the admin system-user tokens serve businesses in the vault, so the
//! engine never picks an employee's or a person's token by business.
//! `GET /{page_id}?fields=access_token` issues page tokens
//! `sandbox-page-token-{page}-{user}` to users with tasks on the page.
//!
//! # Ad accounts
//!
//! | id | name | businesses | people | notes |
//! |---|---|---|---|---|
//! | act_2000000001 | Acme US Prospecting (USD) | Acme OWNER CONFIRMED; Globex AGENCY CONFIRMED [ADVERTISE, ANALYZE] | Alice MANAGE/ADVERTISE/ANALYZE, Bob ADVERTISE/ANALYZE (Acme); Frank ANALYZE (Globex, also via group 9000000003) | in groups 9000000002, 9000000003; authorized for IG 6000000001 |
//! | act_2000000002 | Acme EU Retargeting (EUR) | Acme OWNER CONFIRMED | Bob ANALYZE (direct); Carol ADVERTISE/ANALYZE via group 9000000001 | AA08/AA09 on Carol fail (asset group) |
//! | act_2000000003 | Acme Legacy Account | Acme OWNER PENDING | personal admin Erin | in pending_owned_ad_accounts; AA05 removal allowed |
//! | act_2000000004 | Erin Freelance Account | none | personal admin Erin | AA01 by Acme -> PENDING |
//! | act_2000000005 | Acme Unclaimed Account | none | personal admins Alice, Acme Admin System User | AA01 by Acme -> CONFIRMED |
//! | act_2000000006 | Initech Main Account | Initech OWNER CONFIRMED; Globex AGENCY PENDING | Grace MANAGE/ADVERTISE/ANALYZE | in Globex's pending_client_ad_accounts |
//! | act_2000000007 | Globex House Account | Globex OWNER CONFIRMED | Dan MANAGE/ADVERTISE/ANALYZE | |
//! | act_2000000008 | Acme Outlet Stores Account | Acme Outlet Stores OWNER CONFIRMED | | child business |
//!
//! AA05 on act_2000000001 or act_2000000002 by Acme fails (OWNER + CONFIRMED).
//! AA02 creates act_2000000101, act_2000000102, ...
//!
//! # Pages
//!
//! | id | name | businesses | people | notes |
//! |---|---|---|---|---|
//! | 3000000001 | Acme Retail | Acme OWNER CONFIRMED | Alice all tasks (admin 400 days); Carol ADVERTISE/ANALYZE via group 9000000001 | PG07/PG10 on Carol fail (asset group) |
//! | 3000000002 | Acme Outlet | Acme OWNER CONFIRMED; Globex AGENCY CONFIRMED [ADVERTISE, ANALYZE] | Bob CREATE_CONTENT/MODERATE/ADVERTISE/ANALYZE (Acme); Frank ANALYZE (Globex) | PG06 by Acme fails until Bob is removed |
//! | 3000000003 | Acme Seasonal Deals | none | page admins Acme Admin System User, Alice (30 days) | PG01 by Acme -> CONFIRMED |
//! | 3000000004 | Acme Pop-up Store | none | page admin Acme Admin System User (2 days) | PG01 by Acme -> PENDING |
//! | 3000000005 | Initech News | Initech OWNER CONFIRMED; Globex AGENCY PENDING | Grace all tasks | in Globex's pending_client_pages |
//! | 3000000006 | Erin's Bakery | none | page admin Erin | PG01 by Acme fails (code 200); PG02 fails (not business-owned) |
//! | 3000000007 | Acme Kiosk | Acme OWNER PENDING | page admin Acme Admin System User (1 day) | in Acme's pending_owned_pages |
//! | 3000000008 | Acme Careers | Acme OWNER CONFIRMED | page admin Acme Admin System User (30 days), no business tasks | PG06 by Acme succeeds; WF02 derives a page token |
//! | 3000000009 | Initech Careers | Initech OWNER CONFIRMED | page admin Globex Admin System User (100 days) | PG02 by Globex -> CONFIRMED |
//! | 3000000010 | Acme Outlet Stores | Acme Outlet Stores OWNER CONFIRMED | | child business |
//!
//! # Other assets
//!
//! | id | kind | name | businesses / notes |
//! |---|---|---|---|
//! | 4000000001 | app | Acme Shop (Shopping) | Acme OWNER; authorized act_2000000001 (Acme) |
//! | 4000000002 | app | Globex Insights (Business) | Globex OWNER; Acme AGENCY CONFIRMED [DEVELOP, ANALYZE] |
//! | 4000000003 | app | Initech Loyalty (Lifestyle) | Initech OWNER; Acme AGENCY PENDING |
//! | 4000000004 | app | Acme Scratch Game (Games) | none; app admin Acme Admin System User (AP05 -> CONFIRMED) |
//! | 5000000001 | pixel | Acme Website Pixel | Acme OWNER; shared with act_2000000001 (Acme) |
//! | 5000000002 | pixel | Initech Pixel | Initech OWNER; Globex AGENCY CONFIRMED |
//! | 5000000003 | pixel | Globex Pixel | Globex OWNER |
//! | 6000000001 | instagram | acmeretail | Acme OWNER; Globex AGENCY CONFIRMED [ADVERTISE, ANALYZE]; authorized act_2000000001 |
//! | 6000000002 | instagram | initechnews | Initech OWNER; Globex AGENCY CONFIRMED [ADVERTISE] |
//! | 6000000003 | instagram | acme.outlet | Acme OWNER |
//! | 7000000001 | catalog | Acme Products | Acme OWNER; Globex AGENCY CONFIRMED [ADVERTISE]; Bob ADVERTISE |
//! | 7000000002 | catalog | Initech Catalog | Initech OWNER; Globex AGENCY CONFIRMED [MANAGE, ADVERTISE] (the ADMIN role) |
//! | 8000000001 | offline event set | Acme Store Sales | Acme OWNER |
//! | 8000000002 | offline event set | Default Offline Event Set For Globex | Globex OWNER (auto-assign on) |
//! | 8100000001 | custom conversion | Acme Purchase Over 100 | Acme OWNER |
//! | 8700000001 | WhatsApp Business account | Acme Support (USD) | Acme OWNER; Globex AGENCY CONFIRMED [MANAGE_TEMPLATES, VIEW_TEMPLATES, MESSAGING]; Bob MESSAGING/VIEW_TEMPLATES (Acme) |
//! | 8700000002 | WhatsApp Business account | Acme Marketing (USD) | Acme OWNER |
//! | 8700000003 | WhatsApp Business account | Initech Alerts (EUR) | Initech OWNER; Globex AGENCY CONFIRMED [DEVELOP, VIEW_COST] |
//!
//! # Business asset groups
//!
//! | id | name | business | contains | users |
//! |---|---|---|---|---|
//! | 9000000001 | Acme Brand Team | Acme | page 3000000001, act_2000000002, app 4000000001, pixel 5000000001, IG 6000000001, catalog 7000000001, offline 8000000001, custom conversion 8100000001 | Carol: page_roles/adaccount_roles [ADVERTISE, ANALYZE], pixel_roles [ANALYZE], offline_conversion_data_set_roles [UPLOAD] |
//! | 9000000002 | Acme Regional Team | Acme | act_2000000001 | — |
//! | 9000000003 | Globex Client Services | Globex | act_2000000001, page 3000000002 | Frank: adaccount_roles [ANALYZE] |
//!
//! # Requests between businesses (BB, OB, AS)
//!
//! | id | what |
//! |---|---|
//! | 8400000001 | on-behalf-of request Globex -> Acme for act_2000000007, IN_PROGRESS |
//! | 8200000001 | custom audience "Acme Loyal Customers" of act_2000000001 |
//! | 8200000002 | custom audience "Initech Subscribers" of act_2000000006 |
//! | 8300000001 | audience sharing relationship Initech -> Globex ("Agency"), IN_PROGRESS, waiting to share 8200000002 with act_2000000007 |
//!
//! Agency relationships come from the tables above: Globex is an agency of
//! Acme (act_2000000001, page 3000000002, IG 6000000001, catalog 7000000001)
//! and of Initech (pending act_2000000006 and page 3000000005, pixel,
//! IG, catalog); Acme is an agency of Globex's and Initech's apps.
//! BB03 with MANAGE answers `requires_admin_approval: true` (PENDING);
//! BB04 needs a page token (`GET /{page_id}?fields=access_token`).
//! OB01 creates 8400000002, ...; AS01 creates relationships 8300000002, ...

use serde_json::json;

use super::world::{
    Access, AccessStatus, AccessType, Asset, AssetGroup, AssetKind, AuthorizedAdAccount, Business,
    CustomAudience, GroupRoles, OboRequest, OboStatus, Role, SharingRelationship, SharingStatus,
    TaskGrant, TokenRecord, User, UserKind, World, DAY,
};
use crate::vault::TokenKind;

/// Acme Retail.
pub(crate) const ACME: &str = "1000000001";
/// Globex Agency.
pub(crate) const GLOBEX: &str = "1000000002";
/// Initech Holdings.
pub(crate) const INITECH: &str = "1000000003";
/// Umbrella Brands: the bulk fixture (many ad accounts and pages).
pub(crate) const UMBRELLA: &str = "1000000004";
/// Acme Outlet Stores: a child business of Acme (CB01).
pub(crate) const ACME_OUTLETS: &str = "1000000005";
/// Ad accounts and pages Umbrella Brands owns (act_2200000001.. and
/// 3100000001..).
pub(crate) const UMBRELLA_ASSETS: u64 = 1_200;

const ALICE: &str = "10001";
const BOB: &str = "10002";
const CAROL: &str = "10003";
const DAN: &str = "10004";
const ERIN: &str = "10005";
const FRANK: &str = "10006";
const GRACE: &str = "10007";
const ACME_SU: &str = "10101";
const ACME_EMPLOYEE_SU: &str = "10102";
const GLOBEX_SU: &str = "10201";
const INITECH_SU: &str = "10301";
const UMBRELLA_SU: &str = "10401";
const UMBRELLA_PLANNER: &str = "10402";

const AD_ALL: &[&str] = &["MANAGE", "ADVERTISE", "ANALYZE"];
const AD_GENERAL: &[&str] = &["ADVERTISE", "ANALYZE"];
const PAGE_ALL: &[&str] = &[
    "MANAGE",
    "CREATE_CONTENT",
    "MODERATE",
    "ADVERTISE",
    "ANALYZE",
];

/// Builds the demo world.
pub(crate) fn world() -> World {
    let mut b = Builder {
        world: World::default(),
    };
    b.build();
    b.world
}

struct Builder {
    world: World,
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

impl Builder {
    fn build(&mut self) {
        self.people();
        self.tokens();
        self.ad_accounts();
        self.pages();
        self.other_assets();
        self.groups();
        self.requests();
        self.umbrella();
    }

    /// Umbrella Brands: a business with many assets, for bulk operations.
    fn umbrella(&mut self) {
        for n in 1..=UMBRELLA_ASSETS {
            let account = (2_200_000_000 + n).to_string();
            self.ad_account(&account, &format!("Umbrella Market {n}"), "USD", 1);
            self.owned(&account, UMBRELLA);
            let page = (3_100_000_000 + n).to_string();
            self.asset(AssetKind::Page, &page, &format!("Umbrella Store {n}"));
            self.owned(&page, UMBRELLA);
        }
    }

    fn people(&mut self) {
        for (id, name, kind) in [
            (ALICE, "Alice Admin", UserKind::Person),
            (BOB, "Bob Employee", UserKind::Person),
            (CAROL, "Carol Analyst", UserKind::Person),
            (DAN, "Dan Agency", UserKind::Person),
            (ERIN, "Erin Outsider", UserKind::Person),
            (FRANK, "Frank Planner", UserKind::Person),
            (GRACE, "Grace Initech", UserKind::Person),
            (ACME_SU, "Acme Admin System User", UserKind::SystemUser),
            (
                ACME_EMPLOYEE_SU,
                "Acme Employee System User",
                UserKind::SystemUser,
            ),
            (GLOBEX_SU, "Globex Admin System User", UserKind::SystemUser),
            (
                INITECH_SU,
                "Initech Admin System User",
                UserKind::SystemUser,
            ),
            (
                UMBRELLA_SU,
                "Umbrella Admin System User",
                UserKind::SystemUser,
            ),
            (UMBRELLA_PLANNER, "Uma Planner", UserKind::Person),
        ] {
            self.world.users.insert(
                id.to_string(),
                User {
                    id: id.to_string(),
                    name: name.to_string(),
                    kind,
                    created: None,
                },
            );
        }
        self.business(
            ACME,
            "Acme Retail",
            &[
                (ALICE, Role::Admin),
                (ACME_SU, Role::Admin),
                (BOB, Role::Employee),
                (CAROL, Role::Employee),
                (ACME_EMPLOYEE_SU, Role::Employee),
            ],
        );
        self.business(
            GLOBEX,
            "Globex Agency",
            &[
                (DAN, Role::Admin),
                (GLOBEX_SU, Role::Admin),
                (FRANK, Role::Employee),
            ],
        );
        self.business(
            INITECH,
            "Initech Holdings",
            &[(GRACE, Role::Admin), (INITECH_SU, Role::Admin)],
        );
        self.business(
            UMBRELLA,
            "Umbrella Brands",
            &[
                (UMBRELLA_SU, Role::Admin),
                (UMBRELLA_PLANNER, Role::Employee),
            ],
        );
        // A child business of Acme, administered by Acme's system user.
        let child = self.business(
            ACME_OUTLETS,
            "Acme Outlet Stores",
            &[(ACME_SU, Role::Admin)],
        );
        child.parent = Some(ACME.to_string());
        child.attrs.insert("vertical".into(), json!("RETAIL"));
        child.attrs.insert("timezone_id".into(), json!(1));
        child
            .attrs
            .insert("child_business_external_id".into(), json!("acme-outlets"));
    }

    fn business(&mut self, id: &str, name: &str, members: &[(&str, Role)]) -> &mut Business {
        self.world
            .businesses
            .entry(id.to_string())
            .or_insert_with(|| Business {
                id: id.to_string(),
                name: name.to_string(),
                members: members.iter().map(|(u, r)| (u.to_string(), *r)).collect(),
                parent: None,
                attrs: serde_json::Map::new(),
            })
    }

    fn tokens(&mut self) {
        let list: [(&str, &str, TokenKind, &str, &[&str]); 9] = [
            (
                "sandbox-acme-admin",
                "sandbox-token-acme-admin",
                TokenKind::SystemUser,
                ACME_SU,
                &[ACME, ACME_OUTLETS],
            ),
            (
                "sandbox-globex-admin",
                "sandbox-token-globex-admin",
                TokenKind::SystemUser,
                GLOBEX_SU,
                &[GLOBEX],
            ),
            (
                "sandbox-initech-admin",
                "sandbox-token-initech-admin",
                TokenKind::SystemUser,
                INITECH_SU,
                &[INITECH],
            ),
            (
                "sandbox-umbrella-admin",
                "sandbox-token-umbrella-admin",
                TokenKind::SystemUser,
                UMBRELLA_SU,
                &[UMBRELLA],
            ),
            (
                "sandbox-acme-employee",
                "sandbox-token-acme-employee",
                TokenKind::SystemUser,
                ACME_EMPLOYEE_SU,
                &[],
            ),
            (
                "sandbox-alice",
                "sandbox-token-alice",
                TokenKind::User,
                ALICE,
                &[],
            ),
            (
                "sandbox-bob",
                "sandbox-token-bob",
                TokenKind::User,
                BOB,
                &[],
            ),
            (
                "sandbox-carol",
                "sandbox-token-carol",
                TokenKind::User,
                CAROL,
                &[],
            ),
            (
                "sandbox-erin",
                "sandbox-token-erin",
                TokenKind::User,
                ERIN,
                &[],
            ),
        ];
        for (pos, (name, value, kind, user, businesses)) in list.into_iter().enumerate() {
            self.world.tokens.insert(
                value.to_string(),
                TokenRecord {
                    name: name.to_string(),
                    user: user.to_string(),
                    kind,
                    businesses: strings(businesses),
                    page: None,
                    expired: false,
                    listed: Some(pos),
                },
            );
        }
    }

    fn asset(&mut self, kind: AssetKind, id: &str, name: &str) -> &mut Asset {
        self.world
            .assets
            .entry(id.to_string())
            .or_insert_with(|| Asset::new(kind, id, name))
    }

    fn access(
        &mut self,
        id: &str,
        biz: &str,
        ty: AccessType,
        status: AccessStatus,
        tasks: &[&str],
    ) {
        let at = self.world.now().saturating_sub(90 * DAY);
        if let Some(asset) = self.world.assets.get_mut(id) {
            asset.access.push(Access {
                business: biz.to_string(),
                access_type: ty,
                status,
                permitted_tasks: strings(tasks),
                requested_at: at,
                updated_at: at,
            });
        }
    }

    fn owned(&mut self, id: &str, biz: &str) {
        let tasks = self
            .world
            .assets
            .get(id)
            .map(|a| a.kind.owner_tasks())
            .unwrap_or_default();
        self.access(id, biz, AccessType::Owner, AccessStatus::Confirmed, tasks);
    }

    fn grant(&mut self, id: &str, user: &str, biz: &str, tasks: &[&str], days_ago: u64) {
        let since = self.world.now().saturating_sub(days_ago * DAY);
        if let Some(asset) = self.world.assets.get_mut(id) {
            asset.grants.push(TaskGrant {
                user: user.to_string(),
                business: biz.to_string(),
                tasks: strings(tasks),
                since,
            });
        }
    }

    fn admin(&mut self, id: &str, user: &str, days_ago: u64) {
        let since = self.world.now().saturating_sub(days_ago * DAY);
        if let Some(asset) = self.world.assets.get_mut(id) {
            asset.admins.insert(user.to_string(), since);
        }
    }

    /// An ad account linked to an asset for a business (authorized for an
    /// Instagram account or app, a pixel shared with it).
    fn link_ad_account(&mut self, id: &str, ad_account: &str, biz: &str) {
        if let Some(asset) = self.world.assets.get_mut(id) {
            asset.authorized_ad_accounts.push(AuthorizedAdAccount {
                ad_account: ad_account.to_string(),
                business: biz.to_string(),
            });
        }
    }

    fn ad_account(&mut self, id: &str, name: &str, currency: &str, timezone_id: u64) {
        let asset = self.asset(AssetKind::AdAccount, id, name);
        asset.attrs.insert("currency".into(), json!(currency));
        asset.attrs.insert("timezone_id".into(), json!(timezone_id));
    }

    fn ad_accounts(&mut self) {
        use AccessStatus::{Confirmed, Pending};
        use AccessType::{Agency, Owner};

        self.ad_account("2000000001", "Acme US Prospecting", "USD", 1);
        self.owned("2000000001", ACME);
        self.access("2000000001", GLOBEX, Agency, Confirmed, AD_GENERAL);
        self.grant("2000000001", ALICE, ACME, AD_ALL, 400);
        self.grant("2000000001", BOB, ACME, AD_GENERAL, 200);
        self.grant("2000000001", FRANK, GLOBEX, &["ANALYZE"], 60);

        self.ad_account("2000000002", "Acme EU Retargeting", "EUR", 2);
        self.owned("2000000002", ACME);
        self.grant("2000000002", BOB, ACME, &["ANALYZE"], 100);

        self.ad_account("2000000003", "Acme Legacy Account", "USD", 1);
        self.access("2000000003", ACME, Owner, Pending, AD_ALL);
        self.admin("2000000003", ERIN, 900);

        self.ad_account("2000000004", "Erin Freelance Account", "USD", 1);
        self.admin("2000000004", ERIN, 500);

        self.ad_account("2000000005", "Acme Unclaimed Account", "USD", 1);
        self.admin("2000000005", ALICE, 300);
        self.admin("2000000005", ACME_SU, 300);

        self.ad_account("2000000006", "Initech Main Account", "USD", 1);
        self.owned("2000000006", INITECH);
        self.access("2000000006", GLOBEX, Agency, Pending, AD_GENERAL);
        self.grant("2000000006", GRACE, INITECH, AD_ALL, 365);

        self.ad_account("2000000007", "Globex House Account", "USD", 1);
        self.owned("2000000007", GLOBEX);
        self.grant("2000000007", DAN, GLOBEX, AD_ALL, 365);

        self.ad_account("2000000008", "Acme Outlet Stores Account", "USD", 1);
        self.owned("2000000008", ACME_OUTLETS);
    }

    fn pages(&mut self) {
        use AccessStatus::{Confirmed, Pending};
        use AccessType::{Agency, Owner};
        use AssetKind::Page;

        self.asset(Page, "3000000001", "Acme Retail");
        self.owned("3000000001", ACME);
        self.admin("3000000001", ALICE, 400);
        self.grant("3000000001", ALICE, ACME, PAGE_ALL, 400);

        self.asset(Page, "3000000002", "Acme Outlet");
        self.owned("3000000002", ACME);
        self.access("3000000002", GLOBEX, Agency, Confirmed, AD_GENERAL);
        self.grant(
            "3000000002",
            BOB,
            ACME,
            &["CREATE_CONTENT", "MODERATE", "ADVERTISE", "ANALYZE"],
            120,
        );
        self.grant("3000000002", FRANK, GLOBEX, &["ANALYZE"], 60);

        self.asset(Page, "3000000003", "Acme Seasonal Deals");
        self.admin("3000000003", ACME_SU, 30);
        self.admin("3000000003", ALICE, 30);

        self.asset(Page, "3000000004", "Acme Pop-up Store");
        self.admin("3000000004", ACME_SU, 2);

        self.asset(Page, "3000000005", "Initech News");
        self.owned("3000000005", INITECH);
        self.access("3000000005", GLOBEX, Agency, Pending, AD_GENERAL);
        self.grant("3000000005", GRACE, INITECH, PAGE_ALL, 365);

        self.asset(Page, "3000000006", "Erin's Bakery");
        self.admin("3000000006", ERIN, 700);

        self.asset(Page, "3000000007", "Acme Kiosk");
        self.access("3000000007", ACME, Owner, Pending, PAGE_ALL);
        self.admin("3000000007", ACME_SU, 1);

        self.asset(Page, "3000000008", "Acme Careers");
        self.owned("3000000008", ACME);
        // A page role without business tasks: the owner's system user can
        // get a page token (WF02) while PG06 still finds nobody to remove.
        self.admin("3000000008", ACME_SU, 30);

        self.asset(Page, "3000000009", "Initech Careers");
        self.owned("3000000009", INITECH);
        self.admin("3000000009", GLOBEX_SU, 100);

        self.asset(Page, "3000000010", "Acme Outlet Stores");
        self.owned("3000000010", ACME_OUTLETS);
    }

    fn other_assets(&mut self) {
        use AccessStatus::{Confirmed, Pending};
        use AccessType::Agency;
        use AssetKind::{
            App, Catalog, CustomConversion, InstagramAccount, OfflineConversionDataSet, Pixel,
            WhatsAppBusinessAccount,
        };

        for (id, name, category, link) in [
            (
                "4000000001",
                "Acme Shop",
                "Shopping",
                "https://www.facebook.com/games/?app_id=4000000001",
            ),
            (
                "4000000002",
                "Globex Insights",
                "Business",
                "https://www.facebook.com/games/?app_id=4000000002",
            ),
            (
                "4000000003",
                "Initech Loyalty",
                "Lifestyle",
                "https://www.facebook.com/games/?app_id=4000000003",
            ),
            (
                "4000000004",
                "Acme Scratch Game",
                "Games",
                "/instantgames/4000000004/",
            ),
        ] {
            let app = self.asset(App, id, name);
            app.attrs.insert("category".into(), json!(category));
            app.attrs.insert("link".into(), json!(link));
        }
        self.owned("4000000001", ACME);
        self.link_ad_account("4000000001", "2000000001", ACME);
        self.owned("4000000002", GLOBEX);
        self.access(
            "4000000002",
            ACME,
            Agency,
            Confirmed,
            &["DEVELOP", "ANALYZE"],
        );
        self.owned("4000000003", INITECH);
        self.access("4000000003", ACME, Agency, Pending, &["ANALYZE"]);
        self.admin("4000000004", ACME_SU, 50);

        self.asset(Pixel, "5000000001", "Acme Website Pixel");
        self.owned("5000000001", ACME);
        self.link_ad_account("5000000001", "2000000001", ACME);
        self.asset(Pixel, "5000000002", "Initech Pixel");
        self.owned("5000000002", INITECH);
        self.access(
            "5000000002",
            GLOBEX,
            Agency,
            Confirmed,
            &["ANALYZE", "ADVERTISE"],
        );
        self.asset(Pixel, "5000000003", "Globex Pixel");
        self.owned("5000000003", GLOBEX);

        for (id, username) in [
            ("6000000001", "acmeretail"),
            ("6000000002", "initechnews"),
            ("6000000003", "acme.outlet"),
        ] {
            let ig = self.asset(InstagramAccount, id, "");
            ig.attrs.insert("username".into(), json!(username));
        }
        self.owned("6000000001", ACME);
        self.access("6000000001", GLOBEX, Agency, Confirmed, AD_GENERAL);
        self.link_ad_account("6000000001", "2000000001", ACME);
        self.owned("6000000002", INITECH);
        self.access("6000000002", GLOBEX, Agency, Confirmed, &["ADVERTISE"]);
        self.owned("6000000003", ACME);

        self.asset(Catalog, "7000000001", "Acme Products");
        self.owned("7000000001", ACME);
        self.access("7000000001", GLOBEX, Agency, Confirmed, &["ADVERTISE"]);
        self.grant("7000000001", BOB, ACME, &["ADVERTISE"], 80);
        self.asset(Catalog, "7000000002", "Initech Catalog");
        self.owned("7000000002", INITECH);
        // Granted as the catalog role ADMIN, which Graph reports as its tasks.
        self.access(
            "7000000002",
            GLOBEX,
            Agency,
            Confirmed,
            &["MANAGE", "ADVERTISE"],
        );

        for (id, name, biz, auto) in [
            ("8000000001", "Acme Store Sales", ACME, false),
            (
                "8000000002",
                "Default Offline Event Set For Globex",
                GLOBEX,
                true,
            ),
        ] {
            let set = self.asset(OfflineConversionDataSet, id, name);
            set.attrs
                .insert("enable_auto_assign_to_accounts".into(), json!(auto));
            set.attrs.insert("is_restricted_use".into(), json!(false));
            self.owned(id, biz);
        }

        self.asset(CustomConversion, "8100000001", "Acme Purchase Over 100");
        self.owned("8100000001", ACME);

        for (id, name, currency, timezone_id, biz) in [
            ("8700000001", "Acme Support", "USD", "1", ACME),
            ("8700000002", "Acme Marketing", "USD", "1", ACME),
            ("8700000003", "Initech Alerts", "EUR", "2", INITECH),
        ] {
            let waba = self.asset(WhatsAppBusinessAccount, id, name);
            waba.attrs.insert("currency".into(), json!(currency));
            waba.attrs.insert("timezone_id".into(), json!(timezone_id));
            self.owned(id, biz);
        }
        self.access(
            "8700000001",
            GLOBEX,
            Agency,
            Confirmed,
            &["MANAGE_TEMPLATES", "VIEW_TEMPLATES", "MESSAGING"],
        );
        self.grant(
            "8700000001",
            BOB,
            ACME,
            &["VIEW_TEMPLATES", "MESSAGING"],
            30,
        );
        self.access(
            "8700000003",
            GLOBEX,
            Agency,
            Confirmed,
            &["DEVELOP", "VIEW_COST"],
        );
    }

    fn groups(&mut self) {
        self.group(
            "9000000001",
            "Acme Brand Team",
            ACME,
            &[
                "3000000001",
                "2000000002",
                "4000000001",
                "5000000001",
                "6000000001",
                "7000000001",
                "8000000001",
                "8100000001",
            ],
            vec![(
                CAROL,
                GroupRoles {
                    page_roles: strings(AD_GENERAL),
                    adaccount_roles: strings(AD_GENERAL),
                    pixel_roles: strings(&["ANALYZE"]),
                    offline_conversion_data_set_roles: strings(&["UPLOAD"]),
                },
            )],
        );
        self.group(
            "9000000002",
            "Acme Regional Team",
            ACME,
            &["2000000001"],
            vec![],
        );
        self.group(
            "9000000003",
            "Globex Client Services",
            GLOBEX,
            &["2000000001", "3000000002"],
            vec![(
                FRANK,
                GroupRoles {
                    adaccount_roles: strings(&["ANALYZE"]),
                    ..GroupRoles::default()
                },
            )],
        );
    }

    fn group(
        &mut self,
        id: &str,
        name: &str,
        biz: &str,
        assets: &[&str],
        users: Vec<(&str, GroupRoles)>,
    ) {
        self.world.groups.insert(
            id.to_string(),
            AssetGroup {
                id: id.to_string(),
                name: name.to_string(),
                business: biz.to_string(),
                assets: assets.iter().map(|a| a.to_string()).collect(),
                users: users.into_iter().map(|(u, r)| (u.to_string(), r)).collect(),
            },
        );
    }

    fn requests(&mut self) {
        self.world.obo_requests.insert(
            "8400000001".into(),
            OboRequest {
                id: "8400000001".into(),
                requesting: GLOBEX.into(),
                receiving: ACME.into(),
                ad_account: "2000000007".into(),
                status: OboStatus::InProgress,
            },
        );
        for (id, name, account, shared) in [
            ("8200000001", "Acme Loyal Customers", "2000000001", &[][..]),
            (
                "8200000002",
                "Initech Subscribers",
                "2000000006",
                &["2000000006"][..],
            ),
        ] {
            self.world.audiences.insert(
                id.into(),
                CustomAudience {
                    id: id.into(),
                    name: name.into(),
                    ad_account: account.into(),
                    shared_with: shared.iter().map(|s| s.to_string()).collect(),
                },
            );
        }
        self.world.sharing.insert(
            "8300000001".into(),
            SharingRelationship {
                id: "8300000001".into(),
                initiator: INITECH.into(),
                recipient: GLOBEX.into(),
                relationship_type: strings(&["Agency"]),
                status: SharingStatus::InProgress,
                audiences: vec![("8200000002".into(), "2000000007".into())],
            },
        );
    }
}
