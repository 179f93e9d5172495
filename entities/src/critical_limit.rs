//! `critical_limits`: the catalog's critical limits of one analyte of a test, used only when
//! the laboratory sent no abnormal flag.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "critical_limits")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub test_id: Uuid,
    #[sea_orm(column_type = "Text")]
    pub analyte_code: String,
    pub critical_low: Option<f64>,
    pub critical_high: Option<f64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
