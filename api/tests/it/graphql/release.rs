//! Release policy (SPEC §4) on both backends: what patients and proxies may see of results.

use chrono::{Duration, Utc};
use portal_entities::ResultStatus;
use serde_json::json;

use crate::on_both_backends;
use crate::support::ids::{patient_vars, result_gid, result_vars};
use crate::support::{Backend, TestApp, error_code, no_errors};

async fn preliminary_results_never_reach_a_patient(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let prelim = result_gid(w.p1_preliminary);
    for viewer in [
        app.as_patient("p1", w.tenant_a, w.p1),
        app.as_proxy("proxy.active", w.tenant_a, Some(w.p2)),
    ] {
        let list = r#"query($id: ID!) { patient(id: $id) { results(first: 50, filter: {status: [PRELIMINARY, FINAL]}) { edges { node { id status } } } } }"#;
        let response = viewer.query(list, patient_vars(w.p1)).await;
        no_errors(&response);
        assert!(
            !response.to_string().contains("PRELIMINARY"),
            "{response:#}"
        );
        for query in [
            r#"query($id: ID!) { testResult(id: $id) { status } }"#,
            r#"query($id: ID!) { node(id: $id) { id } }"#,
        ] {
            let response = viewer.query(query, json!({ "id": prelim })).await;
            assert_eq!(
                error_code(&response),
                Some("NOT_FOUND"),
                "{query}: {response:#}"
            );
        }
        let orders = r#"query($id: ID!) { patient(id: $id) { orders { edges { node { results { status } } } } } }"#;
        let response = viewer.query(orders, patient_vars(w.p1)).await;
        no_errors(&response);
        assert!(
            !response.to_string().contains("PRELIMINARY"),
            "{response:#}"
        );
    }
}

async fn a_correction_shows_the_current_version_with_its_history(backend: Backend) {
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
    let corrected = app
        .result(
            w.tenant_a,
            w.p1,
            order,
            w.cbc,
            ResultStatus::Corrected,
            issued + Duration::hours(2),
            Some(original),
        )
        .await;
    let me = app.as_patient("p1", w.tenant_a, w.p1);
    let query = r#"query($id: ID!) { patient(id: $id) { results(first: 50) { edges { node {
        id status isCorrected correctionReason replaces { id } supersededBy { id } history { id status } } } } } }"#;
    let response = me.query(query, patient_vars(w.p1)).await;
    no_errors(&response);
    let edges = response["data"]["patient"]["results"]["edges"]
        .as_array()
        .expect("edges");
    let ids: Vec<_> = edges.iter().map(|e| e["node"]["id"].clone()).collect();
    let original_id = json!(result_gid(original));
    let corrected_id = json!(result_gid(corrected));
    assert!(
        ids.contains(&corrected_id) && !ids.contains(&original_id),
        "only the current version is listed: {ids:?}"
    );
    let node = &edges
        .iter()
        .find(|e| e["node"]["id"] == corrected_id)
        .expect("corrected")["node"];
    assert_eq!(node["isCorrected"], true);
    assert_eq!(node["correctionReason"], "corrected");
    assert_eq!(node["replaces"]["id"], original_id);
    assert!(node["supersededBy"].is_null());
    assert_eq!(
        node["history"],
        json!([{ "id": original_id, "status": "FINAL" }, { "id": corrected_id, "status": "CORRECTED" }])
    );
    let old = r#"query($id: ID!) { testResult(id: $id) { status supersededBy { id } } }"#;
    let response = me.query(old, json!({ "id": original_id })).await;
    no_errors(&response);
    assert_eq!(
        response["data"]["testResult"]["supersededBy"]["id"], corrected_id,
        "the original stays readable"
    );
}

async fn sensitive_results_are_held_when_the_patient_asks(backend: Backend) {
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
    let me = app.as_patient("p1", w.tenant_a, w.p1);
    let one = r#"query($id: ID!) { testResult(id: $id) { status } }"#;
    let hiv_id = result_vars(hiv);
    no_errors(&me.query(one, hiv_id.clone()).await);
    app.hold_sensitive(w.tenant_a, w.p1).await;
    let response = me.query(one, hiv_id.clone()).await;
    assert_eq!(error_code(&response), Some("NOT_FOUND"), "{response:#}");
    let list = r#"query($id: ID!) { patient(id: $id) { results { edges { node { id } } } } }"#;
    let response = me.query(list, patient_vars(w.p1)).await;
    no_errors(&response);
    assert!(
        !response
            .to_string()
            .contains(hiv_id["id"].as_str().unwrap_or_default()),
        "{response:#}"
    );
    let doctor = app.as_clinician("dr.a", w.tenant_a);
    no_errors(&doctor.query(one, hiv_id).await);
}

on_both_backends!(
    preliminary_results_never_reach_a_patient,
    a_correction_shows_the_current_version_with_its_history,
    sensitive_results_are_held_when_the_patient_asks,
);

mod viewed {
    use super::*;

    async fn marking_a_result_viewed_keeps_the_first_time_and_respects_release(backend: Backend) {
        let app = TestApp::init(backend).await;
        let w = app.world().await;
        let me = app.as_patient("p1", w.tenant_a, w.p1);
        let mutation =
            r#"mutation($id: ID!) { markResultViewed(id: $id) { viewedAt result { id status } } }"#;
        let id = result_vars(w.p1_final);
        let first = me.query(mutation, id.clone()).await;
        no_errors(&first);
        let again = me.query(mutation, id).await;
        assert_eq!(
            first["data"]["markResultViewed"]["viewedAt"],
            again["data"]["markResultViewed"]["viewedAt"]
        );
        let prelim = result_vars(w.p1_preliminary);
        assert_eq!(
            error_code(&me.query(mutation, prelim).await),
            Some("NOT_FOUND")
        );
        let other = app.as_patient("p2", w.tenant_a, w.p2);
        let theirs = result_vars(w.p1_final);
        assert_eq!(
            error_code(&other.query(mutation, theirs).await),
            Some("FORBIDDEN")
        );
        assert!(
            app.audit_rows()
                .await
                .iter()
                .any(|r| r.action == "result.viewed" && r.entity_id == Some(w.p1_final))
        );
    }

    on_both_backends!(marking_a_result_viewed_keeps_the_first_time_and_respects_release);
}
