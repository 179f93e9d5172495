//! The rows as ReportStream reads them (every batch goes through the reader built from its
//! vendored schema, see `parse`): a four-analyte respiratory panel is four rows in one batch;
//! its correction is four `C` rows under the same accession and test codes; a withdrawal and
//! a test the endpoint does not accept wait in the error queue with their reasons; an order
//! without an ordering clinician names the facility's default ordering provider; the device
//! model and analyte flags come from master data.

use portal_entities::{ReportKind, ReportStatus};
use portal_messaging::public_health::{WITHDRAWAL_HELD, queue};
use serde_json::json;

use super::*;
use crate::on_both_backends;
use crate::support::no_errors;

const PANEL: &str = "95941-1";
const FLU_A: &str = "92142-9";
const FLU_B: &str = "92141-1";
const RSV: &str = "92131-2";
const DEVICE: &str = "cobas SARS-CoV-2 & Influenza A/B";

const CREATE_TEST: &str = r#"mutation($input: CreateCatalogTestInput!) {
  createCatalogTest(input: $input) { test { id deviceModel analytes { code reportable } } } }"#;
const CREATE_CLINICIAN: &str = r#"mutation($input: CreateClinicianInput!) {
  createClinician(input: $input) { clinician { id } } }"#;
const UPDATE_FACILITY: &str = r#"mutation($id: ID!, $input: UpdateFacilityInput!) {
  updateFacility(id: $id, input: $input) { facility { id defaultOrderingClinicianId } } }"#;

/// The respiratory panel in the catalog through `createCatalogTest`: four reportable coded
/// analytes and one (an internal control) that is not reported.
async fn panel(h: &Hospital) {
    let staff = h.app.as_staff(h.tenant);
    let analyte = |code: &str, name: &str, reportable: bool| json!({ "code": code, "displayName": name, "valueType": "CODED", "reportable": reportable });
    let created = staff
        .query(
            CREATE_TEST,
            json!({ "input": {
                "code": PANEL, "codeSystem": "LOINC", "category": "LAB",
                "displayName": "SARS-CoV-2, influenza A and B and RSV panel",
                "specimen": "Nasopharyngeal swab", "reportable": true, "deviceModel": DEVICE,
                "analytes": [
                    analyte(SARS, "SARS-CoV-2 RNA", true),
                    analyte(FLU_A, "Influenza A RNA", true),
                    analyte(FLU_B, "Influenza B RNA", true),
                    analyte(RSV, "RSV RNA", true),
                    analyte("99999-9", "Internal control", false),
                ] } }),
        )
        .await;
    no_errors(&created);
    assert_eq!(
        created["data"]["createCatalogTest"]["test"]["deviceModel"],
        DEVICE
    );
}

fn panel_input(base: Value, values: [&str; 4]) -> Value {
    let mut input = base;
    input["order"]["testCode"] = json!(PANEL);
    let mut observations: Vec<Value> = [SARS, FLU_A, FLU_B, RSV]
        .iter()
        .zip(values)
        .map(|(code, value)| json!({ "code": code, "valueCode": value }))
        .collect();
    observations.push(json!({ "code": "99999-9", "valueCode": DETECTED }));
    input["observations"] = json!(observations);
    input
}

