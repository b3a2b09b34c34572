//! WF03: remove a page from the business after removing the business's
//! people from it, as the seeds require: PG09 lists them, PG10 removes each,
//! then PG06 removes the page.

use super::run::{string_field, Finished, Planned, Run};
use crate::engine::{Arg, CallContext, Engine};
use crate::error::GatewayError;
use crate::proto::RemovePageWithAdminsRequest;

/// Runs WF03.
pub async fn run(
    engine: &Engine,
    ctx: CallContext,
    req: RemovePageWithAdminsRequest,
) -> Result<Finished, GatewayError> {
    let digits = |s: &str| !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_digit());
    let mut v = Vec::new();
    for (field, value) in [("business_id", &req.business_id), ("page_id", &req.page_id)] {
        if !digits(value) {
            v.push(crate::error::FieldViolation {
                field: field.into(),
                description: "is required and must be a Graph id (digits)".into(),
            });
        }
    }
    if !v.is_empty() {
        return Err(GatewayError::InvalidArgument(v));
    }
    let (business, page) = (req.business_id.as_str(), req.page_id.as_str());
    let s = |v: &str| Arg::Str(v.to_string());
    let remove_page = (
        format!("remove page {page} from business {business}"),
        "PG06",
    );
    let mut run = Run::new(engine, ctx);

    // 0. Every step, checked before the first one runs (the people are not
    // known yet; they are not assets).
    let planned = [
        Planned {
            name: format!("list the business's people on page {page}"),
            operation_id: "PG09",
            args: vec![("page_id", s(page)), ("business", s(business))],
        },
        Planned {
            name: format!("remove the business's people from page {page}"),
            operation_id: "PG10",
            args: vec![("page_id", s(page)), ("business_id", s(business))],
        },
        Planned {
            name: remove_page.0.clone(),
            operation_id: remove_page.1,
            args: vec![("business_id", s(business)), ("page_id", s(page))],
        },
    ];
    if !run.check(&planned).await {
        return Ok(run.finish(&[]));
    }

    let Some(users) = run
        .list_all(
            format!("list the business's people on page {page}"),
            "PG09",
            &[("page_id", s(page)), ("business", s(business))],
            "users",
        )
        .await
    else {
        return Ok(run.finish(&[remove_page]));
    };
    let ids: Vec<String> = users
        .iter()
        .map(|u| string_field(u, "id"))
        .filter(|id| !id.is_empty())
        .collect();
    for (i, user) in ids.iter().enumerate() {
        let done = run
            .step(
                format!("remove user {user} from page {page}"),
                "PG10",
                &[
                    ("page_id", s(page)),
                    ("business_id", s(business)),
                    ("user", s(user)),
                ],
                None,
            )
            .await;
        if done.is_none() {
            let mut rest: Vec<(String, &str)> = ids[i + 1..]
                .iter()
                .map(|u| (format!("remove user {u} from page {page}"), "PG10"))
                .collect();
            rest.push(remove_page);
            return Ok(run.finish(&rest));
        }
    }
    run.step(
        remove_page.0,
        remove_page.1,
        &[("business_id", s(business)), ("page_id", s(page))],
        None,
    )
    .await;
    Ok(run.finish(&[]))
}
