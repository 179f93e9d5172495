//! Organization, Practitioner and Location: the facilities, clinicians, payers and the
//! viewer's own organisation that the other resources point to, so every reference resolves.

use portal_core::ServiceError;
use portal_entities::{clinician, facility, tenant};
use portal_services::nodes;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{concept, prune, reference};
use crate::codes::{self, CLIA, NPI};
use crate::edge::Call;
use crate::outcome::FhirResult;
use crate::resources::coverage;

/// A facility, the viewer's own organisation, or a payer (by its coverage's id, which needs
/// the COVERAGE scope on that coverage's patient).
pub async fn organization(call: &Call, id: Uuid) -> FhirResult<Value> {
    match nodes::facility(&call.ctx, id).await {
        Ok(row) => return Ok(facility_organization(&row)),
        Err(ServiceError::NotFound(_)) => {}
        Err(other) => return Err(other.into()),
    }
    match nodes::own_tenant(&call.ctx, id).await {
        Ok(row) => return Ok(tenant_organization(&row)),
        Err(ServiceError::NotFound(_)) => {}
        Err(other) => return Err(other.into()),
    }
    let row = nodes::coverage(&call.ctx, id)
        .await
        .map_err(|err| match err {
            ServiceError::NotFound(_) => ServiceError::NotFound("organization"),
            other => other,
        })?;
    Ok(coverage::payer(&row))
}

pub async fn practitioner(call: &Call, id: Uuid) -> FhirResult<Value> {
    Ok(practitioner_resource(
        &nodes::clinician(&call.ctx, id).await?,
    ))
}

pub async fn location(call: &Call, id: Uuid) -> FhirResult<Value> {
    let row = nodes::facility(&call.ctx, id)
        .await
        .map_err(|err| match err {
            ServiceError::NotFound(_) => ServiceError::NotFound("location"),
            other => other,
        })?;
    Ok(location_resource(&row))
}

fn clia(row: &facility::Model) -> Value {
    match &row.clia_number {
        Some(number) => json!([{ "system": CLIA, "value": number }]),
        None => Value::Null,
    }
}

fn facility_organization(row: &facility::Model) -> Value {
    prune(json!({
        "resourceType": "Organization",
        "id": row.id.to_string(),
        "identifier": clia(row),
        "active": true,
        "type": [concept(codes::ORGANIZATION_TYPE, "prov", Some("Healthcare Provider"))],
        "name": row.name,
        "address": row.address.as_ref().map(|a| json!([{ "text": a }])),
        "partOf": reference("Organization", row.tenant_id),
    }))
}

fn tenant_organization(row: &tenant::Model) -> Value {
    json!({
        "resourceType": "Organization",
        "id": row.id.to_string(),
        "active": true,
        "type": [concept(codes::ORGANIZATION_TYPE, "prov", Some("Healthcare Provider"))],
        "name": row.name,
    })
}

fn practitioner_resource(row: &clinician::Model) -> Value {
    prune(json!({
        "resourceType": "Practitioner",
        "id": row.id.to_string(),
        "identifier": row.npi.as_ref().map(|npi| json!([{ "system": NPI, "value": npi }])),
        "active": true,
        "name": [{ "text": row.display_name }],
    }))
}

fn location_resource(row: &facility::Model) -> Value {
    prune(json!({
        "resourceType": "Location",
        "id": row.id.to_string(),
        "identifier": clia(row),
        "status": "active",
        "name": row.name,
        "mode": "instance",
        "address": row.address.as_ref().map(|a| json!({ "text": a })),
        "managingOrganization": reference("Organization", row.tenant_id),
    }))
}
