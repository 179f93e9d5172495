//! The FHIR door keeps the house's rules: the same token, access rules, release policy,
//! tenant isolation and audit as GraphQL, and the same case answers the same way (403 where
//! GraphQL says FORBIDDEN, 404 where it says NOT_FOUND).

use chrono::Utc;
use portal_entities::{AuditOutcome, ResultStatus};

use crate::fhir::kit::{self, Fhir, Tokens};
use crate::on_both_backends;
use crate::support::ids::{patient_vars, result_vars};
use crate::support::{Backend, TestApp, error_code};

async fn a_request_without_a_valid_token_is_401_and_a_bad_token_is_audited(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let fhir = Fhir::new(&app);
    let path = format!("Patient/{}", w.p1);
    let anonymous = fhir.get(None, &path).await;
    assert_eq!(anonymous.status, 401, "{:#}", anonymous.body);
    assert_eq!(anonymous.body["resourceType"], "OperationOutcome");
    assert_eq!(anonymous.body["issue"][0]["code"], "login");
    assert!(
        anonymous
            .www_authenticate
            .is_some_and(|h| h.starts_with("Bearer"))
    );
    let forged = fhir.get(Some("not.a.token"), &path).await;
    assert_eq!(forged.status, 401, "{:#}", forged.body);
    let scheme = fhir
        .get_with(None, &path, &[("authorization", "Basic dXNlcjpwYXNz")])
        .await;
    assert_eq!(scheme.status, 401, "{:#}", scheme.body);
    let rows = app.audit_rows().await;
    assert!(
        rows.iter()
            .filter(|r| r.outcome == AuditOutcome::Denied && r.tenant_id.is_none())
            .count()
            >= 2,
        "both rejected tokens audited: {rows:#?}"
    );
    assert!(
        rows.iter().all(|r| r.patient_id != Some(w.p1)),
        "nothing read: {rows:#?}"
    );
}

/// Another patient of the tenant is FORBIDDEN through both doors; a patient of another
/// tenant does not exist for the viewer (404 / NOT_FOUND).
async fn a_patient_sees_themself_but_not_another_patient_or_tenant(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let fhir = Fhir::new(&app);
    let t = Tokens::of(&app, &w);
    let own = fhir.ok(&t.p1, &format!("Patient/{}", w.p1)).await;
    assert_eq!(own["identifier"][0]["value"], "P1");
    let viewer = app.as_patient("p1", w.tenant_a, w.p1);
    let gql = r#"query($id: ID!) { patient(id: $id) { mrn } }"#;
    for (patient, status, code) in [(w.p2, 403, "FORBIDDEN"), (w.q1, 404, "NOT_FOUND")] {
        for path in [
            format!("Patient/{patient}"),
            format!("DiagnosticReport?patient={patient}"),
            format!("Observation?patient=Patient/{patient}"),
        ] {
            let reply = fhir.get(Some(&t.p1), &path).await;
            assert_eq!(reply.status, status, "{path}: {:#}", reply.body);
            assert_eq!(reply.body["resourceType"], "OperationOutcome");
        }
        let response = viewer.query(gql, patient_vars(patient)).await;
        assert_eq!(error_code(&response), Some(code), "{response:#}");
    }
    let other_result = fhir
        .get(Some(&t.p1), &format!("DiagnosticReport/{}", w.p2_final))
        .await;
    assert_eq!(other_result.status, 403, "{:#}", other_result.body);
    let other_tenant = fhir
        .get(
            Some(&t.other_tenant),
            &format!("DiagnosticReport/{}", w.p1_final),
        )
        .await;
    assert_eq!(other_tenant.status, 404, "{:#}", other_tenant.body);
    let mine = fhir
        .ok(
            &t.other_tenant,
            &format!("DiagnosticReport?patient={}", w.q1),
        )
        .await;
    assert_eq!(fhir_kit_ids(&mine), [w.q1_final.to_string()]);
}

