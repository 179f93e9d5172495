//! The per-tenant test catalog and its analytes.
//!
//! Creates `test_catalog`, `catalog_analytes`.

use sea_orm_migration::{prelude::*, schema::*};

use crate::ENUM_LEN;

use crate::m20261123_000001_create_tenancy::Tenants;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TestCatalog::Table)
                    .col(pk_uuid(TestCatalog::Id))
                    .col(uuid(TestCatalog::TenantId))
                    .col(text(TestCatalog::Code))
                    .col(string_len(TestCatalog::CodeSystem, ENUM_LEN))
                    .col(text(TestCatalog::DisplayName))
                    .col(string_len(TestCatalog::Category, ENUM_LEN))
                    .col(text_null(TestCatalog::Specimen))
                    .col(text_null(TestCatalog::Unit))
                    .col(double_null(TestCatalog::ReferenceLow))
                    .col(double_null(TestCatalog::ReferenceHigh))
                    .col(text_null(TestCatalog::ReferenceText))
                    .col(boolean(TestCatalog::Sensitive))
                    .col(timestamp_with_time_zone(TestCatalog::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_test_catalog_tenant_id")
                            .from(TestCatalog::Table, TestCatalog::TenantId)
                            .to(Tenants::Table, Tenants::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_test_catalog_tenant_id_code")
                    .table(TestCatalog::Table)
                    .col(TestCatalog::TenantId)
                    .col(TestCatalog::Code)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CatalogAnalytes::Table)
                    .col(pk_uuid(CatalogAnalytes::Id))
                    .col(uuid(CatalogAnalytes::TenantId))
                    .col(uuid(CatalogAnalytes::TestId))
                    .col(integer(CatalogAnalytes::Position))
                    .col(text(CatalogAnalytes::Code))
                    .col(text(CatalogAnalytes::DisplayName))
                    .col(string_len(CatalogAnalytes::ValueType, ENUM_LEN))
                    .col(text_null(CatalogAnalytes::Unit))
                    .col(double_null(CatalogAnalytes::ReferenceLow))
                    .col(double_null(CatalogAnalytes::ReferenceHigh))
                    .col(text_null(CatalogAnalytes::ReferenceText))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_catalog_analytes_tenant_id")
                            .from(CatalogAnalytes::Table, CatalogAnalytes::TenantId)
                            .to(Tenants::Table, Tenants::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_catalog_analytes_test_id")
                            .from(CatalogAnalytes::Table, CatalogAnalytes::TestId)
                            .to(TestCatalog::Table, TestCatalog::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_catalog_analytes_test_id_code")
                    .table(CatalogAnalytes::Table)
                    .col(CatalogAnalytes::TestId)
                    .col(CatalogAnalytes::Code)
                    .unique()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(CatalogAnalytes::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(TestCatalog::Table).to_owned())
            .await?;
        Ok(())
    }
}

#[derive(DeriveIden)]
pub(crate) enum TestCatalog {
    Table,
    Id,
    TenantId,
    Code,
    CodeSystem,
    DisplayName,
    Category,
    Specimen,
    Unit,
    ReferenceLow,
    ReferenceHigh,
    ReferenceText,
    Sensitive,
    CreatedAt,
}

#[derive(DeriveIden)]
pub(crate) enum CatalogAnalytes {
    Table,
    Id,
    TenantId,
    TestId,
    Position,
    Code,
    DisplayName,
    ValueType,
    Unit,
    ReferenceLow,
    ReferenceHigh,
    ReferenceText,
}
