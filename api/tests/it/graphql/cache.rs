//! The read cache: a hit is audited like the live read and withheld when the audit trail
//! fails; viewers never share an entry; every kind of write is seen by the next read; with
//! Redis, replicas share entries and invalidations, and a Redis outage only costs speed.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::Utc;
use portal_core::audit::{ChainCheck, verify_chain};
use portal_entities::{audit_event, facility};
use portal_testkit::redis::RedisServer;
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends;
use crate::operations::metrics::sample;
use crate::support::ids::{clinician_gid, facility_gid, patient_gid, patient_vars};
use crate::support::{Actor, Backend, TestApp, error_code, no_errors};

const RESULTS: &str =
    "query($id: ID!) { patient(id: $id) { results(first: 50) { edges { node { id status } } } } }";
const ACCESS: &str = "query($id: ID!) { patient(id: $id) { access { relationship } } }";
const MY_PATIENTS: &str = "{ viewer { patients { edges { node { id } } } } }";
const ACCOUNT: &str = "query($id: ID!) { patient(id: $id) {
  notificationPreferences { language }
  proxyGrants { edges { node { id active } } }
  appointments(first: 50) { edges { node { id status } } } } }";
const ADD: &str =
    "mutation($input: AddTestResultInput!) { addTestResult(input: $input) { result { id } } }";
const CORRECT: &str = "mutation($id: ID!, $input: CorrectTestResultInput!) {
  correctTestResult(id: $id, input: $input, reason: \"mix-up\") { result { id } } }";
const WITHDRAW: &str = "mutation($id: ID!) { markTestResultEnteredInError(id: $id, reason: \"wrong patient\") { result { id } } }";
const PREFS: &str = "mutation($id: ID!) { updateNotificationPreferences(patientId: $id, input: { language: \"es\" }) { preferences { language } } }";
const GRANT: &str = "mutation($id: ID!) { grantProxyAccess(patientId: $id, input: {
  granteeSubject: \"maria\", granteeName: \"Maria\", relationship: \"PARENT\", scopes: [RESULTS] }) { grant { id } } }";
const REVOKE: &str = "mutation($id: ID!) { revokeProxyAccess(id: $id) { grant { id } } }";
const BOOK: &str = "mutation($id: ID!, $input: BookAppointmentInput!) { bookAppointment(patientId: $id, input: $input) { appointment { id } } }";
const CANCEL: &str = "mutation($id: ID!) { cancelAppointment(id: $id) { appointment { id } } }";

async fn cached_app(backend: Backend) -> TestApp {
    TestApp::init(backend)
        .with_config(|c| c.cache_enabled = true)
        .await
}

fn hits(app: &TestApp) -> u64 {
    app.state.cache.stats().hit.load(Ordering::SeqCst)
}

/// Runs `query` twice: the first answer is stored, the second must come from the cache.
async fn read_twice(app: &TestApp, actor: &Actor, query: &str, variables: Value) -> Value {
    let live = actor.query(query, variables.clone()).await;
    no_errors(&live);
    let before = hits(app);
    let cached = actor.query(query, variables).await;
    assert_eq!(
        hits(app),
        before + 1,
        "the repeated read is a hit: {cached:#}"
    );
    assert_eq!(cached, live, "a hit answers what the live read answered");
    live
}

fn ids(response: &Value, pointer: &str) -> Vec<Value> {
    response
        .pointer(pointer)
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("no list at {pointer}: {response:#}"))
        .iter()
        .map(|edge| edge["node"]["id"].clone())
        .collect()
}

fn status_of(response: &Value, pointer: &str, id: &Value) -> Value {
    response
        .pointer(pointer)
        .and_then(Value::as_array)
        .and_then(|edges| edges.iter().find(|e| &e["node"]["id"] == id))
        .map(|e| e["node"]["status"].clone())
        .unwrap_or_else(|| panic!("{id} not at {pointer}: {response:#}"))
}

/// The demo tenant: Alice, Carol (proxy of Ben), the lab, staff and a facility.
struct Demo {
    tenant: Uuid,
    alice: Actor,
    alice_id: Uuid,
    carol: Actor,
    ben_id: Uuid,
    lab: Actor,
    staff: Actor,
    facility: String,
}

