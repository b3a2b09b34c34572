//! Handlers of RPCs that the gateway answers itself, without Graph (RPCs
//! with neither a graph nor a workflow option). build.rs calls
//! `local::<method>(svc, request)` for each; a missing handler is a compile
//! error, never a silent UNIMPLEMENTED.
