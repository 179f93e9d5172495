//! The resource types served: each module maps the services' rows to one FHIR resource and
//! answers its reads and searches; this module dispatches and holds the shared pieces.

pub mod appointment;
pub mod coverage;
pub mod directory;
pub mod observation;
pub mod order;
pub mod patient;
pub mod provenance;
pub mod report;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use portal_core::access::PatientAccess;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::edge::Call;
use crate::outcome::{FhirError, FhirResult};
use crate::params::Search;

pub async fn read(call: &Call, kind: &str, id: Uuid) -> FhirResult<Value> {
    match kind {
        "Patient" => patient::read(call, id).await,
        "DiagnosticReport" => report::read(call, id).await,
        "Observation" => observation::read(call, id).await,
        "Appointment" => appointment::read(call, id).await,
        "Coverage" => coverage::read_coverage(call, id).await,
        "ExplanationOfBenefit" => coverage::read_claim(call, id).await,
        "ServiceRequest" => order::read(call, id).await,
        "Organization" => directory::organization(call, id).await,
        "Practitioner" => directory::practitioner(call, id).await,
        "Location" => directory::location(call, id).await,
        other => Err(FhirError::UnknownType(other.to_owned())),
    }
}

pub async fn search(call: &Call, kind: &str, search: &Search) -> FhirResult<Value> {
    match kind {
        "Patient" => patient::search(call, search).await,
        "DiagnosticReport" => report::search(call, search).await,
        "Observation" => observation::search(call, search).await,
        "Appointment" => appointment::search(call, search).await,
        "Coverage" => coverage::search_coverages(call, search).await,
        "ExplanationOfBenefit" => coverage::search_claims(call, search).await,
        "ServiceRequest" => order::search(call, search).await,
        other => Err(FhirError::UnknownType(other.to_owned())),
    }
}

/// The patient a search is about, read (and audited) as `Patient/{id}` would be: its proof
/// of access is what the search's rows are listed under.
pub async fn searched_patient(call: &Call, search: &Search) -> FhirResult<PatientAccess> {
    let id = search.patient()?;
    let (access, _) = portal_services::patients::get(&call.ctx, id).await?;
    Ok(access)
}

pub fn reference(kind: &str, id: Uuid) -> Value {
    json!({ "reference": format!("{kind}/{id}") })
}

pub fn coding(system: &str, code: &str, display: Option<&str>) -> Value {
    let mut coding = json!({ "system": system, "code": code });
    if let Some(display) = display {
        coding["display"] = json!(display);
    }
    coding
}

/// A CodeableConcept of one coding.
pub fn concept(system: &str, code: &str, display: Option<&str>) -> Value {
    let mut concept = json!({ "coding": [coding(system, code, display)] });
    if let Some(display) = display {
        concept["text"] = json!(display);
    }
    concept
}

/// An instant as stored: to the microsecond (the precision both databases keep), so the value
/// a resource shows is the value searched.
pub fn instant(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// `effective[x]` of a result's DiagnosticReport and Observations, the time `date` searches:
/// the column searched and the value shown, kept together (the issue time today).
pub mod effective {
    use chrono::{DateTime, Utc};
    use portal_entities::test_result;

    pub const COLUMN: test_result::Column = test_result::Column::IssuedAt;

    pub fn of(result: &test_result::Model) -> DateTime<Utc> {
        result.issued_at
    }
}

pub fn date(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

/// An identifier that is one of the portal's own ids.
pub fn uuid_identifier(id: Uuid) -> Value {
    json!({ "system": crate::codes::URN_UUID, "value": format!("urn:uuid:{id}") })
}

/// Leaves out members whose value is null, as FHIR JSON requires (no `null` values).
pub fn prune(mut value: Value) -> Value {
    if let Value::Object(map) = &mut value {
        map.retain(|_, v| !v.is_null());
    }
    value
}
