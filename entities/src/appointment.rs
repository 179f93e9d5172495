//! `appointments`: A booked appointment (lab draw, imaging, consult).

use sea_orm::entity::prelude::*;

use crate::enums::{AppointmentKind, AppointmentStatus};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "appointments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub patient_id: Uuid,
    pub facility_id: Uuid,
    pub clinician_id: Option<Uuid>,
    pub kind: AppointmentKind,
    pub starts_at: DateTimeUtc,
    pub ends_at: DateTimeUtc,
    pub status: AppointmentStatus,
    #[sea_orm(column_type = "Text")]
    pub reason: Option<String>,
    pub created_at: DateTimeUtc,
    pub cancelled_at: Option<DateTimeUtc>,
    /// The scheduling system's appointment id (HL7 SCH-2), unique in the tenant.
    #[sea_orm(column_type = "Text")]
    pub external_id: Option<String>,
    /// The placer order number the appointment is booked for (HL7 SCH-26).
    #[sea_orm(column_type = "Text")]
    pub order_number: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::test_order::Entity")]
    TestOrder,
    #[sea_orm(
        belongs_to = "super::tenant::Entity",
        from = "Column::TenantId",
        to = "super::tenant::Column::Id"
    )]
    Tenant,
    #[sea_orm(
        belongs_to = "super::patient::Entity",
        from = "Column::PatientId",
        to = "super::patient::Column::Id"
    )]
    Patient,
    #[sea_orm(
        belongs_to = "super::facility::Entity",
        from = "Column::FacilityId",
        to = "super::facility::Column::Id"
    )]
    Facility,
    #[sea_orm(
        belongs_to = "super::clinician::Entity",
        from = "Column::ClinicianId",
        to = "super::clinician::Column::Id"
    )]
    Clinician,
}

impl Related<super::test_order::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::TestOrder.def()
    }
}

impl Related<super::tenant::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Tenant.def()
    }
}

impl Related<super::patient::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Patient.def()
    }
}

impl Related<super::facility::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Facility.def()
    }
}

impl Related<super::clinician::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Clinician.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
