//! Failure catalog, background work: with the background work off on every API replica the
//! outbox backlog grows and a `portal worker` delivers it; a notification worker SIGKILLed
//! mid-batch is taken over by another once its claim lease ends, losing nothing; with the
//! SMS provider down two workers retry with backoff up to DEAD, and a replay sends each once.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use chrono::Utc;
use portal_entities::{NotificationChannel, NotificationStatus, notification, patient};
use portal_testkit::redis::RedisServer;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter,
};
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc};
use uuid::Uuid;

use crate::live::replicas::{RESULT_READY, add_result, alice_and_facility};
use crate::operations::metrics::{sample, scrape};
use crate::support::binary::{Server, portal, start_with, start_worker, token_with};
use crate::support::notifications::FakeProvider;
use crate::support::ws::WsClient;

/// Polls `/metrics` of `server` until the sample `name{labels}` equals `want`.
async fn wait_for_sample(server: &Server, name: &str, labels: &[(&str, &str)], want: f64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = scrape(server.addr()).await;
        let value = sample(&text, name, labels);
        if value == Some(want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name}{labels:?} stayed {value:?}, expected {want}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_background_work_off_the_outbox_backlog_grows_until_a_worker_delivers_it() {
    let redis = RedisServer::start();
    let database = portal_testkit::postgres::fresh_database();
    let redis_url = redis.url();
    let dir = tempfile::tempdir().expect("dir");
    let env = [
        ("DATABASE_URL", database.as_str()),
        ("REDIS_URL", redis_url.as_str()),
        ("PORTAL_BACKGROUND", "false"),
    ];
    let api = start_with(dir.path(), &env).await;
    let alice = token_with(dir.path(), &env, &["--patient", "MRN1001"]);
    let lab = token_with(dir.path(), &env, &["--role", "lab"]);
    let (alice_id, facility) = alice_and_facility(&api, &alice).await;
    let mut client = WsClient::connect(api.addr(), Some(&alice)).await;
    // No `after`: nothing is replayed from the outbox, so only the relay can deliver.
    client
        .subscribe("1", RESULT_READY, json!({ "p": alice_id }))
        .await;

    let mut written = Vec::new();
    for _ in 0..3 {
        written.push(add_result(&api, &lab, &alice_id, &facility).await);
    }
    let text = scrape(api.addr()).await;
    assert_eq!(
        sample(&text, "portal_outbox_unpublished", &[]),
        Some(3.0),
        "writes commit while no relay runs: {text}"
    );
    assert!(sample(&text, "portal_outbox_oldest_unpublished_age_seconds", &[]) >= Some(0.0));
    assert!(
        sample(&text, "portal_notifications", &[("status", "PENDING")]) >= Some(3.0),
        "no notification worker runs in the API replica: {text}"
    );
    client.expect_silence(Duration::from_millis(500)).await;

    let worker_env = [
        env[0],
        env[1],
        ("PORTAL_RELAY_INTERVAL_MS", "200"),
        ("NOTIFY_POLL_MS", "50"),
    ];
    let worker = start_worker(dir.path(), &worker_env).await;
    let mut received = Vec::new();
    for _ in 0..3 {
        received.push(client.expect_next("1").await["resultReady"]["eventId"].clone());
    }
    assert_eq!(received, written, "every event once, in commit order");
    client.expect_silence(Duration::from_secs(1)).await;
    wait_for_sample(&worker, "portal_outbox_unpublished", &[], 0.0).await;
    wait_for_sample(
        &worker,
        "portal_notifications",
        &[("status", "PENDING")],
        0.0,
    )
    .await;
    let text = scrape(worker.addr()).await;
    assert!(
        sample(
            &text,
            "portal_job_runs_total",
            &[("job", "expire_proxy_grants")]
        ) >= Some(1.0),
        "the worker runs the scheduled jobs: {text}"
    );
    let graphql = reqwest::Client::new()
        .post(format!("{}/graphql", worker.base))
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .expect("worker answers");
    assert_eq!(graphql.status(), 404, "a worker serves no GraphQL");
}

/// An SMS provider that holds the first request until released, and reports its arrival.
struct GatedProvider {
    url: String,
    bodies: Arc<Mutex<Vec<Value>>>,
    release: Arc<Notify>,
}

#[derive(Clone)]
struct Gate {
    bodies: Arc<Mutex<Vec<Value>>>,
    arrived: mpsc::UnboundedSender<()>,
    release: Arc<Notify>,
}

async fn gated(State(gate): State<Gate>, Json(body): Json<Value>) -> StatusCode {
    let first = {
        let mut bodies = gate.bodies.lock().expect("bodies");
        bodies.push(body);
        bodies.len() == 1
    };
    if first {
        let _ = gate.arrived.send(());
        gate.release.notified().await;
    }
    StatusCode::OK
}

impl GatedProvider {
    async fn start() -> (Self, mpsc::UnboundedReceiver<()>) {
        let (arrived, first) = mpsc::unbounded_channel();
        let gate = Gate {
            bodies: Arc::default(),
            arrived,
            release: Arc::new(Notify::new()),
        };
        let provider = Self {
            url: String::new(),
            bodies: gate.bodies.clone(),
            release: gate.release.clone(),
        };
        let router = Router::new().route("/sms", post(gated)).with_state(gate);
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind provider");
        let addr = listener.local_addr().expect("provider address");
        tokio::spawn(async move { axum::serve(listener, router).await });
        (
            Self {
                url: format!("http://{addr}/sms"),
                ..provider
            },
            first,
        )
    }
}

/// Queues `n` SMS notifications for Alice, due now; returns their ids.
async fn queue_sms(db: &DatabaseConnection, n: usize) -> Vec<Uuid> {
    let alice = patient::Entity::find()
        .filter(patient::Column::Mrn.eq("MRN1001"))
        .one(db)
        .await
        .expect("find Alice")
        .expect("demo patient Alice");
    patient::Entity::update_many()
        .col_expr(patient::Column::Phone, Expr::value(Some("+15550001001")))
        .filter(patient::Column::Id.eq(alice.id))
        .exec(db)
        .await
        .expect("phone");
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        let id = Uuid::now_v7();
        let now = Utc::now();
        notification::Model {
            id,
            tenant_id: alice.tenant_id,
            patient_id: alice.id,
            result_id: None,
            event_id: Uuid::now_v7(),
            channel: NotificationChannel::Sms,
            template: "result_ready".into(),
            status: NotificationStatus::Pending,
            attempts: 0,
            last_error: None,
            next_attempt_at: now,
            sent_at: None,
            created_at: now,
            params: None,
        }
        .into_active_model()
        .insert(db)
        .await
        .expect("queue notification");
        ids.push(id);
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_worker_killed_mid_batch_is_taken_over_after_its_lease_and_nothing_is_lost()
{
    const QUEUED: usize = 8;
    let database = portal_testkit::postgres::fresh_database();
    let (provider, mut first_request) = GatedProvider::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let env = [
        ("DATABASE_URL", database.as_str()),
        ("SMS_PROVIDER_URL", provider.url.as_str()),
        ("NOTIFY_POLL_MS", "50"),
        ("NOTIFY_LEASE_SECS", "6"),
        ("NOTIFY_SEND_TIMEOUT_MS", "2000"),
        ("PORTAL_JOBS_INTERVAL_SECS", "0"),
        // One send at a time, so exactly one message is in flight at the kill.
        ("NOTIFY_CONCURRENCY", "1"),
    ];
    // The API replica migrates and seeds; it sends nothing itself.
    let mut api_env = env.to_vec();
    api_env.push(("PORTAL_BACKGROUND", "false"));
    let _api = start_with(dir.path(), &api_env).await;
    let db = portal_core::db::connect(&database, 2, Duration::from_secs(5))
        .await
        .expect("connect");
    let queued = queue_sms(&db, QUEUED).await;

    let mut doomed = start_worker(dir.path(), &env).await;
    tokio::time::timeout(Duration::from_secs(20), first_request.recv())
        .await
        .expect("the first worker sends within 20 s");
    // Mid-batch: the whole batch is claimed and its first message is at the provider.
    doomed.child.kill().expect("SIGKILL the worker");
    doomed.child.wait().expect("reap");
    provider.release.notify_waiters();

    let _survivor = start_worker(dir.path(), &env).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let rows = notification::Entity::find()
            .filter(notification::Column::Id.is_in(queued.iter().copied()))
            .all(&db)
            .await
            .expect("notifications");
        if rows.iter().all(|r| r.status == NotificationStatus::Sent) {
            assert!(
                rows.iter().all(|r| r.attempts == 0),
                "none failed: {rows:?}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not all sent after the lease: {:?}",
            rows.iter().map(|r| r.status).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let bodies = provider.bodies.lock().expect("bodies").clone();
    assert_eq!(
        bodies.len(),
        QUEUED + 1,
        "each message once, plus the one in flight at the kill sent again (at least once)"
    );
    assert!(bodies.iter().all(|b| b["to"] == "+15550001001"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_sms_provider_down_two_workers_retry_each_message_once_per_attempt_then_replay_sends_it_once()
 {
    const QUEUED: usize = 4;
    const ATTEMPTS: usize = 3;
    let database = portal_testkit::postgres::fresh_database();
    let provider = FakeProvider::start(0).await;
    provider.fail_next(usize::MAX);
    let dir = tempfile::tempdir().expect("dir");
    let attempts = ATTEMPTS.to_string();
    let env = [
        ("DATABASE_URL", database.as_str()),
        ("SMS_PROVIDER_URL", provider.url.as_str()),
        ("NOTIFY_POLL_MS", "50"),
        ("NOTIFY_BACKOFF_MS", "100"),
        ("NOTIFY_BACKOFF_MAX_MS", "200"),
        ("NOTIFY_MAX_ATTEMPTS", attempts.as_str()),
        ("PORTAL_JOBS_INTERVAL_SECS", "0"),
    ];
    let mut api_env = env.to_vec();
    api_env.push(("PORTAL_BACKGROUND", "false"));
    let api = start_with(dir.path(), &api_env).await;
    let db = portal_core::db::connect(&database, 2, Duration::from_secs(5))
        .await
        .expect("connect");
    let _one = start_worker(dir.path(), &env).await;
    let _two = start_worker(dir.path(), &env).await;
    let queued = queue_sms(&db, QUEUED).await;

    // Down: every message is tried NOTIFY_MAX_ATTEMPTS times with backoff, then is DEAD.
    wait_for_sample(
        &api,
        "portal_notifications",
        &[("status", "DEAD")],
        QUEUED as f64,
    )
    .await;
    let rows = notification::Entity::find()
        .filter(notification::Column::Id.is_in(queued.iter().copied()))
        .all(&db)
        .await
        .expect("notifications");
    assert!(
        rows.iter()
            .all(|r| r.attempts == ATTEMPTS as i32 && r.last_error.is_some()),
        "{rows:?}"
    );
    assert_eq!(
        provider.requests().len(),
        QUEUED * ATTEMPTS,
        "two workers never attempt the same message at once"
    );
    assert_eq!(provider.accepted(), 0);

    // Back: the dead letters are replayed and each is sent exactly once.
    provider.fail_next(0);
    let replay = portal(dir.path())
        .args(["replay", "--dead-letter"])
        .envs(env.iter().copied())
        .output()
        .expect("portal replay");
    assert!(
        replay.status.success()
            && String::from_utf8_lossy(&replay.stdout).contains("4 dead-letter"),
        "{}",
        String::from_utf8_lossy(&replay.stderr)
    );
    wait_for_sample(
        &api,
        "portal_notifications",
        &[("status", "SENT")],
        QUEUED as f64,
    )
    .await;
    assert_eq!(
        provider.accepted(),
        QUEUED,
        "each message sent once after replay"
    );
    assert_eq!(provider.requests().len(), QUEUED * ATTEMPTS + QUEUED);
}
