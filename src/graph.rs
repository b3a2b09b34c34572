//! The Graph API client: one pooled HTTPS client, the token in the
//! Authorization header, appsecret_proof on every call, Graph error objects
//! parsed into [`GraphError`], usage headers parsed into [`Usage`].

mod client;
mod usage;

pub use crate::error::GraphError;
pub use crate::routes::{GraphRequest, HttpMethod};
pub use client::{GraphClient, GraphResponse};
pub use usage::{AdAccountUsage, AppUsage, BusinessUseCaseUsage, Usage};

#[cfg(test)]
mod tests;
