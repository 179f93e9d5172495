//! ServiceRequest: a test order (what the reports' `basedOn` points to).

use portal_entities::{test_catalog, test_order};
use portal_services::lookup::by_keys;
use portal_services::nodes;
use portal_services::results::orders;
use serde_json::{Value, json};
use std::collections::HashMap;
use uuid::Uuid;

use super::{concept, instant, prune, reference, searched_patient};
use crate::bundle::{self, Entry};
use crate::codes;
use crate::edge::Call;
use crate::outcome::FhirResult;
use crate::params::Search;

pub async fn read(call: &Call, id: Uuid) -> FhirResult<Value> {
    let (_, row) = nodes::order(&call.ctx, id).await?;
    let tests = tests_of(call, std::slice::from_ref(&row)).await?;
    Ok(resource(&row, &tests))
}

/// `patient` (required); newest first.
pub async fn search(call: &Call, search: &Search) -> FhirResult<Value> {
    let access = searched_patient(call, search).await?;
    let (_, page) = orders::list(&call.ctx, &access, None, &call.page(search)?).await?;
    let tests = tests_of(call, &page.items).await?;
    let entries = page
        .items
        .iter()
        .map(|o| Entry::matched(resource(o, &tests)))
        .collect();
    Ok(bundle::searchset(
        &call.base,
        "ServiceRequest",
        search,
        &page,
        entries,
    ))
}

/// The catalog tests of `orders`, in one statement.
async fn tests_of(
    call: &Call,
    orders: &[test_order::Model],
) -> FhirResult<HashMap<Uuid, test_catalog::Model>> {
    let ids: Vec<Uuid> = orders.iter().map(|o| o.test_id).collect();
    let rows = by_keys::<test_catalog::Entity, _>(
        call.ctx.db(),
        test_catalog::Column::TenantId,
        call.ctx.viewer()?.tenant_id,
        test_catalog::Column::Id,
        &ids,
    )
    .await?;
    Ok(rows.into_iter().map(|t| (t.id, t)).collect())
}

pub fn resource(row: &test_order::Model, tests: &HashMap<Uuid, test_catalog::Model>) -> Value {
    let test = tests.get(&row.test_id);
    let code = test.map(|t| {
        concept(
            codes::test_code_system(t.code_system),
            &t.code,
            Some(&t.display_name),
        )
    });
    let category = test.map(|t| {
        let (code, display) = codes::order_category(t.category);
        json!([concept(codes::SNOMED, code, Some(display))])
    });
    let identifier = row.accession_number.as_ref().map(|accession| {
        json!([{
            "type": concept(codes::V2_0203, "ACSN", Some("Accession ID")),
            "value": accession,
        }])
    });
    prune(json!({
        "resourceType": "ServiceRequest",
        "id": row.id.to_string(),
        "identifier": identifier,
        "status": codes::order_status(row.status),
        "intent": "order",
        "category": category,
        "code": code,
        "subject": reference("Patient", row.patient_id),
        "authoredOn": instant(row.ordered_at),
        "requester": row.ordering_clinician_id.map(|c| reference("Practitioner", c)),
        "performer": [reference("Organization", row.facility_id)],
        "locationReference": [reference("Location", row.facility_id)],
    }))
}
