//! Appointment: a booked visit, with the patient, the clinician and the facility as
//! participants.

use portal_entities::{AppointmentKind, appointment};
use portal_services::appointments::{self, AppointmentFilter};
use portal_services::nodes;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{instant, prune, reference, searched_patient};
use crate::bundle::{self, Entry};
use crate::codes;
use crate::dates;
use crate::edge::Call;
use crate::outcome::FhirResult;
use crate::params::Search;

pub async fn read(call: &Call, id: Uuid) -> FhirResult<Value> {
    let (_, row) = nodes::appointment(&call.ctx, id).await?;
    Ok(resource(&row))
}

/// `patient` (required), `date` (the start); earliest first.
pub async fn search(call: &Call, search: &Search) -> FhirResult<Value> {
    let access = searched_patient(call, search).await?;
    let now = portal_core::clock::now();
    let filter = AppointmentFilter {
        within: dates::within(search, "date", appointment::Column::StartsAt, now)?,
        ..AppointmentFilter::default()
    };
    let (_, page) = appointments::list(&call.ctx, &access, &filter, &call.page(search)?).await?;
    let entries = page
        .items
        .iter()
        .map(|a| Entry::matched(resource(a)))
        .collect();
    Ok(bundle::searchset(
        &call.base,
        "Appointment",
        search,
        &page,
        entries,
    ))
}

fn participant(target: Value) -> Value {
    json!({ "actor": target, "required": "required", "status": "accepted" })
}

pub fn resource(row: &appointment::Model) -> Value {
    let mut participants = vec![participant(reference("Patient", row.patient_id))];
    if let Some(clinician) = row.clinician_id {
        participants.push(participant(reference("Practitioner", clinician)));
    }
    participants.push(participant(reference("Location", row.facility_id)));
    let kind = match row.kind {
        AppointmentKind::LabDraw => "Laboratory specimen collection",
        AppointmentKind::Imaging => "Imaging",
        AppointmentKind::Consult => "Consultation",
    };
    prune(json!({
        "resourceType": "Appointment",
        "id": row.id.to_string(),
        "status": codes::appointment_status(row.status),
        "serviceType": [{ "text": kind }],
        "description": row.reason,
        "start": instant(row.starts_at),
        "end": instant(row.ends_at),
        "created": instant(row.created_at),
        "participant": participants,
    }))
}
