//! Walk-in result links on both backends: sending, opening with the birth date, rotation,
//! expiry, lock-out, rate limit and the audit trail.

use chrono::{Duration, Utc};
use portal_entities::{AuditOutcome, NotificationStatus, notification, patient, result_link};
use portal_services::walk_in::token_hash;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder,
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::fixtures::World;
use crate::support::ids::result_gid;
use crate::support::{Backend, Role, TestApp, error_code, no_errors};

const PUBLIC_URL: &str = "http://127.0.0.1:9999";
const SEND: &str = r#"mutation($id: ID!, $channel: ResultLinkChannel!) {
  sendResultLink(resultId: $id, channel: $channel) { result { id status } channel deliveryStatus expiresAt }
}"#;
const OPEN: &str = r#"query($token: String!, $birthDate: NaiveDate!) {
  resultLink(token: $token, birthDate: $birthDate) {
    id status issuedAt test { code } observations { code displayValue }
  }
}"#;
const BIRTH_DATE: &str = "1980-01-02";

async fn app_with_contact(backend: Backend) -> (TestApp, World) {
    let app = TestApp::init(backend)
        .with_config(|c| c.notify.public_url = PUBLIC_URL.to_owned())
        .await;
    let w = app.world().await;
    let mut p1 = patient::Entity::find_by_id(w.p1)
        .one(&app.owner)
        .await
        .expect("query")
        .expect("p1")
        .into_active_model();
    p1.phone = Set(Some("+15550100".into()));
    p1.update(&app.owner).await.expect("phone");
    (app, w)
}

/// The variables of `SEND`: result `id` over `channel`.
fn send_vars(id: Uuid, channel: &str) -> Value {
    json!({ "id": result_gid(id), "channel": channel })
}

fn open_vars(token: &str, birth_date: &str) -> Value {
    json!({ "token": token, "birthDate": birth_date })
}

/// Sends a link as staff and returns the raw token, read from the queued notification.
async fn send_link(app: &TestApp, w: &World) -> String {
    let staff = app.as_staff(w.tenant_a);
    let response = staff.query(SEND, send_vars(w.p1_final, "SMS")).await;
    no_errors(&response);
    let row = notifications(app, w.p1)
        .await
        .pop()
        .expect("a notification");
    let link = row.params.expect("params")["link"]
        .as_str()
        .expect("link")
        .to_owned();
    link.rsplit('/').next().expect("token").to_owned()
}

async fn notifications(app: &TestApp, patient: Uuid) -> Vec<notification::Model> {
    notification::Entity::find()
        .filter(notification::Column::PatientId.eq(patient))
        .order_by_asc(notification::Column::CreatedAt)
        .order_by_asc(notification::Column::Id)
        .all(&app.owner)
        .await
        .expect("notifications")
}

async fn link_row(app: &TestApp, result: Uuid) -> result_link::Model {
    result_link::Entity::find()
        .filter(result_link::Column::ResultId.eq(result))
        .one(&app.owner)
        .await
        .expect("query")
        .expect("link row")
}

async fn staff_sends_a_link_and_the_patient_opens_it_with_their_birth_date(backend: Backend) {
    let (app, w) = app_with_contact(backend).await;
    let lab = app.as_lab(w.tenant_a);
    let response = lab.query(SEND, send_vars(w.p1_final, "SMS")).await;
    no_errors(&response);
    let sent = &response["data"]["sendResultLink"];
    assert_eq!(sent["deliveryStatus"], "PENDING");
    assert!(sent["expiresAt"].is_string());

    let rows = notifications(&app, w.p1).await;
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(
        (row.template.as_str(), row.status),
        ("result_link", NotificationStatus::Pending)
    );
    assert_eq!(row.result_id, Some(w.p1_final));
    let link = row.params.as_ref().expect("params")["link"]
        .as_str()
        .expect("link");
    let token = link
        .strip_prefix(&format!("{PUBLIC_URL}/r/"))
        .expect("link under the public URL");
    assert_eq!(token.len(), 43);
    let stored = link_row(&app, w.p1_final).await;
    assert_eq!(
        stored.token_hash,
        token_hash(token),
        "only the hash is stored"
    );
    assert!(stored.expires_at > Utc::now() + Duration::days(9));

    let response = app
        .anonymous()
        .query(OPEN, open_vars(token, BIRTH_DATE))
        .await;
    no_errors(&response);
    let opened = &response["data"]["resultLink"];
    assert_eq!(opened["id"], result_gid(w.p1_final));
    assert_eq!(opened["status"], "FINAL");
    assert_eq!(opened["test"]["code"], "58410-2");
    assert_eq!(opened["observations"].as_array().map(Vec::len), Some(2));
    assert!(link_row(&app, w.p1_final).await.last_opened_at.is_some());

    let audit = app.audit_rows().await;
    assert!(audit.iter().any(|r| r.action == "result_link.send"
        && r.outcome == AuditOutcome::Allowed
        && r.patient_id == Some(w.p1)));
    assert!(audit.iter().any(|r| r.action == "result_link.open"
        && r.outcome == AuditOutcome::Allowed
        && r.patient_id == Some(w.p1)
        && r.subject.is_none()));
    let text = format!("{audit:?}");
    assert!(
        !text.contains(token),
        "the token never reaches the audit trail"
    );
}

