//! `patient_id_authorities`: an assigning authority of patient identifiers the tenant knows
//! (HL7 HD: namespace id, universal id and its type). The row without a facility is the
//! tenant's own (its MRNs); a row with a facility is that sending facility's, with the
//! facility's walk-in rules (register unknown patients from an ORU, send result links).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "patient_id_authorities")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// The sending facility whose identifiers these are; `None` for the tenant's own MRNs.
    pub facility_id: Option<Uuid>,
    /// HD.1, e.g. `LABCORP`.
    #[sea_orm(column_type = "Text")]
    pub namespace: Option<String>,
    /// HD.2, e.g. an OID `2.16.840.1.113883.3.999`.
    #[sea_orm(column_type = "Text")]
    pub universal_id: Option<String>,
    /// HD.3 (table 0301): `ISO`, `CLIA`, `DNS`, `L`...
    #[sea_orm(column_type = "Text")]
    pub universal_id_type: Option<String>,
    /// An ORU for an identifier of this authority that no patient has registers the patient
    /// from PID (walk-ins); off by default.
    pub registers_patients: bool,
    /// Result links (walk-in links) are sent to patients registered from this facility's ORUs.
    pub sends_result_links: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: Option<DateTimeUtc>,
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
        belongs_to = "super::facility::Entity",
        from = "Column::FacilityId",
        to = "super::facility::Column::Id"
    )]
    Facility,
}

impl Related<super::tenant::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Tenant.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
