//! `appointments.external_id` (the scheduling system's appointment id, HL7 SCH-2) and
//! `appointments.order_number` (the placer order number it is booked for, SCH-26), so SIU
//! messages find the appointment they change and results of that order link to it.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Appointments {
    Table,
    TenantId,
    ExternalId,
    OrderNumber,
}

const EXTERNAL_ID: &str = "uq_appointments_tenant_id_external_id";
const ORDER_NUMBER: &str = "idx_appointments_tenant_id_order_number";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [Appointments::ExternalId, Appointments::OrderNumber] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Appointments::Table)
                        .add_column(text_null(column))
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name(EXTERNAL_ID)
                    .table(Appointments::Table)
                    .col(Appointments::TenantId)
                    .col(Appointments::ExternalId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(ORDER_NUMBER)
                    .table(Appointments::Table)
                    .col(Appointments::TenantId)
                    .col(Appointments::OrderNumber)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in [ORDER_NUMBER, EXTERNAL_ID] {
            manager
                .drop_index(
                    Index::drop()
                        .name(name)
                        .table(Appointments::Table)
                        .to_owned(),
                )
                .await?;
        }
        for column in [Appointments::OrderNumber, Appointments::ExternalId] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Appointments::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
