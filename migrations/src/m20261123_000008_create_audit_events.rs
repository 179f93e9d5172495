//! The hash-chained audit log.
//!
//! Creates `audit_events`.

use sea_orm_migration::{prelude::*, schema::*};

use crate::ENUM_LEN;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuditEvents::Table)
                    .col(big_integer(AuditEvents::Seq).auto_increment().primary_key())
                    .col(uuid(AuditEvents::Id))
                    .col(uuid_null(AuditEvents::TenantId))
                    .col(text_null(AuditEvents::Subject))
                    .col(text(AuditEvents::Roles))
                    .col(uuid_null(AuditEvents::ProxyFor))
                    .col(text(AuditEvents::Action))
                    .col(text(AuditEvents::EntityType))
                    .col(uuid_null(AuditEvents::EntityId))
                    .col(uuid_null(AuditEvents::PatientId))
                    .col(text_null(AuditEvents::RequestId))
                    .col(text_null(AuditEvents::ClientAddr))
                    .col(string_len(AuditEvents::Outcome, ENUM_LEN))
                    .col(text_null(AuditEvents::Reason))
                    .col(timestamp_with_time_zone(AuditEvents::OccurredAt))
                    .col(text(AuditEvents::PrevHash))
                    .col(text(AuditEvents::Hash))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_audit_events_tenant_id_occurred_at")
                    .table(AuditEvents::Table)
                    .col(AuditEvents::TenantId)
                    .col(AuditEvents::OccurredAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_audit_events_patient_id_occurred_at")
                    .table(AuditEvents::Table)
                    .col(AuditEvents::PatientId)
                    .col(AuditEvents::OccurredAt)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AuditEvents::Table).to_owned())
            .await?;
        Ok(())
    }
}

#[derive(DeriveIden)]
pub(crate) enum AuditEvents {
    Table,
    Seq,
    Id,
    TenantId,
    Subject,
    Roles,
    ProxyFor,
    Action,
    EntityType,
    EntityId,
    PatientId,
    RequestId,
    ClientAddr,
    Outcome,
    Reason,
    OccurredAt,
    PrevHash,
    Hash,
}