fn fhir_kit_ids(bundle: &serde_json::Value) -> Vec<String> {
    bundle["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["search"]["mode"] == "match")
        .map(|e| e["resource"]["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// PRELIMINARY results: never for the patient or their proxy (404 by id, absent from
/// searches, as GraphQL's NOT_FOUND); the ordering clinician and the lab see them.
async fn preliminary_results_are_for_clinicians_and_the_lab_only(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let fhir = Fhir::new(&app);
    let t = Tokens::of(&app, &w);
    let search = format!("DiagnosticReport?patient={}", w.p1);
    let preliminary = format!("DiagnosticReport/{}", w.p1_preliminary);
    for token in [&t.p1, &t.proxy] {
        let bundle = fhir.ok(token, &search).await;
        assert_eq!(
            fhir_kit_ids(&bundle),
            [w.p1_final.to_string()],
            "{bundle:#}"
        );
        assert_eq!(bundle["total"], 1);
        let reply = fhir.get(Some(token), &preliminary).await;
        assert_eq!(reply.status, 404, "{:#}", reply.body);
        let trend = fhir
            .ok(token, &format!("Observation?patient={}", w.p1))
            .await;
        assert_eq!(
            trend["total"], 2,
            "the final result's two values: {trend:#}"
        );
        let statuses = fhir
            .ok(token, &format!("{search}&status=preliminary"))
            .await;
        assert_eq!(statuses["total"], 0, "{statuses:#}");
    }
    let viewer = app.as_patient("p1", w.tenant_a, w.p1);
    let gql = r#"query($id: ID!) { testResult(id: $id) { id } }"#;
    let response = viewer.query(gql, result_vars(w.p1_preliminary)).await;
    assert_eq!(error_code(&response), Some("NOT_FOUND"), "{response:#}");
    for token in [&t.clinician, &t.lab] {
        let bundle = fhir.ok(token, &search).await;
        assert_eq!(bundle["total"], 2, "{bundle:#}");
        let report = fhir.ok(token, &preliminary).await;
        assert_eq!(report["status"], "preliminary");
    }
}

/// A patient who holds sensitive results does not see them through FHIR either, until
/// released; their clinician does.
async fn a_held_sensitive_result_is_hidden_from_the_patient(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let order = app.order(w.tenant_a, w.p1, w.facility, w.hiv, None).await;
    let hiv = app
        .result(
            w.tenant_a,
            w.p1,
            order,
            w.hiv,
            ResultStatus::Final,
            Utc::now(),
            None,
        )
        .await;
    let fhir = Fhir::new(&app);
    let t = Tokens::of(&app, &w);
    let path = format!("DiagnosticReport/{hiv}");
    fhir.ok(&t.p1, &path).await;
    app.hold_sensitive(w.tenant_a, w.p1).await;
    let held = fhir.get(Some(&t.p1), &path).await;
    assert_eq!(held.status, 404, "{:#}", held.body);
    let bundle = fhir
        .ok(&t.p1, &format!("DiagnosticReport?patient={}", w.p1))
        .await;
    assert!(
        !fhir_kit_ids(&bundle).contains(&hiv.to_string()),
        "{bundle:#}"
    );
    let trend = fhir
        .ok(&t.p1, &format!("Observation?patient={}", w.p1))
        .await;
    assert_eq!(trend["total"], 2, "only the CBC's values: {trend:#}");
    let history = fhir.get(Some(&t.p1), &format!("{path}/_history")).await;
    assert_eq!(history.status, 404, "{:#}", history.body);
    fhir.ok(&t.lab, &path).await;
}

/// A proxy sees what the grant's scopes allow: results and appointments, no coverage.
async fn a_proxy_without_the_coverage_scope_gets_no_coverage(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let (coverage, claim) = kit::coverage_with_claim(&app, w.tenant_a, w.p1).await;
    let fhir = Fhir::new(&app);
    let t = Tokens::of(&app, &w);
    for path in [
        format!("Coverage?patient={}", w.p1),
        format!("ExplanationOfBenefit?patient={}", w.p1),
        format!("Coverage/{coverage}"),
        format!("ExplanationOfBenefit/{claim}"),
        format!("Organization/{coverage}"),
    ] {
        let reply = fhir.get(Some(&t.proxy), &path).await;
        assert_eq!(reply.status, 403, "{path}: {:#}", reply.body);
        fhir.ok(&t.p1, &path).await;
    }
    fhir.ok(&t.proxy, &format!("DiagnosticReport?patient={}", w.p1))
        .await;
    fhir.ok(&t.proxy, &format!("Appointment?patient={}", w.p1))
        .await;
    let rows = app.audit_rows().await;
    let denied = rows.iter().find(|r| {
        r.action == "coverages.list"
            && r.outcome == AuditOutcome::Denied
            && r.subject.as_deref() == Some("proxy.active")
    });
    assert!(
        denied.is_some_and(|r| r.reason.as_deref() == Some("scope not granted")),
        "{rows:#?}"
    );
}

/// Every FHIR read of patient data is in the audit trail, allowed and denied, with the
/// request's id.
async fn fhir_reads_are_audited_allowed_and_denied(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let fhir = Fhir::new(&app);
    let t = Tokens::of(&app, &w);
    fhir.ok(&t.p1, &format!("DiagnosticReport?patient={}", w.p1))
        .await;
    fhir.ok(&t.p1, &format!("DiagnosticReport/{}", w.p1_final))
        .await;
    fhir.get(Some(&t.p1), &format!("Patient/{}", w.p2)).await;
    fhir.get(
        Some(&t.p1),
        &format!("DiagnosticReport/{}", w.p1_preliminary),
    )
    .await;
    let rows = app.audit_rows().await;
    let has = |action: &str, patient, outcome: AuditOutcome, reason: Option<&str>| {
        assert!(
            rows.iter().any(|r| r.action == action
                && r.patient_id == Some(patient)
                && r.outcome == outcome
                && r.subject.as_deref() == Some("p1")
                && r.request_id.is_some()
                && (reason.is_none() || r.reason.as_deref() == reason)),
            "no {outcome:?} {action} for {patient}: {rows:#?}"
        );
    };
    has("patient.read", w.p1, AuditOutcome::Allowed, None);
    has("results.list", w.p1, AuditOutcome::Allowed, None);
    has("result.read", w.p1, AuditOutcome::Allowed, None);
    has(
        "patient.read",
        w.p2,
        AuditOutcome::Denied,
        Some("no relation to patient"),
    );
    has(
        "result.read",
        w.p1,
        AuditOutcome::Denied,
        Some("not released"),
    );
}

/// Staff find patients by name and birth date, or by MRN; a patient finds only themself.
async fn staff_search_patients_by_name_birthdate_and_mrn(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let fhir = Fhir::new(&app);
    let t = Tokens::of(&app, &w);
    let found = fhir
        .ok(&t.staff, "Patient?name=familyp&birthdate=1980-01-02")
        .await;
    assert_eq!(found["total"], 2, "P1 and P2, not tenant b's Q1: {found:#}");
    let one = fhir
        .ok(&t.staff, "Patient?identifier=urn:portal:mrn|P2")
        .await;
    assert_eq!(fhir_kit_ids(&one), [w.p2.to_string()]);
    let none = fhir
        .ok(&t.staff, "Patient?name=familyp&birthdate=1999-01-01")
        .await;
    assert_eq!(none["total"], 0);
    let me = fhir.ok(&t.p1, "Patient?name=familyp").await;
    assert_eq!(fhir_kit_ids(&me), [w.p1.to_string()], "{me:#}");
    let wrong_system = fhir
        .get(Some(&t.staff), "Patient?identifier=http://other|P2")
        .await;
    assert_eq!(wrong_system.status, 400);
}

/// `birthdate` follows R4's date rules: a birth date is a whole day (in UTC), the search
/// value the range of its precision; P1 and P2 (tenant a) are born on 1980-01-02.
async fn birthdate_search_takes_every_prefix_and_precision(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let fhir = Fhir::new(&app);
    let t = Tokens::of(&app, &w);
    let cases: [(&str, u64); 27] = [
        ("1980", 2),
        ("1979", 0),
        ("1980-01", 2),
        ("1980-02", 0),
        ("1980-01-02", 2),
        ("eq1980-01-02", 2),
        ("1980-01-03", 0),
        ("1980-01-02T10:00Z", 0),
        ("gt1980-01-01", 2),
        ("gt1980-01-02", 0),
        ("gt1980-01-02T10:00Z", 2),
        ("ge1980-01-02", 2),
        ("ge1980-01-03", 0),
        ("lt1980-01-03", 2),
        ("lt1980-01-02", 0),
        ("lt1980-01-02T10:00Z", 2),
        ("le1980-01-02", 2),
        ("le1980-01-01", 0),
        ("ne1980-01-02", 0),
        ("ne1980-01-03", 2),
        ("sa1980-01-01", 2),
        ("sa1980-01-01T23:59Z", 2),
        ("sa1980-01-02", 0),
        ("eb1980-01-03", 2),
        ("eb1980-01-02", 0),
        ("ap1980-01-02", 2),
        ("1980-01-01,1980-01-02", 2),
    ];
    for (value, total) in cases {
        let path = format!("Patient?name=familyp&birthdate={value}");
        let found = fhir.ok(&t.staff, &path).await;
        assert_eq!(found["total"], total, "{path}: {found:#}");
    }
    let both = fhir
        .ok(
            &t.staff,
            "Patient?name=familyp&birthdate=ge1980-01-01&birthdate=le1980-01-01",
        )
        .await;
    assert_eq!(both["total"], 0, "repeats are ANDed: {both:#}");
    let alone = fhir.ok(&t.staff, "Patient?birthdate=1980-01").await;
    assert_eq!(
        alone["total"], 2,
        "a birth date alone is a search: {alone:#}"
    );
}

/// A clinician sees the patients they ordered for, not the others of the tenant (403, as
/// GraphQL's FORBIDDEN); they read the patient's orders and results.
async fn a_clinician_sees_only_the_patients_they_ordered_for(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let fhir = Fhir::new(&app);
    let t = Tokens::of(&app, &w);
    fhir.ok(&t.clinician, &format!("Patient/{}", w.p1)).await;
    let orders = fhir
        .ok(&t.clinician, &format!("ServiceRequest?patient={}", w.p1))
        .await;
    assert_eq!(orders["total"], 1, "{orders:#}");
    for path in [
        format!("Patient/{}", w.p2),
        format!("DiagnosticReport/{}", w.p2_final),
        format!("ServiceRequest?patient={}", w.p2),
    ] {
        let reply = fhir.get(Some(&t.clinician), &path).await;
        assert_eq!(reply.status, 403, "{path}: {:#}", reply.body);
    }
    let gql = app
        .as_clinician("dr.a", w.tenant_a)
        .query(
            r#"query($id: ID!) { patient(id: $id) { mrn } }"#,
            patient_vars(w.p2),
        )
        .await;
    assert_eq!(error_code(&gql), Some("FORBIDDEN"), "{gql:#}");
    let coverage = fhir
        .get(Some(&t.clinician), &format!("Coverage?patient={}", w.p1))
        .await;
    assert_eq!(
        coverage.status, 403,
        "clinicians have no COVERAGE scope: {:#}",
        coverage.body
    );
}

on_both_backends!(
    a_clinician_sees_only_the_patients_they_ordered_for,
    a_request_without_a_valid_token_is_401_and_a_bad_token_is_audited,
    a_patient_sees_themself_but_not_another_patient_or_tenant,
    preliminary_results_are_for_clinicians_and_the_lab_only,
    a_held_sensitive_result_is_hidden_from_the_patient,
    a_proxy_without_the_coverage_scope_gets_no_coverage,
    fhir_reads_are_audited_allowed_and_denied,
    staff_search_patients_by_name_birthdate_and_mrn,
    birthdate_search_takes_every_prefix_and_precision,
);
