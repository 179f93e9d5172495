//! Adding and correcting results on both backends: one transaction for result, order,
//! outbox and notifications; validation with field paths; idempotency; corrections.

use portal_entities::{facility, notification, outbox_event, patient, test_order, test_result};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, Statement};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::ids::{facility_gid, patient_gid};
use crate::support::{Actor, Backend, TestApp, error_code, no_errors};

pub(crate) struct Demo {
    pub(crate) app: TestApp,
    pub(crate) tenant: Uuid,
    pub(crate) alice: patient::Model,
    pub(crate) lab: Actor,
    pub(crate) facility: String,
}

pub(crate) async fn demo(backend: Backend) -> Demo {
    let app = TestApp::init(backend).await;
    let (tenant, _) = portal_demo::seed(&app.db).await.expect("seed");
    let alice = portal_services::patients::find_by_mrn(&app.owner, tenant, "MRN1001")
        .await
        .expect("q")
        .expect("alice");
    let lab = app.as_lab(tenant);
    let facility = facility::Entity::find()
        .one(&app.owner)
        .await
        .expect("q")
        .expect("facility");
    let facility = facility_gid(facility.id);
    Demo {
        app,
        tenant,
        alice,
        lab,
        facility,
    }
}

const ADD: &str = r#"mutation($input: AddTestResultInput!) { addTestResult(input: $input) {
  replayed eventId notifications { channel status }
  result { id status isCorrected history { status } observations { code unit interpretation } order { id status } } } }"#;

pub(crate) fn hba1c(d: &Demo, value: f64, status: &str) -> Value {
    json!({
        "patientId": patient_gid(d.alice.id),
        "order": { "facilityId": d.facility, "testCode": "4548-4", "source": "WALK_IN" },
        "status": status,
        "issuedAt": chrono::Utc::now().to_rfc3339(),
        "observations": [{ "code": "4548-4", "valueNumeric": value }],
    })
}

async fn counts(app: &TestApp) -> (u64, u64, u64, u64) {
    (
        test_result::Entity::find()
            .count(&app.owner)
            .await
            .expect("count"),
        test_order::Entity::find()
            .count(&app.owner)
            .await
            .expect("count"),
        outbox_event::Entity::find()
            .count(&app.owner)
            .await
            .expect("count"),
        notification::Entity::find()
            .count(&app.owner)
            .await
            .expect("count"),
    )
}

async fn a_lab_result_is_stored_with_its_order_event_and_notifications(backend: Backend) {
    let d = demo(backend).await;
    let response = d
        .lab
        .query(ADD, json!({ "input": hba1c(&d, 7.1, "FINAL") }))
        .await;
    no_errors(&response);
    let payload = &response["data"]["addTestResult"];
    assert_eq!(payload["result"]["status"], "FINAL");
    assert_eq!(payload["result"]["order"]["status"], "COMPLETED");
    assert_eq!(
        payload["result"]["observations"],
        json!([{ "code": "4548-4", "unit": "%", "interpretation": "HIGH" }])
    );
    assert_eq!(
        payload["notifications"],
        json!([{ "channel": "EMAIL", "status": "PENDING" }, { "channel": "SMS", "status": "PENDING" }])
    );
    let event_id = Uuid::parse_str(payload["eventId"].as_str().expect("event id")).expect("uuid");
    let event = outbox_event::Entity::find_by_id(event_id)
        .one(&d.app.owner)
        .await
        .expect("q")
        .expect("outbox row");
    assert_eq!(event.event_type, "result.released");
    assert!(event.published_at.is_none());
    assert!(
        !event.payload.to_string().contains("7.1"),
        "no result values in events"
    );

    let me = d.app.as_patient("alice", d.tenant, d.alice.id);
    let mine = me
        .query(
            r#"query($id: ID!) { testResult(id: $id) { status } }"#,
            json!({ "id": payload["result"]["id"] }),
        )
        .await;
    no_errors(&mine);
    assert!(
        d.app
            .audit_rows()
            .await
            .iter()
            .any(|r| r.action == "result.create" && r.subject.as_deref() == Some("lis"))
    );
}

