//! Schema migrations of the portal; every migration runs on SQLite and PostgreSQL.
//!
//! Foreign keys are declared inline in `CREATE TABLE` (SQLite cannot add them later), so tables
//! are created parent-first and dropped child-first.

pub use sea_orm_migration::MigratorTrait;
use sea_orm_migration::prelude::*;

mod m20261123_000001_create_tenancy;
mod m20261123_000002_create_patients;
mod m20261123_000003_create_test_catalog;
mod m20261123_000004_create_orders_and_results;
mod m20261123_000005_create_appointments;
mod m20261123_000006_create_coverage;
mod m20261123_000007_create_messaging;
mod m20261123_000008_create_audit_events;
mod m20261123_000009_add_notification_params;
mod m20261123_000010_make_result_successor_unique;
mod m20261123_000011_add_expiry_job_columns;
mod m20261123_000020_create_audit_chain_head;
mod m20261123_000021_enable_row_level_security;
mod m20261123_000022_add_outbox_publish_seq;
mod m20261201_000023_seal_audit_in_batches;

/// Length of the `varchar` columns that hold enumerations (`String(StringLen::N(24))`).
pub(crate) const ENUM_LEN: u32 = 24;

/// Runs every migration of the portal in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_create_tenancy::Migration),
            Box::new(m20261123_000002_create_patients::Migration),
            Box::new(m20261123_000003_create_test_catalog::Migration),
            Box::new(m20261123_000004_create_orders_and_results::Migration),
            Box::new(m20261123_000005_create_appointments::Migration),
            Box::new(m20261123_000006_create_coverage::Migration),
            Box::new(m20261123_000007_create_messaging::Migration),
            Box::new(m20261123_000008_create_audit_events::Migration),
            Box::new(m20261123_000009_add_notification_params::Migration),
            Box::new(m20261123_000010_make_result_successor_unique::Migration),
            Box::new(m20261123_000011_add_expiry_job_columns::Migration),
            Box::new(m20261123_000020_create_audit_chain_head::Migration),
            Box::new(m20261123_000021_enable_row_level_security::Migration),
            Box::new(m20261123_000022_add_outbox_publish_seq::Migration),
            Box::new(m20261201_000023_seal_audit_in_batches::Migration),
        ]
    }
}
