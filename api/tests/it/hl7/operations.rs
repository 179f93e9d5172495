//! Operating the HL7 interface on both backends: messages counted by type and outcome, the
//! dead-letter gauge, the dead-letter listing without content, and the retention purge.

use chrono::{Duration, Utc};
use portal_hl7_inbound::store;
use portal_messaging::jobs::{self, Job, JobRun};

use crate::hl7::rig::{Rig, edited};
use crate::on_both_backends;
use crate::support::Backend;

on_both_backends!(
    messages_are_counted_by_type_and_outcome_and_the_dead_letter_is_a_gauge,
    the_dead_letter_lists_no_content_and_the_retention_purges_raw_messages,
);

/// The value of the sample of metric `name` that carries every label of `labels`.
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with([' ', '{']))
                && labels.iter().all(|label| l.contains(label))
        })
        .find_map(|l| l.rsplit(' ').next()?.parse().ok())
}

async fn messages_are_counted_by_type_and_outcome_and_the_dead_letter_is_a_gauge(backend: Backend) {
    let rig = Rig::demo(backend).await;
    rig.send_fixture("oru_r01_v251_cbc.hl7")
        .await
        .assert_code("AA");
    rig.send_fixture("oru_r01_v251_cbc.hl7")
        .await
        .assert_code("AA");
    let unknown = edited("oru_r01_imaging.hl7", &[("MRN1001^^^", "MRN9999^^^")]);
    rig.send(&unknown).await.assert_code("AE");
    rig.send(b"MSH|^~\\&|X|Y|PORTAL|RIV|20260301||QRY^A19|Q-1|P|2.5.1\r")
        .await
        .assert_code("AR");
    let metrics = rig.app.state.metrics.clone().expect("metrics on");
    let text = metrics
        .scrape(&rig.app.db, std::time::Duration::from_secs(5))
        .await;
    let counted = |labels: &[&str]| sample(&text, "portal_hl7_messages_total", labels);
    assert_eq!(
        counted(&["type=\"ORU^R01\"", "outcome=\"accepted\""]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        counted(&["type=\"ORU^R01\"", "outcome=\"duplicate\""]),
        Some(1.0)
    );
    assert_eq!(
        counted(&["type=\"ORU^R01\"", "outcome=\"error\""]),
        Some(1.0)
    );
    assert_eq!(
        counted(&["type=\"other\"", "outcome=\"rejected\""]),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "portal_hl7_dead_letter", &[]),
        Some(1.0),
        "{text}"
    );
    let age = sample(&text, "portal_hl7_dead_letter_oldest_age_seconds", &[]);
    assert!(
        age.is_some_and(|seconds| seconds >= 0.0),
        "the dead letter's age is exported: {text}"
    );
    assert!(
        !text.contains("MRN9999") && !text.contains("Q-1"),
        "no identifiers as labels"
    );
    rig.stop().await;
}

async fn the_dead_letter_lists_no_content_and_the_retention_purges_raw_messages(backend: Backend) {
    let rig = Rig::demo(backend).await;
    let unknown = edited("oru_r01_imaging.hl7", &[("MRN1001^^^", "MRN9999^^^")]);
    rig.send(&unknown).await.assert_code("AE");
    rig.send_fixture("siu_s12.hl7").await.assert_code("AA");
    let scope = portal_core::db::TenantDb::scoped(rig.app.db.clone(), Some(rig.tenant));
    let listed = store::dead_letter(&scope, None, 100).await.expect("list");
    assert_eq!(listed.len(), 1, "only the failed message");
    let dead = &listed[0];
    assert_eq!(dead.control_id.as_deref(), Some("RAD20260304-0311"));
    assert_eq!(dead.message_type, "ORU^R01");
    assert_eq!(
        (dead.error_code.as_deref(), dead.error_location.as_deref()),
        (Some("204"), Some("PID^1^3"))
    );
    let later = store::dead_letter(&scope, Some(Utc::now() + Duration::minutes(1)), 100)
        .await
        .expect("list");
    assert!(later.is_empty(), "--since filters by reception time");

    let retention = jobs::Retention {
        result_links: std::time::Duration::from_secs(86400),
        idempotency_keys: std::time::Duration::from_secs(86400),
        hl7_messages: std::time::Duration::from_secs(30 * 86400),
    };
    let today = jobs::run(&rig.app.db, Job::PurgeHl7Messages, &retention, Utc::now())
        .await
        .expect("purge");
    assert_eq!(today, JobRun::Done(0), "kept within the retention");
    assert_eq!(rig.messages().await.len(), 2);
    let later = Utc::now() + Duration::days(31);
    let purged = jobs::run(&rig.app.db, Job::PurgeHl7Messages, &retention, later)
        .await
        .expect("purge");
    assert_eq!(purged, JobRun::Done(2));
    assert!(
        rig.messages().await.is_empty(),
        "raw messages are gone after the retention"
    );
    rig.stop().await;
}
