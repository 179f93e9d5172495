//! Integration tests of the portal: the real application state and schema over SQLite and
//! PostgreSQL, and the real binary over HTTP.

mod support;

mod critical;
mod delivery;
mod fhir;
mod graphql;
mod hl7;
mod http;
mod live;
mod operations;
mod public_health;
