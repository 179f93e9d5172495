//! `facilities`: A facility (lab, imaging centre, clinic) of a tenant.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "facilities")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    #[sea_orm(column_type = "Text")]
    pub name: String,
    #[sea_orm(column_type = "Text")]
    pub clia_number: Option<String>,
    /// The street line(s).
    #[sea_orm(column_type = "Text")]
    pub address: Option<String>,
    pub created_at: DateTimeUtc,
    #[sea_orm(column_type = "Text")]
    pub city: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub state: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub postal_code: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub country: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub phone: Option<String>,
    /// Last change through master data; `None` when unchanged since created.
    pub updated_at: Option<DateTimeUtc>,
    /// The clinician public-health reports name when an order names none.
    pub default_ordering_clinician_id: Option<Uuid>,
    /// HL7 ORU from this sender: store the valid ORC/OBR groups, AE for the others.
    pub accept_valid_groups: bool,
    /// Alias identifiers as HL7 HD values, a JSON array of `{namespace_id, universal_id,
    /// universal_id_type}` (`portal_services::directory::identifiers`).
    #[sea_orm(column_type = "Text")]
    pub identifiers: Option<String>,
    /// The sender's local codes mapped to catalog codes, a JSON array of `{local_code,
    /// local_system, code}` (`portal_services::directory::code_map`).
    #[sea_orm(column_type = "Text")]
    pub code_map: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::tenant::Entity",
        from = "Column::TenantId",
        to = "super::tenant::Column::Id"
    )]
    Tenant,
    #[sea_orm(has_many = "super::test_order::Entity")]
    TestOrder,
    #[sea_orm(has_many = "super::appointment::Entity")]
    Appointment,
}

impl Related<super::tenant::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Tenant.def()
    }
}

impl Related<super::test_order::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::TestOrder.def()
    }
}

impl Related<super::appointment::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Appointment.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
