//! The queued report commits or rolls back with its result: when the report cannot be
//! written the result is not stored, and when the result's transaction fails after the report
//! was written, the report is gone too.

use portal_entities::{public_health_report, test_result};
use sea_orm::{ConnectionTrait, EntityTrait, PaginatorTrait};
use serde_json::json;

use super::*;
use crate::on_both_backends;
use crate::support::error_code;

/// Makes inserts into `table` fail, as a database fault would.
async fn fail_inserts(h: &Hospital, table: &str) {
    let sql: Vec<String> = match h.app.owner.get_database_backend() {
        sea_orm::DatabaseBackend::Postgres => vec![
            "CREATE OR REPLACE FUNCTION fail_insert() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'insert refused'; END $$ LANGUAGE plpgsql".into(),
            format!("CREATE TRIGGER fail_{table} BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION fail_insert()"),
        ],
        _ => vec![format!(
            "CREATE TRIGGER fail_{table} BEFORE INSERT ON {table} BEGIN SELECT RAISE(ABORT, 'insert refused'); END"
        )],
    };
    for statement in sql {
        h.app
            .owner
            .execute_unprepared(&statement)
            .await
            .expect("trigger");
    }
}

async fn counts(h: &Hospital) -> (u64, u64) {
    (
        test_result::Entity::find()
            .count(&h.app.owner)
            .await
            .expect("count"),
        public_health_report::Entity::find()
            .count(&h.app.owner)
            .await
            .expect("count"),
    )
}

async fn a_result_whose_report_cannot_be_queued_is_not_stored(backend: Backend) {
    let h = Hospital::new(backend, &[]).await;
    let before = counts(&h).await;
    fail_inserts(&h, "public_health_reports").await;
    let input = h.input("MRN1001", SARS, "FINAL", coded(DETECTED)).await;
    let response = h.lab.query(ADD, json!({ "input": input })).await;
    assert_eq!(error_code(&response), Some("INTERNAL"), "{response:#}");
    assert_eq!(
        counts(&h).await,
        before,
        "neither the result nor its report"
    );
}

async fn a_report_rolls_back_with_a_result_transaction_that_fails_after_it(backend: Backend) {
    let h = Hospital::new(backend, &[]).await;
    let before = counts(&h).await;
    // The idempotency key is written after the result and its report, in the same transaction.
    fail_inserts(&h, "idempotency_keys").await;
    let mut input = h.input("MRN1001", SARS, "FINAL", coded(DETECTED)).await;
    input["idempotencyKey"] = json!("lis-run-42");
    let response = h.lab.query(ADD, json!({ "input": input })).await;
    assert_eq!(error_code(&response), Some("INTERNAL"), "{response:#}");
    assert_eq!(counts(&h).await, before, "the report went with the result");
}

on_both_backends!(
    a_result_whose_report_cannot_be_queued_is_not_stored,
    a_report_rolls_back_with_a_result_transaction_that_fails_after_it,
);
