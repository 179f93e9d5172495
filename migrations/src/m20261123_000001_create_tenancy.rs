//! Tenants, their facilities and clinicians.
//!
//! Creates `tenants`, `facilities`, `clinicians`.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Tenants::Table)
                    .col(pk_uuid(Tenants::Id))
                    .col(text(Tenants::Slug))
                    .col(text(Tenants::Name))
                    .col(timestamp_with_time_zone(Tenants::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_tenants_slug")
                    .table(Tenants::Table)
                    .col(Tenants::Slug)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Facilities::Table)
                    .col(pk_uuid(Facilities::Id))
                    .col(uuid(Facilities::TenantId))
                    .col(text(Facilities::Name))
                    .col(text_null(Facilities::CliaNumber))
                    .col(text_null(Facilities::Address))
                    .col(timestamp_with_time_zone(Facilities::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_facilities_tenant_id")
                            .from(Facilities::Table, Facilities::TenantId)
                            .to(Tenants::Table, Tenants::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_facilities_tenant_id")
                    .table(Facilities::Table)
                    .col(Facilities::TenantId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Clinicians::Table)
                    .col(pk_uuid(Clinicians::Id))
                    .col(uuid(Clinicians::TenantId))
                    .col(text_null(Clinicians::UserSubject))
                    .col(text(Clinicians::DisplayName))
                    .col(text_null(Clinicians::Npi))
                    .col(timestamp_with_time_zone(Clinicians::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_clinicians_tenant_id")
                            .from(Clinicians::Table, Clinicians::TenantId)
                            .to(Tenants::Table, Tenants::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_clinicians_tenant_id_user_subject")
                    .table(Clinicians::Table)
                    .col(Clinicians::TenantId)
                    .col(Clinicians::UserSubject)
                    .unique()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Clinicians::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Facilities::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Tenants::Table).to_owned())
            .await?;
        Ok(())
    }
}

#[derive(DeriveIden)]
pub(crate) enum Tenants {
    Table,
    Id,
    Slug,
    Name,
    CreatedAt,
}

#[derive(DeriveIden)]
pub(crate) enum Facilities {
    Table,
    Id,
    TenantId,
    Name,
    CliaNumber,
    Address,
    CreatedAt,
}

#[derive(DeriveIden)]
pub(crate) enum Clinicians {
    Table,
    Id,
    TenantId,
    UserSubject,
    DisplayName,
    Npi,
    CreatedAt,
}
