//! GraphQL over HTTP: the edge, limits, persisted queries, field order, auth, the browser walk-through.

mod audit;
pub(crate) mod auth;
mod browser;
pub(crate) mod client;
mod early_refusals;
mod limits;
mod order;
mod parse_once;
mod persisted;
mod playground;
mod spec;
