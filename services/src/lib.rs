//! Domain services of the patient portal: access rules, release policy, audit and reads.
//!
//! Resolvers stay thin and call one function here; every rule lives here once.

pub mod access;
pub mod account;
pub mod appointments;
pub mod audit;
pub mod auth;
pub mod catalog;
pub mod clock;
pub mod context;
pub mod coverage;
pub mod db;
pub mod demo;
pub mod error;
pub mod live;
pub mod lookup;
pub mod nodes;
pub mod orders;
pub mod outbox;
pub mod pagination;
pub mod patients;
pub mod release;
pub mod results;

pub use context::RequestContext;
pub use error::{ErrorCode, ServiceError, ServiceResult};
