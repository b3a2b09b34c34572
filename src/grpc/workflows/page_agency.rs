//! WF02: grant a business agency access to a page (BB04). Graph wants a PAGE
//! token for that call: the gateway derives one from the owner business's
//! vault token (GET /{page_id}?fields=access_token), keeps it in the vault
//! under `page-{page_id}`, refreshes it once when Graph rejects it, and never
//! returns it.

use std::sync::Arc;

use super::run::{Finished, Planned, Run};
use crate::engine::{Arg, CallContext, Engine};
use crate::error::{FieldViolation, GatewayError};
use crate::proto::{GrantPageAgencyAccessRequest, PageRolePreset, PageTask};
use crate::vault::{TokenEntry, TokenKind, TokenQuery};

/// BB04's request fields (see agency.proto).
const BB04_PAGE: &str = "page_id";
const BB04_AGENCY: &str = "agency_business_id";
const BB04_TASKS: &str = "permitted_tasks";
const BB04_PRESET: &str = "preset";
const BB04_OWNER: &str = "business_id";

/// Runs WF02.
pub async fn run(
    engine: &Engine,
    ctx: CallContext,
    req: GrantPageAgencyAccessRequest,
) -> Result<Finished, GatewayError> {
    validate(&req)?;
    let mut run = Run::new(engine, ctx);
    let page = req.page_id.as_str();
    let grant_name = format!(
        "grant business {} access to page {page}",
        req.agency_business_id
    );
    let grant_args = grant_args(&req);

    // 0. The grant (write access to the page, which also covers deriving
    // its token), checked before anything runs.
    let planned = [Planned {
        name: grant_name.clone(),
        operation_id: "BB04",
        args: grant_args.clone(),
    }];
    if !run.check(&planned).await {
        return Ok(run.finish(&[]));
    }

    // 1. A page token: from the vault, or derived and stored.
    let existing = engine
        .vault()
        .select(&TokenQuery {
            business: None,
            asset: Some(page),
            kind: Some(TokenKind::Page),
        })
        .ok();
    let token = match existing {
        Some(t) => {
            run.skipped(
                "derive a page token",
                "",
                format!("page token {} is in the vault", t.name),
            );
            t
        }
        None => match derive(&mut run, &req, "derive a page token").await {
            Some(t) => t,
            None => return Ok(run.finish(&[(grant_name, "BB04")])),
        },
    };

    // 2. The grant, with the page token; one refresh if Graph rejects it.
    let call = run.graph_call("BB04", &grant_args);
    match engine
        .operation("BB04", run.ctx(), &grant_args, Some(token))
        .await
    {
        Ok(_) => run.record(grant_name, "BB04", &call, Ok("granted".into())),
        Err(GatewayError::Graph(g)) if g.code == 190 => {
            run.skipped(
                grant_name.clone(),
                "BB04",
                "the stored page token was rejected (Graph code 190); refreshing it",
            );
            let Some(fresh) = derive(&mut run, &req, "refresh the page token").await else {
                return Ok(run.finish(&[(grant_name, "BB04")]));
            };
            run.step(grant_name, "BB04", &grant_args, Some(fresh)).await;
        }
        Err(e) => run.record(grant_name, "BB04", &call, Err(&e)),
    }
    Ok(run.finish(&[]))
}

/// Derives the page token with the owner business's token and stores it
/// ([`Engine::page_token`], which audits it), as a step of the report.
async fn derive(
    run: &mut Run<'_>,
    req: &GrantPageAgencyAccessRequest,
    name: &str,
) -> Option<Arc<TokenEntry>> {
    let page = req.page_id.as_str();
    let call = format!("GET /{page}?fields=access_token");
    let result = run
        .engine()
        .page_token(run.ctx(), &req.business_id, page, true)
        .await;
    match result {
        Ok(t) => {
            run.record(
                name,
                "",
                &call,
                Ok(format!("stored as vault token {}", t.name)),
            );
            Some(t)
        }
        Err(e) => {
            run.record(name, "", &call, Err(&e));
            None
        }
    }
}

fn grant_args(req: &GrantPageAgencyAccessRequest) -> Vec<(&'static str, Arg)> {
    let mut args = vec![
        (BB04_PAGE, Arg::Str(req.page_id.clone())),
        (BB04_AGENCY, Arg::Str(req.agency_business_id.clone())),
        (BB04_OWNER, Arg::Str(req.business_id.clone())),
    ];
    let tasks: Vec<String> = req
        .permitted_tasks
        .iter()
        .filter_map(|t| PageTask::try_from(*t).ok())
        .map(|t| t.as_str_name().trim_start_matches("PAGE_TASK_").to_string())
        .collect();
    if !tasks.is_empty() {
        args.push((BB04_TASKS, Arg::List(tasks)));
    }
    if let Ok(p) = PageRolePreset::try_from(req.preset) {
        if p != PageRolePreset::Unspecified {
            args.push((
                BB04_PRESET,
                Arg::Str(
                    p.as_str_name()
                        .trim_start_matches("PAGE_ROLE_PRESET_")
                        .to_string(),
                ),
            ));
        }
    }
    args
}

fn validate(req: &GrantPageAgencyAccessRequest) -> Result<(), GatewayError> {
    let mut v = Vec::new();
    let digits = |s: &str| !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_digit());
    let mut bad = |field: &str, why: &str| {
        v.push(FieldViolation {
            field: field.into(),
            description: why.into(),
        })
    };
    for (field, value) in [
        ("business_id", &req.business_id),
        ("page_id", &req.page_id),
        ("agency_business_id", &req.agency_business_id),
    ] {
        if !digits(value) {
            bad(field, "is required and must be a Graph id (digits)");
        }
    }
    let has_preset = req.preset != PageRolePreset::Unspecified as i32;
    match (req.permitted_tasks.is_empty(), has_preset) {
        (true, false) => bad(
            "permitted_tasks",
            "is required: give permitted_tasks or preset",
        ),
        (false, true) => bad("preset", "give either preset or permitted_tasks, not both"),
        _ => {}
    }
    if PageRolePreset::try_from(req.preset).is_err() {
        bad("preset", "is not a page role preset");
    }
    for (i, t) in req.permitted_tasks.iter().enumerate() {
        if !matches!(PageTask::try_from(*t), Ok(t) if t != PageTask::Unspecified) {
            bad(&format!("permitted_tasks[{i}]"), "must be a page task");
        }
    }
    if v.is_empty() {
        Ok(())
    } else {
        Err(GatewayError::InvalidArgument(v))
    }
}
