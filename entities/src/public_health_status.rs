//! The stored enumerations of public-health reporting (upper-case strings, like `enums`).

use sea_orm::entity::prelude::*;

/// What a report tells the receiver about its result version.
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
pub enum ReportKind {
    /// A FINAL result (`test_result_status` F).
    #[sea_orm(string_value = "ORIGINAL")]
    Original,
    /// A CORRECTED result (C).
    #[sea_orm(string_value = "CORRECTION")]
    Correction,
    /// ENTERED_IN_ERROR: the earlier report is withdrawn (W, "post original as wrong").
    #[sea_orm(string_value = "WITHDRAWAL")]
    Withdrawal,
}

/// Where a report is.
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
pub enum ReportStatus {
    /// Waiting for a batch.
    #[sea_orm(string_value = "QUEUED")]
    Queued,
    /// In a batch that is being sent (or retried).
    #[sea_orm(string_value = "BATCHED")]
    Batched,
    /// The receiver accepted its batch.
    #[sea_orm(string_value = "SENT")]
    Sent,
    /// In the error queue until replayed.
    #[sea_orm(string_value = "ERROR")]
    Error,
}

/// Where an upload is.
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
pub enum BatchStatus {
    /// Not yet accepted: being sent, or waiting for its retry.
    #[sea_orm(string_value = "PENDING")]
    Pending,
    /// Answered 2xx.
    #[sea_orm(string_value = "SENT")]
    Sent,
    /// Answered 4xx: its rows went to the error queue or back to the queue.
    #[sea_orm(string_value = "REFUSED")]
    Refused,
}
