//! Following the events of a tenant (or of one of its patients) for a subscriber: replay from
//! the outbox, then live events from the bus, each once and in publication-sequence order.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use portal_entities::outbox_event;
use portal_subscriptions::{Delivery, Event, EventBus};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tracing::instrument;
use uuid::Uuid;

use super::sequence::last_seq;
use super::{BATCH, to_event};
use portal_core::error::ServiceResult;

/// How long live events numbered past a gap wait for the missing numbers to arrive on the
/// bus before those are read from the outbox. Without the wait, each subscription of a
/// replica re-read the outbox on every out-of-order arrival: thousands of queries per gap
/// with thousands of subscriptions (BENCHMARKS.md, scenario 3).
const GAP_WAIT: Duration = Duration::from_millis(250);
/// The most live events held past a gap; more means catching up from the outbox at once.
const GAP_HOLD: usize = 1024;

/// Which events a subscriber follows, and from where.
#[derive(Debug, Clone, Copy)]
pub struct Follow {
    pub tenant_id: Uuid,
    pub patient_id: Option<Uuid>,
    /// The tenant's publication sequence number the subscriber is past (see `start_after`):
    /// the events numbered above it are delivered, replayed from the outbox first.
    pub after: i64,
}

/// Where a subscription starts: after the event `after` the client saw (its sequence number),
/// or, without one, after every event the tenant's outbox has numbered so far.
///
/// An `after` that is not a numbered event of the tenant (a time mark: a UUID v7 the client
/// made, as older clients were told to; or an event not numbered yet) is read as a point in
/// time: the subscription starts just before the lowest number of any event with a greater
/// id, so every event the id comparison would have delivered still comes (some earlier ones
/// may come too; clients drop those by `eventId`).
#[instrument(skip(db))]
pub async fn start_after<C: ConnectionTrait>(
    db: &C,
    tenant_id: Uuid,
    after: Option<Uuid>,
) -> ServiceResult<i64> {
    let Some(after) = after else {
        return last_seq(db, tenant_id).await;
    };
    let numbered: Option<Option<i64>> = outbox_event::Entity::find_by_id(after)
        .select_only()
        .column(outbox_event::Column::PublishSeq)
        .filter(outbox_event::Column::TenantId.eq(tenant_id))
        .into_tuple()
        .one(db)
        .await?;
    if let Some(Some(seq)) = numbered {
        return Ok(seq);
    }
    // Read first: an event with a greater id numbered after this read gets a higher number
    // and is delivered; one numbered before it is counted by `first_later`.
    let last = last_seq(db, tenant_id).await?;
    let first_later: Option<Option<i64>> = outbox_event::Entity::find()
        .select_only()
        .column_as(outbox_event::Column::PublishSeq.min(), "first")
        .filter(outbox_event::Column::TenantId.eq(tenant_id))
        .filter(outbox_event::Column::Id.gt(after))
        .into_tuple()
        .one(db)
        .await?;
    Ok(first_later
        .flatten()
        .map_or(last, |first| (first - 1).min(last)))
}

