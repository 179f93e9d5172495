//! The head of the audit hash chain in a table of its own.
//!
//! Appending used to read the newest `audit_events` row of any tenant; under row-level
//! security the application sees only its tenant's rows, so the chain's last hash lives in
//! `audit_chain_head` (one row, no tenant, updated under the chain lock). Seeded from the
//! newest existing audit row so an existing chain continues unbroken.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

const SEED: &str = "INSERT INTO audit_chain_head (id, last_hash) \
    SELECT 1, COALESCE((SELECT hash FROM audit_events ORDER BY seq DESC LIMIT 1), \
    '0000000000000000000000000000000000000000000000000000000000000000')";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuditChainHead::Table)
                    .col(small_integer(AuditChainHead::Id).primary_key())
                    .col(text(AuditChainHead::LastHash))
                    .to_owned(),
            )
            .await?;
        manager.get_connection().execute_unprepared(SEED).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AuditChainHead::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum AuditChainHead {
    Table,
    Id,
    LastHash,
}
