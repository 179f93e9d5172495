//! `claims`: An insurance claim against a coverage, amounts in minor units (cents).

use sea_orm::entity::prelude::*;

use crate::enums::ClaimStatus;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "claims")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub patient_id: Uuid,
    pub coverage_id: Uuid,
    #[sea_orm(column_type = "Text")]
    pub claim_number: String,
    pub service_date: Date,
    #[sea_orm(column_type = "Text")]
    pub description: String,
    pub billed_cents: i64,
    pub allowed_cents: i64,
    pub patient_responsibility_cents: i64,
    #[sea_orm(column_type = "Text")]
    pub currency: String,
    pub status: ClaimStatus,
    pub created_at: DateTimeUtc,
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
    #[sea_orm(
        belongs_to = "super::coverage::Entity",
        from = "Column::CoverageId",
        to = "super::coverage::Column::Id"
    )]
    Coverage,
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

impl Related<super::coverage::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Coverage.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
