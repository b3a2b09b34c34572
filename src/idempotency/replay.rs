//! How a mutation whose outcome is in doubt is settled on its caller's retry
//! (same request_id), by what sending it again would do at Graph.

use crate::graph::HttpMethod;
use crate::routes::Route;

/// What sending a mutation again does at Graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Replay {
    /// Graph applies it idempotently: assigning tasks, adding an asset to a
    /// group, granting agency access, claiming (the claim answers its
    /// current status), sharing, renaming, an on-behalf-of request (Graph
    /// answers the one in progress). Settled by sending it again; that
    /// answer is the outcome.
    Repeatable,
    /// A state transition (removals, cancelling, answering a request):
    /// sending it again after the first took effect answers "nothing to do"
    /// (code 100). Settled by sending it again; that answer confirms the
    /// first attempt (success).
    Transition,
    /// Every accepted call creates another object. Never sent twice while
    /// its first attempt may have worked: settled by looking the object up.
    Create(&'static CreateSpec),
}

/// How to find what a creation created.
#[derive(Debug, PartialEq, Eq)]
pub struct CreateSpec {
    /// The list operation that shows created objects (e.g. "AA03").
    pub list_operation: &'static str,
    /// The list request's field naming the parent (the business).
    pub parent_field: &'static str,
    /// (Graph parameter of the creation, field of a listed item) pairs that
    /// must match.
    pub matches: &'static [(&'static str, &'static str)],
    /// (field of the creation's response, where its value comes from).
    pub response: &'static [(&'static str, Source)],
}

/// Where a field of a creation's answer comes from, when it is rebuilt from
/// a listed item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A field of the listed item.
    Item(&'static str),
    /// A Graph parameter of the creation.
    Param(&'static str),
    /// The business the call acts for.
    Business,
}

/// AA02 POST /{business_id}/adaccount: the catalogue's one creation that is
/// not idempotent at Graph. Found in AA03 (the business's owned ad
/// accounts) by name and currency, among the ids not listed before the
/// first send.
pub static AA02: CreateSpec = CreateSpec {
    list_operation: "AA03",
    parent_field: "business_id",
    matches: &[("name", "name"), ("currency", "currency")],
    response: &[
        ("id", Source::Item("id")),
        ("account_id", Source::Item("account_id")),
        ("business_id", Source::Business),
        ("end_advertiser_id", Source::Param("end_advertiser")),
        ("media_agency_id", Source::Param("media_agency")),
        ("partner_id", Source::Param("partner")),
    ],
};

/// The replay class of a mutating route.
pub fn of(route: &Route) -> Replay {
    match route.operation_id.as_str() {
        "AA02" => Replay::Create(&AA02),
        // Answering an audience sharing request: a transition.
        "AS02" => Replay::Transition,
        _ if route.http == HttpMethod::Delete => Replay::Transition,
        _ => Replay::Repeatable,
    }
}
