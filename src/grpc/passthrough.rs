//! GraphPassthroughService.CallGraph: the governed pass-through (issue 16),
//! `Engine::passthrough` behind a gRPC face. Reads run in the handler (a
//! caller that goes away abandons them); writes run detached, as typed
//! mutations do, so a call Graph received completes and its outcome is kept
//! for its request_id.

use crate::grpc::{context, status, GatewayService};
use crate::proto::{CallGraphRequest, CallGraphResponse};

/// The RPC's own name (logs, metrics, policy).
const CALL_GRAPH: &str = "/graphgateway.v1.GraphPassthroughService/CallGraph";

/// GraphPassthroughService.CallGraph.
pub(crate) async fn call_graph(
    svc: &GatewayService,
    request: tonic::Request<CallGraphRequest>,
) -> Result<tonic::Response<CallGraphResponse>, tonic::Status> {
    let mut ctx = context::from_request(&request);
    if ctx.rpc.is_empty() {
        ctx.rpc = CALL_GRAPH.to_string();
    }
    let record = crate::telemetry::RpcRecord::start(CALL_GRAPH, &ctx);
    let req = request.into_inner();
    let engine = svc.engine().clone();
    let result = if req.method == crate::proto::HttpMethod::Get as i32 {
        record.wrap(engine.passthrough(&ctx, &req)).await
    } else {
        record
            .wrap(crate::retry::detached(ctx, move |ctx| async move {
                engine.passthrough(&ctx, &req).await
            }))
            .await
    };
    let outcome = result
        .and_then(|answer| {
            let json: serde_json::Value = serde_json::from_slice(&answer.body).map_err(|e| {
                crate::error::GatewayError::Internal(format!("pass-through answer: {e}"))
            })?;
            Ok(CallGraphResponse {
                body: Some(to_value(json)),
                graph_call: answer.graph_call,
                cached: answer.cached,
            })
        })
        .map(tonic::Response::new)
        .map_err(|e| status::to_status(&e));
    record.finish(outcome.as_ref().map(drop));
    outcome
}

/// JSON as a `google.protobuf.Value` (numbers as doubles, as the JSON
/// mapping of Value has them).
pub fn to_value(json: serde_json::Value) -> prost_types::Value {
    use prost_types::value::Kind;
    let kind = match json {
        serde_json::Value::Null => Kind::NullValue(0),
        serde_json::Value::Bool(b) => Kind::BoolValue(b),
        serde_json::Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        serde_json::Value::String(s) => Kind::StringValue(s),
        serde_json::Value::Array(items) => Kind::ListValue(prost_types::ListValue {
            values: items.into_iter().map(to_value).collect(),
        }),
        serde_json::Value::Object(map) => Kind::StructValue(prost_types::Struct {
            fields: map.into_iter().map(|(k, v)| (k, to_value(v))).collect(),
        }),
    };
    prost_types::Value { kind: Some(kind) }
}
