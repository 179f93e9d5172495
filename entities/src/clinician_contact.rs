//! `clinician_contacts`: how a clinician is reached with a critical result (email, SMS
//! phone) and whether they are on call; one row per clinician, kept through master data.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "clinician_contacts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub clinician_id: Uuid,
    pub tenant_id: Uuid,
    #[sea_orm(column_type = "Text")]
    pub email: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub sms_phone: Option<String>,
    pub on_call: bool,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
