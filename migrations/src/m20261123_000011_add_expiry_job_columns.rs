//! What the scheduled expiry jobs need: `proxy_grants.expired_at` (when the expiry job
//! recorded that the grant ran out) and indexes for the jobs' range scans on
//! `proxy_grants.valid_to`, `result_links.expires_at` and `idempotency_keys.created_at`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::timestamp_with_time_zone_null;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ProxyGrants {
    Table,
    ValidTo,
    ExpiredAt,
}

#[derive(DeriveIden)]
enum ResultLinks {
    Table,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum IdempotencyKeys {
    Table,
    CreatedAt,
}

const GRANTS_VALID_TO: &str = "idx_proxy_grants_valid_to";
const LINKS_EXPIRES_AT: &str = "idx_result_links_expires_at";
const KEYS_CREATED_AT: &str = "idx_idempotency_keys_created_at";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ProxyGrants::Table)
                    .add_column(timestamp_with_time_zone_null(ProxyGrants::ExpiredAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(GRANTS_VALID_TO)
                    .table(ProxyGrants::Table)
                    .col(ProxyGrants::ValidTo)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(LINKS_EXPIRES_AT)
                    .table(ResultLinks::Table)
                    .col(ResultLinks::ExpiresAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(KEYS_CREATED_AT)
                    .table(IdempotencyKeys::Table)
                    .col(IdempotencyKeys::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(KEYS_CREATED_AT)
                    .table(IdempotencyKeys::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name(LINKS_EXPIRES_AT)
                    .table(ResultLinks::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name(GRANTS_VALID_TO)
                    .table(ProxyGrants::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ProxyGrants::Table)
                    .drop_column(ProxyGrants::ExpiredAt)
                    .to_owned(),
            )
            .await
    }
}
