//! Delivery and escalation on the job queue, on both backends, with one-second delays: the
//! chain followed step by step with one job per alert and step; an acknowledgement stops it
//! (also when it races the step); the chain's end leaves the alert open; messages carry no
//! value. Waits are bounded polls on conditions, never timing asserts.

use std::path::Path;
use std::time::Duration;

use portal_entities::{CriticalJobStatus, clinician, critical_alert, critical_alert_job};
use portal_messaging::critical::run_due;
use portal_messaging::delivery::{Channels, parse_sender};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::graphql::ingest::{Demo, demo};
use crate::on_both_backends;
use crate::support::ids::{clinician_gid, patient_gid};
use crate::support::{Backend, no_errors};

on_both_backends!(
    escalation_follows_the_chain_step_by_step_until_acknowledged,
    a_chain_that_ends_leaves_the_alert_open_and_the_on_call_number_got_no_value,
    an_acknowledgement_racing_the_escalation_wins,
);

async fn clinician_id(d: &Demo, subject: &str) -> Uuid {
    clinician::Entity::find()
        .filter(clinician::Column::UserSubject.eq(subject))
        .one(&d.app.owner)
        .await
        .expect("q")
        .expect("clinician")
        .id
}

fn channels(dir: &Path) -> Channels {
    Channels::local(
        dir.to_path_buf(),
        parse_sender("Portal <no-reply@portal.local>").expect("sender"),
        "http://127.0.0.1:8080".into(),
    )
}

/// Switch on with a one-second delay and `chain`; contacts for both demo clinicians; a
/// critical HbA1c ordered by Dr. Patel. Returns the alert id.
async fn setup(d: &Demo, chain: Value) -> Uuid {
    let staff = d.app.as_staff(d.tenant);
    let on = staff
        .query(
            r#"mutation($f: ID!, $chain: [EscalationStepInput!]) { setCriticalResultSettings(facilityId: $f,
                 input: { enabled: true, escalationSeconds: 1, chain: $chain }) { enabled } }"#,
            json!({ "f": d.facility, "chain": chain }),
        )
        .await;
    no_errors(&on);
    for (subject, email) in [
        ("dr.patel", "patel@riverside.example"),
        ("dr.okafor", "okafor@riverside.example"),
    ] {
        let id = clinician_id(d, subject).await;
        let set = staff
            .query(
                r#"mutation($c: ID!, $e: String) { setClinicianContact(clinicianId: $c, input: { email: $e }) { email } }"#,
                json!({ "c": clinician_gid(id), "e": email }),
            )
            .await;
        no_errors(&set);
    }
    let patel = clinician_gid(clinician_id(d, "dr.patel").await);
    let added = d
        .lab
        .query(
            r#"mutation($input: AddTestResultInput!) { addTestResult(input: $input) { result { id } } }"#,
            json!({ "input": {
                "patientId": patient_gid(d.alice.id),
                "order": { "facilityId": d.facility, "testCode": "4548-4", "source": "PORTAL", "orderingClinicianId": patel },
                "status": "FINAL", "issuedAt": chrono::Utc::now().to_rfc3339(),
                "observations": [{ "code": "4548-4", "valueNumeric": 19.5, "abnormalFlags": ["HH"] }] } }),
        )
        .await;
    no_errors(&added);
    critical_alert::Entity::find()
        .filter(critical_alert::Column::PatientId.eq(d.alice.id))
        .one(&d.app.owner)
        .await
        .expect("q")
        .expect("an alert")
        .id
}

async fn alert(d: &Demo, id: Uuid) -> critical_alert::Model {
    critical_alert::Entity::find_by_id(id)
        .one(&d.app.owner)
        .await
        .expect("q")
        .expect("alert")
}

async fn jobs(d: &Demo, id: Uuid) -> Vec<critical_alert_job::Model> {
    critical_alert_job::Entity::find()
        .filter(critical_alert_job::Column::AlertId.eq(id))
        .all(&d.app.owner)
        .await
        .expect("jobs")
}

/// Runs the queue until `done` holds (at most ~30 s).
async fn run_until<F, Fut>(d: &Demo, channels: &Channels, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..150 {
        run_due(&d.app.db, channels, 50).await.expect("pass");
        if done().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("condition not reached");
}

fn mail(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                .map(|e| std::fs::read_to_string(e.path()).expect("read"))
                .collect()
        })
        .unwrap_or_default()
}

const ACK: &str = r#"mutation($id: ID!) { acknowledgeCriticalResult(alertId: $id, readBack: "read back") { alert { status step } } }"#;

fn alert_gid(id: Uuid) -> String {
    crate::support::ids::gid(portal_resolvers::ids::NodeType::CriticalAlert, id)
}