async fn a_final_result_replaces_the_preliminary_one_of_its_order(backend: Backend) {
    let d = demo(backend).await;
    let first = d
        .lab
        .query(ADD, json!({ "input": hba1c(&d, 6.0, "PRELIMINARY") }))
        .await;
    no_errors(&first);
    assert_eq!(
        first["data"]["addTestResult"]["notifications"],
        json!([]),
        "nobody is told about preliminary results"
    );
    assert_eq!(
        first["data"]["addTestResult"]["result"]["order"]["status"],
        "PENDING"
    );
    let mut input = hba1c(&d, 6.2, "FINAL");
    input.as_object_mut().expect("object").remove("order");
    input["orderId"] = first["data"]["addTestResult"]["result"]["order"]["id"].clone();
    let second = d.lab.query(ADD, json!({ "input": input.clone() })).await;
    no_errors(&second);
    assert_eq!(
        second["data"]["addTestResult"]["result"]["order"]["status"],
        "COMPLETED"
    );
    assert_eq!(
        second["data"]["addTestResult"]["result"]["history"],
        json!([{ "status": "PRELIMINARY" }, { "status": "FINAL" }])
    );
    let third = d.lab.query(ADD, json!({ "input": input })).await;
    assert_eq!(
        error_code(&third),
        Some("CONFLICT"),
        "a released result is changed by a correction: {third:#}"
    );
}

async fn an_idempotency_key_makes_a_retry_return_the_first_outcome(backend: Backend) {
    let d = demo(backend).await;
    let mut input = hba1c(&d, 5.5, "FINAL");
    input["idempotencyKey"] = json!("lis-run-42/accession-7");
    let first = d.lab.query(ADD, json!({ "input": input.clone() })).await;
    no_errors(&first);
    let before = counts(&d.app).await;
    let again = d.lab.query(ADD, json!({ "input": input.clone() })).await;
    no_errors(&again);
    assert_eq!(again["data"]["addTestResult"]["replayed"], true);
    assert_eq!(
        again["data"]["addTestResult"]["result"]["id"],
        first["data"]["addTestResult"]["result"]["id"]
    );
    assert_eq!(counts(&d.app).await, before, "a retry stores nothing");
    input["observations"][0]["valueNumeric"] = json!(9.9);
    let changed = d.lab.query(ADD, json!({ "input": input })).await;
    assert_eq!(error_code(&changed), Some("CONFLICT"), "{changed:#}");
}

