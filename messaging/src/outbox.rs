//! The outbox relay (committed `outbox_events` → numbered in commit order → event bus) and,
//! in `follow`, replay from the outbox for subscribers that resume or fall behind.
//! Contract: docs/events.md.

mod follow;
mod sequence;

pub use follow::{Follow, follow, page, start_after};
pub use sequence::{last_seq, sequence};

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use portal_entities::outbox_event;
use portal_subscriptions::{BusError, Event, EventBus};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, LockBehavior, LockType};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, TransactionTrait,
};
use tokio::sync::Notify;
use tracing::instrument;
use uuid::Uuid;

use portal_core::db::TenantDb;
use portal_core::error::{ServiceError, ServiceResult};

/// How many events one relay pass or one replay page handles at most.
pub const BATCH: u64 = 100;

/// Numbers up to `limit` committed events in commit order and commits the numbers (see
/// `sequence`), then publishes up to `limit` numbered, unpublished events in number order and
/// marks them published. At-least-once: an event numbered or published but not yet marked
/// (crash in between) is published again by the next pass, in number order; consumers
/// de-duplicate by number (`follow`) or event id. Returns how many it published.
///
/// On PostgreSQL, where several replicas relay the same outbox, the numbered rows are claimed
/// (`FOR UPDATE SKIP LOCKED` in one transaction that publishes, then marks), so each event
/// is published by one relay; two relays may publish their batches in either order, which
/// `follow` repairs from the outbox. SQLite serves one process and needs no claim. Under
/// row-level security the relay works tenant by tenant, up to `limit` events each.
#[instrument(skip(db, bus))]
pub async fn relay_once(
    db: &DatabaseConnection,
    bus: &EventBus,
    limit: u64,
) -> ServiceResult<usize> {
    let mut published = 0;
    for scope in portal_core::db::tenant_scopes(db).await? {
        published += relay_scope(&scope, bus, limit).await?;
    }
    Ok(published)
}

/// One batch of one tenant (PostgreSQL, row-level security) or of the whole outbox (SQLite).
async fn relay_scope(db: &TenantDb, bus: &EventBus, limit: u64) -> ServiceResult<usize> {
    sequence(db, limit).await?;
    let (published, failure) = if db.get_database_backend() == DbBackend::Postgres {
        let txn = db.begin().await?;
        let outcome = relay_batch(&txn, bus, limit).await?;
        txn.commit().await?;
        outcome
    } else {
        relay_batch(db, bus, limit).await?
    };
    match failure {
        Some(err) => Err(ServiceError::Unavailable(Box::new(err))),
        None => Ok(published),
    }
}

/// Publishes and marks one batch of numbered events; a bus failure stops the batch after
/// marking what went out.
async fn relay_batch<C: ConnectionTrait>(
    db: &C,
    bus: &EventBus,
    limit: u64,
) -> ServiceResult<(usize, Option<BusError>)> {
    let pending = outbox_event::Entity::find()
        .filter(outbox_event::Column::PublishedAt.is_null())
        .filter(outbox_event::Column::PublishSeq.is_not_null())
        .order_by_asc(outbox_event::Column::PublishSeq)
        .limit(limit)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .all(db)
        .await?;
    let mut published = Vec::with_capacity(pending.len());
    let mut failure = None;
    for event in pending.into_iter().filter_map(to_event) {
        let id = event.id;
        match bus.publish(event).await {
            Ok(_) => published.push(id),
            Err(err) => {
                failure = Some(err);
                break;
            }
        }
    }
    if !published.is_empty() {
        outbox_event::Entity::update_many()
            .col_expr(
                outbox_event::Column::PublishedAt,
                Expr::value(portal_core::clock::now()),
            )
            .filter(outbox_event::Column::Id.is_in(published.iter().copied()))
            .exec(db)
            .await?;
    }
    Ok((published.len(), failure))
}

/// Relays until `shutdown` completes: drains the outbox whenever `wake` is notified (the
/// write path calls `notify_one()` after its commit) and at least every `interval`, so
/// events of other processes or of a missed wake-up still go out. Errors are logged and
/// retried on the next round; they never stop the loop.
pub async fn run_relay(
    db: DatabaseConnection,
    bus: EventBus,
    wake: Arc<Notify>,
    interval: Duration,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        drain(&db, &bus).await;
        tokio::select! {
            () = &mut shutdown => break,
            () = wake.notified() => {}
            () = tokio::time::sleep(interval) => {}
        }
    }
    tracing::info!("outbox relay stopped");
}

async fn drain(db: &DatabaseConnection, bus: &EventBus) {
    loop {
        match relay_once(db, bus, BATCH).await {
            Ok(n) if (n as u64) < BATCH => return,
            Ok(_) => {}
            Err(err) => {
                tracing::warn!(error = %err, source = ?std::error::Error::source(&err), "outbox relay pass failed; retrying later");
                return;
            }
        }
    }
}

/// The bus event of a numbered row (`None` for a row the relay has not numbered yet).
fn to_event(row: outbox_event::Model) -> Option<Event> {
    Some(Event {
        seq: row.publish_seq?,
        id: row.id,
        tenant_id: row.tenant_id,
        patient_id: row.patient_id,
        event_type: row.event_type,
        aggregate_id: row.aggregate_id,
        payload: row.payload,
    })
}

/// A change others must hear about, as the write path describes it (docs/events.md).
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    pub tenant_id: Uuid,
    pub patient_id: Option<Uuid>,
    pub event_type: &'a str,
    pub aggregate_type: &'a str,
    pub aggregate_id: Uuid,
    pub payload: serde_json::Value,
}

/// Writes `event` to the outbox in the caller's transaction (unnumbered, unpublished: the
/// relay numbers and publishes it after the commit). Returns its id.
pub async fn insert<C: ConnectionTrait>(db: &C, event: NewEvent<'_>) -> ServiceResult<Uuid> {
    let id = Uuid::now_v7();
    outbox_event::Entity::insert(outbox_event::ActiveModel {
        id: Set(id),
        tenant_id: Set(event.tenant_id),
        event_type: Set(event.event_type.to_owned()),
        aggregate_type: Set(event.aggregate_type.to_owned()),
        aggregate_id: Set(event.aggregate_id),
        patient_id: Set(event.patient_id),
        payload: Set(event.payload),
        created_at: Set(portal_core::clock::now()),
        published_at: Set(None),
        publish_seq: Set(None),
    })
    .exec_without_returning(db)
    .await?;
    Ok(id)
}
