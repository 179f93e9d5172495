//! GraphQL output and input types, one module per domain area.

pub mod access_log;
pub mod account;
pub mod catalog;
pub mod common;
pub mod coverage;
pub mod enums;
pub mod identity;
pub mod master_data;
pub mod node;
pub mod order;
pub mod patient;
pub mod result;
pub mod result_details;
pub mod viewer;
pub mod walk_in;
