//! ORU^R01 over a real MLLP socket to the real listener with the application's handler, on
//! both backends: stored raw before processing, applied through the ingest service,
//! acknowledged after commit; duplicates, failed commits, corrections, withdrawals,
//! cancellations, imaging reports and unknown providers.

use portal_entities::{
    Hl7MessageStatus, OrderStatus, ResultStatus, imaging_report, notification, observation,
};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;

use crate::hl7::rig::{Rig, edited, fixture, is_dead_letter};
use crate::on_both_backends;
use crate::support::{Backend, no_errors};

const CBC: &str = "oru_r01_v251_cbc.hl7";

on_both_backends!(
    an_oru_is_stored_raw_applied_and_acknowledged_after_commit,
    a_duplicate_control_id_is_acknowledged_again_and_changes_nothing,
    a_failed_commit_is_answered_ar_keeps_the_message_and_stores_nothing_until_replayed,
    a_correction_replaces_the_current_version_keeps_the_original_and_notifies_again,
    a_preliminary_result_is_hidden_from_the_patient_and_completed_by_the_final,
    an_unknown_npi_is_accepted_with_a_warning_and_the_result_kept,
    an_imaging_report_keeps_its_report_text_and_study_uid,
    a_content_error_is_answered_ae_naming_the_field_and_processed_afresh_when_resent,
    observations_marked_wrong_withdraw_the_result_and_x_cancels_an_order,
    a_result_over_hl7_moves_the_read_cache_on_like_a_mutation,
);

async fn a_result_over_hl7_moves_the_read_cache_on_like_a_mutation(backend: Backend) {
    let app = crate::support::TestApp::init(backend)
        .with_config(|c| c.cache_enabled = true)
        .await;
    let rig = Rig::over(app).await;
    let alice = rig.patient("MRN1001").await;
    let viewer = rig.app.as_patient(
        alice.user_subject.as_deref().expect("Alice has an account"),
        rig.tenant,
        alice.id,
    );
    let query = "{ viewer { patient { results(first: 50) { edges { node { order { accessionNumber } } } } } } }";
    let before = viewer.query(query, json!({})).await;
    no_errors(&before);
    assert_eq!(
        viewer.query(query, json!({})).await,
        before,
        "served again, from the cache"
    );
    assert!(!before.to_string().contains("LAB-77120"));
    rig.send_fixture(CBC).await.assert_code("AA");
    let after = viewer.query(query, json!({})).await;
    assert!(
        after.to_string().contains("LAB-77120"),
        "not a stale answer: {after:#}"
    );
    rig.stop().await;
}

async fn an_oru_is_stored_raw_applied_and_acknowledged_after_commit(backend: Backend) {
    let rig = Rig::demo(backend).await;
    let before = rig.counts().await;
    let ack = rig.send_fixture(CBC).await;
    ack.assert_code("AA");
    assert_eq!(ack.control_id, "LAB20260301-0001", "MSA-2 echoes MSH-10");
    assert!(
        ack.text.starts_with("MSH|^~\\&|PORTAL^"),
        "receiver and sender swapped"
    );
    let stored = rig.message("LAB20260301-0001").await;
    assert_eq!(stored.status, Hl7MessageStatus::Accepted);
    assert_eq!(stored.raw, fixture(CBC), "kept byte for byte");
    assert_eq!(stored.message_type, "ORU^R01");
    assert_eq!(stored.ack_code.as_deref(), Some("AA"));
    let order = rig.order("LAB-77120").await;
    assert_eq!(order.placer_order_number.as_deref(), Some("ORD-448812"));
    assert_eq!(order.status, OrderStatus::Completed);
    assert_eq!(order.patient_id, rig.patient("MRN1001").await.id);
    assert!(order.ordering_clinician_id.is_some(), "Dr. Patel by NPI");
    let results = rig.results_of(order.id).await;
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].status, ResultStatus::Final);
    assert_eq!(
        results[0].performing_lab.as_deref(),
        Some("Riverside Main Laboratory")
    );
    let observations = observation::Entity::find()
        .filter(observation::Column::ResultId.eq(results[0].id))
        .all(&rig.app.owner)
        .await
        .expect("observations");
    assert_eq!(observations.len(), 5);
    let wbc = observations
        .iter()
        .find(|o| o.code == "6690-2")
        .expect("WBC");
    assert_eq!(wbc.value_numeric, Some(11.9));
    assert_eq!(
        wbc.interpretation,
        Some(portal_entities::Interpretation::High)
    );
    let (results, orders, notifications) = rig.counts().await;
    assert_eq!((results, orders), (before.0 + 1, before.1 + 1));
    assert!(notifications > before.2, "the patient is notified");
    let audit = rig.app.audit_rows().await;
    assert!(
        audit
            .iter()
            .any(|r| r.action == "result.create"
                && r.subject.as_deref() == Some("hl7:RIVERSIDE LIS")),
        "written as the interface"
    );
    rig.stop().await;
}

