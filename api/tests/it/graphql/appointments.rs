//! Booking and cancelling appointments on both backends.

use chrono::{DateTime, Duration, Timelike, Utc};
use portal_entities::AuditOutcome;
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::ids::{clinician_gid, facility_gid, patient_gid};
use crate::support::{Backend, TestApp, error_code, no_errors};

const BOOK: &str = r#"mutation($id: ID!, $input: BookAppointmentInput!) {
  bookAppointment(patientId: $id, input: $input) {
    appointment { id status kind startsAt endsAt reason cancelledAt facility { name } clinician { displayName } }
  }
}"#;
const CANCEL: &str = r#"mutation($id: ID!, $reason: String) {
  cancelAppointment(id: $id, reason: $reason) { appointment { id status cancelledAt } }
}"#;

fn tomorrow_at(hour: u32) -> DateTime<Utc> {
    (Utc::now() + Duration::days(1))
        .with_hour(hour)
        .and_then(|t| t.with_minute(0))
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_nanosecond(0))
        .expect("valid time")
}

fn booking(facility: uuid::Uuid, starts: DateTime<Utc>, minutes: i64) -> Value {
    json!({
        "facilityId": facility_gid(facility),
        "kind": "LAB_DRAW",
        "startsAt": starts.to_rfc3339(),
        "endsAt": (starts + Duration::minutes(minutes)).to_rfc3339(),
        "reason": "fasting blood draw",
    })
}

fn vars(patient: uuid::Uuid, input: Value) -> Value {
    json!({ "id": patient_gid(patient), "input": input })
}

async fn patient_books_and_cancels_an_appointment(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let me = app.as_patient("p1", w.tenant_a, w.p1);
    let clinician = app.clinician(w.tenant_a, "dr.booked").await;
    let mut input = booking(w.facility, tomorrow_at(9), 30);
    input["clinicianId"] = json!(clinician_gid(clinician));
    let response = me.query(BOOK, vars(w.p1, input)).await;
    no_errors(&response);
    let appointment = &response["data"]["bookAppointment"]["appointment"];
    assert_eq!(appointment["status"], "BOOKED");
    assert_eq!(appointment["facility"]["name"], "Main Lab");
    assert_eq!(appointment["clinician"]["displayName"], "Dr dr.booked");
    let id = appointment["id"].clone();

    let response = me
        .query(CANCEL, json!({ "id": id, "reason": "feeling better" }))
        .await;
    no_errors(&response);
    let cancelled = &response["data"]["cancelAppointment"]["appointment"];
    assert_eq!(cancelled["status"], "CANCELLED");
    assert!(cancelled["cancelledAt"].is_string());
    let response = me.query(CANCEL, json!({ "id": id })).await;
    assert_eq!(error_code(&response), Some("CONFLICT"), "{response:#}");
    let rows = app.audit_rows().await;
    for action in ["appointment.book", "appointment.cancel"] {
        assert!(
            rows.iter().any(|r| r.action == action
                && r.outcome == AuditOutcome::Allowed
                && r.patient_id == Some(w.p1)),
            "{action} audited"
        );
    }
}

async fn invalid_bookings_are_bad_user_input_with_the_field(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let me = app.as_patient("p1", w.tenant_a, w.p1);
    let facility_b = app.facility(w.tenant_b).await;
    let clinician_b = app.clinician(w.tenant_b, "dr.b").await;
    let mut backwards = booking(w.facility, tomorrow_at(9), 30);
    backwards["endsAt"] = json!(tomorrow_at(8).to_rfc3339());
    let mut foreign_clinician = booking(w.facility, tomorrow_at(9), 30);
    foreign_clinician["clinicianId"] = json!(clinician_gid(clinician_b));
    let mut not_a_facility = booking(w.facility, tomorrow_at(9), 30);
    not_a_facility["facilityId"] = json!(patient_gid(w.p1));
    for (input, path) in [
        (
            booking(w.facility, Utc::now() - Duration::hours(1), 30),
            "input.startsAt",
        ),
        (backwards, "input.endsAt"),
        (
            booking(w.facility, tomorrow_at(8), 8 * 60 + 1),
            "input.endsAt",
        ),
        (booking(facility_b, tomorrow_at(9), 30), "input.facilityId"),
        (foreign_clinician, "input.clinicianId"),
        (not_a_facility, "input.facilityId"),
    ] {
        let response = me.query(BOOK, vars(w.p1, input)).await;
        assert_eq!(
            error_code(&response),
            Some("BAD_USER_INPUT"),
            "{response:#}"
        );
        assert_eq!(
            response["errors"][0]["extensions"]["field"].as_str(),
            Some(path),
            "{response:#}"
        );
    }
    let response = me
        .query(
            BOOK,
            vars(w.p1, booking(w.facility, tomorrow_at(8), 8 * 60)),
        )
        .await;
    no_errors(&response);
}

async fn an_overlapping_booked_appointment_is_a_conflict(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let me = app.as_patient("p1", w.tenant_a, w.p1);
    let first = me
        .query(BOOK, vars(w.p1, booking(w.facility, tomorrow_at(10), 60)))
        .await;
    no_errors(&first);
    let overlapping = booking(w.facility, tomorrow_at(10) + Duration::minutes(30), 60);
    let response = me.query(BOOK, vars(w.p1, overlapping.clone())).await;
    assert_eq!(error_code(&response), Some("CONFLICT"), "{response:#}");
    let adjacent = booking(w.facility, tomorrow_at(11), 60);
    no_errors(&me.query(BOOK, vars(w.p1, adjacent)).await);
    let other_patient = app.as_patient("p2", w.tenant_a, w.p2);
    no_errors(
        &other_patient
            .query(BOOK, vars(w.p2, booking(w.facility, tomorrow_at(10), 60)))
            .await,
    );
    let id = first["data"]["bookAppointment"]["appointment"]["id"].clone();
    no_errors(&me.query(CANCEL, json!({ "id": id })).await);
    let overlapping = booking(w.facility, tomorrow_at(10), 60);
    no_errors(&me.query(BOOK, vars(w.p1, overlapping)).await);
}

async fn a_proxy_with_appointments_scope_may_book_and_strangers_may_not(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let input = vars(w.p1, booking(w.facility, tomorrow_at(14), 30));
    let proxy = app.as_proxy("proxy.active", w.tenant_a, Some(w.p2));
    let response = proxy.query(BOOK, input.clone()).await;
    no_errors(&response);
    let id = response["data"]["bookAppointment"]["appointment"]["id"].clone();
    for subject in ["p2", "proxy.revoked"] {
        let stranger = app.as_patient(subject, w.tenant_a, w.p2);
        let response = stranger.query(BOOK, input.clone()).await;
        assert_eq!(
            error_code(&response),
            Some("FORBIDDEN"),
            "{subject}: {response:#}"
        );
        let response = stranger.query(CANCEL, json!({ "id": id })).await;
        assert_eq!(
            error_code(&response),
            Some("FORBIDDEN"),
            "{subject}: {response:#}"
        );
    }
    let response = app.anonymous().query(CANCEL, json!({ "id": id })).await;
    assert_eq!(error_code(&response), Some("UNAUTHENTICATED"));
    no_errors(&proxy.query(CANCEL, json!({ "id": id })).await);
}

on_both_backends!(
    patient_books_and_cancels_an_appointment,
    invalid_bookings_are_bad_user_input_with_the_field,
    an_overlapping_booked_appointment_is_a_conflict,
    a_proxy_with_appointments_scope_may_book_and_strangers_may_not,
);
