//! WF01: revoke (or reduce) a user's access to a page or ad account, even
//! when it comes through business asset groups. The seeds' procedure:
//! 1. find the asset groups that contain the asset and give the user access:
//!    one call (and its pages), the user's `assigned_business_asset_groups`
//!    with `contained_asset_id` (AG05). The seed puts the filter on the
//!    business's groups; Meta's spec has it on the user's edge only, which is
//!    also the set step 2 needs: the groups the user is in;
//! 2. remove the user from each of them;
//! 3. remove the user from the asset, or set the tasks they keep.

use super::run::{string_field, Finished, Planned, Run};
use crate::engine::{Arg, CallContext, Engine};
use crate::error::{FieldViolation, GatewayError};
use crate::proto::{AssetKind, RevokeUserAccessRequest};

/// Whether `task` (Graph's spelling) is a value of the proto's task enum
/// for the asset kind: the enums hold every task of Meta's spec.
fn is_task(kind: AssetKind, task: &str) -> bool {
    match kind {
        AssetKind::Page => crate::proto::PageTask::from_str_name(&format!("PAGE_TASK_{task}"))
            .is_some_and(|t| t != crate::proto::PageTask::Unspecified),
        _ => crate::proto::AdAccountTask::from_str_name(&format!("AD_ACCOUNT_TASK_{task}"))
            .is_some_and(|t| t != crate::proto::AdAccountTask::Unspecified),
    }
}

struct Asset {
    kind: AssetKind,
    /// Page id, or ad account digits.
    id: String,
}

impl Asset {
    /// "page 123" or "ad account act_123".
    fn label(&self) -> String {
        match self.kind {
            AssetKind::Page => format!("page {}", self.id),
            _ => format!("ad account act_{}", self.id),
        }
    }
}

/// Runs WF01.
pub async fn run(
    engine: &Engine,
    ctx: CallContext,
    req: RevokeUserAccessRequest,
) -> Result<Finished, GatewayError> {
    let asset = validate(&req)?;
    let mut run = Run::new(engine, ctx);
    let business = req.business_id.as_str();
    let user = req.user.as_str();
    let s = |v: &str| Arg::Str(v.to_string());
    let final_step = final_step_name(&asset, &req);
    let final_args = final_args(&asset, &req);
    let find = format!(
        "find user {user}'s asset groups that contain {}",
        asset.label()
    );
    let find_args = [
        ("business_scoped_user_id", s(user)),
        ("business_id", s(business)),
        ("contained_asset_id", s(&asset.id)),
    ];

    // 0. Every step the request can run, checked before the first one runs
    // (the asset groups are not known yet: those steps are checked as acting
    // on the business itself).
    let planned = [
        Planned {
            name: find.clone(),
            operation_id: "AG05",
            args: find_args.to_vec(),
        },
        Planned {
            name: format!("remove user {user} from those asset groups"),
            operation_id: "AG08",
            args: vec![("business", s(business)), ("user", s(user))],
        },
        Planned {
            name: final_step.0.clone(),
            operation_id: final_step.1,
            args: final_args.clone(),
        },
    ];
    if !run.check(&planned).await {
        return Ok(run.finish(&[]));
    }

    // 1. The user's groups that hold the asset: one call.
    let Some(groups) = run
        .list_all(find, "AG05", &find_args, "business_asset_groups")
        .await
    else {
        return Ok(run.finish(&[(final_step.0, final_step.1)]));
    };
    let containing: Vec<String> = groups
        .iter()
        .map(|g| string_field(g, "id"))
        .filter(|id| !id.is_empty())
        .collect();
    run.note(if containing.is_empty() {
        "none: the user's access does not come through an asset group".to_string()
    } else {
        format!("{} found: {}", containing.len(), containing.join(", "))
    });

    // 2. Remove the user from each of them.
    for (i, gid) in containing.iter().enumerate() {
        let removed = run
            .step(
                format!("remove user {user} from asset group {gid}"),
                "AG08",
                &[
                    ("asset_group_id", s(gid)),
                    ("business", s(business)),
                    ("user", s(user)),
                ],
                None,
            )
            .await;
        if removed.is_none() {
            return Ok(run.finish(&not_run_after(&containing[i + 1..], user, &final_step)));
        }
    }

    // 3. Remove the user from the asset, or set what they keep.
    run.step(final_step.0, final_step.1, &final_args, None)
        .await;
    Ok(run.finish(&[]))
}

