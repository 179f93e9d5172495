//! `facility_critical_settings`: a facility's critical-results switch (off unless a row
//! says on) and how long an alert waits for an acknowledgement before it escalates.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "facility_critical_settings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub facility_id: Uuid,
    pub tenant_id: Uuid,
    pub enabled: bool,
    pub escalation_seconds: i32,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
