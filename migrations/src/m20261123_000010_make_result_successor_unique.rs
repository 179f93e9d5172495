//! A result can be replaced (corrected, withdrawn, finalised) only once: the index on
//! `test_results.replaces_result_id` becomes unique, so two concurrent corrections of the
//! same result cannot fork its chain.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum TestResults {
    Table,
    ReplacesResultId,
}

const OLD: &str = "idx_test_results_replaces_result_id";
const NEW: &str = "uq_test_results_replaces_result_id";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name(OLD).table(TestResults::Table).to_owned())
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(NEW)
                    .table(TestResults::Table)
                    .col(TestResults::ReplacesResultId)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name(NEW).table(TestResults::Table).to_owned())
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(OLD)
                    .table(TestResults::Table)
                    .col(TestResults::ReplacesResultId)
                    .to_owned(),
            )
            .await
    }
}
