//! The shape of `data/riverside.json`: typed records the seeder writes, parsed with serde.
//!
//! Rows refer to each other by key (facility `key`, clinician `subject`, catalog `key`,
//! appointment `key` within its patient, patient `mrn`); ids are made when the rows are written.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use portal_entities::{
    AppointmentKind, AppointmentStatus, ClaimStatus, CodeSystem, CoverageStatus, Interpretation,
    OrderSource, OrderStatus, ResultStatus, TestCategory, ValueType,
};
use serde::Deserialize;

/// The embedded demo hospital.
const RIVERSIDE: &str = include_str!("../data/riverside.json");

/// Parses the embedded demo hospital.
pub(crate) fn riverside() -> serde_json::Result<Demo> {
    serde_json::from_str(RIVERSIDE)
}

/// A moment relative to the seed time; negative is in the past (`{"days": -3}` is three
/// days ago, `{"hours": -2}` this morning).
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct When {
    days: i64,
    hours: i64,
}

impl When {
    pub(crate) fn relative_to(self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + Duration::days(self.days) + Duration::hours(self.hours)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Demo {
    pub tenant: Tenant,
    /// The laboratory every result names as its performer.
    pub performing_lab: String,
    pub facilities: Vec<Facility>,
    pub clinicians: Vec<Clinician>,
    pub catalog: Vec<CatalogTest>,
    pub patients: Vec<Patient>,
    pub proxy_grants: Vec<ProxyGrant>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Tenant {
    /// How a later start recognises the demo as already seeded.
    pub slug: String,
    pub name: String,
    /// The assigning authority of the organisation's MRNs (HL7 HD), as its messages name it.
    pub patient_id_authority: Authority,
}

/// An HL7 HD: namespace id, universal id and its type.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Authority {
    pub namespace: String,
    pub universal_id: String,
    pub universal_id_type: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Facility {
    pub key: String,
    pub name: String,
    pub clia_number: String,
    /// The street line.
    pub address: String,
    pub city: String,
    pub state: String,
    pub postal_code: String,
    pub country: String,
    pub phone: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Clinician {
    pub subject: String,
    pub name: String,
    pub given_name: String,
    pub family_name: String,
    pub npi: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CatalogTest {
    pub key: String,
    pub code: String,
    pub code_system: CodeSystem,
    pub name: String,
    pub category: TestCategory,
    pub specimen: Option<String>,
    pub sensitive: bool,
    /// Results go to public health (HIV, SARS-CoV-2).
    #[serde(default)]
    pub reportable: bool,
    /// The instrument or kit model a public-health report names (`equipment_model_name`).
    #[serde(default)]
    pub device_model: Option<String>,
    /// In order; a result's `values` pair with them one to one.
    pub analytes: Vec<Analyte>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Analyte {
    pub code: String,
    pub name: String,
    pub value_type: ValueType,
    pub unit: Option<String>,
    pub low: Option<f64>,
    pub high: Option<f64>,
    pub reference_text: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Patient {
    pub mrn: String,
    pub given_name: String,
    pub family_name: String,
    pub birth_date: NaiveDate,
    /// HL7 table 0001.
    pub sex: String,
    /// CDC race code.
    pub race: String,
    /// CDC ethnicity code.
    pub ethnicity: String,
    pub language: String,
    pub address: Address,
    /// The portal login; a patient without one is reached through a proxy.
    pub account: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub preferences: Preferences,
    pub appointments: Vec<Appointment>,
    pub orders: Vec<Order>,
    pub coverages: Vec<Coverage>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Address {
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub state: String,
    pub postal_code: String,
    pub county: Option<String>,
    pub country: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Preferences {
    pub email: bool,
    pub sms: bool,
    pub push: bool,
    pub language: String,
    pub hold_sensitive_results: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Appointment {
    pub key: String,
    pub facility: String,
    pub clinician: Option<String>,
    pub kind: AppointmentKind,
    pub status: AppointmentStatus,
    pub reason: String,
    pub starts: When,
    pub minutes: i64,
    pub booked: When,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Order {
    pub test: String,
    pub facility: String,
    pub ordering: Option<String>,
    pub referring: Option<String>,
    pub source: OrderSource,
    pub status: OrderStatus,
    pub appointment: Option<String>,
    pub ordered: When,
    /// Oldest first; a result with a `correction_reason` replaces the one before it.
    pub results: Vec<TestResult>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TestResult {
    pub status: ResultStatus,
    pub issued: When,
    pub values: Vec<Value>,
    pub conclusion: Option<String>,
    pub correction_reason: Option<String>,
    pub imaging_report: Option<ImagingReport>,
}

/// One observation's value: a number (flagged against the analyte's range) or a coded answer.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum Value {
    Numeric(f64),
    Coded {
        text: String,
        code: String,
        interpretation: Interpretation,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ImagingReport {
    pub modality: String,
    pub study_instance_uid: String,
    pub findings: String,
    pub impression: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Coverage {
    pub payer: String,
    pub plan_name: String,
    pub member_id: String,
    pub group_number: Option<String>,
    pub status: CoverageStatus,
    pub start: When,
    pub end: Option<When>,
    pub claims: Vec<Claim>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Claim {
    pub number: String,
    pub description: String,
    pub service: When,
    pub billed_cents: i64,
    pub allowed_cents: i64,
    pub patient_responsibility_cents: i64,
    pub currency: String,
    pub status: ClaimStatus,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProxyGrant {
    /// The MRN of the patient who grants access.
    pub patient: String,
    pub grantee_subject: String,
    pub grantee_name: String,
    pub relationship: String,
    pub scopes: String,
    pub valid_from: When,
    pub valid_to: Option<When>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_hospital_parses() {
        let demo = riverside().expect("riverside.json");
        assert_eq!(demo.patients.len(), 4);
        assert_eq!(demo.catalog.len(), 6);
        assert_eq!(
            demo.catalog.iter().filter(|t| t.reportable).count(),
            2,
            "HIV and SARS-CoV-2"
        );
    }
}
