//! Critical results (issue 27): clinicians' contact channels and on-call flag
//! (`clinician_contacts`), each facility's critical-results switch and escalation delay
//! (`facility_critical_settings`) and chain (`escalation_steps`), the catalog's critical
//! limits per analyte (`critical_limits`), the alerts (`critical_alerts`, at most one open
//! per order and analyte) and their escalation jobs (`critical_alert_jobs`, one per alert
//! and step); the raw OBX-8 flags on `observations.abnormal_flags`; the ordering facility
//! of an order apart from the performing lab (`test_orders.ordering_facility_*`,
//! `entering_organization`). Every new table is under the tenant policy on PostgreSQL.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

use crate::ENUM_LEN;
use crate::columns;
use crate::m20261123_000001_create_tenancy::Tenants;

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: [&str; 6] = [
    "clinician_contacts",
    "facility_critical_settings",
    "escalation_steps",
    "critical_limits",
    "critical_alerts",
    "critical_alert_jobs",
];

/// The same policy as every other tenant table (m20261123_000021).
const CURRENT_TENANT: &str = "NULLIF(current_setting('app.tenant_id', true), '')::uuid";

const OPEN_ALERT: &str = "uq_critical_alerts_open_order_analyte";

#[derive(DeriveIden, Clone, Copy)]
enum Observations {
    Table,
    AbnormalFlags,
}

#[derive(DeriveIden, Clone, Copy)]
enum TestOrders {
    Table,
    OrderingFacilityName,
    OrderingFacilityIdentifier,
    EnteringOrganization,
}

