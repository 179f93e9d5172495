//! Integration tests of the portal: the real application state and schema over SQLite and
//! PostgreSQL, and the real binary over HTTP.

mod support;

mod access;
mod account;
mod appointments;
mod audit;
mod audit_seal;
mod auth;
mod burst;
mod cache;
mod delivery;
mod delivery_checks;
mod e2e;
mod identity;
mod ingest;
mod jobs;
mod metrics;
mod operations;
mod outage;
mod parse_once;
mod queries;
mod realtime;
mod release;
mod replicas;
mod resume;
mod rls;
mod sdl;
mod statements;
mod unit_of_work;
mod walk_in;
mod workers;
