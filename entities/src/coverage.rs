//! `coverages`: A patient's insurance coverage.

use sea_orm::entity::prelude::*;

use crate::enums::CoverageStatus;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "coverages")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub patient_id: Uuid,
    #[sea_orm(column_type = "Text")]
    pub payer: String,
    #[sea_orm(column_type = "Text")]
    pub plan_name: String,
    #[sea_orm(column_type = "Text")]
    pub member_id: String,
    #[sea_orm(column_type = "Text")]
    pub group_number: Option<String>,
    pub period_start: Date,
    pub period_end: Option<Date>,
    pub status: CoverageStatus,
    pub created_at: DateTimeUtc,
    /// The payer's identifier (IN1-3), when the sender gives one.
    #[sea_orm(column_type = "Text")]
    pub payer_id: Option<String>,
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
    #[sea_orm(
        belongs_to = "super::patient::Entity",
        from = "Column::PatientId",
        to = "super::patient::Column::Id"
    )]
    Patient,
    #[sea_orm(has_many = "super::claim::Entity")]
    Claim,
}

impl Related<super::tenant::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Tenant.def()
    }
}

impl Related<super::patient::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Patient.def()
    }
}

impl Related<super::claim::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Claim.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
