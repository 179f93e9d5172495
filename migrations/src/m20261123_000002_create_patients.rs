//! Patients and their notification preferences, push tokens and proxy grants.
//!
//! Creates `patients`, `notification_preferences`, `push_tokens`, `proxy_grants`.

use sea_orm_migration::{prelude::*, schema::*};

use crate::ENUM_LEN;

use crate::m20261123_000001_create_tenancy::Tenants;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Patients::Table)
                    .col(pk_uuid(Patients::Id))
                    .col(uuid(Patients::TenantId))
                    .col(text(Patients::Mrn))
                    .col(text(Patients::GivenName))
                    .col(text(Patients::FamilyName))
                    .col(date(Patients::BirthDate))
                    .col(text_null(Patients::Email))
                    .col(text_null(Patients::Phone))
                    .col(text_null(Patients::UserSubject))
                    .col(timestamp_with_time_zone(Patients::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_patients_tenant_id")
                            .from(Patients::Table, Patients::TenantId)
                            .to(Tenants::Table, Tenants::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_patients_tenant_id_mrn")
                    .table(Patients::Table)
                    .col(Patients::TenantId)
                    .col(Patients::Mrn)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_patients_tenant_id_user_subject")
                    .table(Patients::Table)
                    .col(Patients::TenantId)
                    .col(Patients::UserSubject)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(NotificationPreferences::Table)
                    .col(pk_uuid(NotificationPreferences::PatientId))
                    .col(uuid(NotificationPreferences::TenantId))
                    .col(boolean(NotificationPreferences::Email))
                    .col(boolean(NotificationPreferences::Sms))
                    .col(boolean(NotificationPreferences::Push))
                    .col(text(NotificationPreferences::Language).default("en"))
                    .col(boolean(NotificationPreferences::HoldSensitiveResults))
                    .col(timestamp_with_time_zone(NotificationPreferences::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_notification_preferences_patient_id")
                            .from(
                                NotificationPreferences::Table,
                                NotificationPreferences::PatientId,
                            )
                            .to(Patients::Table, Patients::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_notification_preferences_tenant_id")
                            .from(
                                NotificationPreferences::Table,
                                NotificationPreferences::TenantId,
                            )
                            .to(Tenants::Table, Tenants::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PushTokens::Table)
                    .col(pk_uuid(PushTokens::Id))
                    .col(uuid(PushTokens::TenantId))
                    .col(uuid(PushTokens::PatientId))
                    .col(string_len(PushTokens::Platform, ENUM_LEN))
                    .col(text(PushTokens::Token))
                    .col(timestamp_with_time_zone(PushTokens::CreatedAt))
                    .col(timestamp_with_time_zone_null(PushTokens::RevokedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_push_tokens_tenant_id")
                            .from(PushTokens::Table, PushTokens::TenantId)
                            .to(Tenants::Table, Tenants::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_push_tokens_patient_id")
                            .from(PushTokens::Table, PushTokens::PatientId)
                            .to(Patients::Table, Patients::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_push_tokens_patient_id")
                    .table(PushTokens::Table)
                    .col(PushTokens::PatientId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ProxyGrants::Table)
                    .col(pk_uuid(ProxyGrants::Id))
                    .col(uuid(ProxyGrants::TenantId))
                    .col(uuid(ProxyGrants::PatientId))
                    .col(text(ProxyGrants::GranteeSubject))
                    .col(text(ProxyGrants::GranteeName))
                    .col(text(ProxyGrants::Relationship))
                    .col(text(ProxyGrants::Scopes))
                    .col(timestamp_with_time_zone(ProxyGrants::ValidFrom))
                    .col(timestamp_with_time_zone_null(ProxyGrants::ValidTo))
                    .col(timestamp_with_time_zone_null(ProxyGrants::RevokedAt))
                    .col(timestamp_with_time_zone(ProxyGrants::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_proxy_grants_tenant_id")
                            .from(ProxyGrants::Table, ProxyGrants::TenantId)
                            .to(Tenants::Table, Tenants::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_proxy_grants_patient_id")
                            .from(ProxyGrants::Table, ProxyGrants::PatientId)
                            .to(Patients::Table, Patients::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_proxy_grants_tenant_id_grantee_subject")
                    .table(ProxyGrants::Table)
                    .col(ProxyGrants::TenantId)
                    .col(ProxyGrants::GranteeSubject)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_proxy_grants_patient_id")
                    .table(ProxyGrants::Table)
                    .col(ProxyGrants::PatientId)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ProxyGrants::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(PushTokens::Table).to_owned())
            .await?;
        manager
            .drop_table(
                Table::drop()
                    .table(NotificationPreferences::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(Patients::Table).to_owned())
            .await?;
        Ok(())
    }
}

#[derive(DeriveIden)]
pub(crate) enum Patients {
    Table,
    Id,
    TenantId,
    Mrn,
    GivenName,
    FamilyName,
    BirthDate,
    Email,
    Phone,
    UserSubject,
    CreatedAt,
}

#[derive(DeriveIden)]
pub(crate) enum NotificationPreferences {
    Table,
    PatientId,
    TenantId,
    Email,
    Sms,
    Push,
    Language,
    HoldSensitiveResults,
    UpdatedAt,
}

#[derive(DeriveIden)]
pub(crate) enum PushTokens {
    Table,
    Id,
    TenantId,
    PatientId,
    Platform,
    Token,
    CreatedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
pub(crate) enum ProxyGrants {
    Table,
    Id,
    TenantId,
    PatientId,
    GranteeSubject,
    GranteeName,
    Relationship,
    Scopes,
    ValidFrom,
    ValidTo,
    RevokedAt,
    CreatedAt,
}
