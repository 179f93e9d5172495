//! `result_details` and `observation_details`: what a laboratory sends with a result and its
//! observations beyond the value — specimen collection and receipt times, specimen type and
//! source, the performing laboratory (name, identifier with its type, address, director),
//! and per observation its time, device and reference range as the laboratory wrote it.
//!
//! Kept in tables of their own (one row per result / observation, only when something was
//! sent) so the result and observation rows stay as they are. On PostgreSQL both get
//! row-level security like the other tenant tables (docs/row-level-security.md).

use sea_orm_migration::sea_orm::DatabaseBackend;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ResultDetails {
    Table,
    ResultId,
    TenantId,
    CollectedAt,
    ReceivedAt,
    SpecimenTypeCode,
    SpecimenTypeDisplay,
    SpecimenTypeSystem,
    SpecimenSource,
    LabName,
    LabIdentifier,
    LabIdentifierType,
    LabIdentifierSystem,
    LabAddress,
    LabDirector,
}

#[derive(DeriveIden)]
enum ObservationDetails {
    Table,
    ObservationId,
    TenantId,
    ResultId,
    ObservedAt,
    DeviceName,
    DeviceIdentifier,
    ReferenceRange,
}

#[derive(DeriveIden)]
enum TestResults {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Observations {
    Table,
    Id,
}

const OBSERVATION_RESULT: &str = "idx_observation_details_tenant_id_result_id";

fn rls(table: &str) -> [String; 3] {
    [
        format!("ALTER TABLE {table} ENABLE ROW LEVEL SECURITY"),
        format!("ALTER TABLE {table} FORCE ROW LEVEL SECURITY"),
        format!(
            "CREATE POLICY tenant_isolation ON {table} \
             USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid) \
             WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)"
        ),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ResultDetails::Table)
                    .col(pk_uuid(ResultDetails::ResultId))
                    .col(uuid(ResultDetails::TenantId))
                    .col(timestamp_with_time_zone_null(ResultDetails::CollectedAt))
                    .col(timestamp_with_time_zone_null(ResultDetails::ReceivedAt))
                    .col(text_null(ResultDetails::SpecimenTypeCode))
                    .col(text_null(ResultDetails::SpecimenTypeDisplay))
                    .col(text_null(ResultDetails::SpecimenTypeSystem))
                    .col(text_null(ResultDetails::SpecimenSource))
                    .col(text_null(ResultDetails::LabName))
                    .col(text_null(ResultDetails::LabIdentifier))
                    .col(text_null(ResultDetails::LabIdentifierType))
                    .col(text_null(ResultDetails::LabIdentifierSystem))
                    .col(text_null(ResultDetails::LabAddress))
                    .col(text_null(ResultDetails::LabDirector))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_result_details_result_id")
                            .from(ResultDetails::Table, ResultDetails::ResultId)
                            .to(TestResults::Table, TestResults::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ObservationDetails::Table)
                    .col(pk_uuid(ObservationDetails::ObservationId))
                    .col(uuid(ObservationDetails::TenantId))
                    .col(uuid(ObservationDetails::ResultId))
                    .col(timestamp_with_time_zone_null(
                        ObservationDetails::ObservedAt,
                    ))
                    .col(text_null(ObservationDetails::DeviceName))
                    .col(text_null(ObservationDetails::DeviceIdentifier))
                    .col(text_null(ObservationDetails::ReferenceRange))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_observation_details_observation_id")
                            .from(ObservationDetails::Table, ObservationDetails::ObservationId)
                            .to(Observations::Table, Observations::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(OBSERVATION_RESULT)
                    .table(ObservationDetails::Table)
                    .col(ObservationDetails::TenantId)
                    .col(ObservationDetails::ResultId)
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            for table in ["result_details", "observation_details"] {
                for statement in rls(table) {
                    manager
                        .get_connection()
                        .execute_unprepared(&statement)
                        .await?;
                }
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ObservationDetails::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(ResultDetails::Table).to_owned())
            .await
    }
}
