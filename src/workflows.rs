//! Composite RPCs (catalogue WF01-WF03): each runs its steps through the same
//! pipeline as single-call RPCs (`Engine::operation`: validation, vault,
//! quota, cache invalidation) and answers with a per-step report, stopping at
//! the first failure. Declared in the proto with `(graphgateway.v1.workflow)`;
//! build.rs wires the adapters below by name.

mod page_agency;
mod remove_page;
mod revoke;
mod run;

use crate::grpc::GatewayService;
use crate::proto;

type Reply = Result<tonic::Response<proto::WorkflowReport>, tonic::Status>;

/// WF01.
pub async fn revoke_user_access(
    svc: &GatewayService,
    request: tonic::Request<proto::RevokeUserAccessRequest>,
) -> Reply {
    let ctx = crate::grpc::request_context(&request);
    revoke::run(svc.engine(), ctx, request.into_inner())
        .await
        .map(tonic::Response::new)
        .map_err(|e| crate::grpc::status::to_status(&e))
}

/// WF02.
pub async fn grant_page_agency_access(
    svc: &GatewayService,
    request: tonic::Request<proto::GrantPageAgencyAccessRequest>,
) -> Reply {
    let ctx = crate::grpc::request_context(&request);
    page_agency::run(svc.engine(), ctx, request.into_inner())
        .await
        .map(tonic::Response::new)
        .map_err(|e| crate::grpc::status::to_status(&e))
}

/// WF03.
pub async fn remove_page_with_admins(
    svc: &GatewayService,
    request: tonic::Request<proto::RemovePageWithAdminsRequest>,
) -> Reply {
    let ctx = crate::grpc::request_context(&request);
    remove_page::run(svc.engine(), ctx, request.into_inner())
        .await
        .map(tonic::Response::new)
        .map_err(|e| crate::grpc::status::to_status(&e))
}
