//! `hl7_messages`: An HL7 v2 message as received over MLLP (raw, it holds PHI) and its outcome.

use sea_orm::entity::prelude::*;

use crate::enums::Hl7MessageStatus;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "hl7_messages")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// MSH-3 as sent (HD components joined by `^`); empty when absent.
    #[sea_orm(column_type = "Text")]
    pub sending_application: String,
    /// MSH-4 as sent; empty when absent.
    #[sea_orm(column_type = "Text")]
    pub sending_facility: String,
    /// MSH-10.
    #[sea_orm(column_type = "Text")]
    pub control_id: Option<String>,
    /// MSH-9.1^MSH-9.2, e.g. `ORU^R01` (`^` when unreadable).
    #[sea_orm(column_type = "Text")]
    pub message_type: String,
    pub received_at: DateTimeUtc,
    /// The message bytes without MLLP framing.
    #[sea_orm(column_type = "Blob")]
    pub raw: Vec<u8>,
    pub status: Hl7MessageStatus,
    /// MSA-1 of the last answer: AA, AE or AR.
    pub ack_code: Option<String>,
    /// ERR-3 code of the first error (HL7 table 0357), e.g. `204`.
    #[sea_orm(column_type = "Text")]
    pub error_code: Option<String>,
    /// ERR-2 of the first error, e.g. `PID^1^3`.
    #[sea_orm(column_type = "Text")]
    pub error_location: Option<String>,
    /// What went wrong, without field values (no PHI).
    #[sea_orm(column_type = "Text")]
    pub error_summary: Option<String>,
    /// How many times the message was received or replayed.
    pub attempts: i32,
    pub processed_at: Option<DateTimeUtc>,
    /// The sender's address.
    #[sea_orm(column_type = "Text")]
    pub peer: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::tenant::Entity",
        from = "Column::TenantId",
        to = "super::tenant::Column::Id"
    )]
    Tenant,
}

impl Related<super::tenant::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Tenant.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
