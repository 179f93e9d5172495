//! `Patient/{id}/$everything`: the compartment the viewer may see, paged, valid R4, and the
//! same resources the per-type searches give.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::fhir::kit::{self, Fhir, Tokens};
use crate::on_both_backends;
use crate::support::{Backend, TestApp};

/// Every page of `path`, followed by its next links: the resources in order.
async fn all_pages(fhir: &Fhir, token: &str, path: &str) -> Vec<Value> {
    let mut resources = Vec::new();
    let mut next = Some(path.to_owned());
    let mut pages = 0;
    while let Some(path) = next {
        let reply = fhir.get(Some(token), &path).await;
        assert_eq!(reply.status, 200, "{path}: {:#}", reply.body);
        assert_eq!(reply.body["type"], "searchset", "{:#}", reply.body);
        resources.extend(reply.resources().into_iter().cloned());
        next = reply.next();
        pages += 1;
        assert!(pages < 100, "the next links end");
    }
    resources
}

fn by_type(resources: &[Value]) -> BTreeMap<String, Vec<String>> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for resource in resources {
        map.entry(
            resource["resourceType"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        )
        .or_default()
        .push(resource["id"].as_str().unwrap_or_default().to_owned());
    }
    map
}

/// The patient's own export holds what each search gives them — no preliminary result — in
/// valid R4, the same resources whatever the page size.
async fn everything_is_the_searches_of_the_compartment(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    kit::coverage_with_claim(&app, w.tenant_a, w.p1).await;
    let fhir = Fhir::new(&app);
    let t = Tokens::of(&app, &w);
    let path = format!("Patient/{}/$everything", w.p1);
    let whole = all_pages(&fhir, &t.p1, &path).await;
    assert_eq!(whole[0]["resourceType"], "Patient", "the patient first");
    assert_eq!(whole[0]["id"], w.p1.to_string());
    let types = by_type(&whole);
    for kind in [
        "ServiceRequest",
        "DiagnosticReport",
        "Observation",
        "Appointment",
        "Coverage",
        "ExplanationOfBenefit",
    ] {
        let search = all_pages(&fhir, &t.p1, &format!("{kind}?patient={}", w.p1)).await;
        let ids: Vec<String> = by_type(&search).remove(kind).unwrap_or_default();
        assert_eq!(
            types.get(kind).cloned().unwrap_or_default(),
            ids,
            "{kind}: $everything lists what the search lists"
        );
    }
    assert_eq!(types["Coverage"].len(), 1);
    assert_eq!(types["Observation"].len(), 2, "the final result's values");
    assert!(
        !types["DiagnosticReport"].contains(&w.p1_preliminary.to_string()),
        "no preliminary result for the patient: {types:#?}"
    );
    let paged = all_pages(&fhir, &t.p1, &format!("{path}?_count=2")).await;
    assert_eq!(
        by_type(&paged),
        types,
        "pages of two give the same resources"
    );
    assert_eq!(paged.len(), whole.len(), "none twice");
    kit::validate(&whole);

    // A clinician of the order sees the preliminary result too.
    let clinician = all_pages(&fhir, &t.clinician, &path).await;
    assert!(
        by_type(&clinician)["DiagnosticReport"].contains(&w.p1_preliminary.to_string()),
        "the clinician sees the preliminary result"
    );
}

/// `_type` narrows and orders by the compartment; `_since` keeps what changed since.
async fn type_and_since_narrow_the_compartment(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let fhir = Fhir::new(&app);
    let t = Tokens::of(&app, &w);
    let path = format!("Patient/{}/$everything", w.p1);
    let narrowed = all_pages(&fhir, &t.p1, &format!("{path}?_type=Observation,Patient")).await;
    let types = by_type(&narrowed);
    assert_eq!(
        types.keys().collect::<Vec<_>>(),
        ["Observation", "Patient"],
        "{types:#?}"
    );
    assert_eq!(narrowed[0]["resourceType"], "Patient");
    let future = all_pages(
        &fhir,
        &t.p1,
        &format!("{path}?_type=DiagnosticReport,Observation&_since=2999-01-01T00:00:00Z"),
    )
    .await;
    assert!(future.is_empty(), "nothing changed after 2999: {future:#?}");
    let past = all_pages(
        &fhir,
        &t.p1,
        &format!("{path}?_type=DiagnosticReport&_since=2000-01-01T00:00:00Z"),
    )
    .await;
    assert_eq!(past.len(), 1, "{past:#?}");
}

/// The access rules are the searches': a proxy without the coverage scope gets the rest of
/// the record, a patient gets nobody else's, another tenant's patient does not exist; bad
/// parameters and other operations are refused with an OperationOutcome.
async fn everything_keeps_the_access_rules(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    kit::coverage_with_claim(&app, w.tenant_a, w.p1).await;
    let fhir = Fhir::new(&app);
    let t = Tokens::of(&app, &w);
    let proxied = all_pages(&fhir, &t.proxy, &format!("Patient/{}/$everything", w.p1)).await;
    let types = by_type(&proxied);
    assert!(types.contains_key("DiagnosticReport"), "{types:#?}");
    assert!(
        !types.contains_key("Coverage") && !types.contains_key("ExplanationOfBenefit"),
        "no coverage without the scope: {types:#?}"
    );
    for (token, patient, status) in [(&t.p1, w.p2, 403), (&t.other_tenant, w.p1, 404)] {
        let reply = fhir
            .get(Some(token), &format!("Patient/{patient}/$everything"))
            .await;
        assert_eq!(reply.status, status, "{:#}", reply.body);
        assert_eq!(reply.body["resourceType"], "OperationOutcome");
    }
    let anonymous = fhir
        .get(None, &format!("Patient/{}/$everything", w.p1))
        .await;
    assert_eq!(anonymous.status, 401);
    for (path, status) in [
        (format!("Patient/{}/$everything?start=2020", w.p1), 400),
        (
            format!("Patient/{}/$everything?_type=Practitioner", w.p1),
            400,
        ),
        (format!("Patient/{}/$everything?_cursor=zz", w.p1), 400),
        (
            format!("Patient/{}/$everything?_since=2020-01-01", w.p1),
            400,
        ),
        (format!("Patient/{}/$validate", w.p1), 405),
        (format!("Observation/{}/$everything", w.p1), 405),
    ] {
        let reply = fhir.get(Some(&t.p1), &path).await;
        assert_eq!(reply.status, status, "{path}: {:#}", reply.body);
        assert_eq!(reply.body["resourceType"], "OperationOutcome", "{path}");
    }
    let history = fhir
        .get(
            Some(&t.p1),
            &format!("DiagnosticReport/{}/_history", w.p1_final),
        )
        .await;
    assert_eq!(
        history.status, 200,
        "_history still routes: {:#}",
        history.body
    );
    let capability = fhir.get(None, "metadata").await;
    let patient = capability.body["rest"][0]["resource"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["type"] == "Patient"))
        .cloned()
        .expect("Patient served");
    assert_eq!(patient["operation"][0]["name"], "everything", "{patient:#}");
}

on_both_backends!(
    everything_is_the_searches_of_the_compartment,
    type_and_since_narrow_the_compartment,
    everything_keeps_the_access_rules,
);
