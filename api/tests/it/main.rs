//! Integration tests of the portal: the real application state and schema over SQLite and
//! PostgreSQL, and the real binary over HTTP.

mod support;

mod access;
mod account;
mod appointments;
mod audit;
mod auth;
mod burst;
mod cache;
mod delivery;
mod delivery_checks;
mod e2e;
mod fhir_access;
mod fhir_e2e;
mod fhir_errors;
mod fhir_kit;
mod fhir_paging;
mod fhir_resources;
mod hl7_e2e;
mod hl7_operations;
mod hl7_registration;
mod hl7_results;
mod hl7_rig;
mod hl7_scheduling;
mod hub;
mod identity;
mod import;
mod ingest;
mod jobs;
mod master_data;
mod metrics;
mod operations;
mod outage;
mod public_health;
mod queries;
mod realtime;
mod release;
mod replicas;
mod resume;
mod rls;
mod sdl;
mod unit_of_work;
mod walk_in;
mod workers;
