//! What the laboratory sent with a result beyond its values, in FHIR: the collection time
//! (`effectiveDateTime`), the performing laboratory (`performer`: a logical reference —
//! identifier and display — since the laboratory is data, not an Organization the portal
//! serves), the specimen (a contained Specimen the DiagnosticReport points to) and the
//! device of an observation (a display-only reference).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use portal_entities::{observation_detail, result_detail, test_result};
use portal_services::lookup::by_keys;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{effective, instant, prune};
use crate::codes;
use crate::edge::Call;
use crate::outcome::FhirResult;

/// The details of a page of results and their observations: two statements.
#[derive(Default)]
pub struct Details {
    results: HashMap<Uuid, result_detail::Model>,
    observations: HashMap<Uuid, observation_detail::Model>,
}

impl Details {
    pub async fn load(call: &Call, result_ids: &[Uuid]) -> FhirResult<Self> {
        if result_ids.is_empty() {
            return Ok(Self::default());
        }
        let db = call.ctx.db();
        let tenant = call.ctx.viewer()?.tenant_id;
        let results = by_keys::<result_detail::Entity, _>(
            db,
            result_detail::Column::TenantId,
            tenant,
            result_detail::Column::ResultId,
            result_ids,
        )
        .await?;
        let observations = by_keys::<observation_detail::Entity, _>(
            db,
            observation_detail::Column::TenantId,
            tenant,
            observation_detail::Column::ResultId,
            result_ids,
        )
        .await?;
        Ok(Self {
            results: results.into_iter().map(|d| (d.result_id, d)).collect(),
            observations: observations
                .into_iter()
                .map(|d| (d.observation_id, d))
                .collect(),
        })
    }

    pub fn result(&self, id: Uuid) -> Option<&result_detail::Model> {
        self.results.get(&id)
    }

    pub fn observation(&self, id: Uuid) -> Option<&observation_detail::Model> {
        self.observations.get(&id)
    }
}

/// The specimen's collection time, else the result's own effective time.
pub fn effective_time(result: &test_result::Model, details: &Details) -> DateTime<Utc> {
    details
        .result(result.id)
        .and_then(|d| d.collected_at)
        .unwrap_or_else(|| effective::of(result))
}

/// The performing laboratory as a logical reference: its identifier (a CLIA number under
/// the CLIA OID) and its name.
pub fn performer(d: &result_detail::Model) -> Option<Value> {
    let identifier = d.lab_identifier.as_ref().map(|value| {
        let system = d
            .lab_identifier_system
            .as_deref()
            .and_then(identifier_system);
        prune(json!({ "system": system, "value": value }))
    });
    if identifier.is_none() && d.lab_name.is_none() {
        return None;
    }
    Some(prune(json!({
        "type": "Organization",
        "identifier": identifier,
        "display": d.lab_name,
    })))
}

fn identifier_system(system: &str) -> Option<String> {
    if system.eq_ignore_ascii_case("CLIA") || system == "2.16.840.1.113883.4.7" {
        return Some(codes::CLIA.to_owned());
    }
    let is_oid = system
        .split('.')
        .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        && system.contains('.');
    is_oid.then(|| format!("urn:oid:{system}"))
}

/// The id of the contained Specimen of a DiagnosticReport.
pub const SPECIMEN_ID: &str = "specimen";

/// A Specimen to contain, when the laboratory sent anything about it.
pub fn specimen(d: &result_detail::Model) -> Option<Value> {
    let kind = (d.specimen_type_code.is_some() || d.specimen_type_display.is_some()).then(|| {
        let system = d.specimen_type_system.as_deref().and_then(code_system);
        let coding = match (&d.specimen_type_code, system) {
            (Some(code), Some(system)) => json!([prune(json!({
                "system": system,
                "code": code,
                "display": d.specimen_type_display,
            }))]),
            _ => Value::Null,
        };
        prune(json!({
            "coding": coding,
            "text": d.specimen_type_display.clone().or_else(|| d.specimen_type_code.clone()),
        }))
    });
    let collection = (d.collected_at.is_some() || d.specimen_source.is_some()).then(|| {
        prune(json!({
            "collectedDateTime": d.collected_at.map(instant),
            "bodySite": d.specimen_source.as_ref().map(|s| json!({ "text": s })),
        }))
    });
    if kind.is_none() && collection.is_none() && d.received_at.is_none() {
        return None;
    }
    Some(prune(json!({
        "resourceType": "Specimen",
        "id": SPECIMEN_ID,
        "type": kind,
        "receivedTime": d.received_at.map(instant),
        "collection": collection,
    })))
}

/// The FHIR system of a v2 coding system name (HL7 table 0396) the portal knows.
fn code_system(v2: &str) -> Option<&'static str> {
    match v2 {
        "SCT" | "SNM" | "SNOMED" => Some(codes::SNOMED),
        "LN" => Some(codes::LOINC),
        "HL70487" => Some("http://terminology.hl7.org/CodeSystem/v2-0487"),
        _ => None,
    }
}

/// The device of an observation, by name.
pub fn device(d: &observation_detail::Model) -> Option<Value> {
    let display = d
        .device_name
        .clone()
        .or_else(|| d.device_identifier.clone())?;
    Some(json!({ "display": display }))
}
