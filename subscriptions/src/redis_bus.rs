//! The production bus: local in-process delivery plus Redis pub/sub fan-out to other replicas.
//!
//! Every event is delivered to this process's subscribers first, then published on
//! [`CHANNEL`] as an [`Envelope`] naming the publishing replica. One subscriber task per
//! replica forwards envelopes of *other* replicas to the local bus. Redis being down degrades
//! fan-out (logged), never local delivery; when the subscriber connection drops or comes
//! back, local subscribers are told they lagged so they catch up from the outbox.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::{BusError, Event, InProcessBus};

/// The pub/sub channel all replicas share.
pub const CHANNEL: &str = "portal:events";
/// How long one Redis connect or command may take before it counts as a failure.
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);
/// After a failed publish, fan-out is skipped for this long instead of waiting on Redis for
/// every event: a hanging Redis must not hold the relay (and its row claims) for minutes.
const PUBLISH_COOLDOWN: Duration = Duration::from_secs(1);
/// First and longest pause between subscriber reconnect attempts.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// What travels on [`CHANNEL`]: the event and the replica that published it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub replica: Uuid,
    pub event: Event,
}

impl Envelope {
    /// The event inside `payload` when another replica published it; `None` for this
    /// replica's own events (already delivered locally) and for malformed messages.
    pub fn foreign_event(payload: &[u8], own_replica: Uuid) -> Option<Event> {
        match serde_json::from_slice::<Envelope>(payload) {
            Ok(envelope) if envelope.replica != own_replica => Some(envelope.event),
            Ok(_) => None,
            Err(err) => {
                tracing::warn!(error = %err, "ignoring a malformed message on the event channel");
                None
            }
        }
    }
}

/// Local bus plus Redis fan-out. Cheap to clone.
#[derive(Clone)]
pub struct RedisBus {
    local: InProcessBus,
    replica: Uuid,
    client: redis::Client,
    publisher: Arc<Mutex<Publisher>>,
}

/// The publishing connection, opened lazily, and when to try Redis again after a failure.
#[derive(Default)]
struct Publisher {
    connection: Option<redis::aio::MultiplexedConnection>,
    retry_at: Option<Instant>,
}

impl RedisBus {
    /// Checks the URL; connects lazily (a Redis outage at start is not fatal).
    pub fn new(url: &str, capacity: usize) -> Result<Self, BusError> {
        let client = redis::Client::open(url).map_err(|e| BusError::Unavailable(e.to_string()))?;
        Ok(Self {
            local: InProcessBus::new(capacity),
            replica: Uuid::now_v7(),
            client,
            publisher: Arc::new(Mutex::new(Publisher::default())),
        })
    }

    pub fn replica(&self) -> Uuid {
        self.replica
    }

    pub fn local(&self) -> &InProcessBus {
        &self.local
    }

    /// Delivers locally, then publishes to the other replicas. A Redis failure is logged and
    /// not returned: local delivery happened, and other replicas catch up from the outbox
    /// when their subscriber connection recovers.
    pub async fn publish(&self, event: Event) -> Result<usize, BusError> {
        let envelope = Envelope {
            replica: self.replica,
            event,
        };
        let delivered = self.local.publish(envelope.event.clone())?;
        let payload =
            serde_json::to_string(&envelope).map_err(|e| BusError::Unavailable(e.to_string()))?;
        if let Err(err) = self.publish_remote(&payload).await {
            tracing::warn!(error = %err, event_id = %envelope.event.id, "event not fanned out to other replicas (Redis unavailable)");
        }
        Ok(delivered)
    }

    /// One retry on a fresh connection, so a connection broken by a Redis restart does not
    /// lose the first event after it; then a cooldown before Redis is tried again.
    async fn publish_remote(&self, payload: &str) -> Result<(), BusError> {
        let mut publisher = self.publisher.lock().await;
        if publisher.retry_at.is_some_and(|at| Instant::now() < at) {
            return Err(BusError::Unavailable(
                "skipped: Redis failed moments ago".into(),
            ));
        }
        let mut last = BusError::Unavailable("not attempted".into());
        for _ in 0..2 {
            match self.publish_on(&mut publisher.connection, payload).await {
                Ok(()) => {
                    publisher.retry_at = None;
                    return Ok(());
                }
                Err(err) => last = err,
            }
            publisher.connection = None;
        }
        publisher.retry_at = Some(Instant::now() + PUBLISH_COOLDOWN);
        Err(last)
    }

    async fn publish_on(
        &self,
        slot: &mut Option<redis::aio::MultiplexedConnection>,
        payload: &str,
    ) -> Result<(), BusError> {
        let connection = match slot {
            Some(connection) => connection,
            None => slot.insert(self.connect().await?),
        };
        let mut publish = redis::cmd("PUBLISH");
        publish.arg(CHANNEL).arg(payload);
        match tokio::time::timeout(REDIS_TIMEOUT, publish.query_async::<i64>(connection)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(BusError::Unavailable(e.to_string())),
            Err(_) => Err(BusError::Unavailable("PUBLISH timed out".into())),
        }
    }

    async fn connect(&self) -> Result<redis::aio::MultiplexedConnection, BusError> {
        let connecting = self.client.get_multiplexed_async_connection();
        match tokio::time::timeout(REDIS_TIMEOUT, connecting).await {
            Ok(Ok(connection)) => Ok(connection),
            Ok(Err(e)) => Err(BusError::Unavailable(e.to_string())),
            Err(_) => Err(BusError::Unavailable("connect timed out".into())),
        }
    }

