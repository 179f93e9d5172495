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
mod m20261201_000001_add_patient_demographics;
mod m20261201_000002_add_catalog_reportable;
mod m20261201_000003_add_directory_contact;
mod m20261201_000004_add_coverage_payer_id;
mod m20261201_000020_create_public_health_queue;

mod columns;
mod m20261201_000101_create_hl7_messages;
mod m20261201_000102_add_order_numbers;
mod m20261201_000103_add_appointment_external_ids;
mod m20261201_000104_seal_audit_in_batches;
mod m20261208_000101_add_facility_accept_valid_groups;
mod m20261208_000102_add_order_placer_group;
mod m20261208_000103_add_facility_identifiers;
mod m20261208_000104_add_facility_code_map;
mod m20261208_000150_create_result_details;
mod m20261208_000180_create_patient_identifiers;
mod m20261208_000201_add_public_health_sources;
mod m20261208_000301_create_critical_alerts;
mod m20261208_000501_index_audit_events_by_patient;

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
            Box::new(m20261201_000001_add_patient_demographics::Migration),
            Box::new(m20261201_000002_add_catalog_reportable::Migration),
            Box::new(m20261201_000003_add_directory_contact::Migration),
            Box::new(m20261201_000004_add_coverage_payer_id::Migration),
            Box::new(m20261201_000020_create_public_health_queue::Migration),
            Box::new(m20261201_000101_create_hl7_messages::Migration),
            Box::new(m20261201_000102_add_order_numbers::Migration),
            Box::new(m20261201_000103_add_appointment_external_ids::Migration),
            Box::new(m20261201_000104_seal_audit_in_batches::Migration),
            Box::new(m20261208_000101_add_facility_accept_valid_groups::Migration),
            Box::new(m20261208_000102_add_order_placer_group::Migration),
            Box::new(m20261208_000103_add_facility_identifiers::Migration),
            Box::new(m20261208_000104_add_facility_code_map::Migration),
            Box::new(m20261208_000150_create_result_details::Migration),
            Box::new(m20261208_000180_create_patient_identifiers::Migration),
            Box::new(m20261208_000201_add_public_health_sources::Migration),
            Box::new(m20261208_000301_create_critical_alerts::Migration),
            Box::new(m20261208_000501_index_audit_events_by_patient::Migration),
        ]
    }
}
