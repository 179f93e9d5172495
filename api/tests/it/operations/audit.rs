//! The audit trail on both backends: every read of patient data, allowed or denied, is
//! recorded with who, what, which patient and the request id, in a verifiable hash chain.

use chrono::Utc;
use portal_core::audit::{ChainCheck, verify_chain};
use portal_entities::{AuditOutcome, ResultStatus};
use sea_orm::ConnectionTrait;

use crate::on_both_backends;
use crate::support::ids::{patient_vars, result_vars};
use crate::support::{Backend, TestApp, error_code, no_errors};

async fn allowed_and_denied_reads_are_audited(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let me = app.as_patient("p1", w.tenant_a, w.p1);
    let query = r#"query($id: ID!) { patient(id: $id) { results { edges { node { id } } } } }"#;
    no_errors(&me.query(query, patient_vars(w.p1)).await);
    let denied = me.query(query, patient_vars(w.p2)).await;
    assert_eq!(error_code(&denied), Some("FORBIDDEN"));
    let anonymous = app.anonymous().query(query, patient_vars(w.p1)).await;
    assert_eq!(error_code(&anonymous), Some("UNAUTHENTICATED"));

    let rows = app.audit_rows().await;
    let find = |action: &str, patient, outcome| {
        rows.iter()
            .find(|r| r.action == action && r.patient_id == Some(patient) && r.outcome == outcome)
            .unwrap_or_else(|| panic!("no {outcome:?} {action} row for {patient}: {rows:#?}"))
    };
    let read = find("patient.read", w.p1, AuditOutcome::Allowed);
    assert_eq!(read.subject.as_deref(), Some("p1"));
    assert_eq!(read.tenant_id, Some(w.tenant_a));
    assert_eq!(read.roles, "patient");
    assert!(read.request_id.is_some() && read.client_addr.as_deref() == Some("127.0.0.1"));
    find("results.list", w.p1, AuditOutcome::Allowed);
    let refused = find("patient.read", w.p2, AuditOutcome::Denied);
    assert_eq!(refused.reason.as_deref(), Some("no relation to patient"));
    assert!(
        rows.iter()
            .all(|r| r.patient_id != Some(w.p2) || r.outcome == AuditOutcome::Denied)
    );
    assert_chain_intact(&app, &rows).await;
}

async fn proxy_reads_record_whom_they_were_for(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let parent = app.as_proxy("proxy.active", w.tenant_a, Some(w.p2));
    let query = r#"query($id: ID!) { testResult(id: $id) { id } }"#;
    no_errors(&parent.query(query, result_vars(w.p1_final)).await);
    let rows = app.audit_rows().await;
    let row = rows
        .iter()
        .find(|r| r.action == "result.read")
        .expect("result.read row");
    assert_eq!(row.proxy_for, Some(w.p1));
    assert_eq!(row.entity_id, Some(w.p1_final));
}

async fn tampering_with_an_audit_row_breaks_the_chain(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let me = app.as_patient("p1", w.tenant_a, w.p1);
    let query = r#"query($id: ID!) { patient(id: $id) { mrn } }"#;
    for _ in 0..3 {
        no_errors(&me.query(query, patient_vars(w.p1)).await);
    }
    let rows = app.audit_rows().await;
    assert!(matches!(
        verify_chain(&app.owner).await.expect("verify"),
        ChainCheck::Intact { rows: 3 }
    ));
    // The append-only guard stops the application; an intruder with the owner's rights
    // lifts it, and only the hash tells.
    crate::operations::audit_seal::tamper(
        &app,
        &format!(
            "UPDATE audit_events SET subject = 'someone-else' WHERE seq = {}",
            rows[1].seq
        ),
    )
    .await;
    assert_eq!(
        verify_chain(&app.owner).await.expect("verify"),
        ChainCheck::Broken { seq: rows[1].seq }
    );
}

/// Many requests of two tenants (and rejected ones of no tenant) appending at once: every
/// request is answered, every request's rows are written, bound to its own tenant
/// (row-level security on PostgreSQL), and the chain stays one intact line.
async fn concurrent_requests_of_several_tenants_share_the_chain(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let a = app.as_patient("p1", w.tenant_a, w.p1);
    let b = app.as_patient("q1", w.tenant_b, w.q1);
    let anonymous = app.anonymous();
    let query = r#"query($id: ID!) { patient(id: $id) { mrn } }"#;
    let id_a = patient_vars(w.p1);
    let id_b = patient_vars(w.q1);
    let mut requests = Vec::new();
    for i in 0..60 {
        let (actor, vars) = match i % 3 {
            0 => (&a, id_a.clone()),
            1 => (&b, id_b.clone()),
            _ => (&anonymous, id_a.clone()),
        };
        requests.push(actor.query(query, vars));
    }
    let answers = futures_util::future::join_all(requests).await;
    for (i, answer) in answers.iter().enumerate() {
        if i % 3 == 2 {
            assert_eq!(error_code(answer), Some("UNAUTHENTICATED"), "{answer}");
        } else {
            no_errors(answer);
        }
    }
    let rows = app.audit_rows().await;
    let count = |tenant, outcome| {
        rows.iter()
            .filter(|r| r.action == "patient.read" && r.tenant_id == tenant && r.outcome == outcome)
            .count()
    };
    assert_eq!(count(Some(w.tenant_a), AuditOutcome::Allowed), 20);
    assert_eq!(count(Some(w.tenant_b), AuditOutcome::Allowed), 20);
    let requests: std::collections::HashSet<_> = rows
        .iter()
        .filter(|r| r.tenant_id.is_some())
        .map(|r| r.request_id.clone())
        .collect();
    assert_eq!(
        requests.len(),
        40,
        "every answered request has its own rows"
    );
    assert_chain_intact(&app, &rows).await;
}