async fn a_duplicate_control_id_is_acknowledged_again_and_changes_nothing(backend: Backend) {
    let rig = Rig::demo(backend).await;
    rig.send_fixture(CBC).await.assert_code("AA");
    let after_first = rig.counts().await;
    let again = rig.send_fixture(CBC).await;
    again.assert_code("AA");
    assert!(again.note.contains("duplicate"), "{}", again.text);
    assert_eq!(rig.counts().await, after_first, "nothing changes");
    assert_eq!(rig.messages().await.len(), 1, "stored once");
    assert_eq!(rig.message("LAB20260301-0001").await.attempts, 1);
    rig.stop().await;
}

async fn a_failed_commit_is_answered_ar_keeps_the_message_and_stores_nothing_until_replayed(
    backend: Backend,
) {
    let rig = Rig::demo(backend).await;
    let (create, drop) = match backend {
        Backend::Sqlite => (
            vec![
                "CREATE TRIGGER fail_notifications BEFORE INSERT ON notifications BEGIN SELECT RAISE(ABORT, 'notifications unavailable'); END",
            ],
            "DROP TRIGGER fail_notifications",
        ),
        Backend::Postgres => (
            vec![
                "CREATE FUNCTION fail_notifications() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'notifications unavailable'; END $$ LANGUAGE plpgsql",
                "CREATE TRIGGER fail_notifications BEFORE INSERT ON notifications FOR EACH ROW EXECUTE FUNCTION fail_notifications()",
            ],
            "DROP TRIGGER fail_notifications ON notifications",
        ),
    };
    for sql in create {
        rig.owner_sql(sql).await;
    }
    let before = rig.counts().await;
    let ack = rig.send_fixture(CBC).await;
    ack.assert_code("AR");
    assert_eq!(ack.errors[0].1, "207", "{}", ack.text);
    assert!(
        !ack.text.contains("notifications unavailable"),
        "no internal detail"
    );
    assert_eq!(
        rig.counts().await,
        before,
        "no result, order or notification"
    );
    let kept = rig.message("LAB20260301-0001").await;
    assert_eq!(kept.status, Hl7MessageStatus::Error);
    assert!(is_dead_letter(kept.status));
    assert_eq!(kept.raw, fixture(CBC), "the raw message is kept for replay");

    rig.owner_sql(drop).await;
    let report = rig.replay().await;
    assert_eq!((report.selected, report.accepted), (1, 1));
    let replayed = rig.message("LAB20260301-0001").await;
    assert_eq!(replayed.status, Hl7MessageStatus::Accepted);
    assert_eq!(replayed.attempts, 2);
    assert_eq!(rig.counts().await.0, before.0 + 1, "stored once");
    rig.send_fixture(CBC).await.assert_code("AA");
    assert_eq!(
        rig.counts().await.0,
        before.0 + 1,
        "a resend is a duplicate"
    );
    assert_eq!(rig.replay().await.selected, 0, "the dead letter is empty");
    rig.stop().await;
}

async fn a_correction_replaces_the_current_version_keeps_the_original_and_notifies_again(
    backend: Backend,
) {
    let rig = Rig::demo(backend).await;
    rig.send_fixture(CBC).await.assert_code("AA");
    let order = rig.order("LAB-77120").await;
    let notified = notification::Entity::find()
        .count(&rig.app.owner)
        .await
        .expect("count");
    let ack = rig.send_fixture("oru_r01_correction.hl7").await;
    ack.assert_code("AA");
    let results = rig.results_of(order.id).await;
    assert_eq!(results.len(), 2, "the original is kept in the history");
    let (original, corrected) = (&results[0], &results[1]);
    assert_eq!(original.status, ResultStatus::Final);
    assert_eq!(corrected.status, ResultStatus::Corrected);
    assert_eq!(corrected.replaces_result_id, Some(original.id));
    assert_eq!(corrected.chain_id, original.chain_id);
    assert_eq!(
        corrected.correction_reason.as_deref(),
        Some("Corrected result: previously reported as 12.9 g/dL.")
    );
    let corrected_notes = notification::Entity::find()
        .filter(notification::Column::ResultId.eq(corrected.id))
        .all(&rig.app.owner)
        .await
        .expect("notifications");
    assert!(!corrected_notes.is_empty(), "the patient is notified again");
    assert!(
        corrected_notes
            .iter()
            .all(|n| n.template == "result_corrected")
    );
    assert!(
        notification::Entity::find()
            .count(&rig.app.owner)
            .await
            .expect("count")
            > notified
    );
    rig.stop().await;
}

