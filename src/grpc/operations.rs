//! google.longrunning.Operations for bulk operations (AIP-151): read, list,
//! wait for, cancel and delete them. A caller sees only the operations it
//! started (an admin caller sees all); any other name is NOT_FOUND.

use std::time::Duration;

use crate::context::CallContext;
use crate::error::{GatewayError, Refusal, RefusalReason};
use crate::grpc::{context, status, GatewayService};
use crate::operations::Spec;
use crate::proto::google::longrunning::{
    operation, operations_server::Operations, CancelOperationRequest, DeleteOperationRequest,
    GetOperationRequest, ListOperationsRequest, ListOperationsResponse, Operation,
    WaitOperationRequest,
};
use crate::proto::google::rpc;

/// How often WaitOperation looks again.
const WAIT_POLL: Duration = Duration::from_millis(200);
/// WaitOperation's longest wait (without a timeout or deadline).
const MAX_WAIT: Duration = Duration::from_secs(60);
/// ListOperations' page size default and limit.
const PAGE: usize = 50;
const MAX_PAGE: usize = 500;

/// The operation as the caller sees it: None when unknown or not its own.
pub(crate) async fn load(
    engine: &crate::engine::Engine,
    name: &str,
    ctx: &CallContext,
) -> Result<Option<Operation>, GatewayError> {
    let store = engine.operations();
    let Some(spec) = store.spec(name).await.map_err(unavailable)? else {
        return Ok(None);
    };
    if !visible(&spec, ctx) {
        return Ok(None);
    }
    let Some(p) = store.progress(name).await.map_err(unavailable)? else {
        return Ok(None);
    };
    let meta = super::bulk::metadata(&spec, &p);
    let result = if !p.done {
        None
    } else {
        let steps = store.steps(name).await.map_err(unavailable)?;
        let res = super::bulk::result(&spec, &p, &steps);
        let packed = super::bulk::pack("graphgateway.v1.BulkOperationResult", &res);
        Some(if p.cancelled {
            operation::Result::Error(rpc::Status {
                code: tonic::Code::Cancelled as i32,
                message: format!(
                    "cancelled: {} applied, {} failed, {} not run",
                    meta.succeeded, meta.failed, meta.remaining
                ),
                details: vec![packed],
            })
        } else {
            operation::Result::Response(packed)
        })
    };
    Ok(Some(Operation {
        name: spec.name.clone(),
        metadata: Some(super::bulk::pack(
            "graphgateway.v1.BulkOperationMetadata",
            &meta,
        )),
        done: p.done,
        result,
    }))
}

/// Whose operation it is: the same caller, or an admin.
fn visible(spec: &Spec, ctx: &CallContext) -> bool {
    if ctx.principal.as_ref().is_some_and(|p| p.admin) {
        return true;
    }
    let caller = ctx
        .principal
        .as_ref()
        .map(|p| p.name.as_str())
        .or(ctx.caller.as_deref());
    let owner = spec
        .principal
        .as_ref()
        .map(|p| p.name.as_str())
        .or(spec.caller.as_deref());
    caller == owner
}

fn not_found(name: &str) -> GatewayError {
    let shown: String = name.chars().take(80).collect();
    GatewayError::Refused(Refusal::new(
        RefusalReason::OperationNotFound,
        format!("no operation {shown:?} (unknown, expired, or started by another caller)"),
    ))
}

fn unavailable(e: crate::operations::StoreError) -> GatewayError {
    GatewayError::Refused(
        Refusal::new(
            RefusalReason::OperationsUnavailable,
            format!("the operation store cannot answer ({e}); retry"),
        )
        .retry_after(Duration::from_secs(1)),
    )
}

/// Names look like "operations/bulk-<32 hex>".
fn check_name(name: &str) -> Result<(), GatewayError> {
    let ok = name
        .strip_prefix("operations/bulk-")
        .is_some_and(|h| h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit()));
    if ok {
        Ok(())
    } else {
        Err(GatewayError::invalid(
            "name",
            "must be an operation name, \"operations/bulk-\" and 32 hex digits",
        ))
    }
}

async fn get(
    svc: &GatewayService,
    ctx: &CallContext,
    name: &str,
) -> Result<Operation, GatewayError> {
    check_name(name)?;
    load(svc.engine(), name, ctx)
        .await?
        .ok_or_else(|| not_found(name))
}

async fn list(
    svc: &GatewayService,
    ctx: &CallContext,
    req: &ListOperationsRequest,
) -> Result<ListOperationsResponse, GatewayError> {
    let done = match req.filter.replace(' ', "").as_str() {
        "" => None,
        "done=true" => Some(true),
        "done=false" => Some(false),
        _ => {
            return Err(GatewayError::invalid(
                "filter",
                "supports \"\", \"done=true\" and \"done=false\"",
            ))
        }
    };
    if req.page_size < 0 {
        return Err(GatewayError::invalid("page_size", "must not be negative"));
    }
    let size = match req.page_size {
        0 => PAGE,
        n => (n as usize).min(MAX_PAGE),
    };
    let start = if req.page_token.is_empty() {
        0
    } else {
        req.page_token
            .parse::<usize>()
            .map_err(|_| GatewayError::invalid("page_token", "is not a token this RPC gave"))?
    };
    let names = svc
        .engine()
        .operations()
        .list()
        .await
        .map_err(unavailable)?;
    let mut operations = Vec::new();
    let mut next = String::new();
    let mut seen = 0usize;
    for name in names {
        let Some(op) = load(svc.engine(), &name, ctx).await? else {
            continue;
        };
        if done.is_some_and(|d| d != op.done) {
            continue;
        }
        seen += 1;
        if seen <= start {
            continue;
        }
        if operations.len() == size {
            next = (start + size).to_string();
            break;
        }
        operations.push(op);
    }
    Ok(ListOperationsResponse {
        operations,
        next_page_token: next,
        unreachable: Vec::new(),
    })
}

