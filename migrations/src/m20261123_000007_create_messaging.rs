//! Result links, notifications, the transactional outbox and idempotency keys.
//!
//! Creates `result_links`, `notifications`, `outbox_events`, `idempotency_keys`.

use sea_orm_migration::{prelude::*, schema::*};

use crate::ENUM_LEN;

use crate::m20261123_000001_create_tenancy::Tenants;
use crate::m20261123_000002_create_patients::Patients;
use crate::m20261123_000004_create_orders_and_results::TestResults;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ResultLinks::Table)
                    .col(pk_uuid(ResultLinks::Id))
                    .col(uuid(ResultLinks::TenantId))
                    .col(uuid(ResultLinks::PatientId))
                    .col(uuid(ResultLinks::ResultId))
                    .col(text(ResultLinks::TokenHash))
                    .col(timestamp_with_time_zone(ResultLinks::ExpiresAt))
                    .col(integer(ResultLinks::FailedAttempts))
                    .col(timestamp_with_time_zone_null(ResultLinks::LockedAt))
                    .col(timestamp_with_time_zone_null(ResultLinks::LastOpenedAt))
                    .col(timestamp_with_time_zone(ResultLinks::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_result_links_tenant_id")
                            .from(ResultLinks::Table, ResultLinks::TenantId)
                            .to(Tenants::Table, Tenants::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_result_links_patient_id")
                            .from(ResultLinks::Table, ResultLinks::PatientId)
                            .to(Patients::Table, Patients::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_result_links_result_id")
                            .from(ResultLinks::Table, ResultLinks::ResultId)
                            .to(TestResults::Table, TestResults::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_result_links_token_hash")
                    .table(ResultLinks::Table)
                    .col(ResultLinks::TokenHash)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_result_links_result_id")
                    .table(ResultLinks::Table)
                    .col(ResultLinks::ResultId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Notifications::Table)
                    .col(pk_uuid(Notifications::Id))
                    .col(uuid(Notifications::TenantId))
                    .col(uuid(Notifications::PatientId))
                    .col(uuid_null(Notifications::ResultId))
                    .col(uuid(Notifications::EventId))
                    .col(string_len(Notifications::Channel, ENUM_LEN))
                    .col(text(Notifications::Template))
                    .col(string_len(Notifications::Status, ENUM_LEN))
                    .col(integer(Notifications::Attempts))
                    .col(text_null(Notifications::LastError))
                    .col(timestamp_with_time_zone(Notifications::NextAttemptAt))
                    .col(timestamp_with_time_zone_null(Notifications::SentAt))
                    .col(timestamp_with_time_zone(Notifications::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_notifications_tenant_id")
                            .from(Notifications::Table, Notifications::TenantId)
                            .to(Tenants::Table, Tenants::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_notifications_patient_id")
                            .from(Notifications::Table, Notifications::PatientId)
                            .to(Patients::Table, Patients::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_notifications_result_id")
                            .from(Notifications::Table, Notifications::ResultId)
                            .to(TestResults::Table, TestResults::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_notifications_status_next_attempt_at")
                    .table(Notifications::Table)
                    .col(Notifications::Status)
                    .col(Notifications::NextAttemptAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_notifications_event_id_channel")
                    .table(Notifications::Table)
                    .col(Notifications::EventId)
                    .col(Notifications::Channel)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OutboxEvents::Table)
                    .col(pk_uuid(OutboxEvents::Id))
                    .col(uuid(OutboxEvents::TenantId))
                    .col(text(OutboxEvents::EventType))
                    .col(text(OutboxEvents::AggregateType))
                    .col(uuid(OutboxEvents::AggregateId))
                    .col(uuid_null(OutboxEvents::PatientId))
                    .col(json_binary(OutboxEvents::Payload))
                    .col(timestamp_with_time_zone(OutboxEvents::CreatedAt))
                    .col(timestamp_with_time_zone_null(OutboxEvents::PublishedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_outbox_events_tenant_id")
                            .from(OutboxEvents::Table, OutboxEvents::TenantId)
                            .to(Tenants::Table, Tenants::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_outbox_events_published_at_created_at")
                    .table(OutboxEvents::Table)
                    .col(OutboxEvents::PublishedAt)
                    .col(OutboxEvents::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(IdempotencyKeys::Table)
                    .col(pk_uuid(IdempotencyKeys::Id))
                    .col(uuid(IdempotencyKeys::TenantId))
                    .col(text(IdempotencyKeys::Key))
                    .col(text(IdempotencyKeys::Operation))
                    .col(text(IdempotencyKeys::RequestHash))
                    .col(json_binary(IdempotencyKeys::Response))
                    .col(timestamp_with_time_zone(IdempotencyKeys::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_idempotency_keys_tenant_id")
                            .from(IdempotencyKeys::Table, IdempotencyKeys::TenantId)
                            .to(Tenants::Table, Tenants::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_idempotency_keys_tenant_id_operation_key")
                    .table(IdempotencyKeys::Table)
                    .col(IdempotencyKeys::TenantId)
                    .col(IdempotencyKeys::Operation)
                    .col(IdempotencyKeys::Key)
                    .unique()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(IdempotencyKeys::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(OutboxEvents::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Notifications::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(ResultLinks::Table).to_owned())
            .await?;
        Ok(())
    }
}

#[derive(DeriveIden)]
pub(crate) enum ResultLinks {
    Table,
    Id,
    TenantId,
    PatientId,
    ResultId,
    TokenHash,
    ExpiresAt,
    FailedAttempts,
    LockedAt,
    LastOpenedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
pub(crate) enum Notifications {
    Table,
    Id,
    TenantId,
    PatientId,
    ResultId,
    EventId,
    Channel,
    Template,
    Status,
    Attempts,
    LastError,
    NextAttemptAt,
    SentAt,
    CreatedAt,
}

#[derive(DeriveIden)]
pub(crate) enum OutboxEvents {
    Table,
    Id,
    TenantId,
    EventType,
    AggregateType,
    AggregateId,
    PatientId,
    Payload,
    CreatedAt,
    PublishedAt,
}

#[derive(DeriveIden)]
pub(crate) enum IdempotencyKeys {
    Table,
    Id,
    TenantId,
    Key,
    Operation,
    RequestHash,
    Response,
    CreatedAt,
}
