//! The core of the portal every interface and service stands on: who is asking (identity),
//! what they may see (policy, access, release), what is recorded (audit), and the one unit of
//! work each request runs in (context, tenant-bound database, pagination).
//!
//! Dependencies inside run one way: `policy` and `identity` hold no database code; `audit`
//! and `read_deps` depend on them; `context` (the request value) depends on those; `access`
//! and `release` decide with the request value and the database.

pub mod access;
pub mod audit;
pub mod clock;
pub mod context;
pub mod db;
pub mod error;
pub mod identity;
pub mod pagination;
pub mod policy;
pub mod prefetch;
pub mod read_deps;
pub mod release;
pub mod sync;
mod tenant_db;
pub mod text;

pub use context::RequestContext;
pub use error::{ErrorCode, ServiceError, ServiceResult};