async fn bad_input_is_rejected_with_its_field_and_leaves_nothing_behind(backend: Backend) {
    let d = demo(backend).await;
    let before = counts(&d.app).await;
    let mut cases: Vec<(Value, &str)> = Vec::new();
    let mut unknown_patient = hba1c(&d, 6.0, "FINAL");
    unknown_patient["patientId"] = json!(patient_gid(Uuid::now_v7()));
    cases.push((unknown_patient, "input.patientId"));
    let mut unknown_test = hba1c(&d, 6.0, "FINAL");
    unknown_test["order"]["testCode"] = json!("0000-0");
    cases.push((unknown_test, "input.order.testCode"));
    // A unit the catalog does not know is the laboratory's own and is kept (docs/hl7.md).
    let mut wrong_type = hba1c(&d, 6.0, "FINAL");
    wrong_type["observations"][0] = json!({ "code": "4548-4", "valueText": "high" });
    cases.push((wrong_type, "input.observations[0].valueNumeric"));
    let mut unknown_analyte = hba1c(&d, 6.0, "FINAL");
    unknown_analyte["observations"][0]["code"] = json!("718-7");
    cases.push((unknown_analyte, "input.observations[0].code"));
    let mut empty = hba1c(&d, 6.0, "FINAL");
    empty["observations"] = json!([]);
    cases.push((empty, "input.observations"));
    let mut future = hba1c(&d, 6.0, "FINAL");
    future["issuedAt"] = json!((chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339());
    cases.push((future, "input.issuedAt"));
    let mut corrected = hba1c(&d, 6.0, "CORRECTED");
    corrected["status"] = json!("CORRECTED");
    cases.push((corrected, "input.status"));
    for (input, field) in cases {
        let response = d.lab.query(ADD, json!({ "input": input })).await;
        assert_eq!(
            error_code(&response),
            Some("BAD_USER_INPUT"),
            "{field}: {response:#}"
        );
        assert_eq!(
            response["errors"][0]["extensions"]["field"], field,
            "{response:#}"
        );
    }
    assert_eq!(
        counts(&d.app).await,
        before,
        "rejected inputs leave nothing behind"
    );
}

async fn a_failing_notification_insert_rolls_back_the_whole_result(backend: Backend) {
    let d = demo(backend).await;
    let trigger: &[&str] = match backend {
        Backend::Sqlite => &[
            "CREATE TRIGGER fail_notifications BEFORE INSERT ON notifications BEGIN SELECT RAISE(ABORT, 'notifications unavailable'); END",
        ],
        Backend::Postgres => &[
            "CREATE FUNCTION fail_notifications() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'notifications unavailable'; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER fail_notifications BEFORE INSERT ON notifications FOR EACH ROW EXECUTE FUNCTION fail_notifications()",
        ],
    };
    for sql in trigger {
        d.app
            .owner
            .execute_raw(Statement::from_string(
                d.app.owner.get_database_backend(),
                *sql,
            ))
            .await
            .expect("trigger");
    }
    let before = counts(&d.app).await;
    let response = d
        .lab
        .query(ADD, json!({ "input": hba1c(&d, 6.0, "FINAL") }))
        .await;
    assert_eq!(error_code(&response), Some("INTERNAL"), "{response:#}");
    assert!(
        !response.to_string().contains("notifications unavailable"),
        "no SQL detail to clients"
    );
    assert_eq!(
        counts(&d.app).await,
        before,
        "no result, order, outbox row or notification remains"
    );
    d.app
        .owner
        .execute_raw(Statement::from_string(
            d.app.owner.get_database_backend(),
            "DROP TRIGGER fail_notifications".to_owned()
                + if backend == Backend::Postgres {
                    " ON notifications"
                } else {
                    ""
                },
        ))
        .await
        .expect("drop");
    no_errors(
        &d.lab
            .query(ADD, json!({ "input": hba1c(&d, 6.0, "FINAL") }))
            .await,
    );
}

const CORRECT: &str = r#"mutation($id: ID!, $input: CorrectTestResultInput!, $reason: String!) {
  correctTestResult(id: $id, input: $input, reason: $reason) { notifications { channel status } result { id status isCorrected correctionReason history { status } } } }"#;
const WITHDRAW: &str = r#"mutation($id: ID!, $reason: String!) { markTestResultEnteredInError(id: $id, reason: $reason) { result { id status history { status } } } }"#;

