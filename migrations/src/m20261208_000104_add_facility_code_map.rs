//! `facilities.code_map`: the sender's local codes (OBR-4, OBX-3) mapped to catalog codes,
//! a JSON array of `{local_code, local_system, code}`.
//! An ORU from the facility finds its catalog analytes through it.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::text_null;

use crate::columns;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Facilities {
    Table,
    CodeMap,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        columns::add(
            manager,
            Facilities::Table,
            vec![text_null(Facilities::CodeMap)],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        columns::drop(
            manager,
            Facilities::Table,
            vec![Facilities::CodeMap.into_iden()],
        )
        .await
    }
}
