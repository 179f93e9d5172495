//! Patient identity by (assigning authority, identifier): `patient_id_authorities` (the
//! tenant's own authority, and one per sending facility with its walk-in rules),
//! `patient_identifiers` (a patient's identifiers under other authorities) and
//! `patient_matches` (the staff matching queue).
//!
//! Today's MRNs move to the tenant's own authority: every existing tenant gets its own
//! authority row (id = the tenant's id, namespace = its slug in upper case), to which
//! `patients.mrn` belongs. Plain `INSERT … SELECT`, so it runs the same on SQLite and
//! PostgreSQL. On PostgreSQL the three tables get row-level security like every tenant table.

use sea_orm_migration::sea_orm::DatabaseBackend;
use sea_orm_migration::{prelude::*, schema::*};

use crate::ENUM_LEN;
use crate::m20261123_000001_create_tenancy::Tenants;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PatientIdAuthorities {
    Table,
    Id,
    TenantId,
    FacilityId,
    Namespace,
    UniversalId,
    UniversalIdType,
    RegistersPatients,
    SendsResultLinks,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum PatientIdentifiers {
    Table,
    Id,
    TenantId,
    PatientId,
    AuthorityId,
    Value,
    WalkIn,
    CreatedAt,
}

#[derive(DeriveIden)]
enum PatientMatches {
    Table,
    Id,
    TenantId,
    Hl7MessageId,
    AuthorityId,
    Value,
    GivenName,
    FamilyName,
    BirthDate,
    CandidatePatientId,
    Status,
    ResolvedPatientId,
    ResolvedBy,
    ResolvedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Patients {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Facilities {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Hl7Messages {
    Table,
    Id,
}

const TABLES: [&str; 3] = [
    "patient_id_authorities",
    "patient_identifiers",
    "patient_matches",
];

/// Today's MRNs: each tenant's own authority (no facility), named by its slug.
const OWN_AUTHORITIES: &str = "INSERT INTO patient_id_authorities \
     (id, tenant_id, facility_id, namespace, universal_id, universal_id_type, \
      registers_patients, sends_result_links, created_at, updated_at) \
     SELECT id, id, NULL, UPPER(slug), NULL, NULL, FALSE, FALSE, created_at, NULL FROM tenants";

fn rls(table: &str) -> [String; 3] {
    let tenant = "NULLIF(current_setting('app.tenant_id', true), '')::uuid";
    [
        format!("ALTER TABLE {table} ENABLE ROW LEVEL SECURITY"),
        format!("ALTER TABLE {table} FORCE ROW LEVEL SECURITY"),
        format!(
            "CREATE POLICY tenant_isolation ON {table} \
             USING (tenant_id = {tenant}) WITH CHECK (tenant_id = {tenant})"
        ),
    ]
}

fn fk(
    name: &str,
    from: (impl IntoIden, impl IntoIden),
    to: (impl IntoIden, impl IntoIden),
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(from.0, from.1)
        .to(to.0, to.1)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use PatientIdAuthorities as A;
        use PatientIdentifiers as I;
        use PatientMatches as M;
        manager
            .create_table(
                Table::create()
                    .table(A::Table)
                    .col(pk_uuid(A::Id))
                    .col(uuid(A::TenantId))
                    .col(uuid_null(A::FacilityId))
                    .col(text_null(A::Namespace))
                    .col(text_null(A::UniversalId))
                    .col(text_null(A::UniversalIdType))
                    .col(boolean(A::RegistersPatients))
                    .col(boolean(A::SendsResultLinks))
                    .col(timestamp_with_time_zone(A::CreatedAt))
                    .col(timestamp_with_time_zone_null(A::UpdatedAt))
                    .foreign_key(&mut fk(
                        "fk_patient_id_authorities_tenant_id",
                        (A::Table, A::TenantId),
                        (Tenants::Table, Tenants::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_patient_id_authorities_facility_id",
                        (A::Table, A::FacilityId),
                        (Facilities::Table, Facilities::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_patient_id_authorities_tenant_id_facility_id")
                    .table(A::Table)
                    .col(A::TenantId)
                    .col(A::FacilityId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(I::Table)
                    .col(pk_uuid(I::Id))
                    .col(uuid(I::TenantId))
                    .col(uuid(I::PatientId))
                    .col(uuid(I::AuthorityId))
                    .col(text(I::Value))
                    .col(boolean(I::WalkIn))
                    .col(timestamp_with_time_zone(I::CreatedAt))
                    .foreign_key(&mut fk(
                        "fk_patient_identifiers_tenant_id",
                        (I::Table, I::TenantId),
                        (Tenants::Table, Tenants::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_patient_identifiers_patient_id",
                        (I::Table, I::PatientId),
                        (Patients::Table, Patients::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_patient_identifiers_authority_id",
                        (I::Table, I::AuthorityId),
                        (A::Table, A::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_patient_identifiers_tenant_id_authority_id_value")
                    .table(I::Table)
                    .col(I::TenantId)
                    .col(I::AuthorityId)
                    .col(I::Value)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_patient_identifiers_patient_id")
                    .table(I::Table)
                    .col(I::PatientId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(M::Table)
                    .col(pk_uuid(M::Id))
                    .col(uuid(M::TenantId))
                    .col(uuid(M::Hl7MessageId))
                    .col(uuid(M::AuthorityId))
                    .col(text(M::Value))
                    .col(text(M::GivenName))
                    .col(text(M::FamilyName))
                    .col(date(M::BirthDate))
                    .col(uuid(M::CandidatePatientId))
                    .col(string_len(M::Status, ENUM_LEN))
                    .col(uuid_null(M::ResolvedPatientId))
                    .col(text_null(M::ResolvedBy))
                    .col(timestamp_with_time_zone_null(M::ResolvedAt))
                    .col(timestamp_with_time_zone(M::CreatedAt))
                    .foreign_key(&mut fk(
                        "fk_patient_matches_tenant_id",
                        (M::Table, M::TenantId),
                        (Tenants::Table, Tenants::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_patient_matches_hl7_message_id",
                        (M::Table, M::Hl7MessageId),
                        (Hl7Messages::Table, Hl7Messages::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_patient_matches_authority_id",
                        (M::Table, M::AuthorityId),
                        (A::Table, A::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_patient_matches_candidate_patient_id",
                        (M::Table, M::CandidatePatientId),
                        (Patients::Table, Patients::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_patient_matches_tenant_id_status_created_at")
                    .table(M::Table)
                    .col(M::TenantId)
                    .col(M::Status)
                    .col(M::CreatedAt)
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        db.execute_unprepared(OWN_AUTHORITIES).await?;
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            for table in TABLES {
                for statement in rls(table) {
                    db.execute_unprepared(&statement).await?;
                }
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            PatientMatches::Table.into_iden(),
            PatientIdentifiers::Table.into_iden(),
            PatientIdAuthorities::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
