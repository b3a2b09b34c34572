//! The codec of every generated service and client: prost's, except that a
//! request that is not a valid protobuf message is the caller's error
//! (INVALID_ARGUMENT with a field violation), not INTERNAL as tonic-prost
//! answers. It lives with the generated stubs that name it (build.rs,
//! `codec_path`), below the gRPC layer; `grpc::codec` re-exports it.
// `proto` allows every clippy lint for the generated code; not for this file.
#![warn(clippy::all)]

use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder};
use tonic::Status;
use tonic_prost::{ProstCodec, ProstDecoder, ProstEncoder};

/// prost's codec with decode errors mapped to INVALID_ARGUMENT.
#[derive(Debug, Clone)]
pub struct GatewayCodec<T, U>(ProstCodec<T, U>);

impl<T, U> Default for GatewayCodec<T, U> {
    fn default() -> Self {
        Self(ProstCodec::new())
    }
}

impl<T, U> Codec for GatewayCodec<T, U>
where
    T: prost::Message + Send + 'static,
    U: prost::Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = GatewayDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        self.0.encoder()
    }

    fn decoder(&mut self) -> Self::Decoder {
        GatewayDecoder(self.0.decoder())
    }
}

/// prost's decoder; a malformed message is INVALID_ARGUMENT.
#[derive(Debug, Clone)]
pub struct GatewayDecoder<U>(ProstDecoder<U>);

impl<U: prost::Message + Default> Decoder for GatewayDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        self.0.decode(buf).map_err(|s| {
            if s.code() != tonic::Code::Internal {
                return s;
            }
            crate::error::status::to_status(&crate::error::GatewayError::invalid(
                "request",
                format!("is not a valid protobuf message: {}", s.message()),
            ))
        })
    }

    fn buffer_settings(&self) -> BufferSettings {
        self.0.buffer_settings()
    }
}
