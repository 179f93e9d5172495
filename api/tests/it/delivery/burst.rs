//! Failure catalog, a replica SIGKILLed during a burst of writes: two API replicas and a
//! worker share PostgreSQL and Redis; the replica taking the writes is killed mid-burst.
//! Every result that committed reaches a subscriber on the survivor and a subscriber that was
//! on the killed replica (and resumes on the survivor with `after`) exactly once, and gets
//! exactly one email.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use portal_entities::{
    NotificationChannel, NotificationStatus, notification, outbox_event, patient,
};
use portal_testkit::redis::RedisServer;
use portal_testkit::smtp::SmtpServer;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::live::replicas::{RESULT_READY, alice_and_facility};
use crate::support::binary::{start_with, start_worker, token_with};
use crate::support::ws::WsClient;

const WRITES: usize = 30;
const KILL_AFTER: usize = 8;

/// Adds one FINAL result for Alice on `base`; `false` when the replica did not answer.
async fn try_add(
    client: &reqwest::Client,
    base: &str,
    lab: &str,
    alice: &Value,
    facility: &Value,
) -> bool {
    let body = json!({ "query": "mutation($input: AddTestResultInput!) { addTestResult(input: $input) { eventId } }",
        "variables": { "input": {
            "patientId": alice,
            "order": { "facilityId": facility, "testCode": "4548-4" },
            "status": "FINAL",
            "issuedAt": chrono::Utc::now().to_rfc3339(),
            "observations": [{ "code": "4548-4", "valueNumeric": 5.7 }] } } });
    let Ok(response) = client
        .post(format!("{base}/graphql"))
        .bearer_auth(lab)
        .json(&body)
        .send()
        .await
    else {
        return false;
    };
    let Ok(answer) = response.json::<Value>().await else {
        return false;
    };
    assert!(answer.get("errors").is_none(), "{answer:#}");
    true
}

/// Reads `client` until it has received every id of `committed`; returns what it received.
async fn receive_all(
    client: &mut WsClient,
    mut received: Vec<String>,
    committed: &HashSet<String>,
) -> Vec<String> {
    while !committed.iter().all(|id| received.contains(id)) {
        let data = client.expect_next("1").await;
        received.push(
            data["resultReady"]["eventId"]
                .as_str()
                .expect("eventId")
                .to_owned(),
        );
    }
    client.expect_silence(Duration::from_secs(1)).await;
    received
}

