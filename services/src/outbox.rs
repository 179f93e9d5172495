//! The outbox relay (committed `outbox_events` → event bus) and replay from the outbox for
//! subscribers that resume or fall behind. Contract: docs/events.md.

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use portal_entities::outbox_event;
use portal_subscriptions::{BusError, Delivery, Event, EventBus};
use sea_orm::sea_query::{Expr, LockBehavior, LockType};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, TransactionTrait,
};
use tokio::sync::Notify;
use tracing::instrument;
use uuid::Uuid;

use crate::db::TenantDb;
use crate::error::{ServiceError, ServiceResult};

/// How many events one relay pass or one replay page handles at most.
pub const BATCH: u64 = 100;

/// Publishes up to `limit` unpublished events in commit order, then marks them published.
/// At-least-once: an event published but not yet marked (crash in between) is published
/// again by the next pass; consumers de-duplicate by event id. Returns how many it handled.
///
/// On PostgreSQL, where several replicas relay the same outbox, the rows are claimed
/// (`FOR UPDATE SKIP LOCKED` in one transaction that publishes, then marks), so each event
/// is published by one relay. SQLite serves one process and needs no claim. Under row-level
/// security the relay works tenant by tenant, up to `limit` events each.
#[instrument(skip(db, bus))]
pub async fn relay_once(
    db: &DatabaseConnection,
    bus: &EventBus,
    limit: u64,
) -> ServiceResult<usize> {
    let mut published = 0;
    for scope in crate::db::tenant_scopes(db).await? {
        published += relay_scope(&scope, bus, limit).await?;
    }
    Ok(published)
}

