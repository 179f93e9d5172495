//! Observation: one value of a result version — `valueQuantity` (UCUM where the unit is
//! UCUM), `valueString` or `valueCodeableConcept`, with its reference range and
//! interpretation flag (v3 ObservationInterpretation).

pub use portal_entities::observation::Model;
use portal_entities::{ValueType, test_result};
use portal_services::results::observations::{self, ObservationFilter};
use serde_json::{Value, json};
use uuid::Uuid;

use super::provenance::{self, Details};
use super::{concept, effective, instant, prune, reference, searched_patient};
use crate::bundle::{self, Entry};
use crate::codes::{self, OBSERVATION_CATEGORY};
use crate::dates;
use crate::edge::Call;
use crate::outcome::{FhirError, FhirResult};
use crate::params::{Search, tokens};

pub async fn read(call: &Call, id: Uuid) -> FhirResult<Value> {
    let (_, (obs, result)) = observations::get(&call.ctx, id).await?;
    let details = Details::load(call, &[result.id]).await?;
    Ok(resource(&obs, &result, &details))
}

/// `patient` (required), `code`, `date`, `category`; newest first (`_sort=-date`).
pub async fn search(call: &Call, search: &Search) -> FhirResult<Value> {
    let access = searched_patient(call, search).await?;
    let mut filter = ObservationFilter::default();
    if let Some(value) = search.one("code") {
        let mut codes = Vec::new();
        for token in tokens(value)? {
            // The system an analyte code is shown with must be the one asked for.
            let matches = token
                .system
                .is_none_or(|system| system == codes::analyte_system(token.code));
            if matches {
                codes.push(token.code.to_owned());
            }
        }
        filter.codes = Some(codes);
    }
    if let Some(value) = search.one("category") {
        let mut categories = Vec::new();
        for token in tokens(value)? {
            if token.system.is_some_and(|s| s != OBSERVATION_CATEGORY) {
                return Err(FhirError::invalid(format!(
                    "category system must be {OBSERVATION_CATEGORY}"
                )));
            }
            categories.push(codes::observation_category_of(token.code).ok_or_else(|| {
                FhirError::invalid(format!(
                    "category {} is not laboratory or imaging",
                    token.code
                ))
            })?);
        }
        categories.dedup();
        if let [one] = categories.as_slice() {
            filter.category = Some(*one);
        }
    }
    let now = portal_core::clock::now();
    filter.within = dates::within(search, "date", effective::COLUMN, now)?;
    let (_, page) = observations::list(&call.ctx, &access, &filter, &call.page(search)?).await?;
    let result_ids: Vec<Uuid> = page.items.iter().map(|(_, r)| r.id).collect();
    let details = Details::load(call, &result_ids).await?;
    let entries = page
        .items
        .iter()
        .map(|(obs, result)| Entry::matched(resource(obs, result, &details)))
        .collect();
    Ok(bundle::searchset(
        &call.base,
        "Observation",
        search,
        &page,
        entries,
    ))
}

/// One observation of `result` (its status and subject are the result's; its effective
/// time the specimen's collection, else the result's).
pub fn resource(obs: &Model, result: &test_result::Model, details: &Details) -> Value {
    let (category_code, category_display) = codes::observation_category(result.category);
    let mut resource = json!({
        "resourceType": "Observation",
        "id": obs.id.to_string(),
        "meta": { "lastUpdated": instant(result.created_at) },
        "basedOn": [reference("ServiceRequest", result.order_id)],
        "status": codes::result_status(result.status),
        "category": [concept(OBSERVATION_CATEGORY, category_code, Some(category_display))],
        "code": concept(codes::analyte_system(&obs.code), &obs.code, Some(&obs.display_name)),
        "subject": reference("Patient", result.patient_id),
        "effectiveDateTime": instant(provenance::effective_time(result, details)),
        "issued": instant(result.issued_at),
    });
    if let Some(performer) = details.result(result.id).and_then(provenance::performer) {
        resource["performer"] = json!([performer]);
    }
    if let Some(device) = details.observation(obs.id).and_then(provenance::device) {
        resource["device"] = device;
    }
    match value(obs) {
        Some((name, value)) => resource[name] = value,
        None => {
            resource["dataAbsentReason"] = concept(
                "http://terminology.hl7.org/CodeSystem/data-absent-reason",
                "unknown",
                Some("Unknown"),
            );
        }
    }
    if let Some(flag) = obs.interpretation {
        let (code, display) = codes::interpretation(flag);
        resource["interpretation"] = json!([concept(codes::INTERPRETATION, code, Some(display))]);
    }
    if let Some(range) = reference_range(obs) {
        resource["referenceRange"] = json!([range]);
    }
    prune(resource)
}

/// The `value[x]` member and its value, if the observation has one.
fn value(obs: &Model) -> Option<(&'static str, Value)> {
    match obs.value_type {
        ValueType::Numeric => obs
            .value_numeric
            .map(|n| ("valueQuantity", quantity(n, obs.unit.as_deref()))),
        ValueType::Text => obs.value_text.clone().map(|t| ("valueString", json!(t))),
        ValueType::Coded => {
            let code = obs.value_code.as_deref()?;
            let mut coding = json!({ "code": code });
            if let Some(system) = codes::value_code_system(code) {
                coding["system"] = json!(system);
            }
            if let Some(text) = &obs.value_text {
                coding["display"] = json!(text);
            }
            let mut concept = json!({ "coding": [coding] });
            if let Some(text) = &obs.value_text {
                concept["text"] = json!(text);
            }
            Some(("valueCodeableConcept", concept))
        }
    }
}

fn quantity(value: f64, unit: Option<&str>) -> Value {
    let mut quantity = json!({ "value": value });
    if let Some(unit) = unit {
        quantity["unit"] = json!(unit);
        if codes::is_ucum(unit) {
            quantity["system"] = json!(codes::UCUM);
            quantity["code"] = json!(unit);
        }
    }
    quantity
}

fn reference_range(obs: &Model) -> Option<Value> {
    if obs.reference_low.is_none() && obs.reference_high.is_none() && obs.reference_text.is_none() {
        return None;
    }
    let unit = obs.unit.as_deref();
    Some(prune(json!({
        "low": obs.reference_low.map(|v| quantity(v, unit)),
        "high": obs.reference_high.map(|v| quantity(v, unit)),
        "text": obs.reference_text,
    })))
}
