//! Graph-route RPCs served as bytes (issue 15).
//!
//! The cache keeps the encoded response message and the transcoder writes
//! protobuf wire bytes, so the typed request and response structs that
//! tonic-prost generates would only cost a decode and an encode per call. Every
//! generated service is wrapped in [`Passthrough`]: a method the route table
//! knows (a Graph route) is served here with [`RawCodec`] — the request
//! body's bytes go to the engine as they came, and the engine's bytes (a
//! cache hit as stored, or a fresh transcoding) are written to the frame as
//! they are; every other method (workflows, VaultService, QuotaService) goes
//! to the generated server, whose typed codec it needs.
//!
//! Both paths give the same answers on the wire: the same message bytes, the
//! same gRPC framing and headers (tonic's `Grpc::unary` does both), the same
//! compression (none offered) and message size limits (tonic's defaults), and
//! a malformed request is INVALID_ARGUMENT either way
//! ([`crate::proto::codec`]).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf as _, BufMut as _, Bytes};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::server::NamedService;
use tonic::Status;

use super::GatewayService;
use crate::routes::Route;

/// A codec of pre-encoded messages: decoding takes the body's bytes as they
/// are, encoding writes the given bytes into the frame. Validation of the
/// request is the engine's (it decodes it against the route's descriptor).
#[derive(Debug, Clone, Copy, Default)]
pub struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

/// A generated service, with its Graph-route methods served as bytes.
#[derive(Clone)]
pub struct Passthrough<S> {
    inner: S,
    svc: GatewayService,
}

impl<S> Passthrough<S> {
    /// Wraps the generated server `inner` of one gateway service.
    pub fn new(inner: S, svc: GatewayService) -> Self {
        Self { inner, svc }
    }
}

impl<S: NamedService> NamedService for Passthrough<S> {
    const NAME: &'static str = S::NAME;
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S> tower_service::Service<http::Request<tonic::body::Body>> for Passthrough<S>
where
    S: tower_service::Service<
            http::Request<tonic::body::Body>,
            Response = http::Response<tonic::body::Body>,
            Error = Infallible,
        > + Send,
    S::Future: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        let Some(route) = self.svc.engine().routes().get(req.uri().path()).cloned() else {
            return Box::pin(self.inner.call(req));
        };
        let method = RawUnary {
            svc: self.svc.clone(),
            route,
        };
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(RawCodec);
            Ok(grpc.unary(method, req).await)
        })
    }
}

/// One Graph-route call on bytes.
struct RawUnary {
    svc: GatewayService,
    route: Arc<Route>,
}

impl tonic::server::UnaryService<Bytes> for RawUnary {
    type Response = Bytes;
    type Future = BoxFuture<Result<tonic::Response<Bytes>, Status>>;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        let svc = self.svc.clone();
        let route = self.route.clone();
        Box::pin(async move { svc.unary_encoded(route, request).await })
    }
}
