//! `test_orders.placer_order_number`, `filler_order_number` and `ordering_provider_name`:
//! the order numbers of the systems that placed and fill an order (HL7 ORC-2/OBR-2,
//! ORC-3/OBR-3), so a later message for the same filler order completes or corrects it,
//! and the ordering provider's name as sent when the NPI is not one the portal knows.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum TestOrders {
    Table,
    TenantId,
    PlacerOrderNumber,
    FillerOrderNumber,
    OrderingProviderName,
}

const FILLER: &str = "idx_test_orders_tenant_id_filler_order_number";
const PLACER: &str = "idx_test_orders_tenant_id_placer_order_number";

fn columns() -> [TestOrders; 3] {
    [
        TestOrders::PlacerOrderNumber,
        TestOrders::FillerOrderNumber,
        TestOrders::OrderingProviderName,
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one thing at a time.
        for column in columns() {
            manager
                .alter_table(
                    Table::alter()
                        .table(TestOrders::Table)
                        .add_column(text_null(column))
                        .to_owned(),
                )
                .await?;
        }
        for (name, column) in [
            (FILLER, TestOrders::FillerOrderNumber),
            (PLACER, TestOrders::PlacerOrderNumber),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(TestOrders::Table)
                        .col(TestOrders::TenantId)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in [PLACER, FILLER] {
            manager
                .drop_index(Index::drop().name(name).table(TestOrders::Table).to_owned())
                .await?;
        }
        for column in columns() {
            manager
                .alter_table(
                    Table::alter()
                        .table(TestOrders::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
