//! Running it: audit trail and seal, scheduled jobs, workers, metrics, degraded modes, row-level security, the CLI.

mod audit;
pub(crate) mod audit_seal;
mod commands;
mod jobs;
pub(crate) mod metrics;
mod outage;
mod queue;
mod rls;
mod workers;
