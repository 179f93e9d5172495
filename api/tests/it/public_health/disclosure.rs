//! A delivered public-health batch is on the audit trail, one row per report with its
//! patient, and so in the patient's access history as a disclosure with recipient and
//! purpose — on the demo hospital, with Dr. Patel's and the lab's reads beside it (the
//! walk-through of docs/patients.md, "Access history").

use portal_resolvers::ids::{NodeType, encode};

use super::*;
use crate::on_both_backends;
use crate::support::error_code;

const LOG: &str = r#"query($id: ID!) { patient(id: $id) { accessLog(first: 50) {
  edges { node { who actorRole kind what outcome disclosure { recipient purpose } } } } } }"#;
const RESULTS: &str = r#"query($id: ID!) { patient(id: $id) { results(first: 5) { edges { node { id test { displayName } } } } } }"#;

async fn a_delivered_public_health_report_is_a_disclosure_in_the_patients_history(
    backend: Backend,
) {
    let h = Hospital::new(backend, &[]).await;
    h.add("MRN1001", SARS, "FINAL", coded(DETECTED)).await;
    h.drain(3).await;
    let alice = h.patient("MRN1001").await;
    let id = json!({ "id": encode(NodeType::Patient, alice.id).to_string() });
    let patel = h.app.as_clinician("dr.patel", h.tenant);
    no_errors(&patel.query(RESULTS, id.clone()).await);

    let me = h.app.as_patient("alice", h.tenant, alice.id);
    let response = me.query(LOG, id.clone()).await;
    no_errors(&response);
    let entries: Vec<&Value> = response["data"]["patient"]["accessLog"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| &e["node"])
        .collect();
    let with = |who: &str, kind: &str| {
        entries
            .iter()
            .filter(|e| e["who"] == who && e["kind"] == kind)
            .count()
    };
    assert!(
        with(
            "Dr. Maya Patel, clinician, Riverside Health (demo)",
            "RESULTS"
        ) > 0,
        "{entries:#?}"
    );
    assert!(
        with(
            "lis, laboratory interface, Riverside Health (demo)",
            "RESULTS"
        ) > 0,
        "{entries:#?}"
    );
    let reports: Vec<&&Value> = entries
        .iter()
        .filter(|e| e["kind"] == "PUBLIC_HEALTH_REPORT")
        .collect();
    assert_eq!(reports.len(), 1, "{entries:#?}");
    let report = reports[0];
    assert_eq!(report["outcome"], "DISCLOSED");
    assert_eq!(report["actorRole"], "AUTOMATED");
    assert_eq!(
        report["disclosure"]["recipient"],
        "public-health authority (the public-health report folder)"
    );
    assert_eq!(
        report["disclosure"]["purpose"],
        "public-health reporting required by law"
    );
    assert!(report["what"].is_string());

    // The same report is not disclosed twice when the pass runs again.
    h.pass().await;
    let again = me.query(LOG, id.clone()).await;
    let count = again["data"]["patient"]["accessLog"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .filter(|e| e["node"]["kind"] == "PUBLIC_HEALTH_REPORT")
        .count();
    assert_eq!(count, 1);

    // Carol holds ACCESS_LOG on Ben (MRN1003) in the demo data; not on Alice.
    let own = h.patient("MRN1002").await;
    let carol = h.app.as_proxy("carol", h.tenant, Some(own.id));
    assert_eq!(error_code(&carol.query(LOG, id).await), Some("FORBIDDEN"));
    let ben = h.patient("MRN1003").await;
    let response = carol
        .query(
            LOG,
            json!({ "id": encode(NodeType::Patient, ben.id).to_string() }),
        )
        .await;
    no_errors(&response);
}

on_both_backends!(a_delivered_public_health_report_is_a_disclosure_in_the_patients_history);
