//! Several replicas: two real `portal serve` processes on one PostgreSQL database and one
//! Redis; a subscription on replica A receives results committed on replica B, and a Redis
//! outage degrades fan-out without breaking local delivery.

use std::path::Path;
use std::time::Duration;

use portal_entities::{ResultStatus, outbox_event};
use portal_messaging::outbox;
use portal_testkit::redis::RedisServer;
use sea_orm::sea_query::LockType;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect, TransactionTrait};
use serde_json::{Value, json};

use crate::support::binary::{Server, post, start_with, token_with};
use crate::support::ws::WsClient;
use crate::support::{Backend, TestApp};

pub(crate) const RESULT_READY: &str = "subscription($p: ID!, $a: ID) { resultReady(patientId: $p, after: $a) { eventId result { id } } }";
const ADD_RESULT: &str = "mutation($input: AddTestResultInput!) { addTestResult(input: $input) { eventId result { id } } }";

/// Alice's patient id and a facility of hers, read through `server`.
pub(crate) async fn alice_and_facility(server: &Server, alice: &str) -> (Value, Value) {
    let query = json!({ "query": "{ viewer { patient { id orders(first: 1) { edges { node { facility { id } } } } } } }" });
    let (_, body) = post(server, Some(alice), query, "replicas-setup").await;
    let patient = &body["data"]["viewer"]["patient"];
    let facility = patient["orders"]["edges"][0]["node"]["facility"]["id"].clone();
    assert!(
        patient["id"].is_string() && facility.is_string(),
        "{body:#}"
    );
    (patient["id"].clone(), facility)
}

/// Adds a FINAL result for Alice through `server` as the lab; returns the outbox event id.
pub(crate) async fn add_result(
    server: &Server,
    lab: &str,
    alice: &Value,
    facility: &Value,
) -> Value {
    let body = json!({ "query": ADD_RESULT, "variables": { "input": {
        "patientId": alice,
        "order": { "facilityId": facility, "testCode": "4548-4" },
        "status": "FINAL",
        "issuedAt": chrono::Utc::now().to_rfc3339(),
        "observations": [{ "code": "4548-4", "valueNumeric": 6.1 }] } } });
    let (_, added) = post(server, Some(lab), body, "replicas-add").await;
    assert!(added.get("errors").is_none(), "{added:#}");
    added["data"]["addTestResult"]["eventId"].clone()
}

async fn expect_event(client: &mut WsClient, event_id: &Value, what: &str) {
    let data = client.expect_next("1").await;
    assert_eq!(
        &data["resultReady"]["eventId"], event_id,
        "{what}: {data:#}"
    );
}

/// Both replicas run against the same database and Redis, sharing `dir` for the dev key.
async fn replicas(dir: &Path, env: &[(&str, &str)]) -> (Server, Server) {
    // One after the other: the first seeds the demo data and writes the dev signing key.
    let a = start_with(dir, env).await;
    let b = start_with(dir, env).await;
    (a, b)
}

/// Two replicas, Alice's token and id, a facility of hers, and a lab token.
struct Pair {
    a: Server,
    b: Server,
    alice: String,
    lab: String,
    alice_id: Value,
    facility: Value,
}