async fn only_lab_staff_and_admin_may_send_released_results(backend: Backend) {
    let (app, w) = app_with_contact(backend).await;
    for (subject, role, patient) in [
        ("p1", Role::Patient, Some(w.p1)),
        ("dr.a", Role::Clinician, None),
    ] {
        let caller = app.as_user(subject, w.tenant_a, &[role], patient);
        let response = caller.query(SEND, send_vars(w.p1_final, "EMAIL")).await;
        assert_eq!(
            error_code(&response),
            Some("FORBIDDEN"),
            "{subject}: {response:#}"
        );
    }
    let admin = app.as_user("admin.1", w.tenant_a, &[Role::Admin], None);
    let response = admin.query(SEND, send_vars(w.p1_preliminary, "SMS")).await;
    assert_eq!(error_code(&response), Some("CONFLICT"), "{response:#}");
    let response = admin.query(SEND, send_vars(w.q1_final, "SMS")).await;
    assert_eq!(
        error_code(&response),
        Some("NOT_FOUND"),
        "other tenant: {response:#}"
    );
    let response = app
        .anonymous()
        .query(SEND, send_vars(w.p1_final, "SMS"))
        .await;
    assert_eq!(error_code(&response), Some("UNAUTHENTICATED"));
    assert!(notifications(&app, w.p1).await.is_empty());
}

async fn a_patient_without_an_address_gets_a_skipped_notification(backend: Backend) {
    let (app, w) = app_with_contact(backend).await;
    let staff = app.as_staff(w.tenant_a);
    let response = staff.query(SEND, send_vars(w.p1_final, "EMAIL")).await;
    no_errors(&response);
    assert_eq!(
        response["data"]["sendResultLink"]["deliveryStatus"],
        "SKIPPED"
    );
    assert!(response["data"]["sendResultLink"]["expiresAt"].is_null());
    let rows = notifications(&app, w.p1).await;
    assert_eq!(rows[0].status, NotificationStatus::Skipped);
    assert!(
        rows[0].params.is_none(),
        "no link is stored for a skipped message"
    );
    assert_eq!(
        rows[0].last_error.as_deref(),
        Some("patient has no email address")
    );
}

async fn sending_again_rotates_the_token_and_resets_the_lock(backend: Backend) {
    let (app, w) = app_with_contact(backend).await;
    let first = send_link(&app, &w).await;
    let response = app
        .anonymous()
        .query(OPEN, open_vars(&first, "1999-09-09"))
        .await;
    assert_eq!(error_code(&response), Some("FORBIDDEN"));
    assert_eq!(link_row(&app, w.p1_final).await.failed_attempts, 1);
    let second = send_link(&app, &w).await;
    assert_ne!(first, second);
    let response = app
        .anonymous()
        .query(OPEN, open_vars(&first, BIRTH_DATE))
        .await;
    assert_eq!(
        error_code(&response),
        Some("NOT_FOUND"),
        "old token: {response:#}"
    );
    no_errors(
        &app.anonymous()
            .query(OPEN, open_vars(&second, BIRTH_DATE))
            .await,
    );
    let row = link_row(&app, w.p1_final).await;
    assert_eq!(row.failed_attempts, 0);
    let count = result_link::Entity::find()
        .all(&app.owner)
        .await
        .expect("links")
        .len();
    assert_eq!(count, 1, "one link row per result");
}

