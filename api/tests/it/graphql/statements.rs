//! Round trips per request, counted on PostgreSQL the way `bench/read.sh` counts them:
//! `pg_stat_statements` (track = all, top-level statements of the application role in this
//! test's database), so BEGIN, COMMIT and `set_config` count like any query. The in-process
//! counter of the test kit does not see them.
//!
//! That count takes in every connection of the application, so nothing else of the app may
//! run while a test measures: the `TestApp` starts no relay, sealer or worker, and the one
//! background task a test here starts (a tenant's event-hub follower, with its first
//! subscription) has done its start-up reading before the measured window opens.

use chrono::Utc;
use portal_entities::ResultStatus;
use portal_resolvers::ids::{NodeType, encode};
use sea_orm::{ConnectionTrait, DatabaseBackend, EntityTrait, Statement};
use serde_json::{Value, json};

use crate::graphql::ingest::{demo, hba1c};
use crate::graphql::ingest_batch::keyed;
use crate::support::{Backend, TestApp, no_errors};

/// The benchmark's query (bench/read.sh).
const NESTED_READ: &str = r#"query($p: ID!) { patient(id: $p) { results(first: 20) { edges { node {
  id status issuedAt test { code displayName }
  observations { code displayName valueNumeric unit interpretation } } } } } }"#;

/// Counts the application role's statements in this database while `f` runs.
pub(crate) struct Counter<'a> {
    app: &'a TestApp,
}

