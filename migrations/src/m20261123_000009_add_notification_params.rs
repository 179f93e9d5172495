//! Adds `notifications.params`: per-message template parameters (e.g. the walk-in result link).
//!
//! Nullable JSON, the same column type as `outbox_events.payload`; the delivery worker clears it
//! once the message is SENT so secrets (link tokens) do not linger.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261123_000007_create_messaging::Notifications;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum NotificationParams {
    Params,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Notifications::Table)
                    .add_column(json_binary_null(NotificationParams::Params))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Notifications::Table)
                    .drop_column(NotificationParams::Params)
                    .to_owned(),
            )
            .await
    }
}
