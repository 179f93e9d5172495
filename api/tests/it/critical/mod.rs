//! Critical results reach a clinician (issue 27): alerts raised in the result's transaction
//! from GraphQL, a batch and HL7; updated and closed by later versions; acknowledged with a
//! read-back by an addressee only; master data for contacts, the facility switch and chain,
//! and critical limits; row-level security on the new tables.

mod alerts;
mod escalation;
mod hl7;

use portal_entities::{clinician, facility};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;
use uuid::Uuid;

use crate::support::ids::{clinician_gid, facility_gid, patient_gid};
use crate::support::{TestApp, no_errors};

/// A row in every critical-results table of `tenant` (the demo tenant), made as staff and
/// the lab make them: the facility switch with a chain, a clinician's contact, a critical
/// limit, and a critical HbA1c (with a collection time and the lab's range, so the result
/// details are written too) whose alert and first escalation job follow.
pub async fn rows_for_rls(app: &TestApp, tenant: Uuid) {
    let staff = app.as_staff(tenant);
    let facility = facility::Entity::find()
        .filter(facility::Column::TenantId.eq(tenant))
        .one(&app.owner)
        .await
        .expect("q")
        .expect("a demo facility");
    let patel = clinician::Entity::find()
        .filter(clinician::Column::TenantId.eq(tenant))
        .filter(clinician::Column::UserSubject.eq("dr.patel"))
        .one(&app.owner)
        .await
        .expect("q")
        .expect("Dr. Patel");
    let on = staff
        .query(
            r#"mutation($f: ID!) { setCriticalResultSettings(facilityId: $f,
                 input: { enabled: true, escalationSeconds: 1800,
                          chain: [{ label: "Lab supervisor", phone: "+12175550199" }] }) { enabled } }"#,
            json!({ "f": facility_gid(facility.id) }),
        )
        .await;
    no_errors(&on);
    let contact = staff
        .query(
            r#"mutation($c: ID!) { setClinicianContact(clinicianId: $c, input: { email: "patel@riverside.example" }) { email } }"#,
            json!({ "c": clinician_gid(patel.id) }),
        )
        .await;
    no_errors(&contact);
    let catalog = staff
        .query(
            r#"{ testCatalog(first: 50) { edges { node { id code } } } }"#,
            json!({}),
        )
        .await;
    let hba1c = catalog["data"]["testCatalog"]["edges"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["node"]["code"] == "4548-4"))
        .map(|e| e["node"]["id"].clone())
        .expect("HbA1c in the demo catalog");
    let limits = staff
        .query(
            r#"mutation($t: ID!) { setCriticalLimits(testId: $t, analyteCode: "4548-4", criticalHigh: 14.0) { criticalHigh } }"#,
            json!({ "t": hba1c }),
        )
        .await;
    no_errors(&limits);
    let alice = portal_services::patients::find_by_mrn(&app.owner, tenant, "MRN1001")
        .await
        .expect("q")
        .expect("Alice");
    let now = chrono::Utc::now();
    let added = app
        .as_lab(tenant)
        .query(
            r#"mutation($input: AddTestResultInput!) { addTestResult(input: $input) { result { id } } }"#,
            json!({ "input": {
                "patientId": patient_gid(alice.id),
                "order": { "facilityId": facility_gid(facility.id), "testCode": "4548-4",
                           "source": "PORTAL", "orderingClinicianId": clinician_gid(patel.id) },
                "status": "FINAL",
                "issuedAt": now.to_rfc3339(),
                "collectedAt": (now - chrono::Duration::hours(2)).to_rfc3339(),
                "observations": [{ "code": "4548-4", "valueNumeric": 19.5, "abnormalFlags": ["HH"],
                                   "referenceRange": "4.0-5.6", "device": "Analyzer 1" }],
                "idempotencyKey": "rls-critical",
            }}),
        )
        .await;
    no_errors(&added);
}
