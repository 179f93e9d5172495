//! `test_catalog`: A test a tenant can order (lab panel or imaging study).

use sea_orm::entity::prelude::*;

use crate::enums::{CodeSystem, TestCategory};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Deserialize)]
#[sea_orm(table_name = "test_catalog")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    #[sea_orm(column_type = "Text")]
    pub code: String,
    pub code_system: CodeSystem,
    #[sea_orm(column_type = "Text")]
    pub display_name: String,
    pub category: TestCategory,
    #[sea_orm(column_type = "Text")]
    pub specimen: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub unit: Option<String>,
    pub reference_low: Option<f64>,
    pub reference_high: Option<f64>,
    #[sea_orm(column_type = "Text")]
    pub reference_text: Option<String>,
    pub sensitive: bool,
    pub created_at: DateTimeUtc,
    /// Results of this test are reported to public health.
    pub reportable: bool,
    /// Last change through master data; `None` when unchanged since created.
    pub updated_at: Option<DateTimeUtc>,
    /// The instrument or test kit model a public-health report names
    /// (`equipment_model_name`); required for reportable tests.
    #[sea_orm(column_type = "Text")]
    pub device_model: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::tenant::Entity",
        from = "Column::TenantId",
        to = "super::tenant::Column::Id"
    )]
    Tenant,
    #[sea_orm(has_many = "super::catalog_analyte::Entity")]
    CatalogAnalyte,
    #[sea_orm(has_many = "super::test_order::Entity")]
    TestOrder,
    #[sea_orm(has_many = "super::test_result::Entity")]
    TestResult,
}

impl Related<super::tenant::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Tenant.def()
    }
}

impl Related<super::catalog_analyte::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::CatalogAnalyte.def()
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

impl ActiveModelBehavior for ActiveModel {}
