//! Access rules (SPEC §6) on both backends: own data, proxies, clinicians, tenants, no token.

use serde_json::json;

use crate::on_both_backends;
use crate::support::ids::{patient_vars, result_gid, result_vars};
use crate::support::{Backend, TestApp, error_code, no_errors};

const PATIENT_RESULTS: &str = r#"query($id: ID!) { patient(id: $id) { mrn results(first: 10) { edges { node { id status } } } } }"#;
const RESULT: &str = r#"query($id: ID!) { testResult(id: $id) { id status } }"#;

async fn patient_reads_own_results(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let me = app.as_patient("p1", w.tenant_a, w.p1);
    let response = me.query(PATIENT_RESULTS, patient_vars(w.p1)).await;
    no_errors(&response);
    let edges = response["data"]["patient"]["results"]["edges"]
        .as_array()
        .expect("edges");
    assert_eq!(edges.len(), 1, "one released result: {response:#}");
    assert_eq!(edges[0]["node"]["id"], result_gid(w.p1_final));
}

async fn patient_cannot_read_another_patients_data(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let me = app.as_patient("p1", w.tenant_a, w.p1);
    let response = me.query(PATIENT_RESULTS, patient_vars(w.p2)).await;
    assert_eq!(error_code(&response), Some("FORBIDDEN"), "{response:#}");
    assert!(response["data"].is_null(), "no partial data: {response:#}");
    let response = me.query(RESULT, result_vars(w.p2_final)).await;
    assert_eq!(error_code(&response), Some("FORBIDDEN"), "{response:#}");
}

