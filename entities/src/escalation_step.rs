//! `escalation_steps`: one step of a facility's escalation chain for critical results (a
//! covering clinician, a lab supervisor, an on-call number), in order.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "escalation_steps")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub facility_id: Uuid,
    /// 1 for the first step of the chain.
    pub position: i32,
    /// The clinician this step reaches (through their contact channels), if it is one.
    pub clinician_id: Option<Uuid>,
    /// What the step is ("Lab supervisor"); shown to staff.
    #[sea_orm(column_type = "Text")]
    pub label: String,
    /// An on-call number reached by SMS when the step is no clinician.
    #[sea_orm(column_type = "Text")]
    pub phone: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
