//! `Patient.accessLog` on both backends (on PostgreSQL as the NOBYPASSRLS application role):
//! who read the record under which name and role, what kind of record, the outcome, paging,
//! scopes, held results, tenant isolation, disclosures and the statement count.

use chrono::{Duration, Utc};
use portal_core::policy::default_preferences;
use portal_entities::{ResultStatus, audit_event};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter,
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::fixtures::World;
use crate::support::ids::{patient_gid, patient_vars, result_vars};
use crate::support::{Actor, Backend, TestApp, error_code, no_errors};

const LOG: &str = r#"query($id: ID!, $first: Int, $after: String, $filter: AccessLogFilter) {
  patient(id: $id) { accessLog(first: $first, after: $after, filter: $filter) {
    pageInfo { hasNextPage endCursor }
    edges { node { at who actorRole actorName kind what outcome disclosure { recipient purpose } } } } } }"#;
const RESULTS: &str =
    r#"query($id: ID!) { patient(id: $id) { results(first: 10) { edges { node { id } } } } }"#;
const RESULT: &str = r#"query($id: ID!) { testResult(id: $id) { id status } }"#;

/// Every entry of `patient`'s history as `actor` sees it, newest first (pages of 50).
async fn history(actor: &Actor, patient: Uuid, filter: Value) -> Vec<Value> {
    let mut entries = Vec::new();
    let mut after = Value::Null;
    loop {
        let vars =
            json!({ "id": patient_gid(patient), "first": 50, "after": after, "filter": filter });
        let response = actor.query(LOG, vars).await;
        no_errors(&response);
        let log = &response["data"]["patient"]["accessLog"];
        for edge in log["edges"].as_array().expect("edges") {
            entries.push(edge["node"].clone());
        }
        if log["pageInfo"]["hasNextPage"] != json!(true) {
            return entries;
        }
        after = log["pageInfo"]["endCursor"].clone();
    }
}

fn find<'a>(entries: &'a [Value], who: &str, kind: &str) -> Vec<&'a Value> {
    entries
        .iter()
        .filter(|e| e["who"] == who && e["kind"] == kind)
        .collect()
}

/// P1 with an access-log proxy ("carol"), a held sensitive result, and reads by the
/// clinician, the lab, a stranger clinician and another patient.
struct Scene {
    app: TestApp,
    w: World,
    /// Carol's own patient record (a proxy signs in as a patient).
    carol: Uuid,
}

async fn scene(backend: Backend) -> Scene {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let now = Utc::now();
    app.grant(w.tenant_a, w.p1, "carol", "RESULTS,ACCESS_LOG", None, None)
        .await;
    let carol = app.patient(w.tenant_a, "C1", Some("carol")).await;
    let order = app.order(w.tenant_a, w.p1, w.facility, w.hiv, None).await;
    let held = app
        .result(
            w.tenant_a,
            w.p1,
            order,
            w.hiv,
            ResultStatus::Final,
            now - Duration::days(1),
            None,
        )
        .await;
    let mut preferences = default_preferences(w.tenant_a, w.p1);
    preferences.hold_sensitive_results = true;
    preferences
        .into_active_model()
        .insert(&app.owner)
        .await
        .expect("preferences");

    let clinician = app.as_clinician("dr.a", w.tenant_a);
    no_errors(&clinician.query(RESULT, result_vars(w.p1_final)).await);
    no_errors(&clinician.query(RESULT, result_vars(held)).await);
    no_errors(
        &app.as_lab(w.tenant_a)
            .query(RESULTS, patient_vars(w.p1))
            .await,
    );
    no_errors(
        &app.as_proxy("carol", w.tenant_a, Some(carol))
            .query(RESULTS, patient_vars(w.p1))
            .await,
    );
    let stranger = app.as_clinician("dr.other", w.tenant_a);
    assert_eq!(
        error_code(&stranger.query(RESULTS, patient_vars(w.p1)).await),
        Some("FORBIDDEN")
    );
    let other_patient = app.as_patient("p2", w.tenant_a, w.p2);
    assert_eq!(
        error_code(&other_patient.query(RESULTS, patient_vars(w.p1)).await),
        Some("FORBIDDEN")
    );
    no_errors(&other_patient.query(RESULTS, patient_vars(w.p2)).await);
    Scene { app, w, carol }
}

