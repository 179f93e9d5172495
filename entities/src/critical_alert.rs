//! `critical_alerts`: a critical value of one analyte of an order, addressed to a clinician
//! (or a step of the escalation chain) until acknowledged with a read-back, or closed by a
//! later version that is no longer critical. At most one is open per order and analyte.

use sea_orm::entity::prelude::*;

/// Where an alert is.
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
pub enum CriticalAlertStatus {
    #[sea_orm(string_value = "OPEN")]
    Open,
    #[sea_orm(string_value = "ACKNOWLEDGED")]
    Acknowledged,
    #[sea_orm(string_value = "CLOSED")]
    Closed,
}

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "critical_alerts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub patient_id: Uuid,
    pub order_id: Uuid,
    /// The latest result version that raised or updated the alert.
    pub result_id: Uuid,
    #[sea_orm(column_type = "Text")]
    pub analyte_code: String,
    /// Why the value is critical: the lab's flag (`LL`, `HH`, `AA`, `CRITICAL_LOW`, …) or
    /// `LIMIT_LOW` / `LIMIT_HIGH` from the catalog's critical limits.
    pub flag: String,
    pub status: CriticalAlertStatus,
    /// 0 while addressed to the ordering (or referring) clinician; n at chain step n.
    pub step: i32,
    /// The facility whose switch, delay and chain the alert follows.
    pub facility_id: Uuid,
    pub addressee_clinician_id: Option<Uuid>,
    #[sea_orm(column_type = "Text")]
    pub addressee_label: Option<String>,
    pub raised_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub acknowledged_at: Option<DateTimeUtc>,
    pub acknowledged_by_clinician_id: Option<Uuid>,
    #[sea_orm(column_type = "Text")]
    pub acknowledged_by_subject: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub read_back: Option<String>,
    pub closed_at: Option<DateTimeUtc>,
    #[sea_orm(column_type = "Text")]
    pub close_reason: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
