//! The embedded default's bus: a broadcast channel inside one process.

use std::sync::Arc;

use futures_util::Stream;
use tokio::sync::broadcast;

use crate::{BusError, Delivery, Event};

/// Fans each published event out to every current subscriber of this process.
#[derive(Clone)]
pub struct InProcessBus {
    sender: Arc<broadcast::Sender<Delivery>>,
}

impl InProcessBus {
    /// `capacity` events are buffered per subscriber before it is reported as lagging.
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        Self {
            sender: Arc::new(sender),
        }
    }

    /// Delivers to the subscribers present now; returns how many there were.
    pub fn publish(&self, event: Event) -> Result<usize, BusError> {
        // No subscriber is not an error: the event stays in the outbox for replay.
        Ok(self.sender.send(Delivery::Event(event)).unwrap_or(0))
    }

    /// Tells every current subscriber that events may have been missed (an upstream feed
    /// dropped), so each catches up from the outbox.
    pub fn lagged(&self) {
        let _ = self.sender.send(Delivery::Lagged { missed: 0 });
    }

    /// Events published from now on, in publication order.
    pub fn subscribe(&self) -> impl Stream<Item = Delivery> + Send + 'static {
        let receiver = self.sender.subscribe();
        futures_util::stream::unfold(receiver, |mut receiver| async move {
            match receiver.recv().await {
                Ok(delivery) => Some((delivery, receiver)),
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    Some((Delivery::Lagged { missed }, receiver))
                }
                Err(broadcast::error::RecvError::Closed) => None,
            }
        })
    }

    pub fn subscriber_count(&self) -> usize {
        self.sender.receiver_count()
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;
    use uuid::Uuid;

    use super::*;

    fn event(n: u8) -> Event {
        Event {
            id: Uuid::now_v7(),
            tenant_id: Uuid::nil(),
            patient_id: None,
            event_type: format!("test.{n}"),
            aggregate_id: Uuid::nil(),
            payload: serde_json::json!({ "n": n }),
            seq: i64::from(n),
        }
    }

    #[tokio::test]
    async fn every_subscriber_receives_events_in_order() {
        let bus = InProcessBus::new(16);
        let first = bus.subscribe();
        let second = bus.subscribe();
        let sent: Vec<Event> = (0..3).map(event).collect();
        for e in &sent {
            assert_eq!(bus.publish(e.clone()), Ok(2));
        }
        let expected: Vec<Delivery> = sent.into_iter().map(Delivery::Event).collect();
        assert_eq!(first.take(3).collect::<Vec<_>>().await, expected);
        assert_eq!(second.take(3).collect::<Vec<_>>().await, expected);
    }

    #[tokio::test]
    async fn a_slow_subscriber_is_told_what_it_missed() {
        let bus = InProcessBus::new(2);
        let mut slow = Box::pin(bus.subscribe());
        for n in 0..5 {
            bus.publish(event(n)).expect("publish");
        }
        assert_eq!(slow.next().await, Some(Delivery::Lagged { missed: 3 }));
        assert!(matches!(slow.next().await, Some(Delivery::Event(e)) if e.event_type == "test.3"));
    }

    #[tokio::test]
    async fn publishing_without_subscribers_is_not_an_error() {
        let bus = InProcessBus::new(4);
        assert_eq!(bus.publish(event(1)), Ok(0));
        assert_eq!(bus.subscriber_count(), 0);
    }
}