async fn ten_wrong_birth_dates_lock_the_link(backend: Backend) {
    let (app, w) = app_with_contact(backend).await;
    let token = send_link(&app, &w).await;
    for _ in 0..10 {
        let response = app
            .anonymous()
            .query(OPEN, open_vars(&token, "1980-01-03"))
            .await;
        assert_eq!(error_code(&response), Some("FORBIDDEN"), "{response:#}");
    }
    let row = link_row(&app, w.p1_final).await;
    assert_eq!(row.failed_attempts, 10);
    assert!(row.locked_at.is_some());
    let response = app
        .anonymous()
        .query(OPEN, open_vars(&token, BIRTH_DATE))
        .await;
    assert_eq!(
        error_code(&response),
        Some("FORBIDDEN"),
        "locked: {response:#}"
    );
    assert!(response["data"].is_null());
    let audit = app.audit_rows().await;
    let denied = audit
        .iter()
        .filter(|r| r.action == "result_link.open" && r.outcome == AuditOutcome::Denied)
        .count();
    assert_eq!(denied, 11);
}

async fn unknown_and_expired_links_are_not_found(backend: Backend) {
    let (app, w) = app_with_contact(backend).await;
    let response = app
        .anonymous()
        .query(OPEN, open_vars(&"A".repeat(43), BIRTH_DATE))
        .await;
    assert_eq!(error_code(&response), Some("NOT_FOUND"), "{response:#}");
    let token = send_link(&app, &w).await;
    let mut row = link_row(&app, w.p1_final).await.into_active_model();
    row.expires_at = Set(Utc::now() - Duration::minutes(1));
    row.update(&app.owner).await.expect("expire");
    let response = app
        .anonymous()
        .query(OPEN, open_vars(&token, BIRTH_DATE))
        .await;
    assert_eq!(error_code(&response), Some("NOT_FOUND"), "{response:#}");
    let message = response["errors"][0]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(message.contains("expired"), "{message}");
}

async fn link_attempts_are_rate_limited_per_client(backend: Backend) {
    let (app, _) = app_with_contact(backend).await;
    let token = "B".repeat(43);
    for attempt in 0..20 {
        let response = app
            .anonymous()
            .query(OPEN, open_vars(&token, BIRTH_DATE))
            .await;
        assert_eq!(
            error_code(&response),
            Some("NOT_FOUND"),
            "attempt {attempt}"
        );
    }
    let response = app
        .anonymous()
        .query(OPEN, open_vars(&token, BIRTH_DATE))
        .await;
    assert_eq!(error_code(&response), Some("RATE_LIMITED"), "{response:#}");
    let audit = app.audit_rows().await;
    assert!(
        audit
            .iter()
            .any(|r| r.action == "result_link.open" && r.reason.as_deref() == Some("rate limited"))
    );
}

async fn a_link_opens_the_current_version_after_a_correction(backend: Backend) {
    let (app, w) = app_with_contact(backend).await;
    let token = send_link(&app, &w).await;
    let order = app.order(w.tenant_a, w.p1, w.facility, w.cbc, None).await;
    let corrected = app
        .result(
            w.tenant_a,
            w.p1,
            order,
            w.cbc,
            portal_entities::ResultStatus::Corrected,
            Utc::now(),
            Some(w.p1_final),
        )
        .await;
    let response = app
        .anonymous()
        .query(OPEN, open_vars(&token, BIRTH_DATE))
        .await;
    no_errors(&response);
    assert_eq!(response["data"]["resultLink"]["id"], result_gid(corrected));
    assert_eq!(response["data"]["resultLink"]["status"], "CORRECTED");
}

async fn held_sensitive_results_cannot_be_linked(backend: Backend) {
    let (app, w) = app_with_contact(backend).await;
    let order = app.order(w.tenant_a, w.p1, w.facility, w.hiv, None).await;
    let hiv = app
        .result(
            w.tenant_a,
            w.p1,
            order,
            w.hiv,
            portal_entities::ResultStatus::Final,
            Utc::now(),
            None,
        )
        .await;
    app.hold_sensitive(w.tenant_a, w.p1).await;
    let staff = app.as_staff(w.tenant_a);
    let response = staff.query(SEND, send_vars(hiv, "SMS")).await;
    assert_eq!(error_code(&response), Some("CONFLICT"), "{response:#}");
}

on_both_backends!(
    a_link_opens_the_current_version_after_a_correction,
    held_sensitive_results_cannot_be_linked,
    staff_sends_a_link_and_the_patient_opens_it_with_their_birth_date,
    only_lab_staff_and_admin_may_send_released_results,
    a_patient_without_an_address_gets_a_skipped_notification,
    sending_again_rotates_the_token_and_resets_the_lock,
    ten_wrong_birth_dates_lock_the_link,
    unknown_and_expired_links_are_not_found,
    link_attempts_are_rate_limited_per_client,
);