async fn corrections_form_a_chain_and_notify_again(backend: Backend) {
    let d = demo(backend).await;
    let added = d
        .lab
        .query(ADD, json!({ "input": hba1c(&d, 6.0, "FINAL") }))
        .await;
    let original = added["data"]["addTestResult"]["result"]["id"].clone();
    let correction = json!({ "observations": [{ "code": "4548-4", "valueNumeric": 6.6 }] });
    let corrected = d
        .lab
        .query(
            CORRECT,
            json!({ "id": original, "input": correction, "reason": "specimen mix-up" }),
        )
        .await;
    no_errors(&corrected);
    let c = &corrected["data"]["correctTestResult"];
    assert_eq!(c["result"]["status"], "CORRECTED");
    assert_eq!(c["result"]["correctionReason"], "specimen mix-up");
    assert_eq!(
        c["result"]["history"],
        json!([{ "status": "FINAL" }, { "status": "CORRECTED" }])
    );
    assert_eq!(
        c["notifications"].as_array().map(Vec::len),
        Some(2),
        "the patient is told again"
    );
    let stale = d.lab.query(CORRECT, json!({ "id": original, "input": { "observations": [{ "code": "4548-4", "valueNumeric": 1.0 }] }, "reason": "again" })).await;
    assert_eq!(
        error_code(&stale),
        Some("CONFLICT"),
        "only the current version can be corrected: {stale:#}"
    );
    let withdrawn = d
        .lab
        .query(
            WITHDRAW,
            json!({ "id": c["result"]["id"], "reason": "wrong patient" }),
        )
        .await;
    no_errors(&withdrawn);
    assert_eq!(
        withdrawn["data"]["markTestResultEnteredInError"]["result"]["history"],
        json!([{ "status": "FINAL" }, { "status": "CORRECTED" }, { "status": "ENTERED_IN_ERROR" }])
    );
    let me = d.app.as_patient("alice", d.tenant, d.alice.id);
    let seen = me.query(r#"query($id: ID!) { testResult(id: $id) { status isCorrected supersededBy { status } } }"#, json!({ "id": original })).await;
    assert_eq!(
        seen["data"]["testResult"]["supersededBy"]["status"], "CORRECTED",
        "{seen:#}"
    );
    let no_reason = d.lab.query(WITHDRAW, json!({ "id": withdrawn["data"]["markTestResultEnteredInError"]["result"]["id"], "reason": " " })).await;
    assert_eq!(error_code(&no_reason), Some("BAD_USER_INPUT"));
}

async fn a_batch_reports_each_result_on_its_own(backend: Backend) {
    let d = demo(backend).await;
    let mut bad = hba1c(&d, 6.0, "FINAL");
    bad["observations"][0]["code"] = json!("718-7");
    let inputs = json!([hba1c(&d, 5.0, "FINAL"), bad, hba1c(&d, 5.2, "FINAL")]);
    let query = r#"mutation($inputs: [AddTestResultInput!]!) { addTestResults(inputs: $inputs) {
      succeeded failed items { index payload { result { status } } error { code field } } } }"#;
    let response = d.lab.query(query, json!({ "inputs": inputs })).await;
    no_errors(&response);
    let p = &response["data"]["addTestResults"];
    assert_eq!(
        (p["succeeded"].clone(), p["failed"].clone()),
        (json!(2), json!(1))
    );
    assert_eq!(
        p["items"][1]["error"],
        json!({ "code": "BAD_USER_INPUT", "field": "inputs[1].observations[0].code" })
    );
    assert_eq!(p["items"][2]["payload"]["result"]["status"], "FINAL");
    let too_many: Vec<Value> = (0..501).map(|_| hba1c(&d, 5.0, "FINAL")).collect();
    let response = d.lab.query(query, json!({ "inputs": too_many })).await;
    assert_eq!(
        error_code(&response),
        Some("BAD_USER_INPUT"),
        "{response:#}"
    );
}

async fn only_the_care_team_writes_results(backend: Backend) {
    let d = demo(backend).await;
    let me = d.app.as_patient("alice", d.tenant, d.alice.id);
    let response = me
        .query(ADD, json!({ "input": hba1c(&d, 6.0, "FINAL") }))
        .await;
    assert_eq!(error_code(&response), Some("FORBIDDEN"), "{response:#}");
    let other_tenant = d.app.as_lab(Uuid::now_v7());
    let response = other_tenant
        .query(ADD, json!({ "input": hba1c(&d, 6.0, "FINAL") }))
        .await;
    assert_eq!(
        response["errors"][0]["extensions"]["field"], "input.patientId",
        "another tenant's patient is unknown"
    );
    let stranger = d.app.as_clinician("dr.nobody", d.tenant);
    let response = stranger
        .query(ADD, json!({ "input": hba1c(&d, 6.0, "FINAL") }))
        .await;
    assert_eq!(error_code(&response), Some("FORBIDDEN"), "{response:#}");
    let count = notification::Entity::find()
        .filter(notification::Column::PatientId.eq(d.alice.id))
        .count(&d.app.owner)
        .await;
    assert_eq!(count.expect("count"), 0);
}

on_both_backends!(
    a_lab_result_is_stored_with_its_order_event_and_notifications,
    a_final_result_replaces_the_preliminary_one_of_its_order,
    an_idempotency_key_makes_a_retry_return_the_first_outcome,
    bad_input_is_rejected_with_its_field_and_leaves_nothing_behind,
    a_failing_notification_insert_rolls_back_the_whole_result,
    corrections_form_a_chain_and_notify_again,
    a_batch_reports_each_result_on_its_own,
    only_the_care_team_writes_results,
);
