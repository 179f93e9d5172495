//! Real `portal worker` processes on PostgreSQL: a worker SIGKILLed mid-upload leaves its
//! batch to the next worker once the lease ends (same id, same rows, nothing lost), and two
//! workers running at once never put a report into two batches.

use std::time::{Duration, Instant};

use portal_entities::{ReportStatus, clinician, facility, patient, public_health_report};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use serde_json::json;

use super::*;
use crate::support::binary::{Server, post, start_with, start_worker, token_with};

struct Stack {
    _dir: tempfile::TempDir,
    dir: std::path::PathBuf,
    db: DatabaseConnection,
    env: Vec<(&'static str, String)>,
    api: Server,
}

fn env_of(stack: &Stack) -> Vec<(&str, &str)> {
    stack.env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// PostgreSQL, an API replica (migrates and seeds; no background work) and the settings the
/// workers share.
async fn stack(receiver: &Receiver, extra: &[(&'static str, &str)]) -> Stack {
    let database = portal_testkit::postgres::fresh_database();
    let dir = tempfile::tempdir().expect("dir");
    let mut env: Vec<(&'static str, String)> = vec![
        ("DATABASE_URL", database.clone()),
        ("PUBLIC_HEALTH_URL", receiver.url.clone()),
        ("PUBLIC_HEALTH_INTERVAL_SECS", "1".into()),
        ("PUBLIC_HEALTH_BACKOFF_MS", "100".into()),
        ("PUBLIC_HEALTH_BACKOFF_MAX_MS", "500".into()),
        ("PORTAL_JOBS_INTERVAL_SECS", "0".into()),
        ("NOTIFY_WORKER", "false".into()),
    ];
    env.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let mut api_env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    api_env.push(("PORTAL_BACKGROUND", "false"));
    let api = start_with(dir.path(), &api_env).await;
    let db = portal_core::db::connect(&database, 2, Duration::from_secs(5))
        .await
        .expect("connect");
    Stack {
        dir: dir.path().to_owned(),
        _dir: dir,
        db,
        env,
        api,
    }
}

/// Adds `n` SARS-CoV-2 results over HTTP as the lab, for the demo's walk-in David Kim.
async fn add_results(stack: &Stack, n: usize) {
    let token = token_with(&stack.dir, &env_of(stack), &["--role", "lab"]);
    let facility = facility::Entity::find()
        .filter(facility::Column::Name.eq("Riverside Main Laboratory"))
        .one(&stack.db)
        .await
        .expect("q")
        .expect("lab");
    let clinician = clinician::Entity::find()
        .filter(clinician::Column::UserSubject.eq("dr.patel"))
        .one(&stack.db)
        .await
        .expect("q")
        .expect("clinician");
    let david = patient::Entity::find()
        .filter(patient::Column::Mrn.eq("MRN1004"))
        .one(&stack.db)
        .await
        .expect("q")
        .expect("David");
    for i in 0..n {
        let input = json!({
            "patientId": encode(NodeType::Patient, david.id).to_string(),
            "order": { "facilityId": encode(NodeType::Facility, facility.id).to_string(),
                       "testCode": SARS, "source": "WALK_IN",
                       "orderingClinicianId": encode(NodeType::Clinician, clinician.id).to_string() },
            "status": "FINAL",
            "issuedAt": chrono::Utc::now().to_rfc3339(),
            "observations": [{ "code": SARS, "valueCode": NOT_DETECTED }],
        });
        let (_, body) = post(
            &stack.api,
            Some(&token),
            json!({ "query": ADD, "variables": { "input": input } }),
            &format!("ph-{i}"),
        )
        .await;
        assert!(body.get("errors").is_none(), "{body:#}");
    }
}

async fn wait_all_sent(db: &DatabaseConnection, n: usize, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let reports = public_health_report::Entity::find()
            .all(db)
            .await
            .expect("reports");
        if reports.len() == n && reports.iter().all(|r| r.status == ReportStatus::Sent) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "not all {n} reports sent: {:?}",
            reports.iter().map(|r| r.status).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_upload_is_taken_over_after_its_lease_under_the_same_batch_id() {
    const RESULTS: usize = 6;
    // The first upload stalls at the receiver (it may keep it, as a 504 hides); later ones pass.
    let receiver = Receiver::start(
        &[Reply::Slow(Duration::from_secs(5), 200)],
        Reply::Status(200),
    )
    .await;
    let stack = stack(
        &receiver,
        &[
            ("PUBLIC_HEALTH_TIMEOUT_MS", "1500"),
            ("PUBLIC_HEALTH_LEASE_SECS", "5"),
        ],
    )
    .await;
    add_results(&stack, RESULTS).await;
    let mut doomed = start_worker(&stack.dir, &env_of(&stack)).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while receiver.received().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the first worker uploads within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    doomed.child.kill().expect("SIGKILL the worker mid-upload");
    doomed.child.wait().expect("reap");

    let _survivor = start_worker(&stack.dir, &env_of(&stack)).await;
    wait_all_sent(&stack.db, RESULTS, Duration::from_secs(30)).await;
    let received = receiver.received();
    let by_batch = batches(&received, None);
    assert_eq!(
        by_batch.len(),
        1,
        "one batch id for the rows, before and after the kill"
    );
    assert_eq!(received.len(), 2, "the stalled upload and its takeover");
    let owner = one_batch_each(&by_batch);
    assert_eq!(owner.len(), RESULTS, "nothing lost");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_at_once_never_send_a_report_in_two_batches() {
    const RESULTS: usize = 40;
    let receiver = Receiver::start(&[], Reply::Slow(Duration::from_millis(300), 200)).await;
    let stack = stack(
        &receiver,
        &[
            ("PUBLIC_HEALTH_DEQUEUE_BATCH", "3"),
            ("PUBLIC_HEALTH_MAX_BATCH", "5"),
        ],
    )
    .await;
    let _a = start_worker(&stack.dir, &env_of(&stack)).await;
    let _b = start_worker(&stack.dir, &env_of(&stack)).await;
    add_results(&stack, RESULTS).await;
    wait_all_sent(&stack.db, RESULTS, Duration::from_secs(60)).await;
    let received = receiver.received();
    let by_batch = batches(&received, None);
    let owner = one_batch_each(&by_batch);
    assert_eq!(owner.len(), RESULTS, "every report arrived");
    assert_eq!(received.len(), by_batch.len(), "no batch was sent twice");
    assert!(by_batch.values().all(|ids| ids.len() <= 5));
}
