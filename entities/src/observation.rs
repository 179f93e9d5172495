//! `observations`: One observed value of a result; append-only.

use sea_orm::entity::prelude::*;

use crate::enums::{Interpretation, ValueType};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Deserialize)]
#[sea_orm(table_name = "observations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub result_id: Uuid,
    pub position: i32,
    #[sea_orm(column_type = "Text")]
    pub code: String,
    #[sea_orm(column_type = "Text")]
    pub display_name: String,
    pub value_type: ValueType,
    pub value_numeric: Option<f64>,
    #[sea_orm(column_type = "Text")]
    pub value_text: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub value_code: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub unit: Option<String>,
    pub reference_low: Option<f64>,
    pub reference_high: Option<f64>,
    #[sea_orm(column_type = "Text")]
    pub reference_text: Option<String>,
    pub interpretation: Option<Interpretation>,
    /// The abnormal flags as the laboratory sent them (HL7 OBX-8, repetitions joined by
    /// `~`), kept beside the mapped `interpretation` (`AA` is not lost as ABNORMAL).
    #[sea_orm(column_type = "Text")]
    #[serde(default)]
    pub abnormal_flags: Option<String>,
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
        belongs_to = "super::test_result::Entity",
        from = "Column::ResultId",
        to = "super::test_result::Column::Id"
    )]
    TestResult,
}

impl Related<super::tenant::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Tenant.def()
    }
}

impl Related<super::test_result::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::TestResult.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