async fn cancel(svc: &GatewayService, ctx: &CallContext, name: &str) -> Result<(), GatewayError> {
    let op = get(svc, ctx, name).await?;
    if !op.done {
        svc.engine()
            .operations()
            .request_cancel(name)
            .await
            .map_err(unavailable)?;
        tracing::info!(operation = %name, "bulk operation: cancel requested");
    }
    Ok(())
}

async fn delete(svc: &GatewayService, ctx: &CallContext, name: &str) -> Result<(), GatewayError> {
    let op = get(svc, ctx, name).await?;
    if !op.done {
        return Err(GatewayError::Refused(Refusal::new(
            RefusalReason::OperationRunning,
            "the operation is still running: cancel it (CancelOperation), then delete it once done",
        )));
    }
    svc.engine()
        .operations()
        .delete(name)
        .await
        .map_err(unavailable)?;
    Ok(())
}

async fn wait(
    svc: &GatewayService,
    ctx: &CallContext,
    req: &WaitOperationRequest,
) -> Result<Operation, GatewayError> {
    let mut limit = match &req.timeout {
        Some(d) if d.seconds < 0 || d.nanos < 0 => {
            return Err(GatewayError::invalid("timeout", "must not be negative"))
        }
        Some(d) => Duration::new(d.seconds as u64, d.nanos as u32).min(MAX_WAIT),
        None => MAX_WAIT,
    };
    if let Some(deadline) = ctx.deadline {
        // Answer a little before the caller gives up.
        limit = limit.min(
            deadline
                .saturating_duration_since(tokio::time::Instant::now())
                .saturating_sub(Duration::from_millis(50)),
        );
    }
    let until = tokio::time::Instant::now() + limit;
    loop {
        let op = get(svc, ctx, &req.name).await?;
        if op.done || tokio::time::Instant::now() >= until {
            return Ok(op);
        }
        tokio::select! {
            () = tokio::time::sleep(WAIT_POLL.min(until.saturating_duration_since(tokio::time::Instant::now()))) => {}
            () = ctx.cancel.cancelled() => return Ok(op),
        }
    }
}

/// Runs one handler with the RPC's log record and the error mapping.
async fn serve<T>(
    rpc: &'static str,
    ctx: CallContext,
    fut: impl std::future::Future<Output = Result<T, GatewayError>>,
) -> Result<tonic::Response<T>, tonic::Status> {
    let record = crate::telemetry::RpcRecord::start(rpc, &ctx);
    let result = record.wrap(fut).await.map_err(|e| status::to_status(&e));
    record.finish(result.as_ref().map(drop));
    result.map(tonic::Response::new)
}

#[tonic::async_trait]
impl Operations for GatewayService {
    async fn list_operations(
        &self,
        request: tonic::Request<ListOperationsRequest>,
    ) -> Result<tonic::Response<ListOperationsResponse>, tonic::Status> {
        let ctx = context::from_request(&request);
        let req = request.into_inner();
        serve(
            "/google.longrunning.Operations/ListOperations",
            ctx.clone(),
            async move { list(self, &ctx, &req).await },
        )
        .await
    }

    async fn get_operation(
        &self,
        request: tonic::Request<GetOperationRequest>,
    ) -> Result<tonic::Response<Operation>, tonic::Status> {
        let ctx = context::from_request(&request);
        let req = request.into_inner();
        serve(
            "/google.longrunning.Operations/GetOperation",
            ctx.clone(),
            async move { get(self, &ctx, &req.name).await },
        )
        .await
    }

    async fn delete_operation(
        &self,
        request: tonic::Request<DeleteOperationRequest>,
    ) -> Result<tonic::Response<()>, tonic::Status> {
        let ctx = context::from_request(&request);
        let req = request.into_inner();
        serve(
            "/google.longrunning.Operations/DeleteOperation",
            ctx.clone(),
            async move { delete(self, &ctx, &req.name).await },
        )
        .await
    }

    async fn cancel_operation(
        &self,
        request: tonic::Request<CancelOperationRequest>,
    ) -> Result<tonic::Response<()>, tonic::Status> {
        let ctx = context::from_request(&request);
        let req = request.into_inner();
        serve(
            "/google.longrunning.Operations/CancelOperation",
            ctx.clone(),
            async move { cancel(self, &ctx, &req.name).await },
        )
        .await
    }

    async fn wait_operation(
        &self,
        request: tonic::Request<WaitOperationRequest>,
    ) -> Result<tonic::Response<Operation>, tonic::Status> {
        let ctx = context::from_request(&request);
        let req = request.into_inner();
        serve(
            "/google.longrunning.Operations/WaitOperation",
            ctx.clone(),
            async move { wait(self, &ctx, &req).await },
        )
        .await
    }
}
