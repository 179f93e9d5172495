//! `test_orders`: An order for a catalog test for a patient.

use sea_orm::entity::prelude::*;

use crate::enums::{OrderSource, OrderStatus};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "test_orders")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub patient_id: Uuid,
    pub facility_id: Uuid,
    pub test_id: Uuid,
    pub ordering_clinician_id: Option<Uuid>,
    pub referring_clinician_id: Option<Uuid>,
    pub appointment_id: Option<Uuid>,
    pub source: OrderSource,
    pub status: OrderStatus,
    #[sea_orm(column_type = "Text")]
    pub accession_number: Option<String>,
    /// The placing system's order number (HL7 ORC-2 / OBR-2).
    #[sea_orm(column_type = "Text")]
    pub placer_order_number: Option<String>,
    /// The filling system's order number (HL7 ORC-3 / OBR-3): later results of the same
    /// order find it by this.
    #[sea_orm(column_type = "Text")]
    pub filler_order_number: Option<String>,
    /// The ordering provider's name as the sender wrote it (kept when the NPI is unknown).
    #[sea_orm(column_type = "Text")]
    pub ordering_provider_name: Option<String>,
    /// The facility that placed the order (HL7 ORC-21 name), apart from the performing lab
    /// (`facility_id` for an HL7 order).
    #[sea_orm(column_type = "Text")]
    pub ordering_facility_name: Option<String>,
    /// The ordering facility's identifier as sent (ORC-21 organization identifier).
    #[sea_orm(column_type = "Text")]
    pub ordering_facility_identifier: Option<String>,
    /// The entering organization (ORC-17), where sent.
    #[sea_orm(column_type = "Text")]
    pub entering_organization: Option<String>,
    pub ordered_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
    /// The requisition the order belongs to (HL7 ORC-4 placer group number).
    #[sea_orm(column_type = "Text")]
    pub placer_group_number: Option<String>,
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
        belongs_to = "super::test_catalog::Entity",
        from = "Column::TestId",
        to = "super::test_catalog::Column::Id"
    )]
    TestCatalog,
    #[sea_orm(
        belongs_to = "super::clinician::Entity",
        from = "Column::OrderingClinicianId",
        to = "super::clinician::Column::Id"
    )]
    OrderingClinician,
    #[sea_orm(
        belongs_to = "super::clinician::Entity",
        from = "Column::ReferringClinicianId",
        to = "super::clinician::Column::Id"
    )]
    ReferringClinician,
    /// Logical relation only: the database has no foreign key on `appointment_id`.
    #[sea_orm(
        belongs_to = "super::appointment::Entity",
        from = "Column::AppointmentId",
        to = "super::appointment::Column::Id"
    )]
    Appointment,
    #[sea_orm(has_many = "super::test_result::Entity")]
    TestResult,
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

impl Related<super::test_catalog::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::TestCatalog.def()
    }
}

impl Related<super::appointment::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Appointment.def()
    }
}

impl Related<super::test_result::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::TestResult.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
