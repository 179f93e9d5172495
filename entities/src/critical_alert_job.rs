//! `critical_alert_jobs`: one step of an alert's delivery and escalation on the job queue
//! (unique per alert and step): step 0 notifies the first addressee, step n moves an alert
//! still open to chain step n when it is due.

use sea_orm::entity::prelude::*;

/// Where a job is.
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
pub enum CriticalJobStatus {
    #[sea_orm(string_value = "READY")]
    Ready,
    #[sea_orm(string_value = "RETRY")]
    Retry,
    #[sea_orm(string_value = "DONE")]
    Done,
    #[sea_orm(string_value = "DEAD")]
    Dead,
}

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "critical_alert_jobs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub alert_id: Uuid,
    pub step: i32,
    pub status: CriticalJobStatus,
    /// While claimed, the lease end (the queue's fencing token).
    pub run_at: DateTimeUtc,
    /// When the step is due, compared with the database's clock before it is taken.
    pub due_at: DateTimeUtc,
    pub attempts: i32,
    #[sea_orm(column_type = "Text")]
    pub last_error: Option<String>,
    pub created_at: DateTimeUtc,
    pub done_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
