//! `catalog_analytes`: One analyte (component) of a catalog test, in display order.

use sea_orm::entity::prelude::*;

use crate::enums::ValueType;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "catalog_analytes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub test_id: Uuid,
    pub position: i32,
    #[sea_orm(column_type = "Text")]
    pub code: String,
    #[sea_orm(column_type = "Text")]
    pub display_name: String,
    pub value_type: ValueType,
    #[sea_orm(column_type = "Text")]
    pub unit: Option<String>,
    pub reference_low: Option<f64>,
    pub reference_high: Option<f64>,
    #[sea_orm(column_type = "Text")]
    pub reference_text: Option<String>,
    /// Rows of this analyte go to public health when its test is reportable.
    pub reportable: bool,
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
        belongs_to = "super::test_catalog::Entity",
        from = "Column::TestId",
        to = "super::test_catalog::Column::Id"
    )]
    TestCatalog,
}

impl Related<super::tenant::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Tenant.def()
    }
}

impl Related<super::test_catalog::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::TestCatalog.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
