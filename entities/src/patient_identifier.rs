//! `patient_identifiers`: a patient's identifier under an assigning authority other than the
//! tenant's own (whose identifier is `patients.mrn`): keyed by (authority, value).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "patient_identifiers")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub patient_id: Uuid,
    pub authority_id: Uuid,
    /// CX.1 as the authority assigned it.
    #[sea_orm(column_type = "Text")]
    pub value: String,
    /// The patient was registered from this identifier alone (an ORU of a walk-in, no ADT).
    pub walk_in: bool,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::patient::Entity",
        from = "Column::PatientId",
        to = "super::patient::Column::Id"
    )]
    Patient,
    #[sea_orm(
        belongs_to = "super::patient_id_authority::Entity",
        from = "Column::AuthorityId",
        to = "super::patient_id_authority::Column::Id"
    )]
    Authority,
}

impl Related<super::patient_id_authority::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Authority.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
