//! GraphQL: queries, writes, corrections, access, release, master data, the unit of work and statement counts.

mod access;
mod access_log;
mod account;
mod appointments;
mod cache;
mod e2e;
mod identity;
mod import;
pub(crate) mod ingest;
pub(crate) mod ingest_batch;
mod master_data;
mod queries;
mod release;
mod sdl;
pub(crate) mod statements;
mod unit_of_work;
mod walk_in;
