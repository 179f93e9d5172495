//! Insurance coverages and claims.
//!
//! Creates `coverages`, `claims`.

use sea_orm_migration::{prelude::*, schema::*};

use crate::ENUM_LEN;

use crate::m20261123_000001_create_tenancy::Tenants;
use crate::m20261123_000002_create_patients::Patients;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Coverages::Table)
                    .col(pk_uuid(Coverages::Id))
                    .col(uuid(Coverages::TenantId))
                    .col(uuid(Coverages::PatientId))
                    .col(text(Coverages::Payer))
                    .col(text(Coverages::PlanName))
                    .col(text(Coverages::MemberId))
                    .col(text_null(Coverages::GroupNumber))
                    .col(date(Coverages::PeriodStart))
                    .col(date_null(Coverages::PeriodEnd))
                    .col(string_len(Coverages::Status, ENUM_LEN))
                    .col(timestamp_with_time_zone(Coverages::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_coverages_tenant_id")
                            .from(Coverages::Table, Coverages::TenantId)
                            .to(Tenants::Table, Tenants::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_coverages_patient_id")
                            .from(Coverages::Table, Coverages::PatientId)
                            .to(Patients::Table, Patients::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_coverages_patient_id")
                    .table(Coverages::Table)
                    .col(Coverages::PatientId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Claims::Table)
                    .col(pk_uuid(Claims::Id))
                    .col(uuid(Claims::TenantId))
                    .col(uuid(Claims::PatientId))
                    .col(uuid(Claims::CoverageId))
                    .col(text(Claims::ClaimNumber))
                    .col(date(Claims::ServiceDate))
                    .col(text(Claims::Description))
                    .col(big_integer(Claims::BilledCents))
                    .col(big_integer(Claims::AllowedCents))
                    .col(big_integer(Claims::PatientResponsibilityCents))
                    .col(text(Claims::Currency))
                    .col(string_len(Claims::Status, ENUM_LEN))
                    .col(timestamp_with_time_zone(Claims::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_claims_tenant_id")
                            .from(Claims::Table, Claims::TenantId)
                            .to(Tenants::Table, Tenants::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_claims_patient_id")
                            .from(Claims::Table, Claims::PatientId)
                            .to(Patients::Table, Patients::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_claims_coverage_id")
                            .from(Claims::Table, Claims::CoverageId)
                            .to(Coverages::Table, Coverages::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_claims_coverage_id_service_date")
                    .table(Claims::Table)
                    .col(Claims::CoverageId)
                    .col(Claims::ServiceDate)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_claims_patient_id_service_date")
                    .table(Claims::Table)
                    .col(Claims::PatientId)
                    .col(Claims::ServiceDate)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Claims::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Coverages::Table).to_owned())
            .await?;
        Ok(())
    }
}

#[derive(DeriveIden)]
pub(crate) enum Coverages {
    Table,
    Id,
    TenantId,
    PatientId,
    Payer,
    PlanName,
    MemberId,
    GroupNumber,
    PeriodStart,
    PeriodEnd,
    Status,
    CreatedAt,
}

#[derive(DeriveIden)]
pub(crate) enum Claims {
    Table,
    Id,
    TenantId,
    PatientId,
    CoverageId,
    ClaimNumber,
    ServiceDate,
    Description,
    BilledCents,
    AllowedCents,
    PatientResponsibilityCents,
    Currency,
    Status,
    CreatedAt,
}
