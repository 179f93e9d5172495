//! Appointments.
//!
//! Creates `appointments`.

use sea_orm_migration::{prelude::*, schema::*};

use crate::ENUM_LEN;

use crate::m20261123_000001_create_tenancy::{Clinicians, Facilities, Tenants};
use crate::m20261123_000002_create_patients::Patients;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Appointments::Table)
                    .col(pk_uuid(Appointments::Id))
                    .col(uuid(Appointments::TenantId))
                    .col(uuid(Appointments::PatientId))
                    .col(uuid(Appointments::FacilityId))
                    .col(uuid_null(Appointments::ClinicianId))
                    .col(string_len(Appointments::Kind, ENUM_LEN))
                    .col(timestamp_with_time_zone(Appointments::StartsAt))
                    .col(timestamp_with_time_zone(Appointments::EndsAt))
                    .col(string_len(Appointments::Status, ENUM_LEN))
                    .col(text_null(Appointments::Reason))
                    .col(timestamp_with_time_zone(Appointments::CreatedAt))
                    .col(timestamp_with_time_zone_null(Appointments::CancelledAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_appointments_tenant_id")
                            .from(Appointments::Table, Appointments::TenantId)
                            .to(Tenants::Table, Tenants::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_appointments_patient_id")
                            .from(Appointments::Table, Appointments::PatientId)
                            .to(Patients::Table, Patients::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_appointments_facility_id")
                            .from(Appointments::Table, Appointments::FacilityId)
                            .to(Facilities::Table, Facilities::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_appointments_clinician_id")
                            .from(Appointments::Table, Appointments::ClinicianId)
                            .to(Clinicians::Table, Clinicians::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_appointments_patient_id_starts_at")
                    .table(Appointments::Table)
                    .col(Appointments::PatientId)
                    .col(Appointments::StartsAt)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Appointments::Table).to_owned())
            .await?;
        Ok(())
    }
}

#[derive(DeriveIden)]
pub(crate) enum Appointments {
    Table,
    Id,
    TenantId,
    PatientId,
    FacilityId,
    ClinicianId,
    Kind,
    StartsAt,
    EndsAt,
    Status,
    Reason,
    CreatedAt,
    CancelledAt,
}
