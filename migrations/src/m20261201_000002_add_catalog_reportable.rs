//! `test_catalog.reportable` (results of the test go to public health) and `updated_at`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{boolean, timestamp_with_time_zone_null};

use crate::columns;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum TestCatalog {
    Table,
    Reportable,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        columns::add(
            manager,
            TestCatalog::Table,
            vec![
                boolean(TestCatalog::Reportable).default(false).to_owned(),
                timestamp_with_time_zone_null(TestCatalog::UpdatedAt),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        columns::drop(
            manager,
            TestCatalog::Table,
            vec![
                TestCatalog::Reportable.into_iden(),
                TestCatalog::UpdatedAt.into_iden(),
            ],
        )
        .await
    }
}