async fn a_preliminary_result_is_hidden_from_the_patient_and_completed_by_the_final(
    backend: Backend,
) {
    let rig = Rig::demo(backend).await;
    rig.send_fixture("oru_r01_two_obr.hl7")
        .await
        .assert_code("AA");
    let david = rig.patient("MRN1004").await;
    let viewer = rig.app.as_patient(
        david.user_subject.as_deref().expect("David has an account"),
        rig.tenant,
        david.id,
    );
    let query = "{ viewer { patient { results(first: 50) { edges { node { status order { accessionNumber } } } } } } }";
    let seen = |response: &serde_json::Value| -> Vec<(String, String)> {
        response["data"]["viewer"]["patient"]["results"]["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .map(|e| {
                (
                    e["node"]["order"]["accessionNumber"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    e["node"]["status"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    };
    let response = viewer.query(query, json!({})).await;
    no_errors(&response);
    let visible = seen(&response);
    assert!(
        visible.contains(&("LAB-8101".into(), "FINAL".into())),
        "{visible:?}"
    );
    assert!(
        !visible.iter().any(|(accession, _)| accession == "LAB-8102"),
        "the PRELIMINARY HbA1c is not shown to the patient: {visible:?}"
    );
    let preliminary = rig.order("LAB-8102").await;
    assert_eq!(preliminary.status, OrderStatus::Pending);

    let final_result = only_second_order(&edited(
        "oru_r01_two_obr.hl7",
        &[
            ("LAB20260302-0042", "LAB20260302-0043"),
            ("|||P\rOBX|1|SN", "|||F\rOBX|1|SN"),
            ("|HH|||P", "|HH|||F"),
        ],
    ));
    rig.send(&final_result).await.assert_code("AA");
    let results = rig.results_of(preliminary.id).await;
    assert_eq!(results.len(), 2);
    assert_eq!(results[1].status, ResultStatus::Final);
    assert_eq!(results[1].replaces_result_id, Some(results[0].id));
    assert_eq!(rig.order("LAB-8102").await.status, OrderStatus::Completed);
    let response = viewer.query(query, json!({})).await;
    assert!(
        seen(&response).contains(&("LAB-8102".into(), "FINAL".into())),
        "the final HbA1c is released: {response:#}"
    );
    rig.stop().await;
}

async fn an_unknown_npi_is_accepted_with_a_warning_and_the_result_kept(backend: Backend) {
    let rig = Rig::demo(backend).await;
    let message = edited(CBC, &[("1234567893^Patel^Maya", "1999999992^Rivera^Ana")]);
    let ack = rig.send(&message).await;
    ack.assert_code("AA");
    assert_eq!(
        ack.errors,
        vec![("OBR^1^16".to_owned(), "204".to_owned(), "W".to_owned())],
        "{}",
        ack.text
    );
    let order = rig.order("LAB-77120").await;
    assert_eq!(order.ordering_clinician_id, None);
    assert_eq!(order.ordering_provider_name.as_deref(), Some("Ana Rivera"));
    assert_eq!(
        rig.results_of(order.id).await.len(),
        1,
        "never a lost result"
    );
    rig.stop().await;
}

async fn an_imaging_report_keeps_its_report_text_and_study_uid(backend: Backend) {
    let rig = Rig::demo(backend).await;
    rig.send_fixture("oru_r01_imaging.hl7")
        .await
        .assert_code("AA");
    let order = rig.order("ACC-55120").await;
    let results = rig.results_of(order.id).await;
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].category, portal_entities::TestCategory::Imaging);
    let report = imaging_report::Entity::find_by_id(results[0].id)
        .one(&rig.app.owner)
        .await
        .expect("lookup")
        .expect("imaging report");
    assert_eq!(
        report.study_instance_uid,
        "1.2.840.113619.2.55.3.604688119.868.1249343483.504"
    );
    assert_eq!(report.modality, "DX");
    assert!(
        report.findings.contains("The lungs are clear."),
        "{}",
        report.findings
    );
    assert!(report.findings.contains("Heart size is normal."));
    assert_eq!(
        report.impression,
        "IMPRESSION:\n1. No acute cardiopulmonary process."
    );

    rig.send_fixture("oru_r01_imaging_zds.hl7")
        .await
        .assert_code("AA");
    let zds = rig.results_of(rig.order("ACC-55121").await.id).await;
    let report = imaging_report::Entity::find_by_id(zds[0].id)
        .one(&rig.app.owner)
        .await
        .expect("lookup")
        .expect("imaging report from ZDS");
    assert_eq!(
        report.study_instance_uid,
        "1.2.840.113619.2.55.3.604688119.868.1249343483.777"
    );
    rig.stop().await;
}

async fn a_content_error_is_answered_ae_naming_the_field_and_processed_afresh_when_resent(
    backend: Backend,
) {
    let rig = Rig::demo(backend).await;
    let before = rig.counts().await;
    let unknown_analyte = edited(CBC, &[("OBX|3|NM|718-7^", "OBX|3|NM|9999-9^")]);
    let ack = rig.send(&unknown_analyte).await;
    ack.assert_code("AE");
    assert_eq!(ack.errors[0].0, "OBX^3^3", "{}", ack.text);
    assert_eq!(ack.errors[0].1, "204");
    let unknown_test = edited(CBC, &[("58410-2^CBC panel", "99999-9^Unknown panel")]);
    let ack = rig.send(&unknown_test).await;
    ack.assert_code("AE");
    assert_eq!(ack.errors[0].0, "OBR^1^4^1^1", "{}", ack.text);
    assert_eq!(rig.counts().await, before, "nothing stored");
    let dead = rig.message("LAB20260301-0001").await;
    assert_eq!(dead.status, Hl7MessageStatus::Dead);
    assert_eq!(dead.attempts, 2, "each resend is processed afresh");
    assert_eq!(dead.error_location.as_deref(), Some("OBR^1^4^1^1"));
    assert!(
        !dead.error_summary.unwrap_or_default().contains("12.9"),
        "no values in the error summary"
    );
    rig.send_fixture(CBC).await.assert_code("AA");
    assert_eq!(rig.counts().await.0, before.0 + 1);
    assert_eq!(
        rig.messages().await.len(),
        1,
        "one row per sender and control id"
    );
    rig.stop().await;
}

async fn observations_marked_wrong_withdraw_the_result_and_x_cancels_an_order(backend: Backend) {
    let rig = Rig::demo(backend).await;
    rig.send_fixture(CBC).await.assert_code("AA");
    let order = rig.order("LAB-77120").await;
    let withdrawal = edited(
        "oru_r01_correction.hl7",
        &[
            ("LAB20260305-0002", "LAB20260305-0009"),
            ("|L|||C|||", "|L|||W|||"),
            (
                "Corrected result: previously reported as 12.9 g/dL.",
                "Posted to the wrong patient.",
            ),
        ],
    );
    rig.send(&withdrawal).await.assert_code("AA");
    let results = rig.results_of(order.id).await;
    assert_eq!(results.len(), 2);
    assert_eq!(results[1].status, ResultStatus::EnteredInError);
    assert_eq!(
        results[1].correction_reason.as_deref(),
        Some("Posted to the wrong patient.")
    );

    let preliminary = edited(
        "oru_r01_two_obr.hl7",
        &[("LAB20260302-0042", "LAB20260302-0050")],
    );
    rig.send(&preliminary).await.assert_code("AA");
    let cancel = "MSH|^~\\&|RIVERSIDE LIS|Riverside Main Laboratory^05D2101234^CLIA|PORTAL|RIVERSIDE|20260302150000-0500||ORU^R01^ORU_R01|LAB20260302-0051|P|2.5.1\r\
        PID|1||MRN1004^^^RIVERSIDE^MR||Kim^David||19581120|M\r\
        ORC|CA|ORD-5102|LAB-8102||CA\r\
        OBR|1|ORD-5102|LAB-8102|4548-4^Hemoglobin A1c/Hemoglobin.total in Blood^LN|||20260302070000-0500|||||||||||||||20260302145000-0500|||X\r";
    rig.send(cancel.as_bytes()).await.assert_code("AA");
    assert_eq!(rig.order("LAB-8102").await.status, OrderStatus::Cancelled);
    let released = cancel
        .replace("LAB20260302-0051", "LAB20260302-0052")
        .replace("ORD-5102|LAB-8102", "ORD-5101|LAB-8101")
        .replace(
            "4548-4^Hemoglobin A1c/Hemoglobin.total in Blood",
            "57698-3^Lipid panel",
        );
    let ack = rig.send(released.as_bytes()).await;
    ack.assert_code("AE");
    assert_eq!(
        ack.errors[0].1, "205",
        "an order with a released result: {}",
        ack.text
    );
    assert_eq!(rig.order("LAB-8101").await.status, OrderStatus::Completed);
    rig.stop().await;
}

/// The message without its first ORC/OBR group (the lab sends only the order that changed).
fn only_second_order(message: &[u8]) -> Vec<u8> {
    let text = String::from_utf8(message.to_vec()).expect("UTF-8");
    let segments: Vec<&str> = text.split('\r').collect();
    let orcs: Vec<usize> = segments
        .iter()
        .enumerate()
        .filter(|(_, s)| s.starts_with("ORC|"))
        .map(|(i, _)| i)
        .collect();
    let mut kept: Vec<&str> = segments[..orcs[0]].to_vec();
    kept.extend(&segments[orcs[1]..]);
    kept.join("\r").replace("OBR|2|", "OBR|1|").into_bytes()
}
