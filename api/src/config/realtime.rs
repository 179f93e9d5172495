//! `REDIS_URL`, the event bus and relay, and the read cache: how events and cached answers
//! are shared, on one replica or several.

use std::time::Duration;

use super::var::{Reader, Var, kind, section};
use super::{ConfigError, Secret, err};

section! {
    title: "Realtime, Redis and the read cache",
    intro: "Without `REDIS_URL` the event bus and the read cache are in-process, for one server; replicas behind a load balancer share events and cached answers through Redis.",
    REDIS_URL = Var::new("REDIS_URL", kind::URL,
        "`redis://…`, `rediss://…` (TLS; a private CA is trusted through `SSL_CERT_FILE`) or `redis+unix://…`: event fan-out to every replica and the shared read cache. May carry a password.")
        .secret();
    EVENT_BUS_CAPACITY = Var::new("PORTAL_EVENT_BUS_CAPACITY", kind::INTEGER,
        "Deliveries buffered per live subscription; a client that lets that many pile up unread is closed with 4008 and resumes with `after` (also the bus buffer of each tenant's follower in the hub).")
        .default("1024")
        .min(1);
    RELAY_INTERVAL = Var::new("PORTAL_RELAY_INTERVAL_MS", kind::MILLISECONDS,
        "How often the relay polls the outbox when no write woke it (writes wake it at once).")
        .default("1000")
        .min(1);
    CACHE_ENABLED = Var::new("CACHE_ENABLED", kind::BOOL,
        "Cache query answers per viewer (in process, or in Redis with `REDIS_URL`).")
        .default("true");
    CACHE_TTL = Var::new("CACHE_TTL_SECS", kind::SECONDS,
        "Longest life of a cached answer that no write invalidated.")
        .default("60")
        .range(30, 120);
}

/// What this section sets.
pub(super) struct Realtime {
    pub redis_url: Option<Secret>,
    pub event_bus_capacity: usize,
    pub relay_interval: Duration,
    pub cache_enabled: bool,
    pub cache_ttl: Duration,
}

pub(super) fn read(r: &Reader) -> Result<Realtime, ConfigError> {
    Ok(Realtime {
        redis_url: redis_url(r)?,
        event_bus_capacity: r.number(&EVENT_BUS_CAPACITY)?,
        relay_interval: r.millis(&RELAY_INTERVAL)?,
        cache_enabled: r.flag(&CACHE_ENABLED)?,
        cache_ttl: r.seconds(&CACHE_TTL)?,
    })
}

fn redis_url(r: &Reader) -> Result<Option<Secret>, ConfigError> {
    let Some(url) = r.set(&REDIS_URL) else {
        return Ok(None);
    };
    let url = url.trim().to_owned();
    // The message never quotes the URL: it may carry a password.
    let invalid = || {
        err(format!(
            "{} must be a redis://, rediss:// (TLS) or redis+unix:// URL",
            REDIS_URL.name
        ))
    };
    if !["redis://", "rediss://", "redis+unix://"]
        .iter()
        .any(|scheme| url.starts_with(scheme))
    {
        return Err(invalid());
    }
    portal_subscriptions::RedisBus::new(&url, 1).map_err(|_| invalid())?;
    Ok(Some(Secret::from(url)))
}
