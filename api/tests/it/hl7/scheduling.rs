//! SIU^S12/S13/S14/S15/S26 over a real MLLP socket on both backends: an appointment of the
//! scheduling system booked, rescheduled, modified, cancelled and missed by its id (SCH-2),
//! and results of the order it was booked for linked to it.

use chrono::{DateTime, Utc};
use portal_entities::{AppointmentKind, AppointmentStatus, appointment};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::hl7::rig::{Rig, edited};
use crate::on_both_backends;
use crate::support::Backend;

on_both_backends!(
    an_appointment_is_booked_rescheduled_modified_and_cancelled_by_its_scheduling_id,
    a_no_show_is_recorded_and_a_missing_appointment_is_an_error,
    a_result_of_the_order_an_appointment_was_booked_for_links_to_it,
);

async fn appointment(rig: &Rig, external_id: &str) -> appointment::Model {
    appointment::Entity::find()
        .filter(appointment::Column::ExternalId.eq(external_id))
        .one(&rig.app.owner)
        .await
        .expect("lookup")
        .unwrap_or_else(|| panic!("no appointment {external_id}"))
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("time")
        .with_timezone(&Utc)
}

async fn an_appointment_is_booked_rescheduled_modified_and_cancelled_by_its_scheduling_id(
    backend: Backend,
) {
    let rig = Rig::demo(backend).await;
    rig.send_fixture("siu_s12.hl7").await.assert_code("AA");
    let booked = appointment(&rig, "APT-9001").await;
    assert_eq!(booked.status, AppointmentStatus::Booked);
    assert_eq!(booked.kind, AppointmentKind::LabDraw);
    assert_eq!(booked.patient_id, rig.patient("MRN1001").await.id);
    assert_eq!(booked.starts_at, at("2026-03-20T14:30:00Z"));
    assert_eq!(booked.ends_at, at("2026-03-20T14:45:00Z"));
    assert_eq!(booked.reason.as_deref(), Some("Lab work"));
    assert!(booked.clinician_id.is_some(), "Dr. Patel by NPI");

    rig.send_fixture("siu_s13.hl7").await.assert_code("AA");
    let moved = appointment(&rig, "APT-9001").await;
    assert_eq!(moved.id, booked.id, "the same appointment");
    assert_eq!(moved.starts_at, at("2026-03-22T15:00:00Z"));
    assert_eq!(moved.ends_at, at("2026-03-22T15:15:00Z"));

    rig.send_fixture("siu_s14.hl7").await.assert_code("AA");
    let modified = appointment(&rig, "APT-9001").await;
    assert_eq!(modified.reason.as_deref(), Some("Fasting lab work"));
    assert_eq!(modified.status, AppointmentStatus::Booked);

    rig.send_fixture("siu_s15.hl7").await.assert_code("AA");
    let cancelled = appointment(&rig, "APT-9001").await;
    assert_eq!(cancelled.status, AppointmentStatus::Cancelled);
    assert!(cancelled.cancelled_at.is_some());

    let late = rig.send_fixture("siu_s26.hl7").await;
    late.assert_code("AE");
    assert_eq!(late.errors[0].0, "SCH^1^2", "{}", late.text);
    let again = edited("siu_s14.hl7", &[("SIU20260317-0003", "SIU20260317-0099")]);
    rig.send(&again).await.assert_code("AE");
    assert_eq!(
        appointment(&rig, "APT-9001").await.status,
        AppointmentStatus::Cancelled,
        "a cancelled appointment stays cancelled"
    );
    rig.stop().await;
}

async fn a_no_show_is_recorded_and_a_missing_appointment_is_an_error(backend: Backend) {
    let rig = Rig::demo(backend).await;
    let unknown = rig.send_fixture("siu_s13.hl7").await;
    unknown.assert_code("AE");
    assert_eq!(
        unknown.errors[0],
        ("SCH^1^2".into(), "204".into(), "E".into())
    );
    rig.send_fixture("siu_s12.hl7").await.assert_code("AA");
    rig.send_fixture("siu_s26.hl7").await.assert_code("AA");
    assert_eq!(
        appointment(&rig, "APT-9001").await.status,
        AppointmentStatus::NoShow
    );
    rig.send_fixture("siu_s26.hl7").await.assert_code("AA");
    let unknown_patient = edited(
        "siu_s12.hl7",
        &[
            ("SIU20260315-0001", "SIU20260315-0077"),
            ("APT-9001", "APT-9002"),
            ("MRN1001", "MRN9999"),
        ],
    );
    let ack = rig.send(&unknown_patient).await;
    ack.assert_code("AE");
    assert_eq!(ack.errors[0].0, "PID^1^3");
    rig.stop().await;
}

async fn a_result_of_the_order_an_appointment_was_booked_for_links_to_it(backend: Backend) {
    let rig = Rig::demo(backend).await;
    let for_order = edited(
        "siu_s12.hl7",
        &[(
            "|Booked^Booked^HL70278",
            "|Booked^Booked^HL70278|ORD-448812^PORTAL",
        )],
    );
    rig.send(&for_order).await.assert_code("AA");
    let booked = appointment(&rig, "APT-9001").await;
    assert_eq!(booked.order_number.as_deref(), Some("ORD-448812"));
    rig.send_fixture("oru_r01_v251_cbc.hl7")
        .await
        .assert_code("AA");
    let order = rig.order("LAB-77120").await;
    assert_eq!(
        order.appointment_id,
        Some(booked.id),
        "the result's order is the appointment's"
    );
    rig.stop().await;
}