/// One batch of one tenant (PostgreSQL, row-level security) or of the whole outbox (SQLite).
async fn relay_scope(db: &TenantDb, bus: &EventBus, limit: u64) -> ServiceResult<usize> {
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

/// Publishes and marks one batch; a bus failure stops the batch after marking what went out.
async fn relay_batch<C: ConnectionTrait>(
    db: &C,
    bus: &EventBus,
    limit: u64,
) -> ServiceResult<(usize, Option<BusError>)> {
    let pending = outbox_event::Entity::find()
        .filter(outbox_event::Column::PublishedAt.is_null())
        .order_by_asc(outbox_event::Column::CreatedAt)
        .order_by_asc(outbox_event::Column::Id)
        .limit(limit)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .all(db)
        .await?;
    let mut published = Vec::with_capacity(pending.len());
    let mut failure = None;
    for row in pending {
        let id = row.id;
        match bus.publish(to_event(row)).await {
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
                Expr::value(crate::clock::now()),
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

/// Committed events of a tenant (and of one patient, when given) with an id greater than
/// `after`, oldest first: what a subscriber that saw `after` has missed.
#[instrument(skip(db))]
pub async fn events_after<C: ConnectionTrait>(
    db: &C,
    tenant_id: Uuid,
    patient_id: Option<Uuid>,
    after: Uuid,
    limit: u64,
) -> ServiceResult<Vec<Event>> {
    let mut select = outbox_event::Entity::find()
        .filter(outbox_event::Column::TenantId.eq(tenant_id))
        .filter(outbox_event::Column::Id.gt(after));
    if let Some(patient_id) = patient_id {
        select = select.filter(outbox_event::Column::PatientId.eq(patient_id));
    }
    let rows = select
        .order_by_asc(outbox_event::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    Ok(rows.into_iter().map(to_event).collect())
}

fn to_event(row: outbox_event::Model) -> Event {
    Event {
        id: row.id,
        tenant_id: row.tenant_id,
        patient_id: row.patient_id,
        event_type: row.event_type,
        aggregate_id: row.aggregate_id,
        payload: row.payload,
    }
}

/// Which events a subscriber follows, and from where.
#[derive(Debug, Clone, Copy)]
pub struct Follow {
    pub tenant_id: Uuid,
    pub patient_id: Option<Uuid>,
    /// The last event id the subscriber saw: events after it are replayed first.
    pub after: Option<Uuid>,
}

impl Follow {
    fn matches(&self, event: &Event) -> bool {
        event.tenant_id == self.tenant_id
            && self.patient_id.is_none_or(|p| event.patient_id == Some(p))
    }
}

/// The events a subscriber follows, each once: the outbox's events after `follow.after`
/// first, then live events from the bus. It listens to the bus before reading the outbox, so
/// nothing committed in between is lost; it catches up from the outbox when the bus reports
/// it lagged; duplicates (replayed and live, or published twice) are dropped by event id.
pub fn follow<C>(db: C, bus: &EventBus, follow: Follow) -> BoxStream<'static, ServiceResult<Event>>
where
    C: ConnectionTrait + Send + Sync + 'static,
{
    let live = bus.subscribe();
    let state = FollowState {
        db,
        follow,
        live,
        seen: Seen::default(),
        floor: follow.after.unwrap_or_else(Uuid::now_v7),
        backlog: VecDeque::new(),
        catch_up: follow.after.is_some(),
    };
    futures_util::stream::unfold(state, |mut s| async move {
        let next = s.next().await?;
        Some((next, s))
    })
    .boxed()
}

struct FollowState<C> {
    db: C,
    follow: Follow,
    live: BoxStream<'static, Delivery>,
    seen: Seen,
    /// Replays start after this id when nothing newer was seen.
    floor: Uuid,
    backlog: VecDeque<Event>,
    catch_up: bool,
}

impl<C: ConnectionTrait> FollowState<C> {
    /// `None` when the bus closed (the server is stopping).
    async fn next(&mut self) -> Option<ServiceResult<Event>> {
        loop {
            if self.catch_up {
                self.catch_up = false;
                if let Err(err) = self.replay().await {
                    return Some(Err(err));
                }
            }
            if let Some(event) = self.backlog.pop_front() {
                if self.seen.insert(event.id) {
                    return Some(Ok(event));
                }
                continue;
            }
            match self.live.next().await? {
                Delivery::Event(event) => {
                    if self.follow.matches(&event) && self.seen.insert(event.id) {
                        return Some(Ok(event));
                    }
                }
                Delivery::Lagged { missed } => {
                    tracing::debug!(missed, "subscriber lagged; catching up from the outbox");
                    self.catch_up = true;
                }
            }
        }
    }

    async fn replay(&mut self) -> ServiceResult<()> {
        let mut after = self.seen.oldest().map_or(self.floor, |o| o.min(self.floor));
        loop {
            let page = events_after(
                &self.db,
                self.follow.tenant_id,
                self.follow.patient_id,
                after,
                BATCH,
            )
            .await?;
            let full = page.len() as u64 == BATCH;
            if let Some(last) = page.last() {
                after = last.id;
            }
            self.backlog.extend(page);
            if !full {
                return Ok(());
            }
        }
    }
}

/// The ids of the most recent events delivered, for de-duplication (bounded, so a long-lived
/// subscription does not grow without limit).
#[derive(Default)]
struct Seen {
    order: VecDeque<Uuid>,
    ids: HashSet<Uuid>,
}

impl Seen {
    const CAPACITY: usize = 4096;

    /// False when `id` was delivered already.
    fn insert(&mut self, id: Uuid) -> bool {
        if !self.ids.insert(id) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > Self::CAPACITY
            && let Some(old) = self.order.pop_front()
        {
            self.ids.remove(&old);
        }
        true
    }

    /// Events committed out of id order may still be missing after the oldest id remembered.
    fn oldest(&self) -> Option<Uuid> {
        self.order.iter().min().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seen_drops_duplicates_and_stays_bounded() {
        let mut seen = Seen::default();
        let first = Uuid::now_v7();
        assert!(seen.insert(first));
        assert!(!seen.insert(first));
        for _ in 0..Seen::CAPACITY {
            assert!(seen.insert(Uuid::now_v7()));
        }
        assert_eq!(seen.order.len(), Seen::CAPACITY);
        assert!(seen.insert(first), "forgotten once out of the window");
    }
}
