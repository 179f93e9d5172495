//! `patients`: A patient of a tenant, optionally linked to an identity-provider subject.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Deserialize)]
#[sea_orm(table_name = "patients")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    #[sea_orm(column_type = "Text")]
    pub mrn: String,
    #[sea_orm(column_type = "Text")]
    pub given_name: String,
    #[sea_orm(column_type = "Text")]
    pub family_name: String,
    pub birth_date: Date,
    #[sea_orm(column_type = "Text")]
    pub email: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub phone: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub user_subject: Option<String>,
    pub created_at: DateTimeUtc,
    /// Administrative sex, HL7 table 0001 (F, M, O, U, A, N).
    #[sea_orm(column_type = "Text")]
    pub sex: Option<String>,
    /// CDC race code (HL7 table 0005), e.g. `2106-3`.
    #[sea_orm(column_type = "Text")]
    pub race: Option<String>,
    /// Ethnic group, HL7 table 0189 (H, N, U) or its CDC code (`2135-2`, `2186-5`).
    #[sea_orm(column_type = "Text")]
    pub ethnicity: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub address_line1: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub address_line2: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub city: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub state: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub postal_code: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub county: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub country: Option<String>,
    /// Preferred language (BCP 47 or ISO 639, e.g. `en`, `spa`).
    #[sea_orm(column_type = "Text")]
    pub language: Option<String>,
    /// Last change through master data; `None` when unchanged since created.
    pub updated_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::tenant::Entity",
        from = "Column::TenantId",
        to = "super::tenant::Column::Id"
    )]
    Tenant,
    #[sea_orm(has_one = "super::notification_preference::Entity")]
    NotificationPreference,
    #[sea_orm(has_many = "super::push_token::Entity")]
    PushToken,
    #[sea_orm(has_many = "super::proxy_grant::Entity")]
    ProxyGrant,
    #[sea_orm(has_many = "super::test_order::Entity")]
    TestOrder,
    #[sea_orm(has_many = "super::test_result::Entity")]
    TestResult,
    #[sea_orm(has_many = "super::appointment::Entity")]
    Appointment,
    #[sea_orm(has_many = "super::coverage::Entity")]
    Coverage,
    #[sea_orm(has_many = "super::claim::Entity")]
    Claim,
    #[sea_orm(has_many = "super::result_link::Entity")]
    ResultLink,
    #[sea_orm(has_many = "super::notification::Entity")]
    Notification,
}

impl Related<super::tenant::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Tenant.def()
    }
}

impl Related<super::notification_preference::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::NotificationPreference.def()
    }
}

impl Related<super::push_token::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::PushToken.def()
    }
}

impl Related<super::proxy_grant::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ProxyGrant.def()
    }
}

impl Related<super::test_order::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::TestOrder.def()
    }
}

impl Related<super::test_result::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::TestResult.def()
    }
}

impl Related<super::appointment::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Appointment.def()
    }
}

impl Related<super::coverage::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Coverage.def()
    }
}

impl Related<super::claim::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Claim.def()
    }
}

impl Related<super::result_link::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ResultLink.def()
    }
}

impl Related<super::notification::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Notification.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
