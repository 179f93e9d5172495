//! `facilities.identifiers`: the facility's alias identifiers as HL7 HD values (namespace id,
//! universal id, universal id type: CLIA, ISO for an OID, DNS, L for local), a JSON array.
//! MSH-4 and OBX-23 find the facility by any of them.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::text_null;

use crate::columns;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Facilities {
    Table,
    Identifiers,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        columns::add(
            manager,
            Facilities::Table,
            vec![text_null(Facilities::Identifiers)],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        columns::drop(
            manager,
            Facilities::Table,
            vec![Facilities::Identifiers.into_iden()],
        )
        .await
    }
}