fn assert_exactly_once(who: &str, received: &[String], committed: &HashSet<String>) {
    let unique: HashSet<String> = received.iter().cloned().collect();
    assert_eq!(
        unique.len(),
        received.len(),
        "{who}: a duplicate in {received:?}"
    );
    assert_eq!(
        &unique, committed,
        "{who}: received exactly the committed results"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_mid_burst_loses_and_duplicates_nothing_for_subscribers_or_email() {
    let redis = RedisServer::start();
    let smtp = SmtpServer::start();
    let database = portal_testkit::postgres::fresh_database();
    let (redis_url, smtp_url) = (redis.url(), smtp.url());
    let dir = tempfile::tempdir().expect("dir");
    let env = [
        ("DATABASE_URL", database.as_str()),
        ("REDIS_URL", redis_url.as_str()),
        ("PORTAL_BACKGROUND", "false"),
    ];
    let survivor = start_with(dir.path(), &env).await;
    let mut doomed = start_with(dir.path(), &env).await;
    let worker_env = [
        env[0],
        env[1],
        ("SMTP_URL", smtp_url.as_str()),
        ("PORTAL_RELAY_INTERVAL_MS", "100"),
        ("NOTIFY_POLL_MS", "50"),
    ];
    let _worker = start_worker(dir.path(), &worker_env).await;
    let alice = token_with(dir.path(), &env, &["--patient", "MRN1001"]);
    let lab = token_with(dir.path(), &env, &["--role", "lab"]);
    let (alice_id, facility) = alice_and_facility(&survivor, &alice).await;

    let mark = uuid::Uuid::now_v7().to_string();
    let subscribe = json!({ "p": alice_id, "a": mark });
    let mut on_survivor = WsClient::connect(survivor.addr(), Some(&alice)).await;
    on_survivor
        .subscribe("1", RESULT_READY, subscribe.clone())
        .await;
    let mut on_doomed = WsClient::connect(doomed.addr(), Some(&alice)).await;
    on_doomed.subscribe("1", RESULT_READY, subscribe).await;
    let before_kill = tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Some(data) = on_doomed.next_or_end("1").await {
            seen.push(
                data["resultReady"]["eventId"]
                    .as_str()
                    .expect("eventId")
                    .to_owned(),
            );
        }
        seen
    });

    // One writer, so commit order is id order: the burst goes to the doomed replica.
    let answered = Arc::new(AtomicUsize::new(0));
    let burst = {
        let (answered, base, lab) = (answered.clone(), doomed.base.clone(), lab.clone());
        let (alice_id, facility) = (alice_id.clone(), facility.clone());
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            for _ in 0..WRITES {
                if try_add(&client, &base, &lab, &alice_id, &facility).await {
                    answered.fetch_add(1, Ordering::SeqCst);
                }
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while answered.load(Ordering::SeqCst) < KILL_AFTER {
        assert!(Instant::now() < deadline, "the burst did not get going");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    doomed.child.kill().expect("SIGKILL the replica");
    doomed.child.wait().expect("reap");
    burst.await.expect("burst task");
    let seen_before_kill = before_kill.await.expect("subscriber task");

    let db = portal_core::db::connect(&database, 2, Duration::from_secs(5))
        .await
        .expect("connect");
    let alice_row = patient::Entity::find()
        .filter(patient::Column::Mrn.eq("MRN1001"))
        .one(&db)
        .await
        .expect("find Alice")
        .expect("Alice");
    let committed: HashSet<String> = outbox_event::Entity::find()
        .filter(outbox_event::Column::PatientId.eq(alice_row.id))
        .filter(outbox_event::Column::Id.gt(uuid::Uuid::parse_str(&mark).expect("mark")))
        .all(&db)
        .await
        .expect("committed events")
        .into_iter()
        .map(|e| e.id.to_string())
        .collect();
    let answered = answered.load(Ordering::SeqCst);
    assert!(answered < WRITES, "the kill came after the burst had ended");
    assert!(
        committed.len() >= answered && committed.len() <= answered + 1,
        "{} committed, {answered} answered: at most the in-flight write commits unanswered",
        committed.len()
    );

    let on_survivor = receive_all(&mut on_survivor, Vec::new(), &committed).await;
    assert_exactly_once("subscriber on the survivor", &on_survivor, &committed);
    let resume_from = seen_before_kill.last().cloned().unwrap_or(mark);
    let mut resumed = WsClient::connect(survivor.addr(), Some(&alice)).await;
    resumed
        .subscribe(
            "1",
            RESULT_READY,
            json!({ "p": alice_id, "a": resume_from }),
        )
        .await;
    let resumed = receive_all(&mut resumed, seen_before_kill, &committed).await;
    assert_exactly_once(
        "subscriber resumed from the killed replica",
        &resumed,
        &committed,
    );

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let emails = notification::Entity::find()
            .filter(notification::Column::PatientId.eq(alice_row.id))
            .filter(notification::Column::Channel.eq(NotificationChannel::Email))
            .all(&db)
            .await
            .expect("notifications");
        if emails.len() == committed.len()
            && emails.iter().all(|n| n.status == NotificationStatus::Sent)
        {
            break;
        }
        assert!(Instant::now() < deadline, "emails not all sent: {emails:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        smtp.messages().len(),
        committed.len(),
        "one email per committed result, none twice"
    );
}
