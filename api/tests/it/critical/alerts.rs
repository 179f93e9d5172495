//! Alerts over GraphQL on both backends: one per order and analyte, from `addTestResult`
//! and `addTestResults`, for PRELIMINARY, FINAL and CORRECTED versions; none with the
//! facility's switch off; acknowledged by the addressee, refused for anyone else.

use portal_entities::{clinician, critical_alert, facility};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::graphql::ingest::{Demo, demo};
use crate::on_both_backends;
use crate::support::ids::{clinician_gid, facility_gid, patient_gid};
use crate::support::{Actor, Backend, error_code, no_errors};

on_both_backends!(
    a_critical_value_by_graphql_raises_one_alert_the_ordering_clinician_acknowledges,
    acknowledgement_is_refused_for_a_stranger_a_patient_staff_and_another_tenant,
    a_correction_still_critical_updates_the_alert_and_one_no_longer_critical_closes_it,
    a_preliminary_critical_value_alerts_and_the_final_updates_the_same_alert,
    with_the_facility_switch_off_no_alert_is_raised,
    a_batch_raises_one_alert_per_critical_item,
    catalog_critical_limits_apply_only_when_the_lab_sent_no_flag,
    an_order_without_a_clinician_goes_to_the_first_step_of_the_chain,
    master_data_for_critical_results_is_for_staff_and_validated,
);

const ADD: &str = r#"mutation($input: AddTestResultInput!) { addTestResult(input: $input) {
  result { id observations { code interpretation abnormalFlags } } } }"#;
const BATCH: &str = r#"mutation($inputs: [AddTestResultInput!]!) { addTestResults(inputs: $inputs) {
  succeeded failed } }"#;
const CORRECT: &str = r#"mutation($id: ID!, $input: CorrectTestResultInput!, $reason: String!) {
  correctTestResult(id: $id, input: $input, reason: $reason) { result { id } } }"#;
const SETTINGS: &str = r#"mutation($facility: ID!, $input: CriticalResultSettingsInput!) {
  setCriticalResultSettings(facilityId: $facility, input: $input) {
    enabled escalationSeconds chain { position label clinicianId phone } } }"#;
const ALERTS: &str = r#"query($status: CriticalAlertStatus) { criticalAlerts(status: $status) {
  id patientId status flag analyteCode step addresseeLabel addresseeClinicianId resultId readBack
  acknowledgedAt acknowledgedByClinicianId closeReason } }"#;
const ACK: &str = r#"mutation($id: ID!, $readBack: String!) {
  acknowledgeCriticalResult(alertId: $id, readBack: $readBack) {
    alert { id status readBack acknowledgedAt acknowledgedByClinicianId } } }"#;

async fn clinician_id(d: &Demo, subject: &str) -> Uuid {
    clinician::Entity::find()
        .filter(clinician::Column::UserSubject.eq(subject))
        .one(&d.app.owner)
        .await
        .expect("q")
        .expect("clinician")
        .id
}

/// Turns the critical-results switch of the demo lab on (with `chain`).
async fn switch(d: &Demo, enabled: bool, chain: Value) -> Value {
    let staff = d.app.as_staff(d.tenant);
    let response = staff
        .query(
            SETTINGS,
            json!({ "facility": d.facility, "input": { "enabled": enabled, "chain": chain } }),
        )
        .await;
    no_errors(&response);
    response["data"]["setCriticalResultSettings"].clone()
}

/// An HbA1c result for Alice, ordered by Dr. Patel (unless `ordering` is null).
fn hba1c(d: &Demo, ordering: Value, value: f64, status: &str, flags: Value) -> Value {
    json!({
        "patientId": patient_gid(d.alice.id),
        "order": { "facilityId": d.facility, "testCode": "4548-4", "source": "PORTAL",
                   "orderingClinicianId": ordering },
        "status": status,
        "issuedAt": chrono::Utc::now().to_rfc3339(),
        "observations": [{ "code": "4548-4", "valueNumeric": value, "abnormalFlags": flags }],
    })
}

async fn add(d: &Demo, input: Value) -> Value {
    let response = d.lab.query(ADD, json!({ "input": input })).await;
    no_errors(&response);
    response["data"]["addTestResult"]["result"].clone()
}

/// The alerts `actor` sees about Alice (the demo has one of its own, about another patient).
async fn alerts(d: &Demo, actor: &Actor) -> Vec<Value> {
    let response = actor.query(ALERTS, json!({})).await;
    no_errors(&response);
    let alice = json!(patient_gid(d.alice.id));
    response["data"]["criticalAlerts"]
        .as_array()
        .expect("list")
        .iter()
        .filter(|a| a["patientId"] == alice)
        .cloned()
        .collect()
}

