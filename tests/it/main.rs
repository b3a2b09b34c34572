//! Integration tests: one binary, one module per concern. Every test binds
//! 127.0.0.1:0 and stops its servers when it ends.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// The deprecated RPCs (edges gone from Meta's spec) are still served and tested.
#![allow(deprecated)]

mod harness;

mod bulk;
mod cache;
mod conformance;
mod dashboards;
mod errors;
mod faults;
mod limits;
mod passthrough;
mod props;
mod quota;
mod redis_prod;
mod redis_server;
mod security;
mod server;
mod services;
mod streams;
mod telemetry;
mod wire;
mod workflows;
