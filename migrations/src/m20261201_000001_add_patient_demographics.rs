//! Patient demographics a public-health report needs (administrative sex, race, ethnicity,
//! a structured address, preferred language) and `updated_at`, with the indexes of the staff
//! search by name and birth date (MRN uses `uq_patients_tenant_id_mrn`).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{text_null, timestamp_with_time_zone_null};

use crate::columns;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Patients {
    Table,
    TenantId,
    BirthDate,
    Sex,
    Race,
    Ethnicity,
    AddressLine1,
    AddressLine2,
    City,
    State,
    PostalCode,
    County,
    Country,
    Language,
    UpdatedAt,
}

const NEW_COLUMNS: [Patients; 12] = [
    Patients::Sex,
    Patients::Race,
    Patients::Ethnicity,
    Patients::AddressLine1,
    Patients::AddressLine2,
    Patients::City,
    Patients::State,
    Patients::PostalCode,
    Patients::County,
    Patients::Country,
    Patients::Language,
    Patients::UpdatedAt,
];

const BIRTH_DATE: &str = "idx_patients_tenant_id_birth_date";

/// Name search is a case-insensitive prefix match on either name (`lower(name) LIKE 'x%'`);
/// on PostgreSQL `text_pattern_ops` lets such a LIKE use the index whatever the collation.
const NAME_INDEXES: [(&str, &str, &str); 2] = [
    (
        "CREATE INDEX idx_patients_family_name_lower ON patients (tenant_id, lower(family_name) text_pattern_ops)",
        "CREATE INDEX idx_patients_family_name_lower ON patients (tenant_id, lower(family_name))",
        "DROP INDEX idx_patients_family_name_lower",
    ),
    (
        "CREATE INDEX idx_patients_given_name_lower ON patients (tenant_id, lower(given_name) text_pattern_ops)",
        "CREATE INDEX idx_patients_given_name_lower ON patients (tenant_id, lower(given_name))",
        "DROP INDEX idx_patients_given_name_lower",
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let columns = NEW_COLUMNS
            .iter()
            .map(|&c| match c {
                Patients::UpdatedAt => timestamp_with_time_zone_null(c),
                _ => text_null(c),
            })
            .collect();
        columns::add(manager, Patients::Table, columns).await?;
        manager
            .create_index(
                Index::create()
                    .name(BIRTH_DATE)
                    .table(Patients::Table)
                    .col(Patients::TenantId)
                    .col(Patients::BirthDate)
                    .to_owned(),
            )
            .await?;
        for (postgres, sqlite, _) in NAME_INDEXES {
            columns::execute_for(manager, postgres, sqlite).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (_, _, drop) in NAME_INDEXES {
            columns::execute_for(manager, drop, drop).await?;
        }
        manager
            .drop_index(
                Index::drop()
                    .name(BIRTH_DATE)
                    .table(Patients::Table)
                    .to_owned(),
            )
            .await?;
        let columns = NEW_COLUMNS.iter().map(|&c| c.into_iden()).collect();
        columns::drop(manager, Patients::Table, columns).await
    }
}
