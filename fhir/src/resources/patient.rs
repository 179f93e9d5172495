//! Patient: the record's demographics, with the MRN as identifier and the identifiers of
//! other assigning authorities beside it.

use portal_entities::{patient, patient_id_authority, patient_identifier};
use portal_services::patients;
use portal_services::patients::identity;
use portal_services::patients::search::{self as patient_search, PatientSearch};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{date, prune, reference};
use crate::bundle::{self, Entry};
use crate::codes::{MRN, V2_0203};
use crate::dates;
use crate::edge::Call;
use crate::outcome::{FhirError, FhirResult};
use crate::params::{Search, tokens};

pub async fn read(call: &Call, id: Uuid) -> FhirResult<Value> {
    let (_, row) = patients::get(&call.ctx, id).await?;
    let others = identity::of_patients(call.ctx.db(), row.tenant_id, &[row.id]).await?;
    Ok(with_identifiers(resource(&row), &row, &others))
}

/// The identifiers under other assigning authorities added to `Patient.identifier`, each
/// with the system its authority maps to (docs/patients.md, "Identifiers").
fn with_identifiers(
    mut resource: Value,
    row: &patient::Model,
    others: &[(patient_identifier::Model, patient_id_authority::Model)],
) -> Value {
    if let Some(list) = resource.get_mut("identifier").and_then(Value::as_array_mut) {
        for (identifier, authority) in others.iter().filter(|(i, _)| i.patient_id == row.id) {
            list.push(json!({
                "use": "secondary",
                "system": identity::fhir_system(authority),
                "value": identifier.value,
            }));
        }
    }
    resource
}

/// `identifier`, `name`, `birthdate`: among the patients the viewer may see.
pub async fn search(call: &Call, search: &Search) -> FhirResult<Value> {
    let mut criteria = PatientSearch::default();
    if let Some(value) = search.one("identifier") {
        let token = match tokens(value)?.as_slice() {
            [one] => one.clone(),
            _ => return Err(FhirError::invalid("identifier takes one MRN")),
        };
        if token.system.is_some_and(|s| s != MRN) {
            return Err(FhirError::invalid(format!(
                "identifier system must be {MRN} (or left out)"
            )));
        }
        criteria.mrn = Some(token.code.to_owned());
    }
    criteria.name = search.one("name").map(str::to_owned);
    criteria.birth_within = dates::days(
        search,
        "birthdate",
        patient::Column::BirthDate,
        portal_core::clock::now(),
    )?;
    let page = call.page(search)?;
    let none =
        criteria.name.is_none() && criteria.mrn.is_none() && criteria.birth_within.is_empty();
    let page = if none {
        patients::visible_to_viewer(&call.ctx, &page).await?
    } else {
        patient_search::search(&call.ctx, &criteria, &page).await?
    };
    let ids: Vec<Uuid> = page.items.iter().map(|(_, row)| row.id).collect();
    let tenant = call.ctx.viewer()?.tenant_id;
    let others = identity::of_patients(call.ctx.db(), tenant, &ids).await?;
    let entries = page
        .items
        .iter()
        .map(|(_, row)| Entry::matched(with_identifiers(resource(row), row, &others)))
        .collect();
    Ok(bundle::searchset(
        &call.base, "Patient", search, &page, entries,
    ))
}

pub fn resource(row: &patient::Model) -> Value {
    let mut telecom = Vec::new();
    if let Some(phone) = &row.phone {
        telecom.push(json!({ "system": "phone", "value": phone }));
    }
    if let Some(email) = &row.email {
        telecom.push(json!({ "system": "email", "value": email }));
    }
    prune(json!({
        "resourceType": "Patient",
        "id": row.id.to_string(),
        "identifier": [{
            "use": "usual",
            "type": {
                "coding": [{ "system": V2_0203, "code": "MR", "display": "Medical record number" }],
            },
            "system": MRN,
            "value": row.mrn,
        }],
        "active": true,
        "name": [{
            "use": "official",
            "family": row.family_name,
            "given": [row.given_name],
        }],
        "telecom": if telecom.is_empty() { Value::Null } else { json!(telecom) },
        "birthDate": date(row.birth_date),
        "managingOrganization": reference("Organization", row.tenant_id),
    }))
}
