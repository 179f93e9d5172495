//! `hl7_messages`: every HL7 v2 message received over MLLP, kept raw in its tenant before it
//! is processed, with its outcome (status, ACK code, error without PHI) and attempts.
//!
//! One row per sender and control id: a resend of a message that failed updates its row,
//! so a message that is finally accepted is stored once. On PostgreSQL the table gets
//! row-level security exactly like the other tenant tables (docs/row-level-security.md).

use sea_orm_migration::sea_orm::DatabaseBackend;
use sea_orm_migration::{prelude::*, schema::*};

use crate::ENUM_LEN;
use crate::m20261123_000001_create_tenancy::Tenants;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Hl7Messages {
    Table,
    Id,
    TenantId,
    SendingApplication,
    SendingFacility,
    ControlId,
    MessageType,
    ReceivedAt,
    Raw,
    Status,
    AckCode,
    ErrorCode,
    ErrorLocation,
    ErrorSummary,
    Attempts,
    ProcessedAt,
    Peer,
}

const SENDER_CONTROL_ID: &str = "uq_hl7_messages_sender_control_id";
const STATUS_RECEIVED: &str = "idx_hl7_messages_tenant_id_status_received_at";
const RECEIVED: &str = "idx_hl7_messages_received_at";

const RLS: [&str; 3] = [
    "ALTER TABLE hl7_messages ENABLE ROW LEVEL SECURITY",
    "ALTER TABLE hl7_messages FORCE ROW LEVEL SECURITY",
    "CREATE POLICY tenant_isolation ON hl7_messages \
     USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid) \
     WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Hl7Messages::Table)
                    .col(pk_uuid(Hl7Messages::Id))
                    .col(uuid(Hl7Messages::TenantId))
                    .col(text(Hl7Messages::SendingApplication))
                    .col(text(Hl7Messages::SendingFacility))
                    .col(text_null(Hl7Messages::ControlId))
                    .col(text(Hl7Messages::MessageType))
                    .col(timestamp_with_time_zone(Hl7Messages::ReceivedAt))
                    .col(blob(Hl7Messages::Raw))
                    .col(string_len(Hl7Messages::Status, ENUM_LEN))
                    .col(string_len_null(Hl7Messages::AckCode, 2))
                    .col(text_null(Hl7Messages::ErrorCode))
                    .col(text_null(Hl7Messages::ErrorLocation))
                    .col(text_null(Hl7Messages::ErrorSummary))
                    .col(integer(Hl7Messages::Attempts))
                    .col(timestamp_with_time_zone_null(Hl7Messages::ProcessedAt))
                    .col(text_null(Hl7Messages::Peer))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_hl7_messages_tenant_id")
                            .from(Hl7Messages::Table, Hl7Messages::TenantId)
                            .to(Tenants::Table, Tenants::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(SENDER_CONTROL_ID)
                    .table(Hl7Messages::Table)
                    .col(Hl7Messages::TenantId)
                    .col(Hl7Messages::SendingApplication)
                    .col(Hl7Messages::SendingFacility)
                    .col(Hl7Messages::ControlId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(STATUS_RECEIVED)
                    .table(Hl7Messages::Table)
                    .col(Hl7Messages::TenantId)
                    .col(Hl7Messages::Status)
                    .col(Hl7Messages::ReceivedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(RECEIVED)
                    .table(Hl7Messages::Table)
                    .col(Hl7Messages::ReceivedAt)
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            for statement in RLS {
                manager
                    .get_connection()
                    .execute_unprepared(statement)
                    .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Hl7Messages::Table).to_owned())
            .await
    }
}