async fn alert_count(d: &Demo) -> u64 {
    critical_alert::Entity::find()
        .filter(critical_alert::Column::TenantId.eq(d.tenant))
        .filter(critical_alert::Column::PatientId.eq(d.alice.id))
        .count(&d.app.owner)
        .await
        .expect("count")
}

async fn with_patel(backend: Backend) -> (Demo, Actor, String) {
    let d = demo(backend).await;
    switch(&d, true, json!([])).await;
    let patel = clinician_gid(clinician_id(&d, "dr.patel").await);
    let actor = d.app.as_clinician("dr.patel", d.tenant);
    (d, actor, patel)
}

async fn a_critical_value_by_graphql_raises_one_alert_the_ordering_clinician_acknowledges(
    backend: Backend,
) {
    let (d, patel, patel_id) = with_patel(backend).await;
    let result = add(&d, hba1c(&d, json!(patel_id), 19.5, "FINAL", json!(["HH"]))).await;
    assert_eq!(
        result["observations"][0]["abnormalFlags"],
        json!(["HH"]),
        "the flag as the lab sent it"
    );
    assert_eq!(alert_count(&d).await, 1);
    let mine = alerts(&d, &patel).await;
    assert_eq!(mine.len(), 1, "{mine:#?}");
    let alert = &mine[0];
    assert_eq!(alert["status"], "OPEN");
    assert_eq!(alert["flag"], "HH");
    assert_eq!(alert["analyteCode"], "4548-4");
    assert_eq!(alert["step"], 0);
    assert_eq!(alert["addresseeLabel"], "ordering clinician");
    assert_eq!(alert["addresseeClinicianId"], json!(patel_id));
    assert_eq!(alert["resultId"], result["id"]);

    let acked = patel
        .query(
            ACK,
            json!({ "id": alert["id"], "readBack": "HbA1c 19.5 percent, read back" }),
        )
        .await;
    no_errors(&acked);
    let first = &acked["data"]["acknowledgeCriticalResult"]["alert"];
    assert_eq!(first["status"], "ACKNOWLEDGED");
    assert_eq!(first["readBack"], "HbA1c 19.5 percent, read back");
    assert_eq!(first["acknowledgedByClinicianId"], json!(patel_id));
    let again = patel
        .query(ACK, json!({ "id": alert["id"], "readBack": "again" }))
        .await;
    no_errors(&again);
    assert_eq!(
        again["data"]["acknowledgeCriticalResult"]["alert"], *first,
        "idempotent: the first acknowledgement stands"
    );
    let audited = d
        .app
        .audit_rows()
        .await
        .into_iter()
        .filter(|r| r.action == "critical_alert.acknowledge")
        .count();
    assert!(audited >= 2, "each acknowledgement is audited");
    let empty = patel
        .query(ACK, json!({ "id": alert["id"], "readBack": "  " }))
        .await;
    assert_eq!(error_code(&empty), Some("BAD_USER_INPUT"));
}

async fn acknowledgement_is_refused_for_a_stranger_a_patient_staff_and_another_tenant(
    backend: Backend,
) {
    let (d, patel, patel_id) = with_patel(backend).await;
    add(&d, hba1c(&d, json!(patel_id), 19.5, "FINAL", json!(["HH"]))).await;
    let id = alerts(&d, &patel).await[0]["id"].clone();
    let vars = json!({ "id": id, "readBack": "read back" });

    let okafor = d.app.as_clinician("dr.okafor", d.tenant);
    assert_eq!(
        error_code(&okafor.query(ACK, vars.clone()).await),
        Some("FORBIDDEN")
    );
    assert!(
        alerts(&d, &okafor).await.is_empty(),
        "not addressed to Dr. Okafor"
    );
    let alice = d.app.as_patient("alice", d.tenant, d.alice.id);
    assert_eq!(
        error_code(&alice.query(ACK, vars.clone()).await),
        Some("FORBIDDEN")
    );
    assert_eq!(
        error_code(&alice.query(ALERTS, json!({})).await),
        Some("FORBIDDEN"),
        "never to patients"
    );
    let staff = d.app.as_staff(d.tenant);
    assert_eq!(
        error_code(&staff.query(ACK, vars.clone()).await),
        Some("FORBIDDEN")
    );
    assert_eq!(alerts(&d, &staff).await.len(), 1, "staff see every alert");
    let other = d.app.as_clinician("dr.patel", Uuid::now_v7());
    let refused = other.query(ACK, vars.clone()).await;
    assert!(
        matches!(error_code(&refused), Some("NOT_FOUND" | "FORBIDDEN")),
        "{refused}"
    );
    assert_eq!(
        alerts(&d, &patel).await[0]["status"],
        "OPEN",
        "nothing changed"
    );
}

