//! Domain services of the patient portal: reads and writes of results, orders, patients,
//! appointments, coverage, proxies and walk-in links, over the core policy (`portal_core`).
//!
//! Resolvers and handlers stay thin and call one function here, passing the request's unit
//! of work (`RequestContext`); every rule lives here or in the core once.
//!
//! One folder per domain, holding its reads, writes and administration: `results` (with
//! orders and observations), `ingest`, `patients` (search, registration), `appointments`
//! (booking, scheduling), `coverage` (registration, claims), `catalog`, `directory`,
//! `account`, `proxy`, `walk_in`, `live`, `access_log` (the patient's access history). Beside them: `master`, what every master-data
//! write shares (the update sequence among it), and what spans domains: `lookup` (the
//! DataLoaders' batched reads), `nodes` (`node(id)`) and `prefetch`.

pub mod access_log;
pub mod account;
pub mod appointments;
pub mod catalog;
pub mod coverage;
pub mod critical;
pub mod directory;
pub mod ingest;
pub mod live;
pub mod lookup;
pub mod master;
pub mod nodes;
pub mod patients;
pub mod prefetch;
pub mod proxy;
pub mod results;
pub mod times;
pub mod walk_in;

pub use portal_core::{ErrorCode, RequestContext, ServiceError, ServiceResult};
