//! Following the events of a tenant (or of one of its patients) for a subscriber: replay from
//! the outbox, then live events from the bus, each once and in publication-sequence order.

use std::collections::VecDeque;

use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use portal_entities::outbox_event;
use portal_subscriptions::{Delivery, Event, EventBus};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tracing::instrument;
use uuid::Uuid;

use super::sequence::last_seq;
use super::{BATCH, to_event};
use crate::error::ServiceResult;

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
/// a number on the bus means every lower number of the tenant is committed. Duplicates
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
                return Some(Ok(event));
            }
            match self.live.next().await? {
                Delivery::Event(event) if event.tenant_id == self.follow.tenant_id => {
                    if event.seq <= self.cursor {
                        continue;
                    }
                    if event.seq > self.cursor + 1 {
                        tracing::debug!(
                            cursor = self.cursor,
                            seq = event.seq,
                            "events missing before a live event; reading them from the outbox"
                        );
                        self.catch_up = true;
                        continue;
                    }
                    self.cursor = event.seq;
                    if self
                        .follow
                        .patient_id
                        .is_none_or(|p| event.patient_id == Some(p))
                    {
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
async fn page<C: ConnectionTrait>(
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