async fn patient_sees_who_read_their_record_by_name_and_role(backend: Backend) {
    let Scene { app, w, .. } = scene(backend).await;
    let me = app.as_patient("p1", w.tenant_a, w.p1);
    let entries = history(&me, w.p1, Value::Null).await;

    let named = find(&entries, "Dr dr.a, clinician, Tenant a", "RESULTS");
    let what: Vec<&str> = named.iter().filter_map(|e| e["what"].as_str()).collect();
    assert!(
        what.contains(&"Test 58410-2"),
        "a released result is named: {named:#?}"
    );
    assert!(
        what.contains(&"a result"),
        "the held result is not named: {named:#?}"
    );
    assert!(
        !entries.iter().any(|e| e["what"] == "Test 56888-1"),
        "the held result's test never shows"
    );
    assert!(
        named
            .iter()
            .all(|e| e["outcome"] == "VIEWED" && e["actorRole"] == "CLINICIAN")
    );

    let lab = find(&entries, "lis, laboratory interface, Tenant a", "RESULTS");
    assert!(!lab.is_empty(), "the lab's read: {entries:#?}");
    assert!(lab.iter().all(|e| e["outcome"] == "VIEWED"));

    let proxy = find(&entries, "carol, proxy", "RESULTS");
    assert!(!proxy.is_empty(), "the proxy's read: {entries:#?}");
    assert_eq!(proxy[0]["actorRole"], "PROXY");

    // Refused at the patient: the denial is of the profile, before any result is read.
    let stranger = find(&entries, "Dr dr.other, clinician, Tenant a", "PROFILE");
    assert_eq!(stranger.len(), 1, "{entries:#?}");
    assert_eq!(stranger[0]["outcome"], "DENIED");

    let other = find(&entries, "Another portal user", "PROFILE");
    assert_eq!(
        other.len(),
        1,
        "another patient's attempt, unnamed: {entries:#?}"
    );
    assert_eq!(other[0]["outcome"], "DENIED");
    assert_eq!(other[0]["actorName"], Value::Null);

    let text = serde_json::to_string(&entries).expect("json");
    for hidden in [
        "GivenP2",
        "FamilyP2",
        &w.p1.to_string(),
        &w.p1_final.to_string(),
        "127.0.0.1",
    ] {
        assert!(!text.contains(hidden), "{hidden} must not show: {text}");
    }
    let times: Vec<&str> = entries.iter().filter_map(|e| e["at"].as_str()).collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted, "newest first");
}

async fn the_history_is_the_patients_audit_rows_and_reading_it_is_audited(backend: Backend) {
    let Scene { app, w, .. } = scene(backend).await;
    let rows_of = |patient: Uuid| {
        audit_event::Entity::find()
            .filter(audit_event::Column::PatientId.eq(patient))
            .count(&app.owner)
    };
    let before = rows_of(w.p1).await.expect("count");
    let me = app.as_patient("p1", w.tenant_a, w.p1);
    let entries = history(&me, w.p1, Value::Null).await;
    assert_eq!(
        entries.len() as u64,
        before,
        "one entry per audit row of P1, none of P2"
    );
    assert!(
        rows_of(w.p2).await.expect("count") > 0,
        "P2 has rows of their own"
    );

    let again = history(&me, w.p1, json!({ "kind": ["ACCESS_LOG"] })).await;
    assert_eq!(
        again.len(),
        1,
        "the first read of the history is on it: {again:#?}"
    );
    assert_eq!(again[0]["who"], "You");
    assert_eq!(again[0]["outcome"], "VIEWED");
    assert_eq!(again[0]["what"], "the access history");
}

async fn a_proxy_needs_the_access_log_scope(backend: Backend) {
    let Scene { app, w, carol } = scene(backend).await;
    let without = app.as_proxy("proxy.active", w.tenant_a, Some(w.p2));
    let response = without
        .query(LOG, json!({ "id": patient_gid(w.p1), "first": 5 }))
        .await;
    assert_eq!(error_code(&response), Some("FORBIDDEN"), "{response:#}");
    assert_eq!(response["data"]["patient"]["accessLog"], Value::Null);

    let carol = app.as_proxy("carol", w.tenant_a, Some(carol));
    let entries = history(&carol, w.p1, json!({ "kind": ["RESULTS"] })).await;
    assert!(
        !find(&entries, "You", "RESULTS").is_empty(),
        "carol's own read is 'You'"
    );
    assert!(
        entries.iter().all(|e| e["what"] != "Test 56888-1"),
        "held from the proxy too"
    );
    let refused = find(&entries, "carol, proxy", "RESULTS");
    assert!(
        refused.is_empty(),
        "carol is 'You' to herself: {refused:#?}"
    );
}