async fn add_panel(h: &Hospital, values: [&str; 4]) -> String {
    let base = h.input("MRN1001", PANEL, "FINAL", json!({})).await;
    let response = h
        .lab
        .query(ADD, json!({ "input": panel_input(base, values) }))
        .await;
    no_errors(&response);
    response["data"]["addTestResult"]["result"]["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

fn rows_of(received: &Received) -> Vec<HashMap<String, String>> {
    parse(&received.body).1
}

async fn a_panel_is_one_row_per_reportable_analyte_and_its_correction_reaches_those_rows(
    backend: Backend,
) {
    let receiver = Receiver::start(&[], Reply::Status(200)).await;
    let h = Hospital::new(backend, &receiver_vars(&receiver.url)).await;
    panel(&h).await;
    let id = add_panel(&h, [DETECTED, NOT_DETECTED, NOT_DETECTED, NOT_DETECTED]).await;
    let first = h.pass().await;
    assert_eq!(
        (first.sent, first.reports_sent, first.errors),
        (1, 1, 0),
        "{first:?}"
    );

    let received = receiver.received();
    assert_eq!(received.len(), 1, "one batch");
    let rows = rows_of(&received[0]);
    let codes: Vec<&str> = rows
        .iter()
        .map(|r| r["test_performed_code"].as_str())
        .collect();
    assert_eq!(
        codes,
        [SARS, FLU_A, FLU_B, RSV],
        "four analytes, no control"
    );
    let results: Vec<&str> = rows.iter().map(|r| r["test_result"].as_str()).collect();
    assert_eq!(
        results,
        [DETECTED, NOT_DETECTED, NOT_DETECTED, NOT_DETECTED]
    );
    for row in &rows {
        assert_eq!(row["test_result_status"], "F");
        assert_eq!(row["accession_number"], "ACC-1");
        assert_eq!(row["equipment_model_name"], DEVICE);
        assert_eq!(
            row["message_id"], rows[0]["message_id"],
            "one report, four rows"
        );
        assert!(
            row["comment"].contains(
                "specimen_collection_date and testing_lab_specimen_received_date is the order time"
            ),
            "the stand-in dates are flagged: {}",
            row["comment"]
        );
        assert_eq!(row["specimen_collection_date"], row["order_test_date"]);
    }

    let corrected = h
        .lab
        .query(
            CORRECT,
            json!({ "id": id, "reason": "Flu A re-run",
                    "input": { "observations": [
                        { "code": SARS, "valueCode": DETECTED },
                        { "code": FLU_A, "valueCode": DETECTED },
                        { "code": FLU_B, "valueCode": NOT_DETECTED },
                        { "code": RSV, "valueCode": NOT_DETECTED } ] } }),
        )
        .await;
    no_errors(&corrected);
    let second = h.pass().await;
    assert_eq!((second.sent, second.errors), (1, 0), "{second:?}");
    let received = receiver.received();
    assert_eq!(received.len(), 2);
    let corrections = rows_of(&received[1]);
    assert_eq!(
        corrections.len(),
        4,
        "every analyte of the corrected version"
    );
    for (original, correction) in rows.iter().zip(&corrections) {
        assert_eq!(correction["test_result_status"], "C");
        // ReportStream files a row under its filler order id (the accession) and test code.
        assert_eq!(correction["accession_number"], original["accession_number"]);
        assert_eq!(
            correction["test_performed_code"],
            original["test_performed_code"]
        );
        assert!(
            correction["comment"].starts_with(&format!(
                "corrects the earlier report (message_id {}): Flu A re-run",
                original["message_id"]
            )),
            "{}",
            correction["comment"]
        );
    }
    assert_eq!(corrections[1]["test_result"], DETECTED, "Flu A corrected");
}

async fn a_withdrawal_waits_in_the_error_queue_with_what_staff_must_do(backend: Backend) {
    let receiver = Receiver::start(&[], Reply::Status(200)).await;
    let h = Hospital::new(backend, &receiver_vars(&receiver.url)).await;
    panel(&h).await;
    let id = add_panel(&h, [DETECTED, NOT_DETECTED, NOT_DETECTED, NOT_DETECTED]).await;
    h.pass().await;
    no_errors(
        &h.lab
            .query(WITHDRAW, json!({ "id": id, "reason": "wrong patient" }))
            .await,
    );
    let pass = h.pass().await;
    assert_eq!((pass.sent, pass.held.withdrawal), (0, 1), "{pass:?}");
    assert_eq!(
        receiver.received().len(),
        1,
        "nothing uploaded for the withdrawal"
    );
    let open = queue::open_errors(&h.app.db, 10).await.expect("errors");
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].message, WITHDRAWAL_HELD);
    let withdrawal = h
        .reports()
        .await
        .into_iter()
        .find(|r| r.kind == ReportKind::Withdrawal)
        .expect("withdrawal report");
    assert_eq!(withdrawal.status, ReportStatus::Error);
    assert_eq!(open[0].report_id, withdrawal.id);
}