#[derive(DeriveIden, Clone, Copy)]
enum ClinicianContacts {
    Table,
    ClinicianId,
    TenantId,
    Email,
    SmsPhone,
    OnCall,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum FacilityCriticalSettings {
    Table,
    FacilityId,
    TenantId,
    Enabled,
    EscalationSeconds,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum EscalationSteps {
    Table,
    Id,
    TenantId,
    FacilityId,
    Position,
    ClinicianId,
    Label,
    Phone,
}

#[derive(DeriveIden, Clone, Copy)]
enum CriticalLimits {
    Table,
    Id,
    TenantId,
    TestId,
    AnalyteCode,
    CriticalLow,
    CriticalHigh,
}

#[derive(DeriveIden, Clone, Copy)]
enum CriticalAlerts {
    Table,
    Id,
    TenantId,
    PatientId,
    OrderId,
    ResultId,
    AnalyteCode,
    Flag,
    Status,
    Step,
    FacilityId,
    AddresseeClinicianId,
    AddresseeLabel,
    RaisedAt,
    UpdatedAt,
    AcknowledgedAt,
    AcknowledgedByClinicianId,
    AcknowledgedBySubject,
    ReadBack,
    ClosedAt,
    CloseReason,
}

#[derive(DeriveIden, Clone, Copy)]
enum CriticalAlertJobs {
    Table,
    Id,
    TenantId,
    AlertId,
    Step,
    Status,
    RunAt,
    DueAt,
    Attempts,
    LastError,
    CreatedAt,
    DoneAt,
}

fn tenant_fk(
    table: &str,
    from: impl IntoIden + Clone + 'static,
    col: impl IntoIden + 'static,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{table}_tenant_id"))
        .from(from, col)
        .to(Tenants::Table, Tenants::Id)
        .to_owned()
}

fn tables() -> Vec<TableCreateStatement> {
    vec![
        Table::create()
            .table(ClinicianContacts::Table)
            .col(pk_uuid(ClinicianContacts::ClinicianId))
            .col(uuid(ClinicianContacts::TenantId))
            .col(text_null(ClinicianContacts::Email))
            .col(text_null(ClinicianContacts::SmsPhone))
            .col(boolean(ClinicianContacts::OnCall).default(false))
            .col(timestamp_with_time_zone(ClinicianContacts::UpdatedAt))
            .foreign_key(&mut tenant_fk(
                "clinician_contacts",
                ClinicianContacts::Table,
                ClinicianContacts::TenantId,
            ))
            .to_owned(),
        Table::create()
            .table(FacilityCriticalSettings::Table)
            .col(pk_uuid(FacilityCriticalSettings::FacilityId))
            .col(uuid(FacilityCriticalSettings::TenantId))
            .col(boolean(FacilityCriticalSettings::Enabled).default(false))
            .col(integer(FacilityCriticalSettings::EscalationSeconds).default(1800))
            .col(timestamp_with_time_zone(
                FacilityCriticalSettings::UpdatedAt,
            ))
            .foreign_key(&mut tenant_fk(
                "facility_critical_settings",
                FacilityCriticalSettings::Table,
                FacilityCriticalSettings::TenantId,
            ))
            .to_owned(),
        Table::create()
            .table(EscalationSteps::Table)
            .col(pk_uuid(EscalationSteps::Id))
            .col(uuid(EscalationSteps::TenantId))
            .col(uuid(EscalationSteps::FacilityId))
            .col(integer(EscalationSteps::Position))
            .col(uuid_null(EscalationSteps::ClinicianId))
            .col(text(EscalationSteps::Label))
            .col(text_null(EscalationSteps::Phone))
            .foreign_key(&mut tenant_fk(
                "escalation_steps",
                EscalationSteps::Table,
                EscalationSteps::TenantId,
            ))
            .to_owned(),
        Table::create()
            .table(CriticalLimits::Table)
            .col(pk_uuid(CriticalLimits::Id))
            .col(uuid(CriticalLimits::TenantId))
            .col(uuid(CriticalLimits::TestId))
            .col(text(CriticalLimits::AnalyteCode))
            .col(double_null(CriticalLimits::CriticalLow))
            .col(double_null(CriticalLimits::CriticalHigh))
            .foreign_key(&mut tenant_fk(
                "critical_limits",
                CriticalLimits::Table,
                CriticalLimits::TenantId,
            ))
            .to_owned(),
        Table::create()
            .table(CriticalAlerts::Table)
            .col(pk_uuid(CriticalAlerts::Id))
            .col(uuid(CriticalAlerts::TenantId))
            .col(uuid(CriticalAlerts::PatientId))
            .col(uuid(CriticalAlerts::OrderId))
            .col(uuid(CriticalAlerts::ResultId))
            .col(text(CriticalAlerts::AnalyteCode))
            .col(string_len(CriticalAlerts::Flag, ENUM_LEN))
            .col(string_len(CriticalAlerts::Status, ENUM_LEN))
            .col(integer(CriticalAlerts::Step))
            .col(uuid(CriticalAlerts::FacilityId))
            .col(uuid_null(CriticalAlerts::AddresseeClinicianId))
            .col(text_null(CriticalAlerts::AddresseeLabel))
            .col(timestamp_with_time_zone(CriticalAlerts::RaisedAt))
            .col(timestamp_with_time_zone(CriticalAlerts::UpdatedAt))
            .col(timestamp_with_time_zone_null(
                CriticalAlerts::AcknowledgedAt,
            ))
            .col(uuid_null(CriticalAlerts::AcknowledgedByClinicianId))
            .col(text_null(CriticalAlerts::AcknowledgedBySubject))
            .col(text_null(CriticalAlerts::ReadBack))
            .col(timestamp_with_time_zone_null(CriticalAlerts::ClosedAt))
            .col(text_null(CriticalAlerts::CloseReason))
            .foreign_key(&mut tenant_fk(
                "critical_alerts",
                CriticalAlerts::Table,
                CriticalAlerts::TenantId,
            ))
            .to_owned(),
        Table::create()
            .table(CriticalAlertJobs::Table)
            .col(pk_uuid(CriticalAlertJobs::Id))
            .col(uuid(CriticalAlertJobs::TenantId))
            .col(uuid(CriticalAlertJobs::AlertId))
            .col(integer(CriticalAlertJobs::Step))
            .col(string_len(CriticalAlertJobs::Status, ENUM_LEN))
            .col(timestamp_with_time_zone(CriticalAlertJobs::RunAt))
            .col(timestamp_with_time_zone(CriticalAlertJobs::DueAt))
            .col(integer(CriticalAlertJobs::Attempts))
            .col(text_null(CriticalAlertJobs::LastError))
            .col(timestamp_with_time_zone(CriticalAlertJobs::CreatedAt))
            .col(timestamp_with_time_zone_null(CriticalAlertJobs::DoneAt))
            .foreign_key(&mut tenant_fk(
                "critical_alert_jobs",
                CriticalAlertJobs::Table,
                CriticalAlertJobs::TenantId,
            ))
            .to_owned(),
    ]
}

fn indexes() -> Vec<IndexCreateStatement> {
    vec![
        Index::create()
            .name("uq_escalation_steps_facility_id_position")
            .table(EscalationSteps::Table)
            .col(EscalationSteps::FacilityId)
            .col(EscalationSteps::Position)
            .unique()
            .to_owned(),
        Index::create()
            .name("uq_critical_limits_tenant_id_test_id_analyte_code")
            .table(CriticalLimits::Table)
            .col(CriticalLimits::TenantId)
            .col(CriticalLimits::TestId)
            .col(CriticalLimits::AnalyteCode)
            .unique()
            .to_owned(),
        Index::create()
            .name("idx_critical_alerts_tenant_id_status_raised_at")
            .table(CriticalAlerts::Table)
            .col(CriticalAlerts::TenantId)
            .col(CriticalAlerts::Status)
            .col(CriticalAlerts::RaisedAt)
            .to_owned(),
        Index::create()
            .name("uq_critical_alert_jobs_alert_id_step")
            .table(CriticalAlertJobs::Table)
            .col(CriticalAlertJobs::AlertId)
            .col(CriticalAlertJobs::Step)
            .unique()
            .to_owned(),
        Index::create()
            .name("idx_critical_alert_jobs_status_run_at")
            .table(CriticalAlertJobs::Table)
            .col(CriticalAlertJobs::Status)
            .col(CriticalAlertJobs::RunAt)
            .to_owned(),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        columns::add(
            manager,
            Observations::Table,
            vec![text_null(Observations::AbnormalFlags)],
        )
        .await?;
        columns::add(
            manager,
            TestOrders::Table,
            vec![
                text_null(TestOrders::OrderingFacilityName),
                text_null(TestOrders::OrderingFacilityIdentifier),
                text_null(TestOrders::EnteringOrganization),
            ],
        )
        .await?;
        for table in tables() {
            manager.create_table(table).await?;
        }
        for index in indexes() {
            manager.create_index(index).await?;
        }
        // One open alert per order and analyte: a partial unique index (both backends).
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "CREATE UNIQUE INDEX {OPEN_ALERT} ON critical_alerts \
                 (tenant_id, order_id, analyte_code) WHERE status = 'OPEN'"
            ))
            .await?;
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            let db = manager.get_connection();
            for table in TABLES {
                db.execute_unprepared(&format!("ALTER TABLE {table} ENABLE ROW LEVEL SECURITY"))
                    .await?;
                db.execute_unprepared(&format!("ALTER TABLE {table} FORCE ROW LEVEL SECURITY"))
                    .await?;
                db.execute_unprepared(&format!(
                    "CREATE POLICY tenant_isolation ON {table} USING (tenant_id = {CURRENT_TENANT}) \
                     WITH CHECK (tenant_id = {CURRENT_TENANT})"
                ))
                .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in TABLES.iter().rev() {
            manager
                .drop_table(Table::drop().table(Alias::new(*table)).to_owned())
                .await?;
        }
        columns::drop(
            manager,
            TestOrders::Table,
            vec![
                TestOrders::OrderingFacilityName.into_iden(),
                TestOrders::OrderingFacilityIdentifier.into_iden(),
                TestOrders::EnteringOrganization.into_iden(),
            ],
        )
        .await?;
        columns::drop(
            manager,
            Observations::Table,
            vec![Observations::AbnormalFlags.into_iden()],
        )
        .await
    }
}