async fn demo(app: &TestApp) -> Demo {
    let (tenant, _) = portal_demo::seed(&app.owner).await.expect("seed");
    let find = |mrn: &'static str| async move {
        portal_services::patients::find_by_mrn(&app.owner, tenant, mrn)
            .await
            .expect("query")
            .expect("demo patient")
            .id
    };
    let (alice_id, carol_id, ben_id) = (
        find("MRN1001").await,
        find("MRN1002").await,
        find("MRN1003").await,
    );
    let facility = facility::Entity::find()
        .one(&app.owner)
        .await
        .expect("query")
        .expect("facility");
    Demo {
        tenant,
        alice: app.as_patient("alice", tenant, alice_id),
        alice_id,
        carol: app.as_patient("carol", tenant, carol_id),
        ben_id,
        lab: app.as_lab(tenant),
        staff: app.as_staff(tenant),
        facility: facility_gid(facility.id),
    }
}

fn hba1c(d: &Demo, value: f64) -> Value {
    json!({ "input": {
        "patientId": patient_gid(d.alice_id),
        "order": { "facilityId": d.facility, "testCode": "4548-4" },
        "status": "FINAL",
        "issuedAt": Utc::now().to_rfc3339(),
        "observations": [{ "code": "4548-4", "valueNumeric": value }] } })
}

/// Runs a mutation and returns the id at `pointer` of its payload.
async fn write(actor: &Actor, mutation: &str, variables: Value, pointer: &str) -> Value {
    let response = actor.query(mutation, variables).await;
    no_errors(&response);
    let id = response.pointer(pointer).cloned().unwrap_or(Value::Null);
    assert!(id.is_string(), "no id at {pointer}: {response:#}");
    id
}

/// The audit rows of one request, without what differs between requests.
fn content(rows: &[audit_event::Model], request_id: &str) -> Vec<String> {
    rows.iter()
        .filter(|r| r.request_id.as_deref() == Some(request_id))
        .map(|r| {
            format!(
                "{:?} {:?} {} {:?} {} {} {:?} {:?} {:?} {:?} {:?}",
                r.tenant_id,
                r.subject,
                r.roles,
                r.proxy_for,
                r.action,
                r.entity_type,
                r.entity_id,
                r.patient_id,
                r.outcome,
                r.reason,
                r.client_addr
            )
        })
        .collect()
}

async fn a_hit_writes_the_same_audit_rows_under_its_own_request_id(backend: Backend) {
    let app = cached_app(backend).await;
    let w = app.world().await;
    let parent = app.as_proxy("proxy.active", w.tenant_a, Some(w.p2));
    read_twice(&app, &parent, RESULTS, patient_vars(w.p1)).await;

    let rows = app.audit_rows().await;
    let mut requests: BTreeMap<i64, String> = BTreeMap::new();
    for row in &rows {
        let id = row.request_id.clone().expect("request id");
        if !requests.values().any(|seen| *seen == id) {
            requests.insert(row.seq, id);
        }
    }
    let requests: Vec<String> = requests.into_values().collect();
    assert_eq!(requests.len(), 2, "one set of rows per request: {rows:#?}");
    let (live, hit) = (content(&rows, &requests[0]), content(&rows, &requests[1]));
    assert!(live.iter().any(|r| r.contains("results.list")), "{live:#?}");
    assert!(
        live.iter().all(|r| r.contains(&format!("Some({})", w.p1))),
        "proxy_for and patient: {live:#?}"
    );
    assert_eq!(hit, live, "the hit is audited exactly like the live read");
    assert_eq!(
        verify_chain(&app.owner).await.expect("verify"),
        ChainCheck::Intact {
            rows: rows.len() as u64
        }
    );
}

async fn two_viewers_never_share_an_entry(backend: Backend) {
    let app = cached_app(backend).await;
    let w = app.world().await;
    let p1 = app.as_patient("p1", w.tenant_a, w.p1);
    let p2 = app.as_patient("p2", w.tenant_a, w.p2);
    let parent = app.as_proxy("proxy.active", w.tenant_a, Some(w.p2));
    let own = "{ viewer { patient { mrn } } }";
    let mine = read_twice(&app, &p1, own, json!({})).await;
    assert_eq!(mine["data"]["viewer"]["patient"]["mrn"], "P1");
    let theirs = p2.query(own, json!({})).await;
    assert_eq!(
        theirs["data"]["viewer"]["patient"]["mrn"], "P2",
        "{theirs:#}"
    );

    let as_self = read_twice(&app, &p1, ACCESS, patient_vars(w.p1)).await;
    assert_eq!(as_self["data"]["patient"]["access"]["relationship"], "SELF");
    let before = hits(&app);
    let as_proxy = parent.query(ACCESS, patient_vars(w.p1)).await;
    assert_eq!(
        as_proxy["data"]["patient"]["access"]["relationship"], "PROXY",
        "{as_proxy:#}"
    );
    let stranger = p2.query(ACCESS, patient_vars(w.p1)).await;
    assert_eq!(error_code(&stranger), Some("FORBIDDEN"), "{stranger:#}");
    let again = p2.query(ACCESS, patient_vars(w.p1)).await;
    assert_eq!(
        error_code(&again),
        Some("FORBIDDEN"),
        "errors are never cached: {again:#}"
    );
    assert_eq!(
        hits(&app),
        before,
        "no viewer was answered from another's entry"
    );
}