impl<'a> Counter<'a> {
    pub(crate) async fn new(app: &'a TestApp) -> Self {
        app.owner
            .execute_unprepared("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            .await
            .expect("pg_stat_statements (the test kit preloads it)");
        Self { app }
    }

    pub(crate) async fn reset(&self) {
        self.app
            .owner
            .execute_unprepared(
                "SELECT pg_stat_statements_reset(r.oid, d.oid, 0) FROM pg_roles r, pg_database d \
                 WHERE r.rolname = 'portal_app' AND d.datname = current_database()",
            )
            .await
            .expect("reset");
    }

    /// (statement text, calls) of the application role since the last reset.
    async fn statements(&self) -> Vec<(String, i64)> {
        self.app
            .owner
            .query_all_raw(Statement::from_string(
                DatabaseBackend::Postgres,
                "SELECT s.query, s.calls FROM pg_stat_statements s \
                 JOIN pg_database d ON d.oid = s.dbid JOIN pg_roles r ON r.oid = s.userid \
                 WHERE d.datname = current_database() AND r.rolname = 'portal_app' \
                 AND s.toplevel ORDER BY s.calls DESC, s.query",
            ))
            .await
            .expect("pg_stat_statements")
            .iter()
            .map(|row| {
                (
                    row.try_get::<String>("", "query").expect("query"),
                    row.try_get::<i64>("", "calls").expect("calls"),
                )
            })
            .collect()
    }

    /// How many times the statement `text` ran since the last reset.
    async fn calls(&self, text: &str) -> i64 {
        count(&self.statements().await, |query| query == text)
    }

    /// Waits until `done` holds for the statements since the last reset: for work the
    /// application does in the background, at a moment of its choosing.
    pub(crate) async fn wait_until(&self, what: &str, done: impl Fn(&[(String, i64)]) -> bool) {
        let waiting = async {
            while !done(&self.statements().await) {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        };
        if tokio::time::timeout(std::time::Duration::from_secs(30), waiting)
            .await
            .is_err()
        {
            let (_, listing) = self.total().await;
            panic!("still waiting for {what}:\n{listing}");
        }
    }

    pub(crate) async fn total(&self) -> (i64, String) {
        let statements = self.statements().await;
        let total = statements.iter().map(|(_, calls)| calls).sum();
        let listing = statements
            .iter()
            .map(|(query, calls)| {
                format!(
                    "{calls:>3} × {}",
                    query.chars().take(160).collect::<String>()
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        (total, listing)
    }
}

/// How many times the statements `matching` ran, in a listing of `Counter::statements`.
fn count(statements: &[(String, i64)], matching: impl Fn(&str) -> bool) -> i64 {
    statements
        .iter()
        .filter(|(query, _)| matching(query))
        .map(|(_, calls)| calls)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nested_patient_results_read_takes_at_most_five_statements() {
    let app = TestApp::init(Backend::Postgres).await;
    let w = app.world().await;
    for day in 0..6 {
        let order = app.order(w.tenant_a, w.p1, w.facility, w.cbc, None).await;
        let issued = Utc::now() - chrono::Duration::days(day + 1);
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
    }
    let me = app.as_patient("p1", w.tenant_a, w.p1);
    let vars = json!({ "p": encode(NodeType::Patient, w.p1).to_string() });
    let counter = Counter::new(&app).await;
    // The first read warms what is cached per process (nothing of the count depends on it).
    no_errors(&me.query(NESTED_READ, vars.clone()).await);
    for _ in 0..3 {
        counter.reset().await;
        let answer = me.query(NESTED_READ, vars.clone()).await;
        no_errors(&answer);
        let edges = answer["data"]["patient"]["results"]["edges"]
            .as_array()
            .map_or(0, Vec::len);
        assert!(edges >= 6, "{answer:#}");
        let (total, listing) = counter.total().await;
        assert!(
            total <= 5,
            "{total} statements for one nested read:\n{listing}"
        );
        assert!(
            listing.contains("BEGIN") && listing.contains("COMMIT"),
            "{listing}"
        );
    }
}

/// The relay numbers a whole batch of events with one UPDATE (before: one per event).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_numbers_a_batch_in_one_statement() {
    let app = TestApp::init(Backend::Postgres).await;
    let (tenant, _) = portal_demo::seed(&app.db).await.expect("seed");
    let lab = app.as_lab(tenant);
    let alice = portal_services::patients::find_by_mrn(&app.owner, tenant, "MRN1001")
        .await
        .expect("q")
        .expect("alice");
    let facility = portal_entities::facility::Entity::find()
        .one(&app.owner)
        .await
        .expect("q")
        .expect("facility");
    let add =
        r#"mutation($input: AddTestResultInput!) { addTestResult(input: $input) { eventId } }"#;
    for i in 0..4 {
        let input = json!({ "input": {
            "patientId": encode(NodeType::Patient, alice.id).to_string(),
            "order": { "facilityId": encode(NodeType::Facility, facility.id).to_string(),
                       "testCode": "4548-4", "source": "WALK_IN" },
            "status": "FINAL",
            "issuedAt": Utc::now().to_rfc3339(),
            "observations": [{ "code": "4548-4", "valueNumeric": 5.0 + f64::from(i) }],
        }});
        no_errors(&lab.query(add, input).await);
    }
    let counter = Counter::new(&app).await;
    counter.reset().await;
    let scope = portal_core::db::TenantDb::scoped(app.db.clone(), Some(tenant));
    let numbered = portal_messaging::outbox::sequence(&scope, 100)
        .await
        .expect("sequence");
    assert_eq!(numbered, 4);
    let updates: i64 = counter
        .statements()
        .await
        .iter()
        .filter(|(query, _)| query.starts_with("UPDATE") && query.contains("publish_seq"))
        .map(|(_, calls)| calls)
        .sum();
    assert_eq!(updates, 1, "{:#?}", counter.statements().await);
    let seqs: Vec<i64> = portal_entities::outbox_event::Entity::find()
        .all(&app.owner)
        .await
        .expect("events")
        .iter()
        .filter_map(|e| e.publish_seq)
        .collect();
    let mut sorted = seqs.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (1..=4).collect::<Vec<i64>>(), "{seqs:?}");
}

/// `addTestResult`: the idempotency lookup, the write and its audit rows in one transaction
/// of at most 10 statements (issue 13; 17 before the writes went out as one statement).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_test_result_runs_in_one_transaction_of_at_most_ten_statements() {
    let d = demo(Backend::Postgres).await;
    let (app, lab) = (&d.app, &d.lab);
    let add = r#"mutation($input: AddTestResultInput!) { addTestResult(input: $input) {
      replayed eventId notifications { channel status } result { id status } } }"#;
    let input = |i: u32| {
        let mut input = hba1c(&d, 5.0 + f64::from(i), "FINAL");
        input["idempotencyKey"] = json!(format!("statements-{i}"));
        json!({ "input": input })
    };
    let counter = Counter::new(app).await;
    no_errors(&lab.query(add, input(0)).await);
    let mut last = Value::Null;
    for i in 1..=3 {
        counter.reset().await;
        last = input(i);
        let answer = lab.query(add, last.clone()).await;
        no_errors(&answer);
        let (total, listing) = counter.total().await;
        assert_eq!(counter.calls("BEGIN").await, 1, "{listing}");
        assert!(
            total <= 10,
            "{total} statements for one addTestResult:\n{listing}"
        );
    }
    // A replay of the same key is answered from the first one and stores nothing new.
    let again = lab.query(add, last).await;
    assert_eq!(
        again["data"]["addTestResult"]["replayed"], true,
        "{again:#}"
    );
}

/// `addTestResults`: the items of a batch share one transaction (one BEGIN, one COMMIT), a
/// savepoint each. Ten items with idempotency keys take 6 + 5 per item on PostgreSQL:
/// BEGIN, set_config, the test, the facility and its critical-results switch once, COMMIT;
/// per item SAVEPOINT, the key,
/// the patient, the write, RELEASE (before: 17 per item, in a transaction each).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_ten_results_shares_one_transaction_of_at_most_fifty_six_statements() {
    let d = demo(Backend::Postgres).await;
    let batch = r#"mutation($inputs: [AddTestResultInput!]!) { addTestResults(inputs: $inputs) {
      succeeded items { error { code } } } }"#;
    let inputs = keyed(&d, 10, "batch");
    let counter = Counter::new(&d.app).await;
    counter.reset().await;
    let answer = d.lab.query(batch, json!({ "inputs": inputs })).await;
    no_errors(&answer);
    assert_eq!(
        answer["data"]["addTestResults"]["succeeded"], 10,
        "{answer:#}"
    );
    let (total, listing) = counter.total().await;
    let ends = (counter.calls("BEGIN").await, counter.calls("COMMIT").await);
    assert_eq!(ends, (1, 1), "{listing}");
    assert!(
        total <= 6 + 5 * 10,
        "{total} statements for a batch of ten:\n{listing}"
    );
}

