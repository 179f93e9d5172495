//! Adding and correcting results (laboratories, clinicians, staff): validation, the stored
//! result, its outbox event and notifications, all in one transaction, with the
//! interpretation flag of a value sent without one (`interpretation`) and the public-health
//! report of a reportable result (`public_health`).

mod batch;
pub mod critical;
mod details;
mod events;
mod idempotency;
pub mod interpretation;
mod orders;
mod public_health;
mod store;
mod validate;
mod write;

use chrono::{DateTime, Utc};
use portal_entities::{
    Interpretation, NotificationChannel, NotificationStatus, OrderSource, ResultStatus, test_result,
};
use serde::Serialize;
use uuid::Uuid;

pub use batch::add_results;
pub use details::{ObservationDetails, PerformingLaboratory, ResultDetails, Specimen, bounds};
pub use orders::{OrderNumbers, cancel_order, current_result, find_order, stored_under_key};
pub use store::{add_result, correct_result, mark_entered_in_error};
pub use validate::catalog_category;

/// Most results one `addTestResults` call takes.
pub const MAX_BATCH: usize = 500;

/// A new result as a laboratory sends it.
#[derive(Debug, Clone, Serialize)]
pub struct NewResult {
    pub patient_id: Uuid,
    pub order: OrderRef,
    pub status: ResultStatus,
    pub issued_at: DateTime<Utc>,
    pub performing_lab: Option<String>,
    pub conclusion: Option<String>,
    pub observations: Vec<NewObservation>,
    pub imaging_report: Option<NewImagingReport>,
    pub idempotency_key: Option<String>,
    /// Specimen, times and performing laboratory as the laboratory sent them.
    pub details: ResultDetails,
}

/// The order a result belongs to: one that exists, or one to create with the result.
#[derive(Debug, Clone, Serialize)]
pub enum OrderRef {
    Existing(Uuid),
    New(Box<NewOrder>),
    /// Both or neither were given (reported as BAD_USER_INPUT).
    Ambiguous,
}

#[derive(Debug, Clone, Serialize)]
pub struct NewOrder {
    pub facility_id: Uuid,
    pub test_code: String,
    pub ordering_clinician_id: Option<Uuid>,
    pub referring_clinician_id: Option<Uuid>,
    pub source: OrderSource,
    pub accession_number: Option<String>,
    /// What another system knows the order by (an HL7 interface); empty from GraphQL.
    pub external: ExternalOrder,
}

/// An order as a hospital system identifies it: its order numbers, the ordering provider
/// as written (when the NPI is not a clinician of the portal) and the appointment it was
/// booked for.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ExternalOrder {
    pub placer_order_number: Option<String>,
    pub filler_order_number: Option<String>,
    /// The requisition (HL7 ORC-4 placer group number).
    pub placer_group_number: Option<String>,
    pub ordering_provider_name: Option<String>,
    pub appointment_id: Option<Uuid>,
    /// The facility that placed the order (HL7 ORC-21), apart from the performing lab.
    pub ordering_facility_name: Option<String>,
    pub ordering_facility_identifier: Option<String>,
    /// The entering organization (HL7 ORC-17).
    pub entering_organization: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NewObservation {
    pub code: String,
    pub value_numeric: Option<f64>,
    pub value_text: Option<String>,
    pub value_code: Option<String>,
    /// The laboratory's unit as sent; the catalog's when none is sent.
    pub unit: Option<String>,
    pub interpretation: Option<Interpretation>,
    /// The abnormal flags as the laboratory sent them (HL7 OBX-8: `H`, `HH`, `AA`, …).
    pub abnormal_flags: Vec<String>,
    pub details: ObservationDetails,
}

#[derive(Debug, Clone, Serialize)]
pub struct NewImagingReport {
    pub modality: String,
    pub study_instance_uid: String,
    pub findings: String,
    pub impression: String,
}

/// What a correction replaces the result's content with.
#[derive(Debug, Clone, Serialize)]
pub struct Correction {
    pub issued_at: Option<DateTime<Utc>>,
    pub conclusion: Option<String>,
    pub observations: Vec<NewObservation>,
    pub imaging_report: Option<NewImagingReport>,
    pub details: ResultDetails,
}

/// A notification queued with a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuedNotification {
    pub channel: NotificationChannel,
    pub status: NotificationStatus,
}

/// The outcome of storing a result.
#[derive(Debug, Clone)]
pub struct Stored {
    pub result: test_result::Model,
    pub event_id: Uuid,
    pub notifications: Vec<QueuedNotification>,
    /// True when an idempotency key matched an earlier call: nothing new was stored.
    pub replayed: bool,
}

/// Whether a status is one a laboratory may send with `addTestResult` (corrections and
/// withdrawals have their own mutations).
fn is_reportable(status: ResultStatus) -> bool {
    matches!(status, ResultStatus::Preliminary | ResultStatus::Final)
}
