//! Caller policy: which businesses (and, optionally, which ad accounts and
//! pages) each authenticated caller may act for, read only or read and write,
//! through which services. Checked by the engine right after a call is
//! planned, before the cache, the vault and Graph, so a denied call reads no
//! cached data and sends nothing upstream; workflows are checked step by
//! step (each step is planned like an RPC).
//!
//! A caller may do what any one of its `[[policy]]` grants allows:
//! - `services`: empty covers every gateway service (VaultService is for
//!   `admin` callers, never policy); workflows are checked against
//!   WorkflowService, not the services of their steps;
//! - `businesses`: the business the call acts for (the request's business
//!   field, else the owner the gateway learned from lists) must be listed;
//!   `["*"]` also covers calls whose business is not known;
//! - `ad_accounts`, `pages`: when set, every ad account (`act_…` or digits)
//!   and every `page_id` the request names must be listed; business-wide
//!   lists stay visible to the business's grants;
//! - `access`: "read" allows reads only; "write" allows mutations too.

use std::collections::{HashMap, HashSet};

use crate::config::{PolicyAccess, PolicyRule};

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
    ad_accounts: HashSet<String>,
    pages: HashSet<String>,
    write: bool,
    services: HashSet<String>,
}

/// What a call wants to do.
#[derive(Clone, Debug, Default)]
pub struct Target<'a> {
    /// The service called, e.g. "graphgateway.v1.PageService".
    pub service: &'a str,
    /// The business the call acts for, when known.
    pub business: Option<&'a str>,
    /// Ad accounts the request names (digits, without `act_`).
    pub ad_accounts: Vec<String>,
    /// Pages the request names.
    pub pages: Vec<String>,
    /// A mutation.
    pub write: bool,
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
            by_caller.entry(r.caller.clone()).or_default().push(Grant {
                businesses,
                ad_accounts: r
                    .ad_accounts
                    .iter()
                    .map(|a| a.strip_prefix("act_").unwrap_or(a).to_string())
                    .collect(),
                pages: r.pages.iter().cloned().collect(),
                write: r.access == PolicyAccess::Write,
                services: r.services.iter().cloned().collect(),
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
            let outside = |allowed: &HashSet<String>, named: &[String]| {
                !allowed.is_empty() && named.iter().any(|id| !allowed.contains(id))
            };
            if outside(&g.ad_accounts, &t.ad_accounts) || outside(&g.pages, &t.pages) {
                note(4, "ASSET_NOT_ALLOWED");
                continue;
            }
            if t.write && !g.write {
                note(5, "READ_ONLY");
                continue;
            }
            return Ok(());
        }
        let business = t.business.unwrap_or("(not named)");
        let message = match worst.1 {
            "READ_ONLY" => format!(
                "caller {caller} has read-only access to business {business}: it may not make changes ({})",
                t.service
            ),
            "ASSET_NOT_ALLOWED" => format!(
                "caller {caller} may not act on {} of business {business}",
                describe_assets(t)
            ),
            "BUSINESS_NOT_ALLOWED" => {
                format!("caller {caller} may not act for business {business}")
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

fn describe_assets(t: &Target<'_>) -> String {
    let mut parts: Vec<String> = t
        .ad_accounts
        .iter()
        .map(|a| format!("ad account act_{a}"))
        .collect();
    parts.extend(t.pages.iter().map(|p| format!("page {p}")));
    if parts.is_empty() {
        "these assets".to_string()
    } else {
        parts.join(", ")
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
            write,
            ..Target::default()
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
            ad_accounts: vec!["7".into()],
            write: true,
            ..Target::default()
        };
        assert!(p.check("ads", &t).is_ok());
        t.ad_accounts = vec!["8".into()];
        assert_eq!(p.check("ads", &t).unwrap_err().reason, "ASSET_NOT_ALLOWED");
        t.ad_accounts.clear();
        t.service = "graphgateway.v1.PageService";
        assert_eq!(
            p.check("ads", &t).unwrap_err().reason,
            "SERVICE_NOT_ALLOWED"
        );
        assert!(p.allows_service("ads", "graphgateway.v1.AdAccountService"));
        assert!(!p.allows_service("ads", "graphgateway.v1.PageService"));
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
}
