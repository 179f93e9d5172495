//! Enumerations stored as upper-case strings (`varchar(24)`), e.g. `ResultStatus::EnteredInError`
//! is stored as `"ENTERED_IN_ERROR"`. Serde uses the same upper-snake names.

use sea_orm::entity::prelude::*;

/// Whether a catalog test / result is a lab test or an imaging study.
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
pub enum TestCategory {
    #[sea_orm(string_value = "LAB")]
    Lab,
    #[sea_orm(string_value = "IMAGING")]
    Imaging,
}

/// Code system of a catalog test code.
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
pub enum CodeSystem {
    #[sea_orm(string_value = "LOINC")]
    Loinc,
    #[sea_orm(string_value = "LOCAL")]
    Local,
}

/// Kind of value an analyte / observation carries.
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
pub enum ValueType {
    #[sea_orm(string_value = "NUMERIC")]
    Numeric,
    #[sea_orm(string_value = "TEXT")]
    Text,
    #[sea_orm(string_value = "CODED")]
    Coded,
}

/// How an order entered the system.
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
pub enum OrderSource {
    #[sea_orm(string_value = "PORTAL")]
    Portal,
    #[sea_orm(string_value = "WALK_IN")]
    WalkIn,
    #[sea_orm(string_value = "REFERRAL")]
    Referral,
}

/// Lifecycle of a test order.
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
pub enum OrderStatus {
    #[sea_orm(string_value = "PENDING")]
    Pending,
    #[sea_orm(string_value = "COMPLETED")]
    Completed,
    #[sea_orm(string_value = "CANCELLED")]
    Cancelled,
}

/// Status of a test result (FHIR-like).
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
pub enum ResultStatus {
    #[sea_orm(string_value = "PRELIMINARY")]
    Preliminary,
    #[sea_orm(string_value = "FINAL")]
    Final,
    #[sea_orm(string_value = "CORRECTED")]
    Corrected,
    #[sea_orm(string_value = "ENTERED_IN_ERROR")]
    EnteredInError,
}

/// Interpretation flag of an observation against its reference range.
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
pub enum Interpretation {
    #[sea_orm(string_value = "NORMAL")]
    Normal,
    #[sea_orm(string_value = "LOW")]
    Low,
    #[sea_orm(string_value = "HIGH")]
    High,
    #[sea_orm(string_value = "CRITICAL_LOW")]
    CriticalLow,
    #[sea_orm(string_value = "CRITICAL_HIGH")]
    CriticalHigh,
    #[sea_orm(string_value = "ABNORMAL")]
    Abnormal,
}

/// What an appointment is for.
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
pub enum AppointmentKind {
    #[sea_orm(string_value = "LAB_DRAW")]
    LabDraw,
    #[sea_orm(string_value = "IMAGING")]
    Imaging,
    #[sea_orm(string_value = "CONSULT")]
    Consult,
}

/// Lifecycle of an appointment.
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
pub enum AppointmentStatus {
    #[sea_orm(string_value = "BOOKED")]
    Booked,
    #[sea_orm(string_value = "CANCELLED")]
    Cancelled,
    #[sea_orm(string_value = "COMPLETED")]
    Completed,
    #[sea_orm(string_value = "NO_SHOW")]
    NoShow,
}

/// Status of an insurance coverage.
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
pub enum CoverageStatus {
    #[sea_orm(string_value = "ACTIVE")]
    Active,
    #[sea_orm(string_value = "CANCELLED")]
    Cancelled,
    #[sea_orm(string_value = "ENTERED_IN_ERROR")]
    EnteredInError,
}

/// Status of an insurance claim.
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
pub enum ClaimStatus {
    #[sea_orm(string_value = "SUBMITTED")]
    Submitted,
    #[sea_orm(string_value = "PROCESSING")]
    Processing,
    #[sea_orm(string_value = "PAID")]
    Paid,
    #[sea_orm(string_value = "DENIED")]
    Denied,
    #[sea_orm(string_value = "ADJUSTED")]
    Adjusted,
}

/// Platform of a push token.
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
pub enum PushPlatform {
    #[sea_orm(string_value = "IOS")]
    Ios,
    #[sea_orm(string_value = "ANDROID")]
    Android,
    #[sea_orm(string_value = "WEB")]
    Web,
}

/// Delivery channel of a notification.
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
pub enum NotificationChannel {
    #[sea_orm(string_value = "EMAIL")]
    Email,
    #[sea_orm(string_value = "SMS")]
    Sms,
    #[sea_orm(string_value = "PUSH")]
    Push,
}

/// Delivery state of a notification.
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
pub enum NotificationStatus {
    #[sea_orm(string_value = "PENDING")]
    Pending,
    #[sea_orm(string_value = "SENT")]
    Sent,
    #[sea_orm(string_value = "FAILED")]
    Failed,
    #[sea_orm(string_value = "SKIPPED")]
    Skipped,
    #[sea_orm(string_value = "DEAD")]
    Dead,
}

/// Outcome of an audited action.
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
pub enum AuditOutcome {
    #[sea_orm(string_value = "ALLOWED")]
    Allowed,
    #[sea_orm(string_value = "DENIED")]
    Denied,
    #[sea_orm(string_value = "FAILED")]
    Failed,
}

/// Where a received HL7 message stands (see docs/hl7.md, "Message store").
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
pub enum Hl7MessageStatus {
    /// Stored, not processed yet (or its processing was cut short).
    #[sea_orm(string_value = "RECEIVED")]
    Received,
    /// Applied and answered AA (warnings allowed).
    #[sea_orm(string_value = "ACCEPTED")]
    Accepted,
    /// Answered AR because of the message itself: unparseable, unsupported type, trigger,
    /// version or character set. Replaying it cannot help; the sender must fix it.
    #[sea_orm(string_value = "REJECTED")]
    Rejected,
    /// Answered AR because processing failed here (a failed commit, the database): dead
    /// letter, replayable.
    #[sea_orm(string_value = "ERROR")]
    Error,
    /// Answered AE: the content was refused (unknown patient or test, a bad value): dead
    /// letter, replayable once the cause is fixed.
    #[sea_orm(string_value = "DEAD")]
    Dead,
}

impl Hl7MessageStatus {
    /// The statuses of the dead letter (`portal hl7 dead-letter list`, replay, the gauge).
    pub const DEAD_LETTER: [Self; 2] = [Self::Error, Self::Dead];
}