    /// Forwards other replicas' events to the local bus until `shutdown` completes,
    /// reconnecting with bounded backoff. Never returns an error.
    pub async fn run_subscriber(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut backoff = BACKOFF_MIN;
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                (connected, error) = self.subscribe_session() => {
                    if connected {
                        // Anything published from now until we are back reaches no one here.
                        self.local.lagged();
                        backoff = BACKOFF_MIN;
                    }
                    tracing::warn!(error = %error, retry_in = ?backoff, "Redis event subscriber disconnected; reconnecting");
                }
            }
            tokio::select! {
                () = &mut shutdown => break,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
        tracing::info!("Redis event subscriber stopped");
    }

    /// One connection's life: subscribe, report recovery, forward until the stream ends.
    /// Returns whether the subscription was established, and why it ended.
    async fn subscribe_session(&self) -> (bool, BusError) {
        let connecting = async {
            let mut pubsub = self.client.get_async_pubsub().await?;
            pubsub.subscribe(CHANNEL).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        let pubsub = match tokio::time::timeout(REDIS_TIMEOUT, connecting).await {
            Ok(Ok(pubsub)) => pubsub,
            Ok(Err(e)) => return (false, BusError::Unavailable(e.to_string())),
            Err(_) => return (false, BusError::Unavailable("subscribe timed out".into())),
        };
        tracing::info!(channel = CHANNEL, "Redis event subscriber connected");
        // Events published before this subscription started reached no one here.
        self.local.lagged();
        let mut messages = pubsub.into_on_message();
        while let Some(message) = messages.next().await {
            if let Some(event) = Envelope::foreign_event(message.get_payload_bytes(), self.replica)
            {
                let _ = self.local.publish(event);
            }
        }
        (
            true,
            BusError::Unavailable("subscription stream ended".into()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> Event {
        Event {
            id: Uuid::now_v7(),
            tenant_id: Uuid::now_v7(),
            patient_id: Some(Uuid::now_v7()),
            event_type: "result.released".into(),
            aggregate_id: Uuid::now_v7(),
            payload: serde_json::json!({ "resultId": "r1" }),
            seq: 1,
        }
    }

    #[test]
    fn the_envelope_is_json_with_the_replica_and_the_event() {
        let envelope = Envelope {
            replica: Uuid::now_v7(),
            event: event(),
        };
        let json = serde_json::to_value(&envelope).expect("serialises");
        assert_eq!(json["replica"], envelope.replica.to_string());
        assert_eq!(json["event"]["id"], envelope.event.id.to_string());
        assert_eq!(json["event"]["event_type"], "result.released");
        let back: Envelope = serde_json::from_value(json).expect("round trip");
        assert_eq!(back, envelope);
    }

    #[test]
    fn events_of_other_replicas_are_forwarded_and_own_events_are_not() {
        let (own, other) = (Uuid::now_v7(), Uuid::now_v7());
        let event = event();
        let from_other = serde_json::to_vec(&Envelope {
            replica: other,
            event: event.clone(),
        })
        .expect("json");
        let from_self = serde_json::to_vec(&Envelope {
            replica: own,
            event: event.clone(),
        })
        .expect("json");
        assert_eq!(Envelope::foreign_event(&from_other, own), Some(event));
        assert_eq!(Envelope::foreign_event(&from_self, own), None);
        assert_eq!(Envelope::foreign_event(b"not json", own), None);
    }

    #[tokio::test]
    async fn redis_down_still_delivers_locally() {
        // Port 1 on loopback refuses connections: Redis is "down".
        let bus = RedisBus::new("redis://127.0.0.1:1/", 8).expect("valid url");
        let mut local = Box::pin(bus.local().subscribe());
        let sent = event();
        assert_eq!(bus.publish(sent.clone()).await, Ok(1));
        assert_eq!(local.next().await, Some(crate::Delivery::Event(sent)));
    }

    /// The next delivery of `stream`, within a bounded wait.
    async fn next_delivery(
        stream: &mut (impl futures_util::Stream<Item = crate::Delivery> + Unpin),
        what: &str,
    ) -> crate::Delivery {
        match tokio::time::timeout(Duration::from_secs(10), stream.next()).await {
            Ok(Some(delivery)) => delivery,
            Ok(None) => panic!("{what}: the local bus closed"),
            Err(_) => panic!("{what}: nothing delivered within 10 s"),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn other_replicas_events_arrive_and_subscriber_outages_report_a_lag() {
        let mut redis = portal_testkit::redis::RedisServer::start();
        let here = RedisBus::new(&redis.url(), 8).expect("valid url");
        let there = RedisBus::new(&redis.url(), 8).expect("valid url");
        let mut local = Box::pin(here.local().subscribe());
        let stop = Arc::new(tokio::sync::Notify::new());
        let stopped = stop.clone();
        let task = tokio::spawn(
            here.clone()
                .run_subscriber(async move { stopped.notified().await }),
        );
        let lagged = crate::Delivery::Lagged { missed: 0 };
        assert_eq!(next_delivery(&mut local, "connect").await, lagged);

        let sent = event();
        there.publish(sent.clone()).await.expect("publish");
        assert_eq!(
            next_delivery(&mut local, "other replica's event").await,
            crate::Delivery::Event(sent)
        );

        redis.stop();
        assert_eq!(next_delivery(&mut local, "Redis stopped").await, lagged);
        redis.restart();
        assert_eq!(next_delivery(&mut local, "Redis back").await, lagged);

        stop.notify_one();
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("the subscriber stops on shutdown")
            .expect("the subscriber task does not panic");
    }
}
