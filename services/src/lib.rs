//! Domain services of the patient portal: access rules, release policy, audit, reads and writes.
//!
//! Resolvers stay thin and call one function here; every rule lives here once.

pub mod access;
pub mod account;
pub mod appointments;
pub mod audit;
pub mod auth;
pub mod backlog;
pub mod booking;
pub mod catalog;
pub mod clock;
pub mod context;
pub mod coverage;
pub mod db;
pub mod delivery;
pub mod error;
pub mod ingest;
pub mod interpretation;
pub mod jobs;
pub mod live;
pub mod lookup;
pub mod nodes;
pub mod orders;
pub mod outbox;
pub mod pagination;
pub mod patients;
pub mod preferences;
pub mod proxy;
pub mod rate_limit;
pub mod read_deps;
pub mod release;
pub mod result_links;
pub mod results;
mod tenant_db;

pub use context::RequestContext;
pub use error::{ErrorCode, ServiceError, ServiceResult};
