//! Server streams: every page of a list RPC (PageStreamService, issue 16).
//! Each page is one `Engine::execute_encoded` call, as if the caller had
//! called the list RPC with that page's token: the same validation, policy,
//! vault, quota (which paces the pages) and cache. The stream stops at the
//! last page, at `max_pages`, at the first error (sent as the stream's
//! status, after the pages already sent) or when the caller goes away.

use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use prost::Message as _;
use prost_reflect::{DynamicMessage, Value};

use crate::error::{FieldViolation, GatewayError};
use crate::grpc::{context, status, GatewayService};
use crate::proto::{StreamPagesRequest, StreamPagesResponse};
use crate::routes::{Role, Route};

/// The stream type of the gateway's server-streaming RPCs.
pub type Stream<T> =
    Pin<Box<dyn futures::Stream<Item = Result<T, tonic::Status>> + Send + 'static>>;

/// Pages one stream reads at most.
pub const MAX_PAGES: i32 = 10_000;

/// The streaming RPC's own name (logs, metrics).
const STREAM_PAGES: &str = "/graphgateway.v1.PageStreamService/StreamPages";

/// A request checked before any Graph call: the list route, its request
/// message and where the token goes.
struct Checked {
    route: Arc<Route>,
    msg: DynamicMessage,
    page_token: prost_reflect::FieldDescriptor,
    max_pages: i32,
}

/// PageStreamService.StreamPages.
pub(crate) async fn stream_pages(
    svc: &GatewayService,
    request: tonic::Request<StreamPagesRequest>,
) -> Result<tonic::Response<Stream<StreamPagesResponse>>, tonic::Status> {
    let mut ctx = context::from_request(&request);
    let checked = check(svc, request.get_ref()).map_err(|e| status::to_status(&e))?;
    // Each page is checked by policy as a call of the list RPC.
    ctx.rpc = checked.route.full_method.clone();
    let record = crate::telemetry::RpcRecord::start(STREAM_PAGES, &ctx);
    let engine = svc.engine().clone();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<StreamPagesResponse, tonic::Status>>(1);
    let pages = record.wrap(async move {
        let Checked {
            route,
            mut msg,
            page_token,
            max_pages,
        } = checked;
        let limit = if max_pages == 0 { MAX_PAGES } else { max_pages };
        let type_url = format!("type.googleapis.com/{}", route.output.full_name());
        let mut number = 0;
        loop {
            let request = Bytes::from(msg.encode_to_vec());
            let page = match engine.execute_encoded(&route, &ctx, request).await {
                Ok(page) => page,
                Err(e) => {
                    let st = status::to_status(&e);
                    let _ = tx.send(Err(st.clone())).await;
                    return Err(st);
                }
            };
            number += 1;
            let next = next_page_token(&route, &page);
            let item = StreamPagesResponse {
                page: Some(prost_types::Any {
                    type_url: type_url.clone(),
                    value: page.to_vec(),
                }),
                next_page_token: next.clone(),
                page_number: number,
            };
            if tx.send(Ok(item)).await.is_err() {
                // The caller went away.
                return Err(tonic::Status::cancelled("the caller went away"));
            }
            if next.is_empty() || number >= limit {
                return Ok(());
            }
            msg.set_field(&page_token, Value::String(next));
        }
    });
    tokio::spawn(async move {
        let outcome = pages.await;
        record.finish(outcome.as_ref().map(drop));
    });
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
    Ok(tonic::Response::new(Box::pin(stream)))
}

/// Everything that can be checked before the first page: the method names
/// a list RPC, the request is its request message, max_pages is in range.
fn check(svc: &GatewayService, req: &StreamPagesRequest) -> Result<Checked, GatewayError> {
    let mut violations = Vec::new();
    let mut bad = |field: &str, description: String| {
        violations.push(FieldViolation {
            field: field.to_string(),
            description,
        })
    };
    if !(0..=MAX_PAGES).contains(&req.max_pages) {
        bad(
            "max_pages",
            format!("must be between 0 (every page) and {MAX_PAGES}"),
        );
    }
    let method = format!("/{}", req.method.trim_start_matches('/'));
    let route = svc.engine().routes().get(&method).cloned();
    let list = route.as_ref().and_then(|r| {
        let token = r
            .fields
            .iter()
            .find(|f| f.role == Role::PageToken)
            .map(|f| f.field.clone());
        token.filter(|_| r.is_read())
    });
    let (Some(route), Some(page_token)) = (route, list) else {
        let shown: String = req.method.chars().take(64).collect();
        bad(
            "method",
            format!(
                "must name a list RPC of the gateway (a Graph read with page_token), e.g. \
                 \"graphgateway.v1.PageService/ListOwnedPages\"; got {shown:?}"
            ),
        );
        return Err(GatewayError::InvalidArgument(violations));
    };
    let want = route.input.full_name();
    let msg = match &req.request {
        None => {
            bad("request", format!("is required: a packed {want}"));
            None
        }
        Some(any) if any.type_url.rsplit('/').next() != Some(want) => {
            let shown: String = any.type_url.chars().take(96).collect();
            bad(
                "request",
                format!(
                    "must be a packed {want} for {}, got type {shown:?}",
                    route.method
                ),
            );
            None
        }
        Some(any) => match DynamicMessage::decode(route.input.clone(), any.value.as_slice()) {
            Ok(m) => Some(m),
            Err(e) => {
                bad("request", format!("is not a valid {want} message: {e}"));
                None
            }
        },
    };
    match msg {
        Some(msg) if violations.is_empty() => Ok(Checked {
            route,
            msg,
            page_token,
            max_pages: req.max_pages,
        }),
        _ => Err(GatewayError::InvalidArgument(violations)),
    }
}

/// The `next_page_token` of an encoded list response (empty when absent).
fn next_page_token(route: &Route, page: &Bytes) -> String {
    DynamicMessage::decode(route.output.clone(), page.as_ref())
        .ok()
        .and_then(|m| {
            m.get_field_by_name("next_page_token")
                .and_then(|v| v.as_str().map(str::to_string))
        })
        .unwrap_or_default()
}
