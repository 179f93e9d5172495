//! `observation_details`: What the laboratory sent with one observation beyond its value
//! (observation time, device, reference range as written); at most one row per observation.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "observation_details")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub observation_id: Uuid,
    pub tenant_id: Uuid,
    pub result_id: Uuid,
    pub observed_at: Option<DateTimeUtc>,
    #[sea_orm(column_type = "Text")]
    pub device_name: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub device_identifier: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub reference_range: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::observation::Entity",
        from = "Column::ObservationId",
        to = "super::observation::Column::Id"
    )]
    Observation,
}

impl Related<super::observation::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Observation.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
