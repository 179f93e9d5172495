//! How the FHIR door says no: OperationOutcomes with the right status for unknown ids and
//! types, malformed parameters, other methods and formats, and a request whose audit could
//! not be written (503, the answer withheld).

use chrono::{Duration, Utc};
use portal_entities::ResultStatus;

use crate::fhir::kit::{Fhir, Tokens, validate};
use crate::on_both_backends;
use crate::support::{Backend, TestApp};

async fn unknown_ids_types_and_malformed_parameters_are_operation_outcomes(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let fhir = Fhir::new(&app);
    let t = Tokens::of(&app, &w);
    let p = w.p1;
    let unknown = uuid::Uuid::now_v7();
    let cases = [
        (format!("Patient/{unknown}"), 404, "not-found"),
        (format!("DiagnosticReport/{unknown}"), 404, "not-found"),
        (format!("Observation/{unknown}"), 404, "not-found"),
        ("Patient/not-a-uuid".to_owned(), 404, "not-found"),
        (format!("Encounter/{unknown}"), 404, "not-supported"),
        (
            format!("Practitioner/{unknown}/_history"),
            405,
            "not-supported",
        ),
        (
            format!("DiagnosticReport?patient={p}&date=2026-02-30"),
            400,
            "invalid",
        ),
        (
            format!("DiagnosticReport?patient={p}&date=ab2026"),
            400,
            "invalid",
        ),
        (
            format!("DiagnosticReport?patient={p}&issued=2026-03-05T10"),
            400,
            "invalid",
        ),
        (
            format!("DiagnosticReport?patient={p}&status=done"),
            400,
            "invalid",
        ),
        (
            format!("DiagnosticReport?patient={p}&category=XYZ"),
            400,
            "invalid",
        ),
        (
            format!("DiagnosticReport?patient={p}&code:text=cbc"),
            400,
            "invalid",
        ),
        (
            format!("DiagnosticReport?patient={p}&patient={p}"),
            400,
            "invalid",
        ),
        (
            format!("DiagnosticReport?patient={p}&_include=DiagnosticReport:subject"),
            400,
            "invalid",
        ),
        (
            format!("DiagnosticReport?patient={p}&_sort=code"),
            400,
            "invalid",
        ),
        ("DiagnosticReport?category=LAB".to_owned(), 400, "invalid"),
        ("Observation?patient=Group/1".to_owned(), 400, "invalid"),
        (format!("Patient/{p}?_elements=name"), 400, "invalid"),
        ("Patient?birthdate=1980-13".to_owned(), 400, "invalid"),
    ];
    let mut outcomes = Vec::new();
    for (path, status, code) in cases {
        let reply = fhir.get(Some(&t.staff), &path).await;
        assert_eq!(reply.status, status, "{path}: {:#}", reply.body);
        assert_eq!(reply.body["resourceType"], "OperationOutcome", "{path}");
        assert_eq!(
            reply.body["issue"][0]["code"], code,
            "{path}: {:#}",
            reply.body
        );
        assert!(
            reply.content_type.starts_with("application/fhir+json"),
            "{path}"
        );
        outcomes.push(reply.body);
    }
    validate(&outcomes);
}

async fn json_is_negotiated_and_xml_is_refused_with_406(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let fhir = Fhir::new(&app);
    let t = Tokens::of(&app, &w);
    let path = format!("Patient/{}", w.p1);
    for accept in [
        "application/fhir+json",
        "application/json",
        "*/*",
        "application/fhir+json; fhirVersion=4.0",
    ] {
        let reply = fhir
            .get_with(Some(&t.p1), &path, &[("accept", accept)])
            .await;
        assert_eq!(reply.status, 200, "Accept: {accept}: {:#}", reply.body);
        assert_eq!(reply.content_type, "application/fhir+json; charset=utf-8");
    }
    for format in ["json", "application/fhir+json"] {
        let reply = fhir
            .get_with(
                Some(&t.p1),
                &format!("{path}?_format={format}"),
                &[("accept", "application/fhir+xml")],
            )
            .await;
        assert_eq!(
            reply.status, 200,
            "_format wins over Accept: {:#}",
            reply.body
        );
    }
    for accept in ["application/fhir+xml", "application/xml", "text/html"] {
        let reply = fhir
            .get_with(Some(&t.p1), &path, &[("accept", accept)])
            .await;
        assert_eq!(reply.status, 406, "Accept: {accept}: {:#}", reply.body);
        assert_eq!(reply.body["resourceType"], "OperationOutcome");
    }
    let xml = fhir.get(Some(&t.p1), &format!("{path}?_format=xml")).await;
    assert_eq!(xml.status, 406, "{:#}", xml.body);
    let metadata = fhir
        .get_with(None, "metadata?_format=application/fhir+xml", &[])
        .await;
    assert_eq!(metadata.status, 406);
}

