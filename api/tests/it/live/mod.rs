//! Live results: the event hub, subscriptions over real WebSockets, resume, several replicas over Redis.

mod hub;
mod realtime;
pub(crate) mod replicas;
mod resume;
