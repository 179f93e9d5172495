//! `addTestResults` shares one transaction among its items, a savepoint each: an item the
//! database refuses rolls back alone, an item may replay an earlier item's key, and a shared
//! COMMIT that fails is made good by storing every item again on its own.

use portal_entities::{
    AuditOutcome, audit_event, idempotency_key, outbox_event, test_order, test_result,
};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

use crate::graphql::ingest::{Demo, demo, hba1c};
use crate::on_both_backends;
use crate::support::{Backend, no_errors};

const BATCH: &str = r#"mutation($inputs: [AddTestResultInput!]!) { addTestResults(inputs: $inputs) {
  succeeded failed items { index payload { replayed result { id } } error { code field } } } }"#;

async fn send(d: &Demo, inputs: Vec<Value>) -> Value {
    let response = d.lab.query(BATCH, json!({ "inputs": inputs })).await;
    no_errors(&response);
    response["data"]["addTestResults"].clone()
}

/// `count` FINAL results with idempotency keys `{prefix}-0`, `{prefix}-1`, …
pub(crate) fn keyed(d: &Demo, count: u32, prefix: &str) -> Vec<Value> {
    (0..count)
        .map(|i| {
            let mut input = hba1c(d, 5.0 + f64::from(i) / 10.0, "FINAL");
            input["idempotencyKey"] = json!(format!("{prefix}-{i}"));
            input
        })
        .collect()
}

async fn rows<E>(d: &Demo) -> u64
where
    E: EntityTrait,
    E::Model: Sync,
{
    E::find().count(&d.app.owner).await.expect("count")
}

/// A value the test's trigger refuses, on whichever backend.
const POISON: f64 = 666.0;

async fn refuse_poisoned_observations(d: &Demo, backend: Backend) {
    let statements: &[&str] = match backend {
        Backend::Postgres => &[
            "CREATE FUNCTION refuse_poison() RETURNS trigger AS $$ BEGIN \
             IF NEW.value_numeric = 666 THEN RAISE EXCEPTION 'poisoned observation'; END IF; \
             RETURN NEW; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER refuse_poison BEFORE INSERT ON observations FOR EACH ROW \
             EXECUTE FUNCTION refuse_poison()",
        ],
        Backend::Sqlite => &[
            "CREATE TRIGGER refuse_poison BEFORE INSERT ON observations \
             WHEN NEW.value_numeric = 666 BEGIN SELECT RAISE(ABORT, 'poisoned observation'); END",
        ],
    };
    for sql in statements {
        d.app.owner.execute_unprepared(sql).await.expect("trigger");
    }
}

/// The middle item passes validation and fails in the database after its order and result
/// went in: its savepoint takes them back, the items around it are stored.
async fn a_batch_item_the_database_refuses_rolls_back_alone(backend: Backend) {
    let d = demo(backend).await;
    refuse_poisoned_observations(&d, backend).await;
    let (orders, results, events) = (
        rows::<test_order::Entity>(&d).await,
        rows::<test_result::Entity>(&d).await,
        rows::<outbox_event::Entity>(&d).await,
    );
    let mut bad = hba1c(&d, 6.0, "FINAL");
    bad["observations"][0]["code"] = json!("718-7");
    let inputs = vec![
        hba1c(&d, 5.0, "FINAL"),
        hba1c(&d, POISON, "FINAL"),
        bad,
        hba1c(&d, 5.2, "FINAL"),
    ];
    let p = send(&d, inputs).await;
    assert_eq!(
        (&p["succeeded"], &p["failed"]),
        (&json!(2), &json!(2)),
        "{p:#}"
    );
    assert_eq!(
        p["items"][1]["error"],
        json!({ "code": "INTERNAL", "field": null })
    );
    assert_eq!(
        p["items"][2]["error"],
        json!({ "code": "BAD_USER_INPUT", "field": "inputs[2].observations[0].code" })
    );
    for i in [0, 3] {
        assert!(
            p["items"][i]["payload"]["result"]["id"].is_string(),
            "{p:#}"
        );
    }
    assert_eq!(
        rows::<test_order::Entity>(&d).await,
        orders + 2,
        "no order of the refused item"
    );
    assert_eq!(rows::<test_result::Entity>(&d).await, results + 2);
    assert_eq!(rows::<outbox_event::Entity>(&d).await, events + 2);
}

