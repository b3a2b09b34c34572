//! Types and tonic stubs generated from proto/graphgateway/v1.
#![allow(missing_docs, clippy::all, unreachable_pub)]

pub mod codec;

/// graphgateway.v1, nested as its package is (so that generated paths to
/// other packages, e.g. google.longrunning, resolve); re-exported below.
pub mod graphgateway {
    /// graphgateway.v1.
    pub mod v1 {
        tonic::include_proto!("graphgateway.v1");
    }
}
pub use graphgateway::v1::*;

/// google.longrunning (Operations, for bulk operations) and google.rpc.Status,
/// vendored under proto/google.
pub mod google {
    /// google.longrunning.
    pub mod longrunning {
        include!(concat!(env!("OUT_DIR"), "/google/google.longrunning.rs"));
    }
    /// google.rpc.
    pub mod rpc {
        include!(concat!(env!("OUT_DIR"), "/google/google.rpc.rs"));
    }
}

/// The encoded descriptor set of proto/ (with imports), for reflection and
/// for the engine's route table.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    tonic::include_file_descriptor_set!("graphgateway_descriptor");

include!(concat!(env!("OUT_DIR"), "/graphgateway_services.rs"));
