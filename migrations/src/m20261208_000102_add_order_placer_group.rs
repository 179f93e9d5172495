//! `test_orders.placer_group_number`: HL7 ORC-4, the requisition several orders of one
//! message (or of several) belong to.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::text_null;

use crate::columns;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum TestOrders {
    Table,
    PlacerGroupNumber,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        columns::add(
            manager,
            TestOrders::Table,
            vec![text_null(TestOrders::PlacerGroupNumber)],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        columns::drop(
            manager,
            TestOrders::Table,
            vec![TestOrders::PlacerGroupNumber.into_iden()],
        )
        .await
    }
}
