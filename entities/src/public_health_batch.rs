//! `public_health_batches`: one upload to a public-health endpoint. Its id is sent with it
//! (Idempotency-Key, `payloadname`) and its CSV is stored once, so every resend is the same.

use sea_orm::entity::prelude::*;

use crate::public_health_status::BatchStatus;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "public_health_batches")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub status: BatchStatus,
    pub row_count: i32,
    /// The exact CSV body every attempt sends.
    #[sea_orm(column_type = "Text")]
    pub payload: String,
    pub attempts: i32,
    /// When a worker may take it next: the end of the current holder's lease, or of the
    /// backoff after a failed attempt.
    pub next_attempt_at: DateTimeUtc,
    pub last_status: Option<i32>,
    #[sea_orm(column_type = "Text")]
    pub last_error: Option<String>,
    pub created_at: DateTimeUtc,
    pub sent_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::public_health_report::Entity")]
    Reports,
}

impl Related<super::public_health_report::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Reports.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
