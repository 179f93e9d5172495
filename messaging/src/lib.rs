//! Messaging: the transactional outbox and the relay that publishes it to the event bus,
//! notification delivery with retries and dead letter, public-health reporting, the
//! backlog gauges, the audit sealer and the scheduled jobs. Domain services write outbox and notification rows in their own
//! transactions; everything here runs after the commit.

pub mod backlog;
pub mod critical;
pub mod delivery;
pub mod jobs;
pub mod outbox;
pub mod public_health;
pub mod queue;
pub mod sealer;
