//! `imaging_reports`: The narrative report of an imaging result (one row per imaging result); append-only.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "imaging_reports")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub result_id: Uuid,
    pub tenant_id: Uuid,
    #[sea_orm(column_type = "Text")]
    pub modality: String,
    #[sea_orm(column_type = "Text")]
    pub study_instance_uid: String,
    #[sea_orm(column_type = "Text")]
    pub findings: String,
    #[sea_orm(column_type = "Text")]
    pub impression: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::test_result::Entity",
        from = "Column::ResultId",
        to = "super::test_result::Column::Id"
    )]
    TestResult,
    #[sea_orm(
        belongs_to = "super::tenant::Entity",
        from = "Column::TenantId",
        to = "super::tenant::Column::Id"
    )]
    Tenant,
}

impl Related<super::test_result::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::TestResult.def()
    }
}

impl Related<super::tenant::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Tenant.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
