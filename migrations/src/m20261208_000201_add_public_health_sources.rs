//! What public-health rows need from master data: which analytes of a catalog test are
//! reported (`catalog_analytes.reportable`, true unless set otherwise) and a facility's
//! default ordering provider (`facilities.default_ordering_clinician_id`, used when an order
//! names none, as SimpleReport's facility default provider).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{boolean, uuid_null};

use crate::columns;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum CatalogAnalytes {
    Table,
    Reportable,
}

#[derive(DeriveIden, Clone, Copy)]
enum Facilities {
    Table,
    DefaultOrderingClinicianId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        columns::add(
            manager,
            CatalogAnalytes::Table,
            vec![
                boolean(CatalogAnalytes::Reportable)
                    .default(true)
                    .to_owned(),
            ],
        )
        .await?;
        columns::add(
            manager,
            Facilities::Table,
            vec![uuid_null(Facilities::DefaultOrderingClinicianId)],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        columns::drop(
            manager,
            Facilities::Table,
            vec![Facilities::DefaultOrderingClinicianId.into_iden()],
        )
        .await?;
        columns::drop(
            manager,
            CatalogAnalytes::Table,
            vec![CatalogAnalytes::Reportable.into_iden()],
        )
        .await
    }
}
