//! sea-orm entities for every table of the patient portal (see `docs/data-model.md`).
//!
//! One module per table (singular name); enumerations stored as upper-case strings live in
//! [`enums`] and are re-exported at the crate root.

pub mod appointment;
pub mod audit_event;
pub mod audit_seal;
pub mod catalog_analyte;
pub mod claim;
pub mod clinician;
pub mod clinician_contact;
pub mod coverage;
pub mod critical_alert;
pub mod critical_alert_job;
pub mod critical_limit;
pub mod enums;
pub mod escalation_step;
pub mod facility;
pub mod facility_critical_setting;
pub mod hl7_message;
pub mod idempotency_key;
pub mod imaging_report;
pub mod notification;
pub mod notification_preference;
pub mod observation;
pub mod observation_detail;
pub mod outbox_event;
pub mod patient;
pub mod patient_id_authority;
pub mod patient_identifier;
pub mod patient_match;
pub mod proxy_grant;
pub mod public_health_batch;
pub mod public_health_error;
pub mod public_health_report;
pub mod public_health_status;
pub mod push_token;
pub mod result_detail;
pub mod result_link;
pub mod result_view;
pub mod tenant;
pub mod test_catalog;
pub mod test_order;
pub mod test_result;

pub use critical_alert::CriticalAlertStatus;
pub use critical_alert_job::CriticalJobStatus;
pub use enums::*;
pub use patient_match::PatientMatchStatus;
pub use public_health_status::*;
