//! Domain services of the patient portal: reads and writes of results, orders, patients,
//! appointments, coverage, proxies and walk-in links, over the core policy (`portal_core`).
//!
//! Resolvers and handlers stay thin and call one function here, passing the request's unit
//! of work (`RequestContext`); every rule lives here or in the core once.

pub mod account;
pub mod appointments;
pub mod booking;
pub mod catalog;
pub mod catalog_admin;
pub mod claims;
pub mod coverage;
pub mod directory;
pub mod directory_list;
pub mod ingest;
pub mod interpretation;
pub mod live;
pub mod lookup;
pub mod master;
pub mod nodes;
pub mod observations;
pub mod orders;
pub mod patient_search;
pub mod patients;
pub mod preferences;
pub mod prefetch;
pub mod proxy;
pub mod public_health;
pub mod rate_limit;
pub mod registration;
pub mod result_links;
pub mod results;
pub mod scheduling;
pub mod times;

pub use portal_core::{ErrorCode, RequestContext, ServiceError, ServiceResult};
