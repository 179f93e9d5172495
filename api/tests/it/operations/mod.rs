//! Running it: audit trail and seal, scheduled jobs, workers, metrics, degraded modes, row-level security, the CLI, the deployment.

mod audit;
pub(crate) mod audit_seal;
mod commands;
mod deploy;
mod jobs;
pub(crate) mod metrics;
mod outage;
mod queue;
mod rls;
mod workers;
