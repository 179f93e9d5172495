//! The uploader against a receiver that fails (500), then answers 504 although it kept the
//! batch, then accepts: every reportable result version arrives, each in exactly one batch
//! id, nothing else is sent, and the queue ends empty.

use std::collections::{HashMap, HashSet};

use portal_entities::{ReportKind, ReportStatus, notification_preference, public_health_batch};
use portal_messaging::public_health::{COLUMNS, queue};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use super::*;
use crate::on_both_backends;
use crate::support::no_errors;

async fn a_500_then_a_false_504_then_200_delivers_every_report_once_under_one_batch_id(
    backend: Backend,
) {
    let receiver = Receiver::start(
        &[Reply::Status(500), Reply::Status(504)],
        Reply::Status(200),
    )
    .await;
    let mut vars = receiver_vars(&receiver.url);
    vars.extend([
        ("PUBLIC_HEALTH_DEQUEUE_BATCH", "2"),
        ("PUBLIC_HEALTH_MAX_BATCH", "3"),
    ]);
    let h = Hospital::new(backend, &vars).await;
    // Alice holds sensitive results: the HIV report goes out anyway (mandated by law).
    let alice = h.patient("MRN1001").await;
    notification_preference::Entity::update_many()
        .col_expr(
            notification_preference::Column::HoldSensitiveResults,
            Expr::value(true),
        )
        .filter(notification_preference::Column::PatientId.eq(alice.id))
        .exec(&h.app.owner)
        .await
        .expect("hold sensitive results");

    let sars = h.add("MRN1001", SARS, "FINAL", coded(DETECTED)).await;
    let hiv = h.add("MRN1001", HIV, "FINAL", coded(NEGATIVE)).await;
    h.add("MRN1004", SARS, "PRELIMINARY", coded(DETECTED)).await;
    let david = h.add("MRN1004", SARS, "FINAL", coded(NOT_DETECTED)).await;
    h.add("MRN1002", HBA1C, "FINAL", json!({ "valueNumeric": 5.2 }))
        .await;
    let corrected = h
        .lab.query(CORRECT,
            json!({ "id": sars, "input": { "observations": [{ "code": SARS, "valueCode": NOT_DETECTED }] },
                    "reason": "specimen mix-up" }),
        )
        .await;
    no_errors(&corrected);
    let withdrawn = h
        .lab
        .query(WITHDRAW, json!({ "id": hiv, "reason": "wrong patient" }))
        .await;
    no_errors(&withdrawn);
    assert_eq!(
        h.reports().await.len(),
        5,
        "FINAL ×3, CORRECTED, ENTERED_IN_ERROR"
    );

    let passes = h.drain(10).await;
    assert_eq!(passes[0].retried, 1, "the 500 keeps the batch: {passes:?}");
    assert_eq!(passes[1].retried, 1, "so does the 504: {passes:?}");

    let received = receiver.received();
    assert_eq!(
        received.len(),
        4,
        "3 attempts of the first batch, 1 of the second"
    );
    assert!(received.iter().all(|r| {
        r.client.as_deref() == Some("riverside.default")
            && r.auth.as_deref() == Some("test-key")
            && r.content_type.as_deref() == Some("text/csv")
    }));
    // Everything the receiver may have kept (the 504 too), by batch id.
    let kept = batches(&received, None);
    assert_eq!(kept.len(), 2, "two batch ids in all: {kept:?}");
    let owner = one_batch_each(&kept);
    // The withdrawal cannot be uploaded (the schema has no W): it waits in the error queue.
    let (held, reports): (Vec<_>, Vec<_>) = h
        .reports()
        .await
        .into_iter()
        .partition(|r| r.kind == ReportKind::Withdrawal);
    assert!(held.iter().all(|r| r.status == ReportStatus::Error));
    let expected: HashSet<String> = reports.iter().map(|r| r.id.to_string()).collect();
    assert_eq!(
        owner.keys().cloned().collect::<HashSet<_>>(),
        expected,
        "every sendable report arrived, and nothing else"
    );
    let accepted = batches(&received, Some(200));
    assert_eq!(accepted.len(), 2, "both batch ids were finally accepted");
    assert!(reports.iter().all(|r| r.status == ReportStatus::Sent));
    for report in &reports {
        assert_eq!(
            report.batch_id.map(|b| b.to_string()),
            owner.get(&report.id.to_string()).cloned(),
            "the stored batch is the one the report was sent in"
        );
    }

    let statuses: HashMap<String, String> = received
        .iter()
        .flat_map(|r| parse(&r.body).1)
        .map(|row| (row["message_id"].clone(), row["test_result_status"].clone()))
        .collect();
    let mut counted: Vec<&str> = statuses.values().map(String::as_str).collect();
    counted.sort_unstable();
    assert_eq!(counted, ["C", "F", "F", "F"]);
    let (header, rows) = parse(&received[0].body);
    assert_eq!(header, COLUMNS, "the documented header");
    assert!(rows.iter().all(|row| row["test_performed_code"] != HBA1C));
    assert!(
        rows.iter()
            .all(|row| row["patient_last_name"] != "Kim" || row["test_result"] == NOT_DETECTED),
        "David's PRELIMINARY Detected is never sent, his FINAL Not detected is"
    );
    let _ = david;

    let backlog = queue::backlog(&h.app.db).await.expect("backlog");
    assert_eq!(
        (backlog.depth, backlog.errors),
        (0, 1),
        "the queue is empty; the withdrawal waits in the error queue"
    );
    let batches = public_health_batch::Entity::find()
        .all(&h.app.owner)
        .await
        .expect("batches");
    assert_eq!(batches.iter().map(|b| b.attempts).sum::<i32>(), 4);
}

on_both_backends!(a_500_then_a_false_504_then_200_delivers_every_report_once_under_one_batch_id,);