async fn a_revoked_proxy_is_refused_on_its_very_next_read(backend: Backend) {
    let app = cached_app(backend).await;
    let w = app.world().await;
    let p1 = app.as_patient("p1", w.tenant_a, w.p1);
    let parent = app.as_proxy("proxy.active", w.tenant_a, Some(w.p2));
    read_twice(&app, &parent, RESULTS, patient_vars(w.p1)).await;
    let listed = read_twice(&app, &parent, MY_PATIENTS, json!({})).await;
    assert!(ids(&listed, "/data/viewer/patients/edges").contains(&json!(patient_gid(w.p1))));
    let account = read_twice(&app, &p1, ACCOUNT, patient_vars(w.p1)).await;
    let grants = account["data"]["patient"]["proxyGrants"]["edges"]
        .as_array()
        .expect("grants")
        .clone();
    let active = grants
        .iter()
        .find(|g| g["node"]["active"] == true)
        .unwrap_or_else(|| panic!("one active grant: {account:#}"))["node"]["id"]
        .clone();

    write(
        &p1,
        REVOKE,
        json!({ "id": active }),
        "/data/revokeProxyAccess/grant/id",
    )
    .await;

    let refused = parent.query(RESULTS, patient_vars(w.p1)).await;
    assert_eq!(error_code(&refused), Some("FORBIDDEN"), "{refused:#}");
    let listed = parent.query(MY_PATIENTS, json!({})).await;
    assert!(
        !ids(&listed, "/data/viewer/patients/edges").contains(&json!(patient_gid(w.p1))),
        "{listed:#}"
    );
    let account = p1.query(ACCOUNT, patient_vars(w.p1)).await;
    let grants = &account["data"]["patient"]["proxyGrants"]["edges"];
    assert!(
        grants
            .as_array()
            .is_some_and(|g| g.iter().all(|g| g["node"]["active"] == false)),
        "{account:#}"
    );
}

async fn every_kind_of_write_is_seen_by_the_next_read(backend: Backend) {
    let app = cached_app(backend).await;
    let d = demo(&app).await;
    let alice = patient_vars(d.alice_id);
    let results = "/data/patient/results/edges";

    // A new result.
    let before = read_twice(&app, &d.alice, RESULTS, alice.clone()).await;
    let added = write(&d.lab, ADD, hba1c(&d, 6.2), "/data/addTestResult/result/id").await;
    assert!(!ids(&before, results).contains(&added));
    let after = read_twice(&app, &d.alice, RESULTS, alice.clone()).await;
    assert_eq!(status_of(&after, results, &added), "FINAL");

    // A correction replaces it in the list.
    let correction = json!({ "id": added, "input": { "observations": [{ "code": "4548-4", "valueNumeric": 6.6 }] } });
    let corrected = write(
        &d.lab,
        CORRECT,
        correction,
        "/data/correctTestResult/result/id",
    )
    .await;
    let after = read_twice(&app, &d.alice, RESULTS, alice.clone()).await;
    assert_eq!(status_of(&after, results, &corrected), "CORRECTED");
    assert!(!ids(&after, results).contains(&added), "{after:#}");

    // Entered in error.
    let withdrawn = write(
        &d.lab,
        WITHDRAW,
        json!({ "id": corrected }),
        "/data/markTestResultEnteredInError/result/id",
    )
    .await;
    let after = read_twice(&app, &d.alice, RESULTS, alice.clone()).await;
    assert_eq!(status_of(&after, results, &withdrawn), "ENTERED_IN_ERROR");

    // Preferences, a grant (also on the grantee's list of patients), a booking, a cancellation.
    let tenant = d.tenant;
    let maria_id = app.patient(tenant, "MARIA", Some("maria")).await;
    let maria = app.as_patient("maria", tenant, maria_id);
    let herself = read_twice(&app, &maria, MY_PATIENTS, json!({})).await;
    assert_eq!(
        ids(&herself, "/data/viewer/patients/edges"),
        vec![json!(patient_gid(maria_id))]
    );
    let account = read_twice(&app, &d.alice, ACCOUNT, alice.clone()).await;
    assert_ne!(
        account["data"]["patient"]["notificationPreferences"]["language"],
        "es"
    );
    write(
        &d.alice,
        PREFS,
        alice.clone(),
        "/data/updateNotificationPreferences/preferences/language",
    )
    .await;
    let account = read_twice(&app, &d.alice, ACCOUNT, alice.clone()).await;
    assert_eq!(
        account["data"]["patient"]["notificationPreferences"]["language"],
        "es"
    );

    let grant = write(
        &d.alice,
        GRANT,
        alice.clone(),
        "/data/grantProxyAccess/grant/id",
    )
    .await;
    let account = read_twice(&app, &d.alice, ACCOUNT, alice.clone()).await;
    assert!(ids(&account, "/data/patient/proxyGrants/edges").contains(&grant));
    let listed = read_twice(&app, &maria, MY_PATIENTS, json!({})).await;
    let listed = ids(&listed, "/data/viewer/patients/edges");
    assert!(
        listed.contains(&json!(patient_gid(d.alice_id))),
        "{listed:?}"
    );

    let starts = Utc::now() + chrono::Duration::days(3);
    let booking = json!({ "id": patient_gid(d.alice_id), "input": {
        "facilityId": d.facility, "kind": "LAB_DRAW",
        "startsAt": starts.to_rfc3339(), "endsAt": (starts + chrono::Duration::minutes(15)).to_rfc3339() } });
    let booked = write(
        &d.alice,
        BOOK,
        booking,
        "/data/bookAppointment/appointment/id",
    )
    .await;
    let appointments = "/data/patient/appointments/edges";
    let account = read_twice(&app, &d.alice, ACCOUNT, alice.clone()).await;
    assert_eq!(status_of(&account, appointments, &booked), "BOOKED");
    write(
        &d.alice,
        CANCEL,
        json!({ "id": booked }),
        "/data/cancelAppointment/appointment/id",
    )
    .await;
    let account = d.alice.query(ACCOUNT, alice).await;
    assert_eq!(status_of(&account, appointments, &booked), "CANCELLED");
}

