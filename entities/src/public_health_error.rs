//! `public_health_errors`: the error queue. One row per report the receiver refused (or that
//! could not be written), with the reason and the receiver's answer; cleared by replay.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "public_health_errors")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub report_id: Uuid,
    /// The refused batch; `None` when the row was stopped before any upload (missing data).
    pub batch_id: Option<Uuid>,
    pub http_status: Option<i32>,
    #[sea_orm(column_type = "Text")]
    pub message: String,
    /// The receiver's answer (at most 8 KiB), kept for the operator; never logged.
    #[sea_orm(column_type = "Text")]
    pub response: Option<String>,
    pub created_at: DateTimeUtc,
    /// Set when `portal report replay --errors` queued the report again.
    pub replayed_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::public_health_report::Entity",
        from = "Column::ReportId",
        to = "super::public_health_report::Column::Id"
    )]
    Report,
}

impl Related<super::public_health_report::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Report.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