async fn pair(dir: &Path, env: &[(&str, &str)]) -> Pair {
    let (a, b) = replicas(dir, env).await;
    let alice = token_with(dir, env, &["--patient", "MRN1001"]);
    let lab = token_with(dir, env, &["--role", "lab"]);
    let (alice_id, facility) = alice_and_facility(&a, &alice).await;
    Pair {
        a,
        b,
        alice,
        lab,
        alice_id,
        facility,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_on_one_replica_receives_results_committed_on_another_and_survives_a_redis_outage()
 {
    let mut redis = RedisServer::start();
    // Migrated as the owner, served as the NOBYPASSRLS application role.
    let database = portal_testkit::postgres::fresh_app_database();
    let redis_url = redis.url();
    let dir = tempfile::tempdir().expect("dir");
    let env = [
        ("DATABASE_URL", database.app_url.as_str()),
        ("DATABASE_MIGRATION_URL", database.owner_url.as_str()),
        ("REDIS_URL", redis_url.as_str()),
        // Each relay runs only when its own replica writes: the replica that commits an
        // event is the one that publishes it, which the local-path check below relies on.
        ("PORTAL_RELAY_INTERVAL_MS", "600000"),
        ("NOTIFY_WORKER", "false"),
    ];
    let Pair {
        a,
        b,
        alice,
        lab,
        alice_id,
        facility,
    } = pair(dir.path(), &env).await;

    let mut client = WsClient::connect(a.addr(), Some(&alice)).await;
    // Resuming from a mark taken before the write makes the result arrive exactly once
    // whether the subscription starts listening before or after the commit.
    let mark = uuid::Uuid::now_v7();
    client
        .subscribe(
            "1",
            RESULT_READY,
            json!({ "p": alice_id, "a": mark.to_string() }),
        )
        .await;

    let on_b = add_result(&b, &lab, &alice_id, &facility).await;
    expect_event(&mut client, &on_b, "committed on B, delivered on A").await;
    client.expect_silence(Duration::from_secs(2)).await;

    redis.stop();
    let on_a = add_result(&a, &lab, &alice_id, &facility).await;
    expect_event(&mut client, &on_a, "Redis down: A's own result, local path").await;

    redis.restart();
    let after_outage = add_result(&b, &lab, &alice_id, &facility).await;
    expect_event(&mut client, &after_outage, "Redis back: committed on B").await;
    client.expect_silence(Duration::from_secs(1)).await;
}

/// `rediss://`: the replicas talk to a TLS-only Redis whose certificate is trusted through
/// `SSL_CERT_FILE` (a private CA); fan-out works as over plain TCP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_fan_out_through_a_tls_redis() {
    let redis = RedisServer::start_tls();
    let database = portal_testkit::postgres::fresh_app_database();
    let redis_url = redis.url();
    assert!(redis_url.starts_with("rediss://"));
    let ca = redis.ca_file().expect("a TLS server has a certificate");
    let ca = ca.display().to_string();
    let dir = tempfile::tempdir().expect("dir");
    let env = [
        ("DATABASE_URL", database.app_url.as_str()),
        ("DATABASE_MIGRATION_URL", database.owner_url.as_str()),
        ("REDIS_URL", redis_url.as_str()),
        ("SSL_CERT_FILE", ca.as_str()),
        ("PORTAL_RELAY_INTERVAL_MS", "600000"),
        ("NOTIFY_WORKER", "false"),
    ];
    let Pair {
        a,
        b,
        alice,
        lab,
        alice_id,
        facility,
    } = pair(dir.path(), &env).await;
    let mut client = WsClient::connect(a.addr(), Some(&alice)).await;
    let mark = uuid::Uuid::now_v7();
    client
        .subscribe(
            "1",
            RESULT_READY,
            json!({ "p": alice_id, "a": mark.to_string() }),
        )
        .await;
    let on_b = add_result(&b, &lab, &alice_id, &facility).await;
    expect_event(
        &mut client,
        &on_b,
        "committed on B, delivered on A over TLS",
    )
    .await;
}

/// A burst of results committed on B while Redis is stopped and started again in the
/// middle: the subscriber on A receives every one of them live, exactly once and in order,
/// on the connection it opened before the burst (entries appended while A's reader was away
/// are read from the stream; those that never reached it come from the outbox, once, through
/// A's hub).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_mid_burst_delivers_every_event_live_exactly_once() {
    const BURST: usize = 24;
    let mut redis = RedisServer::start();
    let database = portal_testkit::postgres::fresh_app_database();
    let redis_url = redis.url();
    let dir = tempfile::tempdir().expect("dir");
    let env = [
        ("DATABASE_URL", database.app_url.as_str()),
        ("DATABASE_MIGRATION_URL", database.owner_url.as_str()),
        ("REDIS_URL", redis_url.as_str()),
        ("NOTIFY_WORKER", "false"),
    ];
    let Pair {
        a,
        b,
        alice,
        lab,
        alice_id,
        facility,
    } = pair(dir.path(), &env).await;
    let mut client = WsClient::connect(a.addr(), Some(&alice)).await;
    let mark = uuid::Uuid::now_v7();
    client
        .subscribe(
            "1",
            RESULT_READY,
            json!({ "p": alice_id, "a": mark.to_string() }),
        )
        .await;
    let first = add_result(&b, &lab, &alice_id, &facility).await;
    expect_event(&mut client, &first, "before the burst").await;

    let mut sent = Vec::new();
    for i in 0..BURST {
        if i == BURST / 3 {
            redis.stop();
        }
        if i == 2 * BURST / 3 {
            redis.restart();
        }
        sent.push(add_result(&b, &lab, &alice_id, &facility).await);
    }
    for (i, event_id) in sent.iter().enumerate() {
        expect_event(&mut client, event_id, &format!("burst event {i}")).await;
    }
    client.expect_silence(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_a_relay_skips_outbox_rows_another_relay_has_claimed() {
    let app = TestApp::init(Backend::Postgres).await;
    let w = app.world().await;
    let order = app.order(w.tenant_a, w.p1, w.facility, w.cbc, None).await;
    for _ in 0..2 {
        app.result_with_event(w.tenant_a, w.p1, order, w.cbc, ResultStatus::Final)
            .await;
    }
    // Another relay's pass, mid-way: its transaction holds the claim on both rows.
    let other_relay = app.owner.begin().await.expect("begin");
    let claimed = outbox_event::Entity::find()
        .filter(outbox_event::Column::PublishedAt.is_null())
        .lock(LockType::Update)
        .all(&other_relay)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 2);
    let relayed = tokio::time::timeout(
        Duration::from_secs(10),
        outbox::relay_once(&app.db, &app.state.app.bus, 10),
    )
    .await
    .expect("a claimed row must be skipped, not waited for");
    assert_eq!(
        relayed.ok(),
        Some(0),
        "claimed rows are not published twice"
    );
    other_relay.rollback().await.expect("rollback");
    assert_eq!(
        outbox::relay_once(&app.db, &app.state.app.bus, 10)
            .await
            .ok(),
        Some(2),
        "released rows are published"
    );
}