async fn escalation_follows_the_chain_step_by_step_until_acknowledged(backend: Backend) {
    let d = demo(backend).await;
    let okafor = clinician_gid(clinician_id(&d, "dr.okafor").await);
    let id = setup(
        &d,
        json!([{ "clinicianId": okafor, "label": "Covering hospitalist" },
               { "label": "Lab supervisor", "phone": "+12175550199" }]),
    )
    .await;
    let dir = tempfile::tempdir().expect("dir");
    let ch = channels(dir.path());
    run_until(&d, &ch, || async { alert(&d, id).await.step == 1 }).await;
    let moved = alert(&d, id).await;
    assert_eq!(
        moved.addressee_label.as_deref(),
        Some("Covering hospitalist")
    );
    let sent = mail(dir.path());
    assert!(
        sent.iter().any(|m| m.contains("patel@riverside.example")),
        "step 0 notified"
    );
    assert!(
        sent.iter().any(|m| m.contains("okafor@riverside.example")),
        "step 1 notified"
    );
    assert!(
        sent.iter()
            .all(|m| !m.contains("19.5") && !m.contains("Alice")),
        "no value, no name"
    );
    let ack = d
        .app
        .as_clinician("dr.okafor", d.tenant)
        .query(ACK, json!({ "id": alert_gid(id) }))
        .await;
    no_errors(&ack);
    run_until(&d, &ch, || async {
        jobs(&d, id)
            .await
            .iter()
            .all(|j| j.status == CriticalJobStatus::Done)
    })
    .await;
    let after = alert(&d, id).await;
    assert_eq!(after.step, 1, "no step after the acknowledgement");
    assert!(
        mail(dir.path()).iter().all(|m| !m.contains("+12175550199")),
        "the lab supervisor was not called"
    );
    let mut steps: Vec<i32> = jobs(&d, id).await.iter().map(|j| j.step).collect();
    steps.sort();
    let mut unique = steps.clone();
    unique.dedup();
    assert_eq!(steps, unique, "one job per alert and step");
}

async fn a_chain_that_ends_leaves_the_alert_open_and_the_on_call_number_got_no_value(
    backend: Backend,
) {
    let d = demo(backend).await;
    let id = setup(
        &d,
        json!([{ "label": "Lab supervisor", "phone": "+12175550199" }]),
    )
    .await;
    let dir = tempfile::tempdir().expect("dir");
    let ch = channels(dir.path());
    run_until(&d, &ch, || async {
        let js = jobs(&d, id).await;
        js.iter().any(|j| j.step == 1) && js.iter().all(|j| j.status == CriticalJobStatus::Done)
    })
    .await;
    let open = alert(&d, id).await;
    assert_eq!(
        open.status,
        portal_entities::CriticalAlertStatus::Open,
        "stays open"
    );
    assert_eq!(open.step, 1);
    let sms: Vec<String> = mail(dir.path())
        .into_iter()
        .filter(|m| m.contains("+12175550199"))
        .collect();
    assert_eq!(sms.len(), 1, "the on-call number was texted once");
    assert!(!sms[0].contains("19.5"));
    let staff = d.app.as_staff(d.tenant);
    let seen = staff
        .query(
            r#"{ criticalAlerts(status: OPEN) { step addresseeLabel } }"#,
            json!({}),
        )
        .await;
    no_errors(&seen);
    assert_eq!(
        seen["data"]["criticalAlerts"][0]["addresseeLabel"],
        "Lab supervisor"
    );
}

async fn an_acknowledgement_racing_the_escalation_wins(backend: Backend) {
    let d = demo(backend).await;
    let okafor = clinician_gid(clinician_id(&d, "dr.okafor").await);
    let id = setup(
        &d,
        json!([{ "clinicianId": okafor, "label": "Covering hospitalist" },
               { "label": "Lab supervisor", "phone": "+12175550199" }]),
    )
    .await;
    let dir = tempfile::tempdir().expect("dir");
    let ch = channels(dir.path());
    // Step 0 is sent; step 1 waits for its due time.
    run_until(&d, &ch, || async {
        jobs(&d, id).await.iter().any(|j| j.step == 1)
    })
    .await;
    run_until(&d, &ch, || async {
        let js = jobs(&d, id).await;
        js.iter()
            .find(|j| j.step == 1)
            .is_some_and(|j| j.due_at <= chrono::Utc::now())
    })
    .await;
    let patel = d.app.as_clinician("dr.patel", d.tenant);
    let (ack, pass) = tokio::join!(
        patel.query(ACK, json!({ "id": alert_gid(id) })),
        run_due(&d.app.db, &ch, 50)
    );
    no_errors(&ack);
    pass.expect("pass");
    run_until(&d, &ch, || async {
        jobs(&d, id)
            .await
            .iter()
            .all(|j| j.status == CriticalJobStatus::Done)
    })
    .await;
    let after = alert(&d, id).await;
    assert_eq!(
        after.status,
        portal_entities::CriticalAlertStatus::Acknowledged
    );
    assert!(after.step <= 1, "at most the step that won the race");
    assert!(
        jobs(&d, id).await.iter().all(|j| j.step <= 2),
        "nothing enqueued past the chain"
    );
    assert!(
        mail(dir.path()).iter().all(|m| !m.contains("+12175550199")),
        "no step after the acknowledgement was sent"
    );
}