async fn a_new_order_puts_the_patient_on_the_clinicians_list(backend: Backend) {
    let app = cached_app(backend).await;
    let d = demo(&app).await;
    let tenant = d.tenant;
    let clinician = app.clinician(tenant, "dr.new").await;
    let doctor = app.as_clinician("dr.new", tenant);
    let nobody = read_twice(&app, &doctor, MY_PATIENTS, json!({})).await;
    assert_eq!(
        ids(&nobody, "/data/viewer/patients/edges"),
        Vec::<Value>::new()
    );
    let mut input = hba1c(&d, 6.0);
    input["input"]["order"]["orderingClinicianId"] = json!(clinician_gid(clinician));
    write(&d.lab, ADD, input, "/data/addTestResult/result/id").await;
    let listed = doctor.query(MY_PATIENTS, json!({})).await;
    assert_eq!(
        ids(&listed, "/data/viewer/patients/edges"),
        vec![json!(patient_gid(d.alice_id))],
        "{listed:#}"
    );
}

async fn a_hit_is_withheld_when_the_audit_trail_cannot_be_written(backend: Backend) {
    let app = cached_app(backend).await;
    let w = app.world().await;
    let p1 = app.as_patient("p1", w.tenant_a, w.p1);
    let variables = patient_vars(w.p1);
    no_errors(&p1.query(RESULTS, variables.clone()).await);
    app.break_audit_trail().await;
    let before = hits(&app);
    let withheld = p1.query(RESULTS, variables).await;
    assert_eq!(hits(&app), before + 1, "answered from the cache");
    assert_eq!(error_code(&withheld), Some("UNAVAILABLE"), "{withheld:#}");
    assert!(
        withheld["data"].is_null(),
        "no data without an audit row: {withheld:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_does_not_outlive_the_grant_it_relied_on() {
    let app = cached_app(Backend::Sqlite).await;
    let w = app.world().await;
    let ends = Utc::now() + chrono::Duration::seconds(3);
    app.grant(w.tenant_a, w.p2, "proxy.brief", "RESULTS", Some(ends), None)
        .await;
    let parent = app.as_proxy("proxy.brief", w.tenant_a, Some(w.p1));
    let variables = patient_vars(w.p2);
    no_errors(&parent.query(RESULTS, variables.clone()).await);
    tokio::time::sleep(
        (ends - Utc::now()).to_std().unwrap_or_default() + Duration::from_millis(500),
    )
    .await;
    let expired = parent.query(RESULTS, variables).await;
    assert_eq!(error_code(&expired), Some("FORBIDDEN"), "{expired:#}");
}

/// Two application instances on one PostgreSQL database and one Redis, like two replicas.
async fn replicas(redis: &RedisServer) -> (TestApp, TestApp) {
    let url = portal_testkit::postgres::fresh_database();
    let replica = || {
        TestApp::init_with_database_url(&url)
            .with_secret("REDIS_URL", redis.url())
            .with_config(|c| c.cache_enabled = true)
    };
    let a = replica().await;
    let b = replica().await;
    (a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_entries_and_a_write_on_one_is_seen_on_the_other() {
    let redis = RedisServer::start();
    let (a, b) = replicas(&redis).await;
    // One demo tenant; each replica has its own dev signing key, so its own actors.
    let d = demo(&a).await;
    let on_b = demo(&b).await;
    let alice = patient_vars(d.alice_id);
    let results = "/data/patient/results/edges";

    let on_a = d.alice.query(RESULTS, alice.clone()).await;
    no_errors(&on_a);
    let answer_b = on_b.alice.query(RESULTS, alice.clone()).await;
    assert_eq!(hits(&b), 1, "B answers from the entry A stored");
    assert_eq!(answer_b, on_a);

    let added = write(
        &on_b.lab,
        ADD,
        hba1c(&d, 5.9),
        "/data/addTestResult/result/id",
    )
    .await;
    let fresh = d.alice.query(RESULTS, alice).await;
    assert_eq!(status_of(&fresh, results, &added), "FINAL");

    // Carol sees Ben's results as his proxy until staff revoke the grant on the other replica.
    let ben = patient_vars(d.ben_id);
    no_errors(&d.carol.query(RESULTS, ben.clone()).await);
    let account = on_b.staff.query(ACCOUNT, ben.clone()).await;
    let grant = ids(&account, "/data/patient/proxyGrants/edges")
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("Ben's grant: {account:#}"));
    let hits_before = hits(&a);
    no_errors(&d.carol.query(RESULTS, ben.clone()).await);
    assert_eq!(hits(&a), hits_before + 1, "Carol's read is cached on A");
    write(
        &on_b.staff,
        REVOKE,
        json!({ "id": grant }),
        "/data/revokeProxyAccess/grant/id",
    )
    .await;
    let refused = d.carol.query(RESULTS, ben).await;
    assert_eq!(error_code(&refused), Some("FORBIDDEN"), "{refused:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_down_reads_are_answered_live_and_caching_resumes_when_it_is_back() {
    let mut redis = RedisServer::start();
    let redis_url = redis.url();
    let app = TestApp::init(Backend::Sqlite)
        .with_secret("REDIS_URL", &redis_url)
        .with_config(|c| c.cache_enabled = true)
        .await;
    let d = demo(&app).await;
    let server = app.serve().await;
    let alice = patient_vars(d.alice_id);
    let results = "/data/patient/results/edges";
    read_twice(&app, &d.alice, RESULTS, alice.clone()).await;

    redis.stop();
    let stats = app.state.cache.stats();
    let errors_before = stats.error.load(Ordering::SeqCst);
    let live = d.alice.query(RESULTS, alice.clone()).await;
    no_errors(&live);
    let added = write(&d.lab, ADD, hba1c(&d, 6.4), "/data/addTestResult/result/id").await;
    let fresh = d.alice.query(RESULTS, alice.clone()).await;
    assert_eq!(
        status_of(&fresh, results, &added),
        "FINAL",
        "answered live while Redis is down"
    );
    assert!(stats.error.load(Ordering::SeqCst) >= errors_before + 2);

    redis.restart();
    let hits_before = hits(&app);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while hits(&app) == hits_before {
        assert!(
            tokio::time::Instant::now() < deadline,
            "caching did not resume within 30 s"
        );
        let answer = d.alice.query(RESULTS, alice.clone()).await;
        assert_eq!(status_of(&answer, results, &added), "FINAL");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let text = crate::operations::metrics::scrape(server.addr).await;
    let count = |outcome| {
        sample(
            &text,
            "portal_cache_requests_total",
            &[("outcome", outcome)],
        )
        .unwrap_or(0.0)
    };
    assert!(
        count("hit") >= 2.0 && count("miss") >= 1.0 && count("error") >= 2.0,
        "{text}"
    );
}

on_both_backends!(
    a_hit_writes_the_same_audit_rows_under_its_own_request_id,
    two_viewers_never_share_an_entry,
    a_revoked_proxy_is_refused_on_its_very_next_read,
    every_kind_of_write_is_seen_by_the_next_read,
    a_new_order_puts_the_patient_on_the_clinicians_list,
    a_hit_is_withheld_when_the_audit_trail_cannot_be_written,
);
