//! `patient_matches`: the staff matching queue. An ORU whose identifier no patient has, but
//! whose name and birth date match an existing patient, is answered AE and waits here until
//! staff link the identifier to that patient or register a new one (never merged by itself).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "patient_matches")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// The stored message (dead letter) that is waiting for the decision.
    pub hl7_message_id: Uuid,
    pub authority_id: Uuid,
    /// The identifier (CX.1) no patient had.
    #[sea_orm(column_type = "Text")]
    pub value: String,
    /// PID-5 and PID-7 as the message sent them (what staff compare with the candidate).
    #[sea_orm(column_type = "Text")]
    pub given_name: String,
    #[sea_orm(column_type = "Text")]
    pub family_name: String,
    pub birth_date: Date,
    /// The existing patient whose name and birth date match the message's PID.
    pub candidate_patient_id: Uuid,
    pub status: PatientMatchStatus,
    /// The patient the identifier now belongs to, once resolved.
    pub resolved_patient_id: Option<Uuid>,
    #[sea_orm(column_type = "Text")]
    pub resolved_by: Option<String>,
    pub resolved_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

/// Where a match stands.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(24))")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PatientMatchStatus {
    /// Waiting for staff.
    #[sea_orm(string_value = "OPEN")]
    Open,
    /// The identifier was linked to the candidate (the same person).
    #[sea_orm(string_value = "LINKED")]
    Linked,
    /// A new patient was registered from the message's PID (another person).
    #[sea_orm(string_value = "REGISTERED")]
    Registered,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::patient::Entity",
        from = "Column::CandidatePatientId",
        to = "super::patient::Column::Id"
    )]
    Candidate,
}

impl ActiveModelBehavior for ActiveModel {}