/// A batch of more than 100 results takes one shared transaction per 100.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_a_hundred_and_fifty_results_takes_two_transactions() {
    let d = demo(Backend::Postgres).await;
    let batch = r#"mutation($inputs: [AddTestResultInput!]!) { addTestResults(inputs: $inputs) {
      succeeded } }"#;
    let inputs: Vec<Value> = (0..150)
        .map(|i| hba1c(&d, 5.0 + f64::from(i) / 100.0, "FINAL"))
        .collect();
    let counter = Counter::new(&d.app).await;
    counter.reset().await;
    let answer = d.lab.query(batch, json!({ "inputs": inputs })).await;
    no_errors(&answer);
    assert_eq!(answer["data"]["addTestResults"]["succeeded"], 150);
    assert_eq!(counter.calls("BEGIN").await, 2);
}

/// A `resultReady` subscribe is one unit of work: the access decision, the starting point and
/// the audit row in one transaction (before: a transaction per statement, four of them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscribe_is_authorized_and_audited_in_one_transaction() {
    use futures_util::StreamExt;
    use std::sync::Arc;
    use std::time::Duration;

    let app = TestApp::init(Backend::Postgres).await;
    let w = app.world().await;
    let viewer = app.as_patient("p1", w.tenant_a, w.p1).viewer().await;
    let query = "subscription($p: ID!) { resultReady(patientId: $p) { eventId } }";
    let vars = json!({ "p": encode(NodeType::Patient, w.p1).to_string() });
    let subscribe = |n: usize| {
        let subscriber = portal_schema::Subscriber {
            viewer: Some(viewer.clone()),
            client_addr: Some("127.0.0.1".into()),
            connection_id: format!("statements-{n}"),
            closing: Arc::default(),
        };
        let data = portal_schema::connection_data(&app.state.schema, subscriber);
        let request = async_graphql::Request::new(query)
            .variables(async_graphql::Variables::from_json(vars.clone()));
        let mut stream = app
            .state
            .schema
            .execute_stream_with_session_data(request, Arc::new(data))
            .boxed();
        tokio::spawn(async move { while stream.next().await.is_some() {} })
    };
    let counter = Counter::new(&app).await;
    counter.reset().await;
    // The first subscribe of the tenant starts the replica's follower for it (not counted).
    // The follower reads the tenant's last number once more when its task first runs, in a
    // transaction of its own (BEGIN, set_config, the read, COMMIT) that a loaded machine may
    // run late, even after the second subscribe: the measured window opens once it has
    // committed. The last number is read three times in all (the subscribe's starting point,
    // the hub's start, the follower's catch-up), each BEGIN before its read.
    let _first = subscribe(1);
    app.wait_for_subscribers_within(1, Duration::from_secs(30))
        .await;
    counter
        .wait_until("the follower's start-up read, committed", |s| {
            let last_seq = |q: &str| q.contains("MAX(") && q.contains("publish_seq");
            count(s, last_seq) >= 3 && count(s, |q| q == "COMMIT") >= count(s, |q| q == "BEGIN")
        })
        .await;
    counter.reset().await;
    let _second = subscribe(2);
    app.wait_for_subscribers_within(2, Duration::from_secs(30))
        .await;
    let (total, listing) = counter.total().await;
    assert_eq!(counter.calls("BEGIN").await, 1, "{listing}");
    assert_eq!(counter.calls("COMMIT").await, 1, "{listing}");
    assert!(
        total <= 7,
        "{total} statements for one subscribe:\n{listing}"
    );
    assert!(
        listing.contains(r#"INSERT INTO "audit_events""#),
        "{listing}"
    );
    let audited = app
        .audit_rows()
        .await
        .into_iter()
        .filter(|r| {
            r.action == "results.subscribe" && r.request_id.as_deref() == Some("statements-2")
        })
        .count();
    assert_eq!(audited, 1, "the subscribe is on the trail");
}
