//! Operating the reporting worker: the embedded default's `portal serve` runs it, `/metrics`
//! shows the queue, the error queue and the uploads, and `portal report errors` / `replay
//! --errors` read and empty the error queue.

use std::time::{Duration, Instant};

use portal_entities::{ReportStatus, public_health_report};
use sea_orm::EntityTrait;

use super::*;
use crate::on_both_backends;
use crate::support::binary::{portal, post, start_with, token_with};

/// The value of an unlabelled (or exactly labelled) sample in a Prometheus exposition.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

async fn metrics_show_the_queue_the_error_queue_and_uploads_by_outcome(backend: Backend) {
    let receiver = Receiver::start(&[], Reply::Validate).await;
    let h = Hospital::new(backend, &receiver_vars(&receiver.url)).await;
    let metrics = h.app.state.metrics.clone().expect("metrics on");
    let scrape = || metrics.scrape(&h.app.db, Duration::from_secs(5));
    h.add("MRN1001", SARS, "FINAL", coded(DETECTED)).await;
    let text = scrape().await;
    assert_eq!(
        sample(&text, "portal_public_health_queue_depth"),
        Some(1.0),
        "{text}"
    );
    assert!(sample(&text, "portal_public_health_queue_oldest_age_seconds").is_some());

    let david = h.patient("MRN1004").await;
    portal_entities::patient::Entity::update_many()
        .col_expr(
            portal_entities::patient::Column::PostalCode,
            sea_orm::sea_query::Expr::value(Some(UNKNOWN_ZIP)),
        )
        .filter(portal_entities::patient::Column::Id.eq(david.id))
        .exec(&h.app.owner)
        .await
        .expect("unknown ZIP");
    h.add("MRN1004", SARS, "FINAL", coded(DETECTED)).await;
    h.pass().await;
    let text = scrape().await;
    for (series, want) in [
        ("portal_public_health_queue_depth", 0.0),
        ("portal_public_health_error_queue", 1.0),
        ("portal_public_health_batches{status=\"SENT\"}", 1.0),
        ("portal_public_health_batches{status=\"REFUSED\"}", 1.0),
        ("portal_public_health_batches{status=\"PENDING\"}", 0.0),
        (
            "portal_public_health_uploads_total{outcome=\"refused\"}",
            1.0,
        ),
        ("portal_public_health_uploads_total{outcome=\"sent\"}", 1.0),
    ] {
        assert_eq!(sample(&text, series), Some(want), "{series} in\n{text}");
    }
    assert!(
        !text.contains(&david.mrn) && !text.contains("Kim"),
        "no PHI in /metrics"
    );
}

on_both_backends!(metrics_show_the_queue_the_error_queue_and_uploads_by_outcome);

fn report_cli(dir: &std::path::Path, args: &[&str]) -> String {
    let out = portal(dir)
        .arg("report")
        .args(args)
        .output()
        .expect("portal report");
    assert!(
        out.status.success(),
        "portal report {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf8")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_server_reports_and_the_cli_lists_and_replays_the_error_queue() {
    // Refuses every batch without naming rows until the "fix" (then accepts).
    let receiver = Receiver::start(&[Reply::Status(400)], Reply::Status(200)).await;
    let dir = tempfile::tempdir().expect("dir");
    let env = [
        ("PUBLIC_HEALTH_URL", receiver.url.as_str()),
        ("PUBLIC_HEALTH_INTERVAL_SECS", "1"),
        ("PORTAL_JOBS_INTERVAL_SECS", "0"),
    ];
    let server = start_with(dir.path(), &env).await;
    let token = token_with(dir.path(), &env, &["--role", "lab"]);
    let db = portal_core::db::connect(
        &format!("sqlite://{}/data/portal.db?mode=rw", dir.path().display()),
        1,
        Duration::from_secs(5),
    )
    .await
    .expect("connect");
    let facility = portal_entities::facility::Entity::find()
        .one(&db)
        .await
        .expect("q")
        .expect("facility");
    let clinician = portal_entities::clinician::Entity::find()
        .one(&db)
        .await
        .expect("q")
        .expect("clinician");
    let alice = portal_entities::patient::Entity::find()
        .filter(portal_entities::patient::Column::Mrn.eq("MRN1001"))
        .one(&db)
        .await
        .expect("q")
        .expect("Alice");
    let input = json!({
        "patientId": encode(NodeType::Patient, alice.id).to_string(),
        "order": { "facilityId": encode(NodeType::Facility, facility.id).to_string(),
                   "orderingClinicianId": encode(NodeType::Clinician, clinician.id).to_string(),
                   "testCode": SARS, "source": "WALK_IN" },
        "status": "FINAL",
        "issuedAt": chrono::Utc::now().to_rfc3339(),
        "observations": [{ "code": SARS, "valueCode": DETECTED }],
    });
    let (_, body) = post(
        &server,
        Some(&token),
        json!({ "query": ADD, "variables": { "input": input } }),
        "ph-cli-1",
    )
    .await;
    assert!(body.get("errors").is_none(), "{body:#}");

    let status = || async {
        public_health_report::Entity::find()
            .one(&db)
            .await
            .expect("q")
            .map(|r| (r.id, r.status))
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let report = loop {
        if let Some((id, ReportStatus::Error)) = status().await {
            break id;
        }
        assert!(
            Instant::now() < deadline,
            "the refusal reaches the error queue"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let listed = report_cli(dir.path(), &["errors"]);
    assert!(
        listed.starts_with("1 report(s) in the error queue")
            && listed.contains(&format!("message_id {report}"))
            && listed.contains("HTTP 400"),
        "{listed}"
    );
    assert!(
        !listed.contains("Alice") && !listed.contains("Nguyen"),
        "{listed}"
    );
    let dry = report_cli(dir.path(), &["replay", "--errors", "--dry-run"]);
    assert_eq!(dry.trim(), "1 report(s) would be queued again (dry run)");
    let replayed = report_cli(dir.path(), &["replay", "--errors"]);
    assert_eq!(replayed.trim(), "1 report(s) queued again");
    let deadline = Instant::now() + Duration::from_secs(20);
    while status().await.map(|(_, s)| s) != Some(ReportStatus::Sent) {
        assert!(Instant::now() < deadline, "the replayed report is sent");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        receiver.received().len(),
        2,
        "refused once, sent once after the replay"
    );
    drop(server);
}
