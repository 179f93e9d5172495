//! Account mutations on both backends: notification preferences, push tokens, proxy grants.

use chrono::{Duration, Utc};
use portal_entities::{AuditOutcome, push_token};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::ids::{patient_gid, patient_vars};
use crate::support::{Backend, Role, TestApp, error_code, no_errors};

const UPDATE_PREFS: &str = r#"mutation($id: ID!, $input: NotificationPreferencesInput!) {
  updateNotificationPreferences(patientId: $id, input: $input) {
    preferences { channels language holdSensitiveResults }
  }
}"#;
const REGISTER: &str = r#"mutation($id: ID!, $token: String!) {
  registerPushToken(patientId: $id, platform: IOS, token: $token) { pushToken { id platform revokedAt } }
}"#;
const UNREGISTER: &str =
    r#"mutation($id: ID!) { unregisterPushToken(id: $id) { pushToken { id revokedAt } } }"#;
const GRANT: &str = r#"mutation($id: ID!, $input: GrantProxyAccessInput!) {
  grantProxyAccess(patientId: $id, input: $input) { grant { id scopes relationship active validTo } }
}"#;
const REVOKE: &str =
    r#"mutation($id: ID!) { revokeProxyAccess(id: $id) { grant { id active revokedAt } } }"#;
const RESULTS: &str =
    r#"query($id: ID!) { patient(id: $id) { results { edges { node { id } } } } }"#;

fn field(response: &Value) -> Option<&str> {
    response["errors"][0]["extensions"]["field"].as_str()
}

async fn patient_updates_own_notification_preferences(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let me = app.as_patient("p1", w.tenant_a, w.p1);
    let input = json!({ "channels": ["SMS", "PUSH"], "language": "de-CH" });
    let response = me
        .query(
            UPDATE_PREFS,
            json!({ "id": patient_gid(w.p1), "input": input }),
        )
        .await;
    no_errors(&response);
    let prefs = &response["data"]["updateNotificationPreferences"]["preferences"];
    assert_eq!(prefs["channels"], json!(["SMS", "PUSH"]));
    assert_eq!(prefs["language"], "de-CH");
    let partial = json!({ "holdSensitiveResults": true });
    let response = me
        .query(
            UPDATE_PREFS,
            json!({ "id": patient_gid(w.p1), "input": partial }),
        )
        .await;
    no_errors(&response);
    let prefs = &response["data"]["updateNotificationPreferences"]["preferences"];
    assert_eq!(
        prefs["channels"],
        json!(["SMS", "PUSH"]),
        "absent fields are kept"
    );
    assert_eq!(prefs["holdSensitiveResults"], true);
    let none = json!({ "channels": ["NONE"] });
    let response = me
        .query(
            UPDATE_PREFS,
            json!({ "id": patient_gid(w.p1), "input": none }),
        )
        .await;
    no_errors(&response);
    let read = r#"query($id: ID!) { patient(id: $id) { notificationPreferences { channels language holdSensitiveResults } } }"#;
    let response = me.query(read, patient_vars(w.p1)).await;
    assert_eq!(
        response["data"]["patient"]["notificationPreferences"],
        json!({ "channels": ["NONE"], "language": "de-CH", "holdSensitiveResults": true })
    );
    let rows = app.audit_rows().await;
    assert_eq!(
        rows.iter()
            .filter(|r| r.action == "preferences.update" && r.outcome == AuditOutcome::Allowed)
            .count(),
        3
    );
}

async fn invalid_preferences_are_bad_user_input_with_the_field(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let me = app.as_patient("p1", w.tenant_a, w.p1);
    for (input, path) in [
        (json!({ "channels": ["NONE", "EMAIL"] }), "input.channels"),
        (json!({ "channels": [] }), "input.channels"),
        (json!({ "language": "en_US" }), "input.language"),
        (json!({ "language": "a".repeat(36) }), "input.language"),
    ] {
        let response = me
            .query(
                UPDATE_PREFS,
                json!({ "id": patient_gid(w.p1), "input": input }),
            )
            .await;
        assert_eq!(
            error_code(&response),
            Some("BAD_USER_INPUT"),
            "{response:#}"
        );
        assert_eq!(field(&response), Some(path), "{response:#}");
    }
}

