//! Test orders, results, observations, imaging reports and result views.
//!
//! Creates `test_orders`, `test_results`, `observations`, `imaging_reports`, `result_views`.

use sea_orm_migration::{prelude::*, schema::*};

use crate::ENUM_LEN;

use crate::m20261123_000001_create_tenancy::{Clinicians, Facilities, Tenants};
use crate::m20261123_000002_create_patients::Patients;
use crate::m20261123_000003_create_test_catalog::TestCatalog;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TestOrders::Table)
                    .col(pk_uuid(TestOrders::Id))
                    .col(uuid(TestOrders::TenantId))
                    .col(uuid(TestOrders::PatientId))
                    .col(uuid(TestOrders::FacilityId))
                    .col(uuid(TestOrders::TestId))
                    .col(uuid_null(TestOrders::OrderingClinicianId))
                    .col(uuid_null(TestOrders::ReferringClinicianId))
                    // `appointments` is created by a later migration and SQLite cannot add a
                    // foreign key afterwards: `appointment_id` is indexed but not constrained.
                    .col(uuid_null(TestOrders::AppointmentId))
                    .col(string_len(TestOrders::Source, ENUM_LEN))
                    .col(string_len(TestOrders::Status, ENUM_LEN))
                    .col(text_null(TestOrders::AccessionNumber))
                    .col(timestamp_with_time_zone(TestOrders::OrderedAt))
                    .col(timestamp_with_time_zone(TestOrders::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_test_orders_tenant_id")
                            .from(TestOrders::Table, TestOrders::TenantId)
                            .to(Tenants::Table, Tenants::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_test_orders_patient_id")
                            .from(TestOrders::Table, TestOrders::PatientId)
                            .to(Patients::Table, Patients::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_test_orders_facility_id")
                            .from(TestOrders::Table, TestOrders::FacilityId)
                            .to(Facilities::Table, Facilities::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_test_orders_test_id")
                            .from(TestOrders::Table, TestOrders::TestId)
                            .to(TestCatalog::Table, TestCatalog::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_test_orders_ordering_clinician_id")
                            .from(TestOrders::Table, TestOrders::OrderingClinicianId)
                            .to(Clinicians::Table, Clinicians::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_test_orders_referring_clinician_id")
                            .from(TestOrders::Table, TestOrders::ReferringClinicianId)
                            .to(Clinicians::Table, Clinicians::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_test_orders_patient_id_ordered_at")
                    .table(TestOrders::Table)
                    .col(TestOrders::PatientId)
                    .col(TestOrders::OrderedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_test_orders_ordering_clinician_id")
                    .table(TestOrders::Table)
                    .col(TestOrders::OrderingClinicianId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_test_orders_referring_clinician_id")
                    .table(TestOrders::Table)
                    .col(TestOrders::ReferringClinicianId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_test_orders_appointment_id")
                    .table(TestOrders::Table)
                    .col(TestOrders::AppointmentId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(TestResults::Table)
                    .col(pk_uuid(TestResults::Id))
                    .col(uuid(TestResults::TenantId))
                    .col(uuid(TestResults::PatientId))
                    .col(uuid(TestResults::OrderId))
                    .col(uuid(TestResults::TestId))
                    .col(string_len(TestResults::Category, ENUM_LEN))
                    .col(string_len(TestResults::Status, ENUM_LEN))
                    .col(timestamp_with_time_zone(TestResults::IssuedAt))
                    .col(text_null(TestResults::PerformingLab))
                    .col(text_null(TestResults::Conclusion))
                    .col(uuid(TestResults::ChainId))
                    .col(uuid_null(TestResults::ReplacesResultId))
                    .col(text_null(TestResults::CorrectionReason))
                    .col(text_null(TestResults::IdempotencyKey))
                    .col(timestamp_with_time_zone(TestResults::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_test_results_tenant_id")
                            .from(TestResults::Table, TestResults::TenantId)
                            .to(Tenants::Table, Tenants::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_test_results_patient_id")
                            .from(TestResults::Table, TestResults::PatientId)
                            .to(Patients::Table, Patients::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_test_results_order_id")
                            .from(TestResults::Table, TestResults::OrderId)
                            .to(TestOrders::Table, TestOrders::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_test_results_test_id")
                            .from(TestResults::Table, TestResults::TestId)
                            .to(TestCatalog::Table, TestCatalog::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_test_results_replaces_result_id")
                            .from(TestResults::Table, TestResults::ReplacesResultId)
                            .to(TestResults::Table, TestResults::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_test_results_patient_id_issued_at")
                    .table(TestResults::Table)
                    .col(TestResults::PatientId)
                    .col(TestResults::IssuedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_test_results_chain_id")
                    .table(TestResults::Table)
                    .col(TestResults::ChainId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_test_results_replaces_result_id")
                    .table(TestResults::Table)
                    .col(TestResults::ReplacesResultId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_test_results_order_id")
                    .table(TestResults::Table)
                    .col(TestResults::OrderId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_test_results_tenant_id_idempotency_key")
                    .table(TestResults::Table)
                    .col(TestResults::TenantId)
                    .col(TestResults::IdempotencyKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Observations::Table)
                    .col(pk_uuid(Observations::Id))
                    .col(uuid(Observations::TenantId))
                    .col(uuid(Observations::ResultId))
                    .col(integer(Observations::Position))
                    .col(text(Observations::Code))
                    .col(text(Observations::DisplayName))
                    .col(string_len(Observations::ValueType, ENUM_LEN))
                    .col(double_null(Observations::ValueNumeric))
                    .col(text_null(Observations::ValueText))
                    .col(text_null(Observations::ValueCode))
                    .col(text_null(Observations::Unit))
                    .col(double_null(Observations::ReferenceLow))
                    .col(double_null(Observations::ReferenceHigh))
                    .col(text_null(Observations::ReferenceText))
                    .col(string_len_null(Observations::Interpretation, ENUM_LEN))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_observations_tenant_id")
                            .from(Observations::Table, Observations::TenantId)
                            .to(Tenants::Table, Tenants::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_observations_result_id")
                            .from(Observations::Table, Observations::ResultId)
                            .to(TestResults::Table, TestResults::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_observations_result_id_position")
                    .table(Observations::Table)
                    .col(Observations::ResultId)
                    .col(Observations::Position)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ImagingReports::Table)
                    .col(pk_uuid(ImagingReports::ResultId))
                    .col(uuid(ImagingReports::TenantId))
                    .col(text(ImagingReports::Modality))
                    .col(text(ImagingReports::StudyInstanceUid))
                    .col(text(ImagingReports::Findings))
                    .col(text(ImagingReports::Impression))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_imaging_reports_result_id")
                            .from(ImagingReports::Table, ImagingReports::ResultId)
                            .to(TestResults::Table, TestResults::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_imaging_reports_tenant_id")
                            .from(ImagingReports::Table, ImagingReports::TenantId)
                            .to(Tenants::Table, Tenants::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ResultViews::Table)
                    .col(pk_uuid(ResultViews::Id))
                    .col(uuid(ResultViews::TenantId))
                    .col(uuid(ResultViews::ResultId))
                    .col(text(ResultViews::ViewerSubject))
                    .col(timestamp_with_time_zone(ResultViews::ViewedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_result_views_tenant_id")
                            .from(ResultViews::Table, ResultViews::TenantId)
                            .to(Tenants::Table, Tenants::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_result_views_result_id")
                            .from(ResultViews::Table, ResultViews::ResultId)
                            .to(TestResults::Table, TestResults::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_result_views_result_id_viewer_subject")
                    .table(ResultViews::Table)
                    .col(ResultViews::ResultId)
                    .col(ResultViews::ViewerSubject)
                    .unique()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ResultViews::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(ImagingReports::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Observations::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(TestResults::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(TestOrders::Table).to_owned())
            .await?;
        Ok(())
    }
}

#[derive(DeriveIden)]
pub(crate) enum TestOrders {
    Table,
    Id,
    TenantId,
    PatientId,
    FacilityId,
    TestId,
    OrderingClinicianId,
    ReferringClinicianId,
    AppointmentId,
    Source,
    Status,
    AccessionNumber,
    OrderedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
pub(crate) enum TestResults {
    Table,
    Id,
    TenantId,
    PatientId,
    OrderId,
    TestId,
    Category,
    Status,
    IssuedAt,
    PerformingLab,
    Conclusion,
    ChainId,
    ReplacesResultId,
    CorrectionReason,
    IdempotencyKey,
    CreatedAt,
}

#[derive(DeriveIden)]
pub(crate) enum Observations {
    Table,
    Id,
    TenantId,
    ResultId,
    Position,
    Code,
    DisplayName,
    ValueType,
    ValueNumeric,
    ValueText,
    ValueCode,
    Unit,
    ReferenceLow,
    ReferenceHigh,
    ReferenceText,
    Interpretation,
}

#[derive(DeriveIden)]
pub(crate) enum ImagingReports {
    Table,
    ResultId,
    TenantId,
    Modality,
    StudyInstanceUid,
    Findings,
    Impression,
}

#[derive(DeriveIden)]
pub(crate) enum ResultViews {
    Table,
    Id,
    TenantId,
    ResultId,
    ViewerSubject,
    ViewedAt,
}
