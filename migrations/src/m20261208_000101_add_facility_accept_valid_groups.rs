//! `facilities.accept_valid_groups`: an HL7 ORU from this sending facility stores its valid
//! ORC/OBR groups and answers AE for the others (default off: one message, one outcome).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::boolean;

use crate::columns;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Facilities {
    Table,
    AcceptValidGroups,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        columns::add(
            manager,
            Facilities::Table,
            vec![
                boolean(Facilities::AcceptValidGroups)
                    .default(false)
                    .to_owned(),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        columns::drop(
            manager,
            Facilities::Table,
            vec![Facilities::AcceptValidGroups.into_iden()],
        )
        .await
    }
}
