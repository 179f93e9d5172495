//! What a public-health report says of the facility (structured address, phone) and of the
//! ordering provider (given and family name beside the display name), `updated_at` on both,
//! and one NPI per clinician within a tenant. `facilities.address` stays the street line.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{text_null, timestamp_with_time_zone_null};

use crate::columns;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Facilities {
    Table,
    City,
    State,
    PostalCode,
    Country,
    Phone,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Clinicians {
    Table,
    TenantId,
    Npi,
    GivenName,
    FamilyName,
    UpdatedAt,
}

const FACILITY_TEXT: [Facilities; 5] = [
    Facilities::City,
    Facilities::State,
    Facilities::PostalCode,
    Facilities::Country,
    Facilities::Phone,
];

const UNIQUE_NPI: &str = "uq_clinicians_tenant_id_npi";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut facility: Vec<ColumnDef> = FACILITY_TEXT.iter().map(|&c| text_null(c)).collect();
        facility.push(timestamp_with_time_zone_null(Facilities::UpdatedAt));
        columns::add(manager, Facilities::Table, facility).await?;
        columns::add(
            manager,
            Clinicians::Table,
            vec![
                text_null(Clinicians::GivenName),
                text_null(Clinicians::FamilyName),
                timestamp_with_time_zone_null(Clinicians::UpdatedAt),
            ],
        )
        .await?;
        manager
            .create_index(
                Index::create()
                    .name(UNIQUE_NPI)
                    .table(Clinicians::Table)
                    .col(Clinicians::TenantId)
                    .col(Clinicians::Npi)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(UNIQUE_NPI)
                    .table(Clinicians::Table)
                    .to_owned(),
            )
            .await?;
        columns::drop(
            manager,
            Clinicians::Table,
            vec![
                Clinicians::GivenName.into_iden(),
                Clinicians::FamilyName.into_iden(),
                Clinicians::UpdatedAt.into_iden(),
            ],
        )
        .await?;
        let mut facility: Vec<DynIden> = FACILITY_TEXT.iter().map(|&c| c.into_iden()).collect();
        facility.push(Facilities::UpdatedAt.into_iden());
        columns::drop(manager, Facilities::Table, facility).await
    }
}