/// An item repeating an earlier item's key (same request) is answered from it, inside the
/// shared transaction; the same key with another request is a CONFLICT.
async fn a_batch_item_repeating_an_earlier_items_key_replays_it(backend: Backend) {
    let d = demo(backend).await;
    let mut first = hba1c(&d, 5.0, "FINAL");
    first["idempotencyKey"] = json!("batch-key");
    let mut other = hba1c(&d, 5.9, "FINAL");
    other["idempotencyKey"] = json!("batch-key");
    let results = rows::<test_result::Entity>(&d).await;
    let p = send(&d, vec![first.clone(), first, other]).await;
    assert_eq!(p["items"][1]["payload"]["replayed"], true, "{p:#}");
    assert_eq!(
        p["items"][1]["payload"]["result"]["id"],
        p["items"][0]["payload"]["result"]["id"]
    );
    assert_eq!(p["items"][2]["error"]["code"], "CONFLICT", "{p:#}");
    assert_eq!(rows::<test_result::Entity>(&d).await, results + 1);
}

on_both_backends!(
    a_batch_item_the_database_refuses_rolls_back_alone,
    a_batch_item_repeating_an_earlier_items_key_replays_it,
);

/// The first COMMIT that carries a result fails (a deferred constraint trigger raising at
/// COMMIT, counted by a sequence, which no rollback resets): the shared transaction of the
/// batch. Every item is then stored alone, exactly once, and the audit trail says what
/// happened: the batch's creates FAILED ("commit failed"), then each stored one ALLOWED.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_whose_shared_commit_fails_is_stored_item_by_item_exactly_once() {
    let d = demo(Backend::Postgres).await;
    for sql in [
        "CREATE SEQUENCE result_commits",
        "CREATE FUNCTION refuse_first_commit() RETURNS trigger SECURITY DEFINER AS $$ BEGIN \
         IF nextval('result_commits') = 1 THEN RAISE EXCEPTION 'refused at commit'; END IF; \
         RETURN NULL; END $$ LANGUAGE plpgsql",
        "CREATE CONSTRAINT TRIGGER refuse_first_commit AFTER INSERT ON test_results \
         DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_first_commit()",
    ] {
        d.app.owner.execute_unprepared(sql).await.expect("trigger");
    }
    let results = rows::<test_result::Entity>(&d).await;
    let events = rows::<outbox_event::Entity>(&d).await;
    let p = send(&d, keyed(&d, 5, "commit")).await;
    assert_eq!(
        (&p["succeeded"], &p["failed"]),
        (&json!(5), &json!(0)),
        "{p:#}"
    );
    assert_eq!(rows::<test_result::Entity>(&d).await, results + 5);
    assert_eq!(rows::<outbox_event::Entity>(&d).await, events + 5);
    for i in 0..5 {
        let key = format!("commit-{i}");
        let stored = test_result::Entity::find()
            .filter(test_result::Column::IdempotencyKey.eq(key.as_str()))
            .count(&d.app.owner)
            .await
            .expect("count");
        let remembered = idempotency_key::Entity::find()
            .filter(idempotency_key::Column::Key.eq(key.as_str()))
            .count(&d.app.owner)
            .await
            .expect("count");
        assert_eq!((stored, remembered), (1, 1), "{key}");
    }
    let creates = audit_event::Entity::find()
        .filter(audit_event::Column::Action.eq("result.create"))
        .filter(audit_event::Column::EntityId.is_not_null())
        .all(&d.app.owner)
        .await
        .expect("audit");
    let failed = creates
        .iter()
        .filter(|r| {
            r.outcome == AuditOutcome::Failed && r.reason.as_deref() == Some("commit failed")
        })
        .count();
    let mut stored: Vec<_> = test_result::Entity::find()
        .filter(test_result::Column::IdempotencyKey.like("commit-%"))
        .all(&d.app.owner)
        .await
        .expect("results")
        .into_iter()
        .map(|r| Some(r.id))
        .collect();
    let mut allowed: Vec<_> = creates
        .iter()
        .filter(|r| r.outcome == AuditOutcome::Allowed)
        .map(|r| r.entity_id)
        .collect();
    stored.sort_unstable();
    allowed.sort_unstable();
    assert_eq!(failed, 5, "{creates:#?}");
    assert_eq!(allowed, stored, "one allowed create per stored result");
}
