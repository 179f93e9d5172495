//! The event bus that carries committed domain events to live subscribers.
//!
//! Events are published only after the transaction that wrote them committed (the outbox
//! relay does that); the bus is at-least-once, so consumers de-duplicate by `Event::id`.
//! A subscriber that falls behind is told how many events it missed and resumes from the
//! outbox after the last publication sequence number (`Event::seq`) it saw.

mod in_process;
mod redis_bus;

pub use in_process::InProcessBus;
pub use redis_bus::{Envelope, RedisBus, STREAM, STREAM_MAXLEN};

use futures_util::stream::BoxStream;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A committed change, as subscribers receive it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The outbox event id: unique, time-ordered (UUID v7).
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub patient_id: Option<Uuid>,
    /// E.g. `result.released`, `result.preliminary` (see docs/events.md).
    pub event_type: String,
    pub aggregate_id: Uuid,
    pub payload: serde_json::Value,
    /// The tenant's publication sequence number: assigned in commit order, each committed
    /// before the event is published, so every lower number of the tenant is committed too.
    pub seq: i64,
}

/// What a subscription yields.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    Event(Event),
    /// The subscriber was too slow and `missed` events were dropped for it (0: unknown, the
    /// Redis feed dropped or reconnected): it must catch up from the outbox.
    Lagged {
        missed: u64,
    },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BusError {
    #[error("event bus unavailable: {0}")]
    Unavailable(String),
}

/// The bus the server runs on, chosen by configuration. An enum rather than a trait object:
/// the set of buses is closed (in-process, Redis) and callers stay non-generic.
#[derive(Clone)]
pub enum EventBus {
    InProcess(InProcessBus),
    /// Several replicas: local delivery plus a Redis stream to the others.
    Redis(RedisBus),
}

impl EventBus {
    /// The embedded default: `capacity` events buffered per subscriber.
    pub fn in_process(capacity: usize) -> Self {
        Self::InProcess(InProcessBus::new(capacity))
    }

    /// Local delivery plus Redis fan-out to other replicas (see [`RedisBus`]).
    pub fn redis(url: &str, capacity: usize) -> Result<Self, BusError> {
        RedisBus::new(url, capacity).map(Self::Redis)
    }

    /// Hands a committed event to this process's current subscribers (and, with Redis, to
    /// the other replicas); returns how many local subscribers there were.
    pub async fn publish(&self, event: Event) -> Result<usize, BusError> {
        match self {
            Self::InProcess(bus) => bus.publish(event),
            Self::Redis(bus) => bus.publish(event).await,
        }
    }

    /// Events published from now on, in publication order.
    pub fn subscribe(&self) -> BoxStream<'static, Delivery> {
        match self {
            Self::InProcess(bus) => Box::pin(bus.subscribe()),
            Self::Redis(bus) => Box::pin(bus.local().subscribe()),
        }
    }

    /// Live subscriptions of this process (for tests and metrics).
    pub fn subscriber_count(&self) -> usize {
        match self {
            Self::InProcess(bus) => bus.subscriber_count(),
            Self::Redis(bus) => bus.local().subscriber_count(),
        }
    }
}