async fn a_correction_still_critical_updates_the_alert_and_one_no_longer_critical_closes_it(
    backend: Backend,
) {
    let (d, patel, patel_id) = with_patel(backend).await;
    let first = add(&d, hba1c(&d, json!(patel_id), 19.5, "FINAL", json!(["HH"]))).await;
    let correct = |id: &Value, value: f64, flags: Value| {
        json!({ "id": id, "reason": "recalibrated",
                "input": { "observations": [{ "code": "4548-4", "valueNumeric": value, "abnormalFlags": flags }] } })
    };
    let corrected = d
        .lab
        .query(CORRECT, correct(&first["id"], 18.0, json!(["HH"])))
        .await;
    no_errors(&corrected);
    let second = corrected["data"]["correctTestResult"]["result"]["id"].clone();
    let list = alerts(&d, &patel).await;
    assert_eq!(list.len(), 1, "still one alert: {list:#?}");
    assert_eq!(list[0]["status"], "OPEN");
    assert_eq!(list[0]["resultId"], second, "updated by the correction");

    let normal = d
        .lab
        .query(CORRECT, correct(&second, 5.2, json!(["N"])))
        .await;
    no_errors(&normal);
    let list = alerts(&d, &patel).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["status"], "CLOSED");
    assert_eq!(
        list[0]["closeReason"],
        "no longer critical in the corrected version"
    );
    let ack = patel
        .query(ACK, json!({ "id": list[0]["id"], "readBack": "x" }))
        .await;
    assert_eq!(error_code(&ack), Some("CONFLICT"));
}

async fn a_preliminary_critical_value_alerts_and_the_final_updates_the_same_alert(
    backend: Backend,
) {
    let (d, patel, patel_id) = with_patel(backend).await;
    let input = hba1c(&d, json!(patel_id), 19.5, "PRELIMINARY", json!(["HH"]));
    add(&d, input).await;
    let list = alerts(&d, &patel).await;
    assert_eq!(
        list.len(),
        1,
        "labs call critical values on preliminary results"
    );
    let order_id: String = {
        let r = d
            .lab
            .query(
                r#"query($id: ID!) { testResult(id: $id) { order { id } } }"#,
                json!({ "id": list[0]["resultId"] }),
            )
            .await;
        no_errors(&r);
        r["data"]["testResult"]["order"]["id"]
            .as_str()
            .expect("id")
            .to_owned()
    };
    let final_input = json!({
        "patientId": patient_gid(d.alice.id), "orderId": order_id, "status": "FINAL",
        "issuedAt": chrono::Utc::now().to_rfc3339(),
        "observations": [{ "code": "4548-4", "valueNumeric": 19.0, "abnormalFlags": ["HH"] }],
    });
    let final_result = add(&d, final_input).await;
    let list = alerts(&d, &patel).await;
    assert_eq!(list.len(), 1, "the same alert: {list:#?}");
    assert_eq!(list[0]["resultId"], final_result["id"]);
    assert_eq!(alert_count(&d).await, 1);
}

async fn with_the_facility_switch_off_no_alert_is_raised(backend: Backend) {
    let d = demo(backend).await;
    let patel = clinician_gid(clinician_id(&d, "dr.patel").await);
    let imaging = facility::Entity::find()
        .filter(facility::Column::TenantId.eq(d.tenant))
        .filter(facility::Column::Name.eq("Riverside Imaging Center"))
        .one(&d.app.owner)
        .await
        .expect("q")
        .expect("a facility never configured");
    let mut input = hba1c(&d, json!(patel), 19.5, "FINAL", json!(["HH"]));
    input["order"]["facilityId"] = json!(facility_gid(imaging.id));
    add(&d, input).await;
    assert_eq!(alert_count(&d).await, 0, "off by default");
    switch(&d, false, json!([])).await;
    add(&d, hba1c(&d, json!(patel), 1.0, "FINAL", json!(["LL"]))).await;
    assert_eq!(alert_count(&d).await, 0, "off when switched off");
}

async fn a_batch_raises_one_alert_per_critical_item(backend: Backend) {
    let (d, patel, patel_id) = with_patel(backend).await;
    let inputs = vec![
        hba1c(&d, json!(patel_id), 19.5, "FINAL", json!(["HH"])),
        hba1c(&d, json!(patel_id), 5.0, "FINAL", json!(["N"])),
        hba1c(&d, json!(patel_id), 1.0, "FINAL", json!(["AA"])),
    ];
    let response = d.lab.query(BATCH, json!({ "inputs": inputs })).await;
    no_errors(&response);
    assert_eq!(response["data"]["addTestResults"]["succeeded"], 3);
    let mut flags: Vec<String> = alerts(&d, &patel)
        .await
        .iter()
        .map(|a| a["flag"].as_str().expect("flag").to_owned())
        .collect();
    flags.sort();
    assert_eq!(flags, ["AA", "HH"], "AA is critical, not only ABNORMAL");
}

