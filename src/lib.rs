//! graph-gateway: a gRPC gateway in front of Meta's Graph API for business
//! asset management. Every call draws on one token vault, one quota and one
//! cache. See ARCHITECTURE.md for the request path.

pub mod app;
pub mod audit;
pub mod auth;
pub mod cache;
pub mod cli;
pub mod config;
pub mod context;
pub mod engine;
pub mod error;
pub mod graph;
pub mod grpc;
pub mod idempotency;
pub mod metrics;
pub mod operations;
pub mod overload;
pub mod policy;
pub mod proto;
pub mod quota;
pub mod redis_link;
pub mod retry;
pub mod routes;
pub mod sandbox;
pub mod secret;
pub mod telemetry;
pub mod vault;
pub use grpc::workflows;
