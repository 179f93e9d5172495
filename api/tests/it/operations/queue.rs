//! The job-queue primitive (`portal_messaging::queue`) on both databases, over a real queue
//! table (`notifications`): concurrent claims never take a row twice, an expired lease is
//! taken over and the old holder's writes are refused by the fencing token, attempts back
//! off and end dead, replay puts dead rows back, the unique key keeps one row, `run_at`
//! schedules.

use std::collections::HashSet;
use std::time::Duration;

use portal_core::db::TenantDb;
use portal_entities::{NotificationChannel, NotificationStatus, notification};
use portal_messaging::delivery::Notifications;
use portal_messaging::queue::{self, Backoff, Lease, Retries};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, Condition, EntityTrait, IntoActiveModel};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::{Backend, TestApp};

const LONG: Duration = Duration::from_secs(3600);

async fn app_with_rows(backend: Backend, n: usize) -> (TestApp, TenantDb, Vec<Uuid>) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        ids.push(
            app.queued(
                w.tenant_a,
                w.p1,
                None,
                NotificationChannel::Sms,
                "result_ready",
            )
            .await,
        );
    }
    let db = TenantDb::scoped(app.db.clone(), Some(w.tenant_a));
    (app, db, ids)
}

async fn claim(db: &TenantDb, limit: u64, lease: Duration) -> (Vec<Uuid>, Lease) {
    let (rows, lease) = queue::claim::<Notifications>(db, Condition::all(), limit, lease)
        .await
        .expect("claim");
    (rows.into_iter().map(|r| r.id).collect(), lease)
}

fn sent() -> sea_orm::UpdateMany<notification::Entity> {
    notification::Entity::update_many().col_expr(
        notification::Column::Status,
        Expr::value(NotificationStatus::Sent),
    )
}

async fn concurrent_claims_never_take_a_row_twice(backend: Backend) {
    const ROWS: usize = 24;
    let (_app, db, ids) = app_with_rows(backend, ROWS).await;

    let workers = (0..4).map(|_| {
        let db = db.clone();
        tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let (claimed, _) = claim(&db, 5, LONG).await;
                if claimed.is_empty() {
                    return mine;
                }
                mine.extend(claimed);
            }
        })
    });
    let mut all = Vec::new();
    for worker in workers {
        all.extend(worker.await.expect("worker"));
    }

    let distinct: HashSet<Uuid> = all.iter().copied().collect();
    assert_eq!(
        all.len(),
        distinct.len(),
        "a row was claimed twice: {all:?}"
    );
    assert_eq!(
        distinct,
        ids.into_iter().collect(),
        "every row claimed once"
    );
    let (again, _) = claim(&db, 50, LONG).await;
    assert!(again.is_empty(), "held rows are not due: {again:?}");
}

async fn an_expired_lease_is_taken_over_and_the_old_holders_writes_are_refused(backend: Backend) {
    let (app, db, ids) = app_with_rows(backend, 1).await;
    let id = ids[0];
    // A lease of zero has ended as soon as it is taken.
    let (first, old) = claim(&db, 10, Duration::ZERO).await;
    assert_eq!(first, [id]);
    let (second, new) = claim(&db, 10, LONG).await;
    assert_eq!(second, [id], "the expired lease is taken over");
    assert_ne!(old, new);

    let refused = queue::write::<Notifications>(&db, &old, id, sent())
        .await
        .expect("write");
    assert!(!refused, "the old holder's write is fenced off");
    let (kept, _) = queue::heartbeat::<Notifications, _>(&db, &old, [id], LONG)
        .await
        .expect("heartbeat");
    assert!(
        kept.is_empty(),
        "the old holder cannot renew a lease it lost"
    );
    assert_eq!(
        app.notification(id).await.status,
        NotificationStatus::Pending
    );

    let (held, renewed) = queue::heartbeat::<Notifications, _>(&db, &new, [id], LONG * 2)
        .await
        .expect("heartbeat");
    assert_eq!(held.len(), 1, "the holder renews its lease");
    assert_eq!(held[0].next_attempt_at, renewed.token());
    let stale = queue::write::<Notifications>(&db, &new, id, sent())
        .await
        .expect("write");
    assert!(!stale, "after a heartbeat only the renewed token writes");
    let stored = queue::write::<Notifications>(&db, &renewed, id, sent())
        .await
        .expect("write");
    assert!(stored);
    assert_eq!(app.notification(id).await.status, NotificationStatus::Sent);
}