/// The events a subscriber follows, each once, in sequence order: it listens to the bus, then
/// replays the outbox's events numbered after `follow.after` (so nothing numbered in between
/// is lost), then delivers live events. Whenever the bus skips numbers (the subscriber lagged,
/// or another relay published a later batch first) it reads the missing ones from the outbox:
/// a number on the bus means every lower number of the tenant is committed (it first waits
/// `GAP_WAIT` for them on the bus, holding the later events). Duplicates
/// (replayed and live, or published twice) are dropped by number.
pub fn follow<C>(db: C, bus: &EventBus, follow: Follow) -> BoxStream<'static, ServiceResult<Event>>
where
    C: ConnectionTrait + Send + Sync + 'static,
{
    let live = bus.subscribe();
    let state = FollowState {
        db,
        follow,
        live,
        cursor: follow.after,
        backlog: VecDeque::new(),
        catch_up: true,
        ahead: BTreeMap::new(),
        gap_deadline: None,
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
    /// Every event of the tenant numbered up to here was delivered, is in `backlog`, or is
    /// not for this subscriber.
    cursor: i64,
    backlog: VecDeque<Event>,
    catch_up: bool,
    /// Live events numbered past a gap, held until the gap fills or `gap_deadline` passes.
    ahead: BTreeMap<i64, Event>,
    gap_deadline: Option<tokio::time::Instant>,
}

impl<C: ConnectionTrait> FollowState<C> {
    /// `None` when the bus closed (the server is stopping).
    async fn next(&mut self) -> Option<ServiceResult<Event>> {
        loop {
            if self.catch_up {
                self.ahead.clear();
                self.gap_deadline = None;
                // On an error the catch-up is tried again on the next poll: the gap stays.
                if let Err(err) = self.replay().await {
                    return Some(Err(err));
                }
                self.catch_up = false;
            }
            if let Some(event) = self.backlog.pop_front() {
                return Some(Ok(event));
            }
            // An event held past a gap that the bus has since filled: next in order.
            if let Some(event) = self.ahead.remove(&(self.cursor + 1)) {
                if let Some(event) = self.accept(event) {
                    return Some(Ok(event));
                }
                continue;
            }
            if self.ahead.is_empty() {
                self.gap_deadline = None;
            }
            let delivery = match self.gap_deadline {
                None => self.live.next().await?,
                Some(deadline) => match tokio::time::timeout_at(deadline, self.live.next()).await {
                    Ok(delivery) => delivery?,
                    Err(_) => {
                        tracing::debug!(
                            cursor = self.cursor,
                            held = self.ahead.len(),
                            "events missing before live ones; reading them from the outbox"
                        );
                        self.catch_up = true;
                        continue;
                    }
                },
            };
            match delivery {
                Delivery::Event(event) if event.tenant_id == self.follow.tenant_id => {
                    if event.seq <= self.cursor {
                        continue;
                    }
                    if event.seq > self.cursor + 1 {
                        // Several relays publish at once, so numbers often arrive a little
                        // out of order: wait briefly for the missing ones on the bus before
                        // reading the outbox (which every subscription would do on its own).
                        if self.ahead.len() >= GAP_HOLD {
                            self.catch_up = true;
                            continue;
                        }
                        self.ahead.insert(event.seq, event);
                        self.gap_deadline
                            .get_or_insert_with(|| tokio::time::Instant::now() + GAP_WAIT);
                        continue;
                    }
                    if let Some(event) = self.accept(event) {
                        return Some(Ok(event));
                    }
                }
                Delivery::Event(_) => {}
                Delivery::Lagged { missed } => {
                    tracing::debug!(missed, "subscriber lagged; catching up from the outbox");
                    self.catch_up = true;
                }
            }
        }
    }

    /// Moves the cursor to the next event in order; the event if this subscriber follows it.
    fn accept(&mut self, event: Event) -> Option<Event> {
        self.cursor = event.seq;
        self.follow
            .patient_id
            .is_none_or(|p| event.patient_id == Some(p))
            .then_some(event)
    }

    /// Queues the followed events numbered after the cursor, up to the tenant's last number
    /// (all committed), and moves the cursor there.
    async fn replay(&mut self) -> ServiceResult<()> {
        let upto = last_seq(&self.db, self.follow.tenant_id).await?;
        let mut after = self.cursor;
        while after < upto {
            let page = page(&self.db, &self.follow, after, upto).await?;
            let full = page.len() as u64 == BATCH;
            after = match page.last() {
                Some(last) if full => last.seq,
                _ => upto,
            };
            self.backlog.extend(page);
        }
        self.cursor = self.cursor.max(upto);
        Ok(())
    }
}

/// The followed events numbered in `(after, upto]`, in number order, at most `BATCH`.
pub async fn page<C: ConnectionTrait>(
    db: &C,
    follow: &Follow,
    after: i64,
    upto: i64,
) -> ServiceResult<Vec<Event>> {
    let mut select = outbox_event::Entity::find()
        .filter(outbox_event::Column::TenantId.eq(follow.tenant_id))
        .filter(outbox_event::Column::PublishSeq.gt(after))
        .filter(outbox_event::Column::PublishSeq.lte(upto));
    if let Some(patient_id) = follow.patient_id {
        select = select.filter(outbox_event::Column::PatientId.eq(patient_id));
    }
    let rows = select
        .order_by_asc(outbox_event::Column::PublishSeq)
        .limit(BATCH)
        .all(db)
        .await?;
    Ok(rows.into_iter().filter_map(to_event).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use portal_subscriptions::EventBus;

    fn event(tenant_id: Uuid, seq: i64) -> Event {
        Event {
            id: Uuid::now_v7(),
            tenant_id,
            patient_id: None,
            event_type: "result.released".into(),
            aggregate_id: Uuid::now_v7(),
            payload: serde_json::json!({}),
            seq,
        }
    }

    /// Numbers arriving out of order are delivered in order from the bus alone. The outbox
    /// here is empty: had the gap been read from it (as before the wait), event 2 would be
    /// lost to this subscriber, and with thousands of subscriptions every such gap cost
    /// thousands of queries.
    #[tokio::test]
    async fn a_gap_filled_by_the_bus_is_delivered_in_order_without_the_outbox() {
        let db = portal_core::db::connect("sqlite::memory:", 1, Duration::from_secs(5))
            .await
            .expect("sqlite");
        <portal_migrations::Migrator as portal_migrations::MigratorTrait>::up(&db, None)
            .await
            .expect("migrate");
        let bus = EventBus::in_process(16);
        let tenant = Uuid::now_v7();
        let mut events = follow(
            db,
            &bus,
            Follow {
                tenant_id: tenant,
                patient_id: None,
                after: 0,
            },
        );
        let second = event(tenant, 2);
        let first = event(tenant, 1);
        bus.publish(second.clone()).await.expect("publish 2");
        bus.publish(first.clone()).await.expect("publish 1");
        for expected in [1, 2] {
            let next = tokio::time::timeout(Duration::from_secs(5), events.next())
                .await
                .unwrap_or_else(|_| panic!("event {expected} never came"));
            assert_eq!(next.expect("open").expect("event").seq, expected);
        }
    }
}