async fn only_the_patient_and_staff_may_change_preferences(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let input = json!({ "language": "fr" });
    let vars = json!({ "id": patient_gid(w.p1), "input": input });
    for (subject, roles, patient) in [
        ("proxy.active", vec![Role::Patient], Some(w.p2)),
        ("p2", vec![Role::Patient], Some(w.p2)),
        ("lab.1", vec![Role::Lab], None),
        ("dr.a", vec![Role::Clinician], None),
    ] {
        let caller = app.as_user(subject, w.tenant_a, &roles, patient);
        let response = caller.query(UPDATE_PREFS, vars.clone()).await;
        assert_eq!(
            error_code(&response),
            Some("FORBIDDEN"),
            "{subject}: {response:#}"
        );
    }
    let staff = app.as_staff(w.tenant_a);
    no_errors(&staff.query(UPDATE_PREFS, vars).await);
    let other_tenant = json!({ "id": patient_gid(w.q1), "input": { "language": "fr" } });
    let response = staff.query(UPDATE_PREFS, other_tenant).await;
    assert_eq!(error_code(&response), Some("NOT_FOUND"), "{response:#}");
}

async fn push_token_registration_is_idempotent_and_unregister_revokes(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let me = app.as_patient("p1", w.tenant_a, w.p1);
    let vars = json!({ "id": patient_gid(w.p1), "token": "device-token-1" });
    let first = me.query(REGISTER, vars.clone()).await;
    no_errors(&first);
    let again = me.query(REGISTER, vars.clone()).await;
    let token_id = first["data"]["registerPushToken"]["pushToken"]["id"].clone();
    assert_eq!(
        again["data"]["registerPushToken"]["pushToken"]["id"],
        token_id
    );
    let active = || async {
        push_token::Entity::find()
            .filter(push_token::Column::PatientId.eq(w.p1))
            .filter(push_token::Column::RevokedAt.is_null())
            .all(&app.owner)
            .await
            .expect("tokens")
            .len()
    };
    assert_eq!(active().await, 1, "no duplicate active row");
    let blank = json!({ "id": patient_gid(w.p1), "token": "  " });
    let response = me.query(REGISTER, blank).await;
    assert_eq!(error_code(&response), Some("BAD_USER_INPUT"));

    let other = app.as_patient("p2", w.tenant_a, w.p2);
    let response = other.query(UNREGISTER, json!({ "id": token_id })).await;
    assert_eq!(error_code(&response), Some("FORBIDDEN"), "{response:#}");
    let response = me.query(UNREGISTER, json!({ "id": token_id })).await;
    no_errors(&response);
    let revoked_at = response["data"]["unregisterPushToken"]["pushToken"]["revokedAt"].clone();
    assert!(revoked_at.is_string());
    assert_eq!(active().await, 0);
    let response = me.query(UNREGISTER, json!({ "id": token_id })).await;
    assert_eq!(
        response["data"]["unregisterPushToken"]["pushToken"]["revokedAt"], revoked_at,
        "unregistering twice keeps the first time"
    );
    let fresh = me.query(REGISTER, vars).await;
    assert_ne!(
        fresh["data"]["registerPushToken"]["pushToken"]["id"], token_id,
        "a revoked token registers anew"
    );
}

fn grant_input(grantee: &str, scopes: &[&str]) -> Value {
    json!({
        "granteeSubject": grantee,
        "granteeName": "Grandma",
        "relationship": "carer",
        "scopes": scopes,
        "validTo": (Utc::now() + Duration::days(30)).to_rfc3339(),
    })
}

async fn patient_grants_proxy_access_and_the_grantee_sees_those_scopes(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let me = app.as_patient("p1", w.tenant_a, w.p1);
    let vars = json!({ "id": patient_gid(w.p1), "input": grant_input("grandma", &["RESULTS"]) });
    let response = me.query(GRANT, vars.clone()).await;
    no_errors(&response);
    let grant = &response["data"]["grantProxyAccess"]["grant"];
    assert_eq!(grant["scopes"], json!(["RESULTS"]));
    assert_eq!(grant["relationship"], "CARER");
    assert_eq!(grant["active"], true);
    let grandma = app.as_proxy("grandma", w.tenant_a, Some(w.p2));
    no_errors(&grandma.query(RESULTS, patient_vars(w.p1)).await);
    let claims = r#"query($id: ID!) { patient(id: $id) { claims { edges { node { id } } } } }"#;
    let response = grandma.query(claims, patient_vars(w.p1)).await;
    assert_eq!(
        error_code(&response),
        Some("FORBIDDEN"),
        "no COVERAGE scope"
    );
    let response = me.query(GRANT, vars).await;
    assert_eq!(
        error_code(&response),
        Some("CONFLICT"),
        "a second active grant to the same person: {response:#}"
    );
    let proxy = app.as_proxy("proxy.active", w.tenant_a, Some(w.p2));
    let vars = json!({ "id": patient_gid(w.p1), "input": grant_input("someone", &["RESULTS"]) });
    let response = proxy.query(GRANT, vars).await;
    assert_eq!(
        error_code(&response),
        Some("FORBIDDEN"),
        "a proxy never grants"
    );
}