/// A live read (no cache) whose audit rows cannot be written is answered UNAVAILABLE with no
/// data; once the trail can be written again the same read is answered and recorded.
async fn a_read_is_withheld_when_the_audit_trail_cannot_be_written(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let me = app.as_patient("p1", w.tenant_a, w.p1);
    let query = r#"query($id: ID!) { patient(id: $id) { results { edges { node { id } } } } }"#;
    let vars = patient_vars(w.p1);
    app.break_audit_trail().await;
    let withheld = me.query(query, vars.clone()).await;
    assert_eq!(error_code(&withheld), Some("UNAVAILABLE"), "{withheld:#}");
    assert!(
        withheld["data"].is_null(),
        "no data unaudited: {withheld:#}"
    );
    assert!(app.audit_rows().await.is_empty());

    app.restore_audit_trail().await;
    no_errors(&me.query(query, vars).await);
    let rows = app.audit_rows().await;
    assert!(rows.iter().any(|r| r.action == "results.list"), "{rows:#?}");
    assert_chain_intact(&app, &rows).await;
}

/// PostgreSQL: a query's audit rows commit in the query's own transaction. When a statement
/// of the query fails (here: the application role lost its SELECT on `observations`), that
/// transaction is aborted: the rows are then written in a transaction of their own and the
/// answer is withheld, so the read is recorded and nothing is answered from a transaction
/// that did not commit. With the grant back, the read is answered again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_whose_transaction_aborts_is_withheld_and_still_audited() {
    let app = TestApp::init(Backend::Postgres).await;
    let w = app.world().await;
    let order = app.order(w.tenant_a, w.p1, w.facility, w.cbc, None).await;
    let issued = Utc::now() - chrono::Duration::days(1);
    app.result(
        w.tenant_a,
        w.p1,
        order,
        w.cbc,
        ResultStatus::Final,
        issued,
        None,
    )
    .await;
    let me = app.as_patient("p1", w.tenant_a, w.p1);
    let query = r#"query($id: ID!) { patient(id: $id) { results { edges { node { id observations { code } } } } } }"#;
    let vars = patient_vars(w.p1);
    app.owner
        .execute_unprepared("REVOKE SELECT ON observations FROM portal_app")
        .await
        .expect("revoke");
    let withheld = me.query(query, vars.clone()).await;
    assert_eq!(error_code(&withheld), Some("UNAVAILABLE"), "{withheld:#}");
    assert!(withheld["data"].is_null(), "{withheld:#}");
    let rows = app.audit_rows().await;
    let listed = rows
        .iter()
        .filter(|r| r.action == "results.list" && r.patient_id == Some(w.p1))
        .count();
    assert_eq!(listed, 1, "the read is recorded all the same: {rows:#?}");

    app.owner
        .execute_unprepared("GRANT SELECT ON observations TO portal_app")
        .await
        .expect("grant");
    let answered = me.query(query, vars).await;
    no_errors(&answered);
    let rows = app.audit_rows().await;
    assert_eq!(
        rows.iter()
            .filter(|r| r.action == "results.list" && r.patient_id == Some(w.p1))
            .count(),
        2
    );
    assert_chain_intact(&app, &rows).await;
}

/// PostgreSQL: two application instances on one database (two replicas, each with its own
/// pool) append at once, with no lock between them: each request's rows are there and every
/// row verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_appending_at_once_keep_one_chain() {
    let url = portal_testkit::postgres::fresh_database();
    let one = TestApp::init_with_database_url(&url).await;
    let two = TestApp::init_with_database_url(&url).await;
    let w = one.world().await;
    // Each instance has its own dev signing key: the same patient signs in on both.
    let me = [&one, &two].map(|app| app.as_patient("p1", w.tenant_a, w.p1));
    let query = r#"query($id: ID!) { patient(id: $id) { mrn } }"#;
    let vars = patient_vars(w.p1);
    let mut requests = Vec::new();
    for i in 0..40 {
        requests.push(me[i % 2].query(query, vars.clone()));
    }
    for answer in futures_util::future::join_all(requests).await {
        no_errors(&answer);
    }
    let rows = one.audit_rows().await;
    let reads = rows.iter().filter(|r| r.action == "patient.read").count();
    assert_eq!(reads, 40, "{rows:#?}");
    assert_chain_intact(&one, &rows).await;
}

/// The chain verifies from its first row to its last, and holds exactly `rows`.
async fn assert_chain_intact(app: &TestApp, rows: &[portal_entities::audit_event::Model]) {
    assert_eq!(
        verify_chain(&app.owner).await.expect("verify"),
        ChainCheck::Intact {
            rows: rows.len() as u64
        }
    );
}

on_both_backends!(
    a_read_is_withheld_when_the_audit_trail_cannot_be_written,
    allowed_and_denied_reads_are_audited,
    proxy_reads_record_whom_they_were_for,
    tampering_with_an_audit_row_breaks_the_chain,
    concurrent_requests_of_several_tenants_share_the_chain,
);