async fn a_test_the_endpoint_does_not_accept_waits_with_that_reason(backend: Backend) {
    let receiver = Receiver::start(&[], Reply::Status(200)).await;
    let mut vars = receiver_vars(&receiver.url);
    let accepts = format!("{SARS},{PANEL}");
    vars.push(("PUBLIC_HEALTH_ACCEPTS", &accepts));
    vars.push(("PUBLIC_HEALTH_REPORTER_NAME", "Riverside Health Reporting"));
    vars.push(("PUBLIC_HEALTH_REPORTER_CLIA", "05D9876543"));
    let h = Hospital::new(backend, &vars).await;
    h.add("MRN1001", HIV, "FINAL", coded(NEGATIVE)).await;
    h.add("MRN1001", SARS, "FINAL", coded(DETECTED)).await;
    let pass = h.pass().await;
    assert_eq!((pass.sent, pass.held.out_of_scope), (1, 1), "{pass:?}");
    let open = queue::open_errors(&h.app.db, 10).await.expect("errors");
    assert_eq!(open.len(), 1);
    assert!(
        open[0].message.starts_with(&format!("test {HIV} (")),
        "{}",
        open[0].message
    );
    assert!(
        open[0]
            .message
            .contains(&format!("accepts ({SARS}, {PANEL})"))
    );
    let rows = rows_of(&receiver.received()[0]);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["test_performed_code"], SARS);
    assert_eq!(
        rows[0]["reporting_facility_name"],
        "Riverside Health Reporting"
    );
    assert_eq!(rows[0]["reporting_facility_clia"], "05D9876543");
    assert_eq!(rows[0]["testing_lab_clia"], "05D2101234");
}

async fn an_order_without_a_clinician_names_the_facilitys_default_ordering_provider(
    backend: Backend,
) {
    let receiver = Receiver::start(&[], Reply::Status(200)).await;
    let h = Hospital::new(backend, &receiver_vars(&receiver.url)).await;
    let staff = h.app.as_staff(h.tenant);
    let created = staff
        .query(
            CREATE_CLINICIAN,
            json!({ "input": { "displayName": "Dr. Sam Rivera", "givenName": "Sam",
                               "familyName": "Rivera", "npi": "1999999901" } }),
        )
        .await;
    no_errors(&created);
    let default = created["data"]["createClinician"]["clinician"]["id"].clone();
    let updated = staff
        .query(
            UPDATE_FACILITY,
            json!({ "id": h.facility, "input": { "defaultOrderingClinicianId": default } }),
        )
        .await;
    no_errors(&updated);
    assert_eq!(
        updated["data"]["updateFacility"]["facility"]["defaultOrderingClinicianId"],
        default
    );
    let mut input = h.input("MRN1001", SARS, "FINAL", coded(DETECTED)).await;
    input["order"]
        .as_object_mut()
        .expect("order")
        .remove("orderingClinicianId");
    no_errors(&h.lab.query(ADD, json!({ "input": input })).await);
    h.add("MRN1004", SARS, "FINAL", coded(NOT_DETECTED)).await;
    let pass = h.pass().await;
    assert_eq!((pass.sent, pass.errors), (1, 0), "{pass:?}");
    let rows = rows_of(&receiver.received()[0]);
    let providers: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["ordering_provider_last_name"].as_str(),
                r["ordering_provider_id"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        providers,
        [("Rivera", "1999999901"), ("Patel", "1234567893")],
        "the default when the order names none, else the order's clinician"
    );
}

on_both_backends!(
    a_panel_is_one_row_per_reportable_analyte_and_its_correction_reaches_those_rows,
    a_withdrawal_waits_in_the_error_queue_with_what_staff_must_do,
    a_test_the_endpoint_does_not_accept_waits_with_that_reason,
    an_order_without_a_clinician_names_the_facilitys_default_ordering_provider,
);
