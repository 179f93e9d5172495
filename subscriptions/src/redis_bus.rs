//! The production bus: local in-process delivery plus a Redis stream that carries events to
//! the other replicas.
//!
//! Every event is delivered to this process's subscribers first, then appended to the
//! stream [`STREAM`] (`XADD … MAXLEN ~ STREAM_MAXLEN`) as an [`Envelope`] naming the
//! publishing replica. One reader task per replica reads the stream with `XREAD` from the
//! last entry id it saw and forwards envelopes of *other* replicas to the local bus. When
//! its connection drops it reconnects and reads on from that id, so entries appended while
//! it was away still arrive, live. Redis being down degrades fan-out (logged), never local
//! delivery; events that never reached the stream (Redis was down for the publisher too)
//! are in the outbox: whenever the reader's connection drops or comes back, local
//! subscribers are told they lagged so they catch up from it (the hub does that once), and
//! so they are every 5 s while connected (an event another replica failed to append).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use redis::AsyncConnectionConfig;
use redis::streams::StreamReadReply;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::{BusError, Event, InProcessBus};

/// The stream all replicas share.
pub const STREAM: &str = "portal:events";
/// About how many entries the stream keeps (`MAXLEN ~`): a replica disconnected for longer
/// than it takes to publish that many events catches up from the outbox instead.
pub const STREAM_MAXLEN: usize = 100_000;
/// The field of a stream entry that holds the envelope.
const FIELD: &str = "e";
/// How long one `XREAD` waits for new entries before it asks again.
const READ_BLOCK: Duration = Duration::from_secs(2);
/// At most this many entries per `XREAD`.
const READ_COUNT: usize = 512;
/// How long one Redis connect or command may take before it counts as a failure.
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);
/// After a failed publish, fan-out is skipped for this long instead of waiting on Redis for
/// every event: a hanging Redis must not hold the relay (and its row claims) for minutes.
const PUBLISH_COOLDOWN: Duration = Duration::from_secs(1);
/// How often a connected reader tells the hub to check the outbox anyway: an event another
/// replica could not append (its Redis connection failed, or it was in its cooldown) is
/// then delivered within this time even if no later event reveals the gap.
const RECONCILE_EVERY: Duration = Duration::from_secs(5);
/// First and longest pause between reader reconnect attempts.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// What one stream entry carries: the event and the replica that published it.
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
                tracing::warn!(error = %err, "ignoring a malformed entry on the event stream");
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
    /// Shared: with TLS the client carries its whole TLS configuration.
    client: Arc<redis::Client>,
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
        Ok(Self::with_client(client, capacity))
    }

    /// Over a client built by the caller (e.g. with a private CA for `rediss://`).
    pub fn with_client(client: redis::Client, capacity: usize) -> Self {
        Self {
            local: InProcessBus::new(capacity),
            replica: Uuid::now_v7(),
            client: Arc::new(client),
            publisher: Arc::new(Mutex::new(Publisher::default())),
        }
    }

    pub fn replica(&self) -> Uuid {
        self.replica
    }

    pub fn local(&self) -> &InProcessBus {
        &self.local
    }

    /// Delivers locally, then appends to the stream for the other replicas. A Redis failure
    /// is logged and not returned: local delivery happened, and other replicas catch up from
    /// the outbox when their reader reconnects.
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
            None => slot.insert(self.connect(REDIS_TIMEOUT).await?),
        };
        let mut add = redis::cmd("XADD");
        add.arg(STREAM)
            .arg("MAXLEN")
            .arg("~")
            .arg(STREAM_MAXLEN)
            .arg("*")
            .arg(FIELD)
            .arg(payload);
        match tokio::time::timeout(REDIS_TIMEOUT, add.query_async::<String>(connection)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(BusError::Unavailable(e.to_string())),
            Err(_) => Err(BusError::Unavailable("XADD timed out".into())),
        }
    }

    /// A connection of its own whose replies may take `response` (a blocking `XREAD` waits).
    async fn connect(
        &self,
        response: Duration,
    ) -> Result<redis::aio::MultiplexedConnection, BusError> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(response));
        let connecting = self
            .client
            .get_multiplexed_async_connection_with_config(&config);
        match tokio::time::timeout(REDIS_TIMEOUT, connecting).await {
            Ok(Ok(connection)) => Ok(connection),
            Ok(Err(e)) => Err(BusError::Unavailable(e.to_string())),
            Err(_) => Err(BusError::Unavailable("connect timed out".into())),
        }
    }

    /// Forwards other replicas' events to the local bus until `shutdown` completes,
    /// reconnecting with bounded backoff and reading on from the last entry seen. Never
    /// returns an error.
    pub async fn run_subscriber(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut backoff = BACKOFF_MIN;
        // `$`: entries appended from the first connection on; then the last entry read.
        let mut last_id = "$".to_owned();
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                (connected, error) = self.read_session(&mut last_id) => {
                    if connected {
                        // Whatever never reached the stream meanwhile is in the outbox.
                        self.local.lagged();
                        backoff = BACKOFF_MIN;
                    }
                    tracing::warn!(error = %error, retry_in = ?backoff, "Redis event reader disconnected; reconnecting");
                }
            }
            tokio::select! {
                () = &mut shutdown => break,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
        tracing::info!("Redis event reader stopped");
    }

    /// One connection's life: connect, report recovery, read and forward until a command
    /// fails. Returns whether the connection was established, and why it ended.
    async fn read_session(&self, last_id: &mut String) -> (bool, BusError) {
        let mut connection = match self.connect(READ_BLOCK + REDIS_TIMEOUT).await {
            Ok(connection) => connection,
            Err(err) => return (false, err),
        };
        if last_id == "$" {
            // Pin the starting point now, so a reconnect reads on from here.
            match self.newest_id(&mut connection).await {
                Ok(newest) => *last_id = newest,
                Err(err) => return (false, err),
            }
        }
        tracing::info!(stream = STREAM, "Redis event reader connected");
        // Events that never reached the stream while this replica was not reading are in
        // the outbox.
        self.local.lagged();
        let mut reconciled = Instant::now();
        loop {
            if reconciled.elapsed() >= RECONCILE_EVERY {
                self.local.lagged();
                reconciled = Instant::now();
            }
            let mut read = redis::cmd("XREAD");
            read.arg("COUNT")
                .arg(READ_COUNT)
                .arg("BLOCK")
                .arg(READ_BLOCK.as_millis() as u64)
                .arg("STREAMS")
                .arg(STREAM)
                .arg(last_id.as_str());
            let reply = match read
                .query_async::<Option<StreamReadReply>>(&mut connection)
                .await
            {
                Ok(reply) => reply,
                Err(e) => return (true, BusError::Unavailable(e.to_string())),
            };
            for entry in reply.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids) {
                if let Some(payload) = entry.get::<Vec<u8>>(FIELD)
                    && let Some(event) = Envelope::foreign_event(&payload, self.replica)
                {
                    let _ = self.local.publish(event);
                }
                *last_id = entry.id;
            }
        }
    }

    /// The id of the stream's newest entry (`0-0` when it is empty or missing).
    async fn newest_id(
        &self,
        connection: &mut redis::aio::MultiplexedConnection,
    ) -> Result<String, BusError> {
        let mut newest = redis::cmd("XREVRANGE");
        newest.arg(STREAM).arg("+").arg("-").arg("COUNT").arg(1);
        let reply: redis::streams::StreamRangeReply = newest
            .query_async(connection)
            .await
            .map_err(|e| BusError::Unavailable(e.to_string()))?;
        Ok(reply
            .ids
            .into_iter()
            .next()
            .map_or_else(|| "0-0".to_owned(), |entry| entry.id))
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;

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

    /// The reader's connection is cut and an event is appended before it reconnects: it
    /// reads on from the last entry it saw, so the event still arrives (pub/sub lost it).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn entries_appended_while_the_reader_was_cut_off_arrive_on_reconnect() {
        let redis = portal_testkit::redis::RedisServer::start();
        let here = RedisBus::new(&redis.url(), 8).expect("valid url");
        let there = RedisBus::new(&redis.url(), 8).expect("valid url");
        let mut local = Box::pin(here.local().subscribe());
        let stop = Arc::new(tokio::sync::Notify::new());
        let stopped = stop.clone();
        tokio::spawn(
            here.clone()
                .run_subscriber(async move { stopped.notified().await }),
        );
        let lagged = crate::Delivery::Lagged { missed: 0 };
        assert_eq!(next_delivery(&mut local, "connect").await, lagged);
        let first = event();
        there.publish(first.clone()).await.expect("publish");
        assert_eq!(
            next_delivery(&mut local, "first").await,
            crate::Delivery::Event(first)
        );

        let mut admin = redis::Client::open(redis.url())
            .expect("url")
            .get_multiplexed_async_connection()
            .await
            .expect("admin connection");
        let killed: i64 = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("TYPE")
            .arg("normal")
            .arg("SKIPME")
            .arg("yes")
            .query_async(&mut admin)
            .await
            .expect("client kill");
        assert!(killed >= 1, "the reader's connection was cut");
        let second = event();
        there.publish(second.clone()).await.expect("publish");
        loop {
            match next_delivery(&mut local, "second").await {
                crate::Delivery::Lagged { .. } => continue,
                crate::Delivery::Event(e) => {
                    assert_eq!(e, second);
                    break;
                }
            }
        }
        stop.notify_one();
    }

    #[tokio::test]
    async fn publishing_appends_the_envelope_to_the_stream() {
        let redis = portal_testkit::redis::RedisServer::start();
        let bus = RedisBus::new(&redis.url(), 8).expect("valid url");
        bus.publish(event()).await.expect("publish");
        let mut admin = redis::Client::open(redis.url())
            .expect("url")
            .get_multiplexed_async_connection()
            .await
            .expect("admin connection");
        let len: i64 = redis::cmd("XLEN")
            .arg(STREAM)
            .query_async(&mut admin)
            .await
            .expect("xlen");
        assert_eq!(len, 1);
    }
}