async fn failed_attempts_back_off_then_end_dead_and_replay_puts_them_back(backend: Backend) {
    let (app, db, ids) = app_with_rows(backend, 1).await;
    let id = ids[0];
    let retries = Retries {
        max_attempts: Some(2),
        backoff: Backoff::exponential(LONG, LONG * 4),
    };

    let (_, lease) = claim(&db, 1, LONG).await;
    let failure = retries
        .failed(0, false, portal_core::clock::now())
        .expect("failure");
    let update = notification::Entity::update_many();
    assert!(
        queue::fail::<Notifications>(&db, &lease, id, &failure, update)
            .await
            .expect("fail")
    );
    let row = app.notification(id).await;
    assert_eq!(
        (row.status, row.attempts, row.next_attempt_at),
        (NotificationStatus::Failed, 1, failure.retry_at)
    );
    let (waiting, _) = claim(&db, 1, LONG).await;
    assert!(waiting.is_empty(), "not due before its backoff ends");

    app.make_due(id).await;
    let (again, lease) = claim(&db, 1, LONG).await;
    assert_eq!(again, [id], "due again once the backoff has passed");
    let last = retries
        .failed(1, false, portal_core::clock::now())
        .expect("failure");
    assert!(last.dead);
    assert!(
        queue::fail::<Notifications>(&db, &lease, id, &last, notification::Entity::update_many())
            .await
            .expect("fail")
    );
    assert_eq!(app.notification(id).await.status, NotificationStatus::Dead);
    app.make_due(id).await;
    let (dead, _) = claim(&db, 1, LONG).await;
    assert!(dead.is_empty(), "a dead row is never claimed");
    assert_eq!(
        queue::dead_count::<Notifications>(&app.db)
            .await
            .expect("count"),
        1
    );

    assert_eq!(
        queue::replay::<Notifications>(&app.db, None, true)
            .await
            .expect("dry run"),
        1
    );
    assert_eq!(
        app.notification(id).await.status,
        NotificationStatus::Dead,
        "a dry run changes nothing"
    );
    assert_eq!(
        queue::replay::<Notifications>(&app.db, None, false)
            .await
            .expect("replay"),
        1
    );
    let row = app.notification(id).await;
    assert_eq!((row.status, row.attempts), (NotificationStatus::Pending, 0));
    let (replayed, _) = claim(&db, 1, LONG).await;
    assert_eq!(replayed, [id], "a replayed row is due at once");
}

async fn the_unique_key_keeps_one_row_and_run_at_schedules(backend: Backend) {
    let (app, db, ids) = app_with_rows(backend, 1).await;
    let existing = app.notification(ids[0]).await;
    let later = portal_core::clock::now() + chrono::Duration::hours(1);
    let row = |event_id: Uuid| notification::ActiveModel {
        id: Set(Uuid::now_v7()),
        event_id: Set(event_id),
        next_attempt_at: Set(later),
        ..existing.clone().into_active_model().reset_all()
    };

    let same_key = queue::enqueue::<Notifications, _>(&db, vec![row(existing.event_id)])
        .await
        .expect("enqueue");
    assert_eq!(same_key, 0, "the same event and channel is queued once");
    let scheduled = Uuid::now_v7();
    let added = queue::enqueue::<Notifications, _>(&db, vec![row(scheduled)])
        .await
        .expect("enqueue");
    assert_eq!(added, 1);

    let (claimed, _) = claim(&db, 10, LONG).await;
    assert_eq!(claimed, ids, "a row scheduled for later is not due yet");
    let backlog = queue::backlog::<Notifications>(&app.db, &[NotificationStatus::Pending])
        .await
        .expect("backlog");
    assert_eq!(backlog.depth, 2);
    assert_eq!(backlog.oldest_created_at, Some(existing.created_at));
}

on_both_backends!(
    concurrent_claims_never_take_a_row_twice,
    an_expired_lease_is_taken_over_and_the_old_holders_writes_are_refused,
    failed_attempts_back_off_then_end_dead_and_replay_puts_them_back,
    the_unique_key_keeps_one_row_and_run_at_schedules,
);
