//! ADT^A04/A08/A28/A31 over a real MLLP socket on both backends: patients registered and
//! updated from PID with their IN1 coverages; a result for a patient the portal does not
//! know yet is AE, and replayed once the registration arrives, stored once.

use portal_entities::{Hl7MessageStatus, coverage, patient};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::hl7::rig::{Rig, edited};
use crate::on_both_backends;
use crate::support::Backend;

on_both_backends!(
    an_a28_registers_a_new_patient_with_coverage_and_an_a08_updates_one,
    a_result_for_an_unknown_patient_is_ae_then_replayed_after_the_registration_once,
);

async fn coverages(rig: &Rig, patient: uuid::Uuid) -> Vec<coverage::Model> {
    coverage::Entity::find()
        .filter(coverage::Column::PatientId.eq(patient))
        .all(&rig.app.owner)
        .await
        .expect("coverages")
}

async fn an_a28_registers_a_new_patient_with_coverage_and_an_a08_updates_one(backend: Backend) {
    let rig = Rig::demo(backend).await;
    let before = patient::Entity::find()
        .all(&rig.app.owner)
        .await
        .expect("patients")
        .len();
    rig.send_fixture("adt_a28.hl7").await.assert_code("AA");
    let elena = rig.patient("MRN1005").await;
    assert_eq!(
        (elena.given_name.as_str(), elena.family_name.as_str()),
        ("Elena", "Garcia")
    );
    assert_eq!(elena.birth_date.to_string(), "1992-02-14");
    let covered = coverages(&rig, elena.id).await;
    assert_eq!(covered.len(), 1);
    assert_eq!(covered[0].member_id, "PHP-4471-009");
    assert_eq!(covered[0].payer, "Prairie Health Plan");
    rig.send_fixture("adt_a28.hl7").await.assert_code("AA");
    let again = edited("adt_a28.hl7", &[("ADT20260312-0003", "ADT20260312-0004")]);
    rig.send(&again).await.assert_code("AA");
    assert_eq!(
        patient::Entity::find()
            .all(&rig.app.owner)
            .await
            .expect("patients")
            .len(),
        before + 1,
        "registered once"
    );
    assert_eq!(
        coverages(&rig, elena.id).await.len(),
        1,
        "coverage matched by payer and member id"
    );

    let alice = rig.patient("MRN1001").await;
    rig.send_fixture("adt_a08.hl7").await.assert_code("AA");
    let updated = rig.patient("MRN1001").await;
    assert_eq!(updated.id, alice.id);
    assert_eq!(updated.email.as_deref(), Some("alice.nguyen@example.org"));
    assert_eq!(updated.phone.as_deref(), Some("1 217 5550999"), "PID-13");

    let nameless = edited(
        "adt_a28.hl7",
        &[
            ("ADT20260312-0003", "ADT20260312-0009"),
            ("Garcia^Elena", ""),
        ],
    );
    let ack = rig.send(&nameless).await;
    ack.assert_code("AE");
    assert_eq!(ack.errors[0].0, "PID^1^5", "{}", ack.text);
    rig.stop().await;
}

async fn a_result_for_an_unknown_patient_is_ae_then_replayed_after_the_registration_once(
    backend: Backend,
) {
    let rig = Rig::demo(backend).await;
    let for_elena = edited(
        "oru_r01_v251_cbc.hl7",
        &[
            ("MRN1001^^^", "MRN1005^^^"),
            ("Nguyen^Alice^T", "Garcia^Elena"),
        ],
    );
    let ack = rig.send(&for_elena).await;
    ack.assert_code("AE");
    assert_eq!(
        ack.errors[0],
        ("PID^1^3".to_owned(), "204".to_owned(), "E".to_owned()),
        "{}",
        ack.text
    );
    let dead = rig.message("LAB20260301-0001").await;
    assert_eq!(dead.status, Hl7MessageStatus::Dead);
    assert_eq!(
        rig.replay().await.still_failing,
        1,
        "the patient is still unknown"
    );

    rig.send_fixture("adt_a28.hl7").await.assert_code("AA");
    let before = rig.counts().await;
    let report = rig.replay().await;
    assert_eq!((report.selected, report.accepted), (1, 1));
    let elena = rig.patient("MRN1005").await;
    let order = rig.order("LAB-77120").await;
    assert_eq!(order.patient_id, elena.id);
    assert_eq!(rig.results_of(order.id).await.len(), 1);
    assert_eq!(rig.counts().await.0, before.0 + 1, "stored once");
    assert_eq!(
        rig.replay().await.selected,
        0,
        "nothing left in the dead letter"
    );
    rig.send(&for_elena).await.assert_code("AA");
    assert_eq!(
        rig.counts().await.0,
        before.0 + 1,
        "the LIS retry is a duplicate"
    );
    rig.stop().await;
}