async fn proxy_with_active_grant_sees_granted_scopes_only(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let parent = app.as_proxy("proxy.active", w.tenant_a, Some(w.p2));
    let response = parent.query(PATIENT_RESULTS, patient_vars(w.p1)).await;
    no_errors(&response);
    assert_eq!(
        response["data"]["patient"]["results"]["edges"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    let claims = r#"query($id: ID!) { patient(id: $id) { claims { edges { node { id } } } } }"#;
    let response = parent.query(claims, patient_vars(w.p1)).await;
    assert_eq!(
        error_code(&response),
        Some("FORBIDDEN"),
        "grant has no COVERAGE scope: {response:#}"
    );
    let prefs = r#"query($id: ID!) { patient(id: $id) { notificationPreferences { language } } }"#;
    let response = parent.query(prefs, patient_vars(w.p1)).await;
    assert_eq!(
        error_code(&response),
        Some("FORBIDDEN"),
        "a proxy never manages the account: {response:#}"
    );
}

async fn proxy_with_expired_or_revoked_grant_is_forbidden(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    for subject in ["proxy.expired", "proxy.revoked", "nobody"] {
        let proxy = app.as_proxy(subject, w.tenant_a, Some(w.p2));
        let response = proxy.query(PATIENT_RESULTS, patient_vars(w.p1)).await;
        assert_eq!(
            error_code(&response),
            Some("FORBIDDEN"),
            "{subject}: {response:#}"
        );
        let response = proxy.query(RESULT, result_vars(w.p1_final)).await;
        assert_eq!(
            error_code(&response),
            Some("FORBIDDEN"),
            "{subject}: {response:#}"
        );
    }
}

async fn request_without_token_is_unauthenticated(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    for (query, vars) in [
        (PATIENT_RESULTS, patient_vars(w.p1)),
        (RESULT, result_vars(w.p1_final)),
        ("{ viewer { subject } }", json!({})),
        ("{ testCatalog { edges { node { code } } } }", json!({})),
    ] {
        let response = app.anonymous().query(query, vars).await;
        assert_eq!(
            error_code(&response),
            Some("UNAUTHENTICATED"),
            "{query}: {response:#}"
        );
    }
}

async fn token_of_another_tenant_sees_nothing(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let outsider = app.as_patient("q1", w.tenant_b, w.q1);
    let response = outsider.query(PATIENT_RESULTS, patient_vars(w.p1)).await;
    assert_eq!(error_code(&response), Some("NOT_FOUND"), "{response:#}");
    let response = outsider.query(RESULT, result_vars(w.p1_final)).await;
    assert_eq!(error_code(&response), Some("NOT_FOUND"), "{response:#}");
    let lab_b = app.as_lab(w.tenant_b);
    let response = lab_b.query(RESULT, result_vars(w.p1_final)).await;
    assert_eq!(error_code(&response), Some("NOT_FOUND"), "{response:#}");
    let everyone = "{ viewer { patients(first: 50) { edges { node { mrn } } } } }";
    let response = lab_b.query(everyone, json!({})).await;
    no_errors(&response);
    assert_eq!(
        response["data"]["viewer"]["patients"]["edges"],
        json!([{ "node": { "mrn": "Q1" } }])
    );
    // A patient claim (pid) pointing into another tenant does not open it either.
    let forged = app.as_patient("p1", w.tenant_b, w.p1);
    let response = forged.query(PATIENT_RESULTS, patient_vars(w.p1)).await;
    assert_eq!(error_code(&response), Some("NOT_FOUND"), "{response:#}");
    assert_eq!(
        outsider.query(RESULT, result_vars(w.q1_final)).await["data"]["testResult"]["status"],
        "FINAL"
    );
}

async fn clinician_sees_only_patients_they_ordered_for(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let doctor = app.as_clinician("dr.a", w.tenant_a);
    let response = doctor.query(PATIENT_RESULTS, patient_vars(w.p1)).await;
    no_errors(&response);
    let statuses: Vec<_> = response["data"]["patient"]["results"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"]["status"].clone())
        .collect();
    assert_eq!(
        statuses,
        vec![json!("PRELIMINARY"), json!("FINAL")],
        "clinicians see preliminary results"
    );
    let response = doctor.query(PATIENT_RESULTS, patient_vars(w.p2)).await;
    assert_eq!(error_code(&response), Some("FORBIDDEN"), "{response:#}");
    let stranger = app.as_clinician("dr.other", w.tenant_a);
    let response = stranger.query(PATIENT_RESULTS, patient_vars(w.p1)).await;
    assert_eq!(error_code(&response), Some("FORBIDDEN"), "{response:#}");
}

async fn lab_and_staff_act_within_their_tenant(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let lab = app.as_lab(w.tenant_a);
    let response = lab.query(RESULT, result_vars(w.p1_preliminary)).await;
    no_errors(&response);
    assert_eq!(response["data"]["testResult"]["status"], "PRELIMINARY");
    let coverage =
        r#"query($id: ID!) { patient(id: $id) { coverages { edges { node { id } } } } }"#;
    let response = lab.query(coverage, patient_vars(w.p1)).await;
    assert_eq!(
        error_code(&response),
        Some("FORBIDDEN"),
        "labs do not see coverage: {response:#}"
    );
    let staff = app.as_staff(w.tenant_a);
    let response = staff.query(coverage, patient_vars(w.p1)).await;
    no_errors(&response);
}

async fn viewer_lists_self_and_granting_patients(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let parent = app.as_proxy("proxy.active", w.tenant_a, Some(w.p2));
    let query = "{ viewer { subject patients { edges { node { mrn access { relationship scopes validUntil } } } } } }";
    let response = parent.query(query, json!({})).await;
    no_errors(&response);
    let edges = response["data"]["viewer"]["patients"]["edges"]
        .as_array()
        .expect("edges");
    let mut seen: Vec<_> = edges
        .iter()
        .map(|e| {
            (
                e["node"]["mrn"].as_str().unwrap_or_default().to_owned(),
                e["node"]["access"]["relationship"].clone(),
            )
        })
        .collect();
    seen.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        seen,
        vec![
            ("P1".to_owned(), json!("PROXY")),
            ("P2".to_owned(), json!("SELF"))
        ]
    );
    let proxy = edges.iter().find(|e| e["node"]["mrn"] == "P1").expect("P1");
    assert_eq!(
        proxy["node"]["access"]["scopes"],
        json!(["PROFILE", "RESULTS", "APPOINTMENTS"])
    );
    assert!(proxy["node"]["access"]["validUntil"].is_string());
}

on_both_backends!(
    patient_reads_own_results,
    patient_cannot_read_another_patients_data,
    proxy_with_active_grant_sees_granted_scopes_only,
    proxy_with_expired_or_revoked_grant_is_forbidden,
    request_without_token_is_unauthenticated,
    token_of_another_tenant_sees_nothing,
    clinician_sees_only_patients_they_ordered_for,
    lab_and_staff_act_within_their_tenant,
    viewer_lists_self_and_granting_patients,
);
