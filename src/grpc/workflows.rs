//! Composite RPCs (catalogue WF01-WF03): each checks the caller's policy for
//! every step the request will run, then runs its steps through the same
//! pipeline as single-call RPCs (`Engine::operation`: validation, vault,
//! quota, cache invalidation), stopping at the first failure. A run that
//! completes answers with its per-step report; one that fails answers with
//! the failed step's status (PERMISSION_DENIED for a policy denial) carrying
//! the report as a status detail ([`report_of`] reads it back). Declared in
//! the proto with `(graphgateway.v1.workflow)`; build.rs wires the adapters
//! below by name.

mod page_agency;
mod remove_page;
mod revoke;
mod run;

use prost::Message as _;

use crate::error::GatewayError;
use crate::grpc::GatewayService;
use crate::proto;

type Reply = Result<tonic::Response<proto::WorkflowReport>, tonic::Status>;

/// The `google.protobuf.Any` type URL of the report a failed workflow's
/// status carries.
pub const REPORT_TYPE_URL: &str = "type.googleapis.com/graphgateway.v1.WorkflowReport";

/// The report a failed workflow's status carries, if any.
pub fn report_of(status: &tonic::Status) -> Option<proto::WorkflowReport> {
    let rpc = tonic_types::pb::Status::decode(status.details()).ok()?;
    rpc.details
        .iter()
        .find(|a| a.type_url == REPORT_TYPE_URL)
        .and_then(|a| proto::WorkflowReport::decode(a.value.as_slice()).ok())
}

/// The RPC's answer: the report of a completed run; the failed step's status
/// (code, message, ErrorInfo) with the report attached otherwise.
fn reply(result: Result<run::Finished, GatewayError>) -> Reply {
    let finished = result.map_err(|e| crate::grpc::status::to_status(&e))?;
    match finished.failure {
        None => Ok(tonic::Response::new(finished.report)),
        Some(step) => Err(with_report(&step, &finished.report)),
    }
}

/// `step`'s code and details, the report's summary as the message, and the
/// report as one more detail.
fn with_report(step: &tonic::Status, report: &proto::WorkflowReport) -> tonic::Status {
    let mut rpc = tonic_types::pb::Status::decode(step.details()).unwrap_or_default();
    rpc.code = step.code() as i32;
    rpc.message = report.summary.clone();
    rpc.details.push(prost_types::Any {
        type_url: REPORT_TYPE_URL.to_string(),
        value: report.encode_to_vec(),
    });
    tonic::Status::with_details(
        step.code(),
        report.summary.clone(),
        rpc.encode_to_vec().into(),
    )
}

/// WF01.
pub async fn revoke_user_access(
    svc: &GatewayService,
    request: tonic::Request<proto::RevokeUserAccessRequest>,
) -> Reply {
    let ctx = crate::grpc::request_context(&request);
    reply(revoke::run(svc.engine(), ctx, request.into_inner()).await)
}

/// WF02.
pub async fn grant_page_agency_access(
    svc: &GatewayService,
    request: tonic::Request<proto::GrantPageAgencyAccessRequest>,
) -> Reply {
    let ctx = crate::grpc::request_context(&request);
    reply(page_agency::run(svc.engine(), ctx, request.into_inner()).await)
}

/// WF03.
pub async fn remove_page_with_admins(
    svc: &GatewayService,
    request: tonic::Request<proto::RemovePageWithAdminsRequest>,
) -> Reply {
    let ctx = crate::grpc::request_context(&request);
    reply(remove_page::run(svc.engine(), ctx, request.into_inner()).await)
}