async fn invalid_grants_are_bad_user_input(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let me = app.as_patient("p1", w.tenant_a, w.p1);
    let past = (Utc::now() - Duration::days(1)).to_rfc3339();
    let mut before_from = grant_input("x", &["RESULTS"]);
    before_from["validFrom"] = json!((Utc::now() + Duration::days(40)).to_rfc3339());
    let mut expired = grant_input("x", &["RESULTS"]);
    expired["validTo"] = json!(past);
    for (input, path) in [
        (grant_input("p1", &["RESULTS"]), "input.granteeSubject"),
        (grant_input("x", &["ACCOUNT"]), "input.scopes"),
        (grant_input("x", &["PROFILE", "RESULTS"]), "input.scopes"),
        (grant_input("x", &[]), "input.scopes"),
        (grant_input("", &["RESULTS"]), "input.granteeSubject"),
        (before_from, "input.validTo"),
        (expired, "input.validTo"),
    ] {
        let response = me
            .query(GRANT, json!({ "id": patient_gid(w.p1), "input": input }))
            .await;
        assert_eq!(
            error_code(&response),
            Some("BAD_USER_INPUT"),
            "{response:#}"
        );
        assert_eq!(field(&response), Some(path), "{response:#}");
    }
    let staff = app.as_staff(w.tenant_a);
    let response = staff
        .query(
            GRANT,
            json!({ "id": patient_gid(w.p1), "input": grant_input("p1", &["RESULTS"]) }),
        )
        .await;
    assert_eq!(
        field(&response),
        Some("input.granteeSubject"),
        "staff cannot make the patient their own proxy: {response:#}"
    );
}

async fn a_revoked_grant_refuses_the_grantees_next_request(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let me = app.as_patient("p1", w.tenant_a, w.p1);
    let vars = json!({ "id": patient_gid(w.p1), "input": grant_input("grandma", &["RESULTS"]) });
    let response = me.query(GRANT, vars).await;
    let grant_id = response["data"]["grantProxyAccess"]["grant"]["id"].clone();
    let grandma = app.as_proxy("grandma", w.tenant_a, Some(w.p2));
    no_errors(&grandma.query(RESULTS, patient_vars(w.p1)).await);

    let response = grandma.query(REVOKE, json!({ "id": grant_id })).await;
    assert_eq!(error_code(&response), Some("FORBIDDEN"), "{response:#}");
    let response = me.query(REVOKE, json!({ "id": grant_id })).await;
    no_errors(&response);
    assert_eq!(
        response["data"]["revokeProxyAccess"]["grant"]["active"],
        false
    );
    let response = grandma.query(RESULTS, patient_vars(w.p1)).await;
    assert_eq!(error_code(&response), Some("FORBIDDEN"), "{response:#}");
    let response = me.query(REVOKE, json!({ "id": grant_id })).await;
    assert_eq!(
        error_code(&response),
        Some("CONFLICT"),
        "revoking twice: {response:#}"
    );
    let rows = app.audit_rows().await;
    assert!(rows.iter().any(|r| r.action == "proxy_grant.revoke"
        && r.outcome == AuditOutcome::Failed
        && r.reason.as_deref() == Some("CONFLICT")));
}

on_both_backends!(
    patient_updates_own_notification_preferences,
    invalid_preferences_are_bad_user_input_with_the_field,
    only_the_patient_and_staff_may_change_preferences,
    push_token_registration_is_idempotent_and_unregister_revokes,
    patient_grants_proxy_access_and_the_grantee_sees_those_scopes,
    invalid_grants_are_bad_user_input,
    a_revoked_grant_refuses_the_grantees_next_request,
);