/// The last step's arguments: PG10 / PG07 / AA09 / AA08.
fn final_args(asset: &Asset, req: &RevokeUserAccessRequest) -> Vec<(&'static str, Arg)> {
    let s = |v: &str| Arg::Str(v.to_string());
    let (business, user) = (req.business_id.as_str(), req.user.as_str());
    let tasks = Arg::List(req.remaining_tasks.clone());
    match (asset.kind, req.remaining_tasks.is_empty()) {
        (AssetKind::Page, true) => vec![
            ("page_id", s(&asset.id)),
            ("business_id", s(business)),
            ("user", s(user)),
        ],
        (AssetKind::Page, false) => {
            vec![
                ("page_id", s(&asset.id)),
                ("business", s(business)),
                ("user", s(user)),
                ("tasks", tasks),
            ]
        }
        (_, true) => vec![
            ("ad_account_id", s(&asset.id)),
            ("business_id", s(business)),
            ("user", s(user)),
        ],
        (_, false) => {
            vec![
                ("ad_account_id", s(&asset.id)),
                ("business_id", s(business)),
                ("user", s(user)),
                ("tasks", tasks),
            ]
        }
    }
}

fn final_step_name(asset: &Asset, req: &RevokeUserAccessRequest) -> (String, &'static str) {
    let what = if asset.kind == AssetKind::Page {
        "page"
    } else {
        "ad account"
    };
    match (asset.kind, req.remaining_tasks.is_empty()) {
        (AssetKind::Page, true) => (
            format!("remove user {} from {what} {}", req.user, asset.id),
            "PG10",
        ),
        (AssetKind::Page, false) => (
            format!("set user {}'s tasks on {what} {}", req.user, asset.id),
            "PG07",
        ),
        (_, true) => (
            format!("remove user {} from {what} act_{}", req.user, asset.id),
            "AA09",
        ),
        (_, false) => (
            format!("set user {}'s tasks on {what} act_{}", req.user, asset.id),
            "AA08",
        ),
    }
}

fn not_run_after(
    groups: &[String],
    user: &str,
    last: &(String, &'static str),
) -> Vec<(String, &'static str)> {
    let mut v: Vec<(String, &'static str)> = groups
        .iter()
        .map(|g| (format!("remove user {user} from asset group {g}"), "AG08"))
        .collect();
    v.push(last.clone());
    v
}

fn validate(req: &RevokeUserAccessRequest) -> Result<Asset, GatewayError> {
    let mut v = Vec::new();
    let digits = |s: &str| !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_digit());
    let mut bad = |field: &str, why: &str| {
        v.push(FieldViolation {
            field: field.into(),
            description: why.into(),
        })
    };
    if !digits(&req.business_id) {
        bad("business_id", "is required and must be a Graph id (digits)");
    }
    if !digits(&req.user) {
        bad("user", "is required and must be a Graph id (digits)");
    }
    let kind = AssetKind::try_from(req.asset_kind).unwrap_or(AssetKind::Unspecified);
    let id = match kind {
        AssetKind::Page if digits(&req.asset_id) => req.asset_id.clone(),
        AssetKind::AdAccount if digits(req.asset_id.trim_start_matches("act_")) => {
            req.asset_id.trim_start_matches("act_").to_string()
        }
        AssetKind::Unspecified => {
            bad(
                "asset_kind",
                "must be ASSET_KIND_PAGE or ASSET_KIND_AD_ACCOUNT",
            );
            String::new()
        }
        _ => {
            bad(
                "asset_id",
                "must be a page id (digits) or an ad account id (act_123 or 123)",
            );
            String::new()
        }
    };
    let enum_name = if kind == AssetKind::Page {
        "PageTask"
    } else {
        "AdAccountTask"
    };
    for (i, t) in req.remaining_tasks.iter().enumerate() {
        if !is_task(kind, t) {
            bad(
                &format!("remaining_tasks[{i}]"),
                &format!("must be a task of {enum_name}, as Graph spells it (e.g. ANALYZE)"),
            );
        }
    }
    if v.is_empty() {
        Ok(Asset { kind, id })
    } else {
        Err(GatewayError::InvalidArgument(v))
    }
}
