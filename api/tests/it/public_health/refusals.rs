//! A receiver that refuses rows (400 naming them by tracking id): those rows go to the error
//! queue with its message, the others are sent in a new batch; after the data is fixed,
//! replay sends each refused row once. Rows missing required data never leave.

use portal_entities::{ReportStatus, patient};
use portal_messaging::public_health::queue;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::*;
use crate::on_both_backends;

async fn set_zip(h: &Hospital, mrn: &str, zip: &str) {
    patient::Entity::update_many()
        .col_expr(
            patient::Column::PostalCode,
            Expr::value(Some(zip.to_owned())),
        )
        .filter(patient::Column::Mrn.eq(mrn))
        .exec(&h.app.owner)
        .await
        .expect("zip");
}

async fn rows_a_400_names_wait_in_the_error_queue_until_replayed_after_the_fix(backend: Backend) {
    let receiver = Receiver::start(&[], Reply::Validate).await;
    let h = Hospital::new(backend, &receiver_vars(&receiver.url)).await;
    set_zip(&h, "MRN1004", UNKNOWN_ZIP).await;
    h.add("MRN1001", SARS, "FINAL", coded(DETECTED)).await;
    h.add("MRN1004", SARS, "FINAL", coded(NOT_DETECTED)).await;

    let first = h.pass().await;
    assert_eq!(
        (first.refused, first.sent, first.errors),
        (1, 1, 1),
        "{first:?}"
    );
    let open = queue::open_errors(&h.app.db, 10).await.expect("errors");
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].http_status, Some(400));
    assert_eq!(
        open[0].message,
        "patient_zip_code: 00000 is not a US ZIP code"
    );
    let backlog = queue::backlog(&h.app.db).await.expect("backlog");
    assert_eq!((backlog.depth, backlog.errors), (0, 1));
    let refused_id = open[0].report_id.to_string();

    // Nothing to send until the operator acts; a dry run changes nothing.
    assert_eq!(h.pass().await, PassCounts::default());
    assert_eq!(
        queue::replay_errors(&h.app.db, true)
            .await
            .expect("dry run"),
        1
    );
    assert_eq!(h.reports_in(ReportStatus::Error).await, 1);

    set_zip(&h, "MRN1004", "62701").await;
    assert_eq!(
        queue::replay_errors(&h.app.db, false)
            .await
            .expect("replay"),
        1
    );
    assert!(
        queue::open_errors(&h.app.db, 10)
            .await
            .expect("errors")
            .is_empty()
    );
    let after = h.pass().await;
    assert_eq!((after.sent, after.reports_sent), (1, 1), "{after:?}");

    let received = receiver.received();
    assert_eq!(
        received.len(),
        3,
        "refused batch, the good row's new batch, the replay's"
    );
    let accepted = batches(&received, Some(200));
    let owner = one_batch_each(&accepted);
    assert_eq!(owner.len(), 2, "each report accepted in exactly one batch");
    let refused_batch = received[0].idempotency_key.clone().expect("id");
    assert!(
        accepted.keys().all(|k| *k != refused_batch),
        "refused rows go out again only under a new batch id"
    );
    assert!(owner.contains_key(&refused_id));
    assert_eq!(h.reports_in(ReportStatus::Sent).await, 2);
}

async fn a_4xx_naming_no_row_moves_the_whole_batch_to_the_error_queue(backend: Backend) {
    let receiver = Receiver::start(&[Reply::Status(422)], Reply::Status(200)).await;
    let h = Hospital::new(backend, &receiver_vars(&receiver.url)).await;
    h.add("MRN1001", SARS, "FINAL", coded(DETECTED)).await;
    h.add("MRN1004", SARS, "FINAL", coded(DETECTED)).await;
    let pass = h.pass().await;
    assert_eq!(
        (pass.refused, pass.errors, pass.sent),
        (1, 2, 0),
        "{pass:?}"
    );
    assert_eq!(h.reports_in(ReportStatus::Error).await, 2);
    assert_eq!(
        queue::replay_errors(&h.app.db, false)
            .await
            .expect("replay"),
        2
    );
    h.drain(3).await;
    assert_eq!(h.reports_in(ReportStatus::Sent).await, 2);
    assert_eq!(receiver.received().len(), 2, "refused once, then sent once");
}

async fn a_report_missing_required_data_goes_to_the_error_queue_naming_the_columns(
    backend: Backend,
) {
    let receiver = Receiver::start(&[], Reply::Status(200)).await;
    let h = Hospital::new(backend, &receiver_vars(&receiver.url)).await;
    patient::Entity::update_many()
        .col_expr(
            patient::Column::AddressLine1,
            Expr::value(Option::<String>::None),
        )
        .filter(patient::Column::Mrn.eq("MRN1004"))
        .exec(&h.app.owner)
        .await
        .expect("no street");
    h.add("MRN1004", SARS, "FINAL", coded(DETECTED)).await;
    h.add("MRN1001", SARS, "FINAL", coded(DETECTED)).await;
    let pass = h.pass().await;
    assert_eq!((pass.sent, pass.errors), (1, 1), "{pass:?}");
    let open = queue::open_errors(&h.app.db, 10).await.expect("errors");
    assert_eq!(open.len(), 1);
    assert_eq!(
        open[0].message,
        "analyte 94500-6: missing required columns: patient_street"
    );
    assert_eq!((open[0].http_status, open[0].batch_id), (None, None));
    let rows: Vec<_> = receiver
        .received()
        .iter()
        .flat_map(|r| parse(&r.body).1)
        .collect();
    assert_eq!(rows.len(), 1, "the incomplete row is never sent");
}

on_both_backends!(
    rows_a_400_names_wait_in_the_error_queue_until_replayed_after_the_fix,
    a_4xx_naming_no_row_moves_the_whole_batch_to_the_error_queue,
    a_report_missing_required_data_goes_to_the_error_queue_naming_the_columns,
);