async fn a_clinician_cannot_read_the_history(backend: Backend) {
    let Scene { app, w, .. } = scene(backend).await;
    let response = app
        .as_clinician("dr.a", w.tenant_a)
        .query(LOG, json!({ "id": patient_gid(w.p1) }))
        .await;
    assert_eq!(error_code(&response), Some("FORBIDDEN"), "{response:#}");
}

async fn the_history_pages_newest_first_without_gaps(backend: Backend) {
    let Scene { app, w, .. } = scene(backend).await;
    let me = app.as_patient("p1", w.tenant_a, w.p1);
    let all = history(&me, w.p1, json!({ "kind": ["RESULTS"] })).await;
    assert!(all.len() >= 4, "{all:#?}");
    let mut paged = Vec::new();
    let mut after = Value::Null;
    loop {
        let vars = json!({ "id": patient_gid(w.p1), "first": 2, "after": after,
                           "filter": { "kind": ["RESULTS"] } });
        let response = me.query(LOG, vars).await;
        no_errors(&response);
        let log = &response["data"]["patient"]["accessLog"];
        let edges = log["edges"].as_array().expect("edges");
        assert!(edges.len() <= 2);
        paged.extend(edges.iter().map(|e| e["node"].clone()));
        if log["pageInfo"]["hasNextPage"] != json!(true) {
            break;
        }
        after = log["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(
        paged, all,
        "pages of two add up to the whole history, in order"
    );

    let since = all[1]["at"].clone();
    let recent = history(&me, w.p1, json!({ "kind": ["RESULTS"], "since": since })).await;
    assert_eq!(recent.len(), 2, "since is inclusive: {recent:#?}");
    let response = me
        .query(
            LOG,
            json!({ "id": patient_gid(w.p1),
            "filter": { "since": "2026-12-02T00:00:00Z", "until": "2026-12-01T00:00:00Z" } }),
        )
        .await;
    assert_eq!(
        error_code(&response),
        Some("BAD_USER_INPUT"),
        "{response:#}"
    );
}

async fn another_tenants_rows_never_show(backend: Backend) {
    let Scene { app, w, .. } = scene(backend).await;
    // A row of tenant B that names P1 (as a bug elsewhere could write it): the tenant filter,
    // and on PostgreSQL row-level security, keep it out of P1's history.
    let mut row = portal_core::audit::AuditRecord::new(
        portal_core::policy::Access::read("results.list", "TestResult"),
        Some(w.p1),
        portal_entities::AuditOutcome::Allowed,
    )
    .into_row(&portal_core::audit::Who {
        viewer: None,
        request_id: "forged",
        client_addr: None,
    });
    row.tenant_id = Some(w.tenant_b);
    row.subject = Some("intruder".into());
    portal_core::audit::append(&app.owner, vec![row])
        .await
        .expect("forged row");
    let in_tenant_a = audit_event::Entity::find()
        .filter(audit_event::Column::PatientId.eq(w.p1))
        .filter(audit_event::Column::TenantId.eq(w.tenant_a))
        .count(&app.owner)
        .await
        .expect("count");
    let me = app.as_patient("p1", w.tenant_a, w.p1);
    let entries = history(&me, w.p1, Value::Null).await;
    assert_eq!(entries.len() as u64, in_tenant_a, "{entries:#?}");
    assert!(
        entries
            .iter()
            .all(|e| e["who"] != "Another portal user" || e["outcome"] == "DENIED"),
        "the forged row is not among them: {entries:#?}"
    );
    let q1 = app.as_patient("q1", w.tenant_b, w.q1);
    let response = q1.query(LOG, json!({ "id": patient_gid(w.p1) })).await;
    assert!(
        matches!(error_code(&response), Some("NOT_FOUND" | "FORBIDDEN")),
        "{response:#}"
    );
}

async fn a_sent_result_link_is_a_disclosure(backend: Backend) {
    let Scene { app, w, .. } = scene(backend).await;
    let send =
        r#"mutation($id: ID!) { sendResultLink(resultId: $id, channel: SMS) { deliveryStatus } }"#;
    no_errors(
        &app.as_staff(w.tenant_a)
            .query(send, result_vars(w.p1_final))
            .await,
    );
    let me = app.as_patient("p1", w.tenant_a, w.p1);
    let entries = history(&me, w.p1, json!({ "kind": ["RESULT_LINK"] })).await;
    assert_eq!(entries.len(), 1, "{entries:#?}");
    let link = &entries[0];
    assert_eq!(link["outcome"], "DISCLOSED");
    assert_eq!(link["who"], "Staff, Tenant a");
    assert_eq!(link["what"], "Test 58410-2");
    assert!(
        link["disclosure"]["recipient"]
            .as_str()
            .is_some_and(|r| r.contains("patient"))
    );
    assert!(link["disclosure"]["purpose"].is_string());
}

async fn a_page_costs_the_same_statements_whatever_its_size(backend: Backend) {
    let Scene { app, w, .. } = scene(backend).await;
    let me = app.as_patient("p1", w.tenant_a, w.p1);
    let count = |first: i64| {
        let me = &me;
        async move {
            let vars = json!({ "id": patient_gid(w.p1), "first": first });
            let (response, statements) = me.count_statements(LOG, vars).await;
            no_errors(&response);
            let edges = response["data"]["patient"]["accessLog"]["edges"]
                .as_array()
                .map_or(0, Vec::len);
            (edges, statements)
        }
    };
    let (one, small) = count(1).await;
    let (many, large) = count(50).await;
    assert_eq!(one, 1);
    assert!(many > 5, "a page of many entries: {many}");
    assert_eq!(small, large, "statements of a page of 1 and of {many}");
}

on_both_backends!(
    patient_sees_who_read_their_record_by_name_and_role,
    the_history_is_the_patients_audit_rows_and_reading_it_is_audited,
    a_proxy_needs_the_access_log_scope,
    a_clinician_cannot_read_the_history,
    the_history_pages_newest_first_without_gaps,
    another_tenants_rows_never_show,
    a_sent_result_link_is_a_disclosure,
    a_page_costs_the_same_statements_whatever_its_size,
);

/// 100,000 audit rows of one patient (and as many of another): a page is one index range of
/// `idx_audit_events_patient_history` in the page's order, with no sort, as the application
/// role under row-level security. Run with `--nocapture` to see the plan.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_of_a_long_history_is_one_index_range_on_postgres() {
    use sea_orm::{ConnectionTrait, DatabaseBackend, Statement, TransactionTrait};
    let app = TestApp::init(Backend::Postgres).await;
    let w = app.world().await;
    for patient in [w.p1, w.p2] {
        app.owner
            .execute_raw(Statement::from_sql_and_values(
                DatabaseBackend::Postgres,
                "INSERT INTO audit_events (id, tenant_id, subject, roles, action, entity_type, \
                 patient_id, outcome, occurred_at, prev_hash, hash) \
                 SELECT gen_random_uuid(), $1, 'dr.a', 'clinician', 'results.list', 'TestResult', \
                 $2, 'ALLOWED', now() - make_interval(secs => g), '', '' \
                 FROM generate_series(1, 100000) g",
                [w.tenant_a.into(), patient.into()],
            ))
            .await
            .expect("100,000 rows");
    }
    app.owner
        .execute_unprepared("ANALYZE audit_events")
        .await
        .expect("analyze");

    let me = app.as_patient("p1", w.tenant_a, w.p1);
    app.record_sql();
    let response = me
        .query(LOG, json!({ "id": patient_gid(w.p1), "first": 20 }))
        .await;
    no_errors(&response);
    let edges = response["data"]["patient"]["accessLog"]["edges"]
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(edges, 20);
    let page_sql = app
        .recorded_sql()
        .into_iter()
        .find(|sql| sql.contains("FROM \"audit_events\""))
        .expect("the page statement");

    let txn = app.db.begin().await.expect("begin");
    txn.execute_raw(Statement::from_sql_and_values(
        DatabaseBackend::Postgres,
        "SELECT set_config('app.tenant_id', $1, true)",
        [w.tenant_a.to_string().into()],
    ))
    .await
    .expect("bind the tenant");
    txn.execute_unprepared(&format!("PREPARE access_log_page AS {page_sql}"))
        .await
        .expect("prepare");
    let explain = format!(
        "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) EXECUTE access_log_page('{}', '{}', 21)",
        w.tenant_a, w.p1
    );
    let plan: Vec<String> = txn
        .query_all_raw(Statement::from_string(DatabaseBackend::Postgres, explain))
        .await
        .expect("explain")
        .iter()
        .filter_map(|row| row.try_get_by_index::<String>(0).ok())
        .collect();
    txn.execute_unprepared("DEALLOCATE access_log_page")
        .await
        .expect("deallocate");
    println!("{page_sql}\n{}", plan.join("\n"));
    // The rows come off the index in the page's order: the limit sits right on the scan.
    assert!(plan[0].starts_with("Limit"), "{plan:#?}");
    assert!(
        plan[1].contains("Index Scan using idx_audit_events_patient_history on audit_events"),
        "{plan:#?}"
    );
    assert!(
        !plan
            .iter()
            .any(|line| line.contains("on audit_events") && !line.contains("Index Scan")),
        "no other scan of the trail: {plan:#?}"
    );
}
