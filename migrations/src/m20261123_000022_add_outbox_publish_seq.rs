//! `outbox_events.publish_seq`: the per-tenant publication sequence the relay assigns in
//! commit order (subscribers resume and catch up by it, docs/events.md), unique per tenant.
//! Existing rows are numbered per tenant in `(created_at, id)` order.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum OutboxEvents {
    Table,
    TenantId,
    PublishSeq,
}

const TENANT_SEQ: &str = "uq_outbox_events_tenant_id_publish_seq";

/// Numbers the rows already there (both backends support window functions and
/// `UPDATE … FROM`).
const BACKFILL: &str = "UPDATE outbox_events SET publish_seq = numbered.seq \
    FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY tenant_id ORDER BY created_at, id) AS seq \
          FROM outbox_events) AS numbered \
    WHERE outbox_events.id = numbered.id";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(OutboxEvents::Table)
                    .add_column(
                        ColumnDef::new(OutboxEvents::PublishSeq)
                            .big_integer()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(BACKFILL)
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(TENANT_SEQ)
                    .table(OutboxEvents::Table)
                    .col(OutboxEvents::TenantId)
                    .col(OutboxEvents::PublishSeq)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(TENANT_SEQ)
                    .table(OutboxEvents::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(OutboxEvents::Table)
                    .drop_column(OutboxEvents::PublishSeq)
                    .to_owned(),
            )
            .await
    }
}
