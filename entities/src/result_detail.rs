//! `result_details`: What the laboratory sent with a result beyond its values (specimen,
//! collection and receipt times, performing laboratory); at most one row per result,
//! append-only like the result.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "result_details")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub result_id: Uuid,
    pub tenant_id: Uuid,
    pub collected_at: Option<DateTimeUtc>,
    pub received_at: Option<DateTimeUtc>,
    #[sea_orm(column_type = "Text")]
    pub specimen_type_code: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub specimen_type_display: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub specimen_type_system: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub specimen_source: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub lab_name: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub lab_identifier: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub lab_identifier_type: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub lab_identifier_system: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub lab_address: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub lab_director: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::test_result::Entity",
        from = "Column::ResultId",
        to = "super::test_result::Column::Id"
    )]
    TestResult,
}

impl Related<super::test_result::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::TestResult.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
