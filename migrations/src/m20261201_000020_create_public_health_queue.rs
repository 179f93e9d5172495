//! The public-health reporting queue: `public_health_reports` (one row per reported result
//! version, unique by result), `public_health_batches` (an upload with its stable id and the
//! exact CSV it sends) and `public_health_errors` (rows the receiver refused, with its
//! answer), all under the tenant policy on PostgreSQL; and `test_catalog.device_model`, the
//! `equipment_model_name` a report needs.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

use crate::ENUM_LEN;
use crate::columns;
use crate::m20261123_000001_create_tenancy::Tenants;
use crate::m20261123_000004_create_orders_and_results::TestResults;

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: [&str; 3] = [
    "public_health_batches",
    "public_health_reports",
    "public_health_errors",
];

/// The same policy as every other tenant table (m20261123_000021).
const CURRENT_TENANT: &str = "NULLIF(current_setting('app.tenant_id', true), '')::uuid";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        columns::add(
            manager,
            TestCatalog::Table,
            vec![text_null(TestCatalog::DeviceModel)],
        )
        .await?;
        manager.create_table(batches()).await?;
        manager.create_table(reports()).await?;
        manager.create_table(errors()).await?;
        for index in indexes() {
            manager.create_index(index).await?;
        }
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
        for table in [
            PublicHealthErrors::Table.into_iden(),
            PublicHealthReports::Table.into_iden(),
            PublicHealthBatches::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        columns::drop(
            manager,
            TestCatalog::Table,
            vec![TestCatalog::DeviceModel.into_iden()],
        )
        .await
    }
}

fn batches() -> TableCreateStatement {
    Table::create()
        .table(PublicHealthBatches::Table)
        .col(pk_uuid(PublicHealthBatches::Id))
        .col(uuid(PublicHealthBatches::TenantId))
        .col(string_len(PublicHealthBatches::Status, ENUM_LEN))
        .col(integer(PublicHealthBatches::RowCount))
        .col(text(PublicHealthBatches::Payload))
        .col(integer(PublicHealthBatches::Attempts))
        .col(timestamp_with_time_zone(PublicHealthBatches::NextAttemptAt))
        .col(integer_null(PublicHealthBatches::LastStatus))
        .col(text_null(PublicHealthBatches::LastError))
        .col(timestamp_with_time_zone(PublicHealthBatches::CreatedAt))
        .col(timestamp_with_time_zone_null(PublicHealthBatches::SentAt))
        .foreign_key(
            ForeignKey::create()
                .name("fk_public_health_batches_tenant_id")
                .from(PublicHealthBatches::Table, PublicHealthBatches::TenantId)
                .to(Tenants::Table, Tenants::Id),
        )
        .to_owned()
}

fn reports() -> TableCreateStatement {
    Table::create()
        .table(PublicHealthReports::Table)
        .col(pk_uuid(PublicHealthReports::Id))
        .col(uuid(PublicHealthReports::TenantId))
        .col(uuid(PublicHealthReports::ResultId))
        .col(string_len(PublicHealthReports::Kind, ENUM_LEN))
        .col(string_len(PublicHealthReports::Status, ENUM_LEN))
        .col(uuid_null(PublicHealthReports::BatchId))
        .col(timestamp_with_time_zone(PublicHealthReports::CreatedAt))
        .col(timestamp_with_time_zone_null(PublicHealthReports::SentAt))
        .foreign_key(
            ForeignKey::create()
                .name("fk_public_health_reports_tenant_id")
                .from(PublicHealthReports::Table, PublicHealthReports::TenantId)
                .to(Tenants::Table, Tenants::Id),
        )
        .foreign_key(
            ForeignKey::create()
                .name("fk_public_health_reports_result_id")
                .from(PublicHealthReports::Table, PublicHealthReports::ResultId)
                .to(TestResults::Table, TestResults::Id),
        )
        .foreign_key(
            ForeignKey::create()
                .name("fk_public_health_reports_batch_id")
                .from(PublicHealthReports::Table, PublicHealthReports::BatchId)
                .to(PublicHealthBatches::Table, PublicHealthBatches::Id),
        )
        .to_owned()
}

fn errors() -> TableCreateStatement {
    Table::create()
        .table(PublicHealthErrors::Table)
        .col(pk_uuid(PublicHealthErrors::Id))
        .col(uuid(PublicHealthErrors::TenantId))
        .col(uuid(PublicHealthErrors::ReportId))
        .col(uuid_null(PublicHealthErrors::BatchId))
        .col(integer_null(PublicHealthErrors::HttpStatus))
        .col(text(PublicHealthErrors::Message))
        .col(text_null(PublicHealthErrors::Response))
        .col(timestamp_with_time_zone(PublicHealthErrors::CreatedAt))
        .col(timestamp_with_time_zone_null(
            PublicHealthErrors::ReplayedAt,
        ))
        .foreign_key(
            ForeignKey::create()
                .name("fk_public_health_errors_tenant_id")
                .from(PublicHealthErrors::Table, PublicHealthErrors::TenantId)
                .to(Tenants::Table, Tenants::Id),
        )
        .foreign_key(
            ForeignKey::create()
                .name("fk_public_health_errors_report_id")
                .from(PublicHealthErrors::Table, PublicHealthErrors::ReportId)
                .to(PublicHealthReports::Table, PublicHealthReports::Id),
        )
        .to_owned()
}

/// One report per result version; the queue read (status, age), a batch's members, due
/// batches, and the open error queue.
fn indexes() -> Vec<IndexCreateStatement> {
    vec![
        Index::create()
            .name("uq_public_health_reports_result_id")
            .table(PublicHealthReports::Table)
            .col(PublicHealthReports::ResultId)
            .unique()
            .to_owned(),
        Index::create()
            .name("idx_public_health_reports_status_created_at")
            .table(PublicHealthReports::Table)
            .col(PublicHealthReports::Status)
            .col(PublicHealthReports::CreatedAt)
            .to_owned(),
        Index::create()
            .name("idx_public_health_reports_batch_id")
            .table(PublicHealthReports::Table)
            .col(PublicHealthReports::BatchId)
            .to_owned(),
        Index::create()
            .name("idx_public_health_batches_status_next_attempt_at")
            .table(PublicHealthBatches::Table)
            .col(PublicHealthBatches::Status)
            .col(PublicHealthBatches::NextAttemptAt)
            .to_owned(),
        Index::create()
            .name("idx_public_health_errors_replayed_at_created_at")
            .table(PublicHealthErrors::Table)
            .col(PublicHealthErrors::ReplayedAt)
            .col(PublicHealthErrors::CreatedAt)
            .to_owned(),
    ]
}

#[derive(DeriveIden, Clone, Copy)]
enum TestCatalog {
    Table,
    DeviceModel,
}

#[derive(DeriveIden)]
enum PublicHealthBatches {
    Table,
    Id,
    TenantId,
    Status,
    RowCount,
    Payload,
    Attempts,
    NextAttemptAt,
    LastStatus,
    LastError,
    CreatedAt,
    SentAt,
}

#[derive(DeriveIden)]
enum PublicHealthReports {
    Table,
    Id,
    TenantId,
    ResultId,
    Kind,
    Status,
    BatchId,
    CreatedAt,
    SentAt,
}

#[derive(DeriveIden)]
enum PublicHealthErrors {
    Table,
    Id,
    TenantId,
    ReportId,
    BatchId,
    HttpStatus,
    Message,
    Response,
    CreatedAt,
    ReplayedAt,
}
