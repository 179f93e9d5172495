//! `coverages.payer_id` (the payer's identifier, IN1-3) and `updated_at` on coverages and
//! claims, and one claim number per tenant.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{text_null, timestamp_with_time_zone_null};

use crate::columns;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Coverages {
    Table,
    PayerId,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Claims {
    Table,
    TenantId,
    ClaimNumber,
    UpdatedAt,
}

const UNIQUE_CLAIM: &str = "uq_claims_tenant_id_claim_number";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        columns::add(
            manager,
            Coverages::Table,
            vec![
                text_null(Coverages::PayerId),
                timestamp_with_time_zone_null(Coverages::UpdatedAt),
            ],
        )
        .await?;
        columns::add(
            manager,
            Claims::Table,
            vec![timestamp_with_time_zone_null(Claims::UpdatedAt)],
        )
        .await?;
        manager
            .create_index(
                Index::create()
                    .name(UNIQUE_CLAIM)
                    .table(Claims::Table)
                    .col(Claims::TenantId)
                    .col(Claims::ClaimNumber)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(UNIQUE_CLAIM)
                    .table(Claims::Table)
                    .to_owned(),
            )
            .await?;
        columns::drop(manager, Claims::Table, vec![Claims::UpdatedAt.into_iden()]).await?;
        columns::drop(
            manager,
            Coverages::Table,
            vec![
                Coverages::PayerId.into_iden(),
                Coverages::UpdatedAt.into_iden(),
            ],
        )
        .await
    }
}