/// The unit of work is finished before anything is answered: if the audit rows cannot be
/// written, the data is withheld (503), as GraphQL answers UNAVAILABLE.
async fn an_unaudited_read_is_withheld_with_503(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let fhir = Fhir::new(&app);
    let t = Tokens::of(&app, &w);
    app.break_audit_trail().await;
    let reply = fhir
        .get(Some(&t.p1), &format!("DiagnosticReport?patient={}", w.p1))
        .await;
    assert_eq!(reply.status, 503, "{:#}", reply.body);
    assert_eq!(reply.body["resourceType"], "OperationOutcome");
    assert!(
        !reply.body.to_string().contains(&w.p1_final.to_string()),
        "no data: {:#}",
        reply.body
    );
    app.restore_audit_trail().await;
    fhir.ok(&t.p1, &format!("DiagnosticReport?patient={}", w.p1))
        .await;
}

/// ENTERED_IN_ERROR withdraws a result: the chain's current version says so to the patient.
async fn a_result_entered_in_error_shows_as_entered_in_error(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let order = app.order(w.tenant_a, w.p1, w.facility, w.cbc, None).await;
    let issued = Utc::now() - Duration::days(4);
    let original = app
        .result(
            w.tenant_a,
            w.p1,
            order,
            w.cbc,
            ResultStatus::Final,
            issued,
            None,
        )
        .await;
    app.result(
        w.tenant_a,
        w.p1,
        order,
        w.cbc,
        ResultStatus::EnteredInError,
        issued + Duration::hours(2),
        Some(original),
    )
    .await;
    let fhir = Fhir::new(&app);
    let t = Tokens::of(&app, &w);
    let report = fhir
        .ok(&t.p1, &format!("DiagnosticReport/{original}"))
        .await;
    assert_eq!(report["status"], "entered-in-error");
    let withdrawn = fhir
        .ok(
            &t.p1,
            &format!("DiagnosticReport?patient={}&status=entered-in-error", w.p1),
        )
        .await;
    assert_eq!(withdrawn["total"], 1, "{withdrawn:#}");
    let observations = fhir
        .ok(
            &t.p1,
            &format!(
                "Observation?patient={}&date=ge{}",
                w.p1,
                (issued - Duration::days(1)).format("%Y-%m-%d")
            ),
        )
        .await;
    let statuses: Vec<&str> = observations["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["resource"]["status"].as_str())
        .collect();
    assert!(statuses.contains(&"entered-in-error"), "{observations:#}");
    validate(&[report, observations]);
}

/// Only GET is served.
async fn other_methods_are_405(backend: Backend) {
    let app = TestApp::init(backend).await;
    let router = portal_api::http::router(app.state.clone());
    use tower::ServiceExt;
    for method in ["POST", "PUT", "DELETE"] {
        let request = axum::http::Request::builder()
            .method(method)
            .uri("/fhir/R4/Patient")
            .body(axum::body::Body::empty())
            .expect("request");
        let response = router.clone().oneshot(request).await.expect("answer");
        assert_eq!(response.status(), 405, "{method}");
    }
}

on_both_backends!(
    unknown_ids_types_and_malformed_parameters_are_operation_outcomes,
    json_is_negotiated_and_xml_is_refused_with_406,
    an_unaudited_read_is_withheld_with_503,
    a_result_entered_in_error_shows_as_entered_in_error,
    other_methods_are_405,
);
