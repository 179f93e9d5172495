//! One unit of work per request: a nested read decides access once, at the parent, and hands
//! the proof to its children; the audit trail still records each part that was read.

use portal_core::context::{Origin, RequestContext, Shape};
use portal_core::pagination::PageRequest;
use portal_entities::AuditOutcome;
use portal_services::{appointments, patients, results};

use crate::on_both_backends;
use crate::support::ids::patient_vars;
use crate::support::{Backend, TestApp, error_code, no_errors};

const NESTED: &str = r#"query($id: ID!) { patient(id: $id) {
    results(first: 5) { edges { node { id } } }
    orders(first: 5) { edges { node { id } } }
    appointments(first: 5) { edges { node { id } } } } }"#;

/// A proxy's relation is the expensive one (its grants are read from the database): the
/// parent looks it up once, and the three child lists reuse the proof.
async fn children_reuse_the_parents_access_decision(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let parent = app
        .as_proxy("proxy.active", w.tenant_a, Some(w.p2))
        .viewer()
        .await;
    let origin = Origin::new(Some(parent), "r-nested".into(), None);
    let ctx = RequestContext::new(&app.db, Shape::Statements, origin);
    let page = PageRequest::new(Some(5), None, 50).expect("page");

    let (access, _) = patients::get(&ctx, w.p1).await.expect("patient");
    results::list(&ctx, &access, &Default::default(), &page)
        .await
        .expect("results");
    appointments::list(&ctx, &access, &Default::default(), &page)
        .await
        .expect("appointments");

    assert_eq!(
        ctx.relation_lookups(),
        1,
        "one relation lookup for the request"
    );
    let actions: Vec<String> = ctx.take_rows().into_iter().map(|r| r.action).collect();
    assert_eq!(
        actions,
        ["patient.read", "results.list", "appointments.list"],
        "each part read is audited once"
    );
}

/// The same nested read through GraphQL: one audit row per part read, all allowed, each
/// naming the proxy's patient; and a child the grant does not cover (coverage) is refused
/// from the parent's proof.
async fn a_nested_read_audits_each_part_once(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let parent = app.as_proxy("proxy.active", w.tenant_a, Some(w.p2));
    let before = app.audit_rows().await.len();
    let response = parent.query(NESTED, patient_vars(w.p1)).await;
    no_errors(&response);
    let rows = app.audit_rows().await;
    let new: Vec<_> = rows[before..]
        .iter()
        .map(|r| (r.action.as_str(), r.outcome, r.patient_id, r.proxy_for))
        .collect();
    assert_eq!(
        new,
        vec![
            (
                "patient.read",
                AuditOutcome::Allowed,
                Some(w.p1),
                Some(w.p1)
            ),
            (
                "results.list",
                AuditOutcome::Allowed,
                Some(w.p1),
                Some(w.p1)
            ),
            ("orders.list", AuditOutcome::Allowed, Some(w.p1), Some(w.p1)),
            (
                "appointments.list",
                AuditOutcome::Allowed,
                Some(w.p1),
                Some(w.p1)
            ),
        ],
        "{rows:#?}"
    );

    let coverage =
        r#"query($id: ID!) { patient(id: $id) { mrn coverages { edges { node { id } } } } }"#;
    let response = parent.query(coverage, patient_vars(w.p1)).await;
    assert_eq!(error_code(&response), Some("FORBIDDEN"), "{response:#}");
    let last = app.audit_rows().await.pop().expect("a row");
    assert_eq!(
        (last.action.as_str(), last.outcome, last.reason.as_deref()),
        (
            "coverages.list",
            AuditOutcome::Denied,
            Some("scope not granted")
        )
    );
}

on_both_backends!(
    children_reuse_the_parents_access_decision,
    a_nested_read_audits_each_part_once,
);