async fn catalog_critical_limits_apply_only_when_the_lab_sent_no_flag(backend: Backend) {
    let (d, patel, patel_id) = with_patel(backend).await;
    let staff = d.app.as_staff(d.tenant);
    let test = d
        .lab
        .query(
            r#"{ testCatalog(first: 50) { edges { node { id code } } } }"#,
            json!({}),
        )
        .await;
    let test_id = test.to_string();
    let gid = test["data"]["testCatalog"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("catalog: {test_id}"))
        .iter()
        .find(|e| e["node"]["code"] == "4548-4")
        .expect("HbA1c")["node"]["id"]
        .clone();
    let set = staff
        .query(
            r#"mutation($t: ID!) { setCriticalLimits(testId: $t, analyteCode: "4548-4", criticalHigh: 14.0) { analyteCode criticalLow criticalHigh } }"#,
            json!({ "t": gid }),
        )
        .await;
    no_errors(&set);
    assert_eq!(set["data"]["setCriticalLimits"]["criticalHigh"], 14.0);
    add(&d, hba1c(&d, json!(patel_id), 15.0, "FINAL", json!(["H"]))).await;
    assert_eq!(
        alert_count(&d).await,
        0,
        "the lab flagged it H: its flag decides"
    );
    add(&d, hba1c(&d, json!(patel_id), 15.0, "FINAL", Value::Null)).await;
    let list = alerts(&d, &patel).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["flag"], "LIMIT_HIGH");
}

async fn an_order_without_a_clinician_goes_to_the_first_step_of_the_chain(backend: Backend) {
    let d = demo(backend).await;
    let okafor_id = clinician_id(&d, "dr.okafor").await;
    let settings = switch(
        &d,
        true,
        json!([{ "clinicianId": clinician_gid(okafor_id), "label": "Covering hospitalist" },
               { "label": "Lab supervisor", "phone": "+12175550199" }]),
    )
    .await;
    assert_eq!(settings["chain"][1]["position"], 2);
    add(&d, hba1c(&d, Value::Null, 19.5, "FINAL", json!(["HH"]))).await;
    let okafor = d.app.as_clinician("dr.okafor", d.tenant);
    let list = alerts(&d, &okafor).await;
    assert_eq!(list.len(), 1, "addressed to the chain's first step");
    assert_eq!(list[0]["step"], 1);
    assert_eq!(list[0]["addresseeLabel"], "Covering hospitalist");
    let acked = okafor
        .query(ACK, json!({ "id": list[0]["id"], "readBack": "read back" }))
        .await;
    no_errors(&acked);
}

async fn master_data_for_critical_results_is_for_staff_and_validated(backend: Backend) {
    let d = demo(backend).await;
    let patel = clinician_id(&d, "dr.patel").await;
    let contact = r#"mutation($c: ID!, $input: ClinicianContactInput!) {
      setClinicianContact(clinicianId: $c, input: $input) { email smsPhone onCall } }"#;
    let vars = json!({ "c": clinician_gid(patel),
        "input": { "email": "patel@riverside.example", "smsPhone": "+12175550111", "onCall": true } });
    let by_lab = d.lab.query(contact, vars.clone()).await;
    assert_eq!(error_code(&by_lab), Some("FORBIDDEN"));
    let staff = d.app.as_staff(d.tenant);
    let set = staff.query(contact, vars).await;
    no_errors(&set);
    assert_eq!(set["data"]["setClinicianContact"]["onCall"], true);
    let bad = staff
        .query(
            contact,
            json!({ "c": clinician_gid(patel), "input": { "email": "not an address" } }),
        )
        .await;
    assert_eq!(error_code(&bad), Some("BAD_USER_INPUT"));
    let lab_facility = facility::Entity::find()
        .filter(facility::Column::TenantId.eq(d.tenant))
        .one(&d.app.owner)
        .await
        .expect("q")
        .expect("facility");
    let bad_chain = staff
        .query(
            SETTINGS,
            json!({ "facility": facility_gid(lab_facility.id),
                    "input": { "escalationSeconds": 0, "chain": [{ "label": "nobody" }] } }),
        )
        .await;
    assert_eq!(error_code(&bad_chain), Some("BAD_USER_INPUT"));
}
