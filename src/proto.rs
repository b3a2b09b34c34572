//! Types and tonic stubs generated from proto/graphgateway/v1.
#![allow(missing_docs, clippy::all, unreachable_pub)]

pub mod codec;

tonic::include_proto!("graphgateway.v1");

/// The encoded descriptor set of proto/ (with imports), for reflection and
/// for the engine's route table.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    tonic::include_file_descriptor_set!("graphgateway_descriptor");

include!(concat!(env!("OUT_DIR"), "/graphgateway_services.rs"));
