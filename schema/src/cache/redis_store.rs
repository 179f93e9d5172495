//! The production backend: entries and generations in Redis, shared by every replica.
//!
//! Each call is bounded by a short timeout; after a failure the cache is skipped for a few
//! seconds (requests are answered live) instead of paying the timeout on every request. A
//! generation bump that fails is not lost: the next successful contact first moves the global
//! epoch on, which invalidates every entry stored before it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use tokio::sync::Mutex;
use tokio::time::Instant;
use uuid::Uuid;

use super::entry::Entry;
use super::{CacheError, EPOCH_KEY};

/// How long one Redis round trip may take before the request goes on without the cache.
const COMMAND_TIMEOUT: Duration = Duration::from_millis(100);
/// How long opening a connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// After a failure, how long requests skip Redis.
const COOLDOWN: Duration = Duration::from_secs(5);
/// Generation keys outlive every entry that can name them by far; values never repeat, so
/// an expired key cannot make an old entry valid again.
const GENERATION_TTL_SECS: u64 = 86_400;

pub struct RedisStore {
    /// Boxed: with TLS the client carries its whole TLS configuration.
    client: Box<redis::Client>,
    link: Mutex<Link>,
    /// Bumps that failed so far, and how many of them a later epoch bump has covered: while
    /// they differ, nothing is read before the epoch moves on.
    failed_bumps: AtomicU64,
    covered_bumps: AtomicU64,
}

#[derive(Default)]
struct Link {
    connection: Option<MultiplexedConnection>,
    retry_at: Option<Instant>,
}

impl RedisStore {
    /// Checks the URL; connects on first use (Redis being down at start is not fatal).
    pub fn new(url: &str) -> Result<Self, CacheError> {
        let client = redis::Client::open(url).map_err(|e| CacheError::Redis(e.to_string()))?;
        Ok(Self {
            client: Box::new(client),
            link: Mutex::new(Link::default()),
            failed_bumps: AtomicU64::new(0),
            covered_bumps: AtomicU64::new(0),
        })
    }

    pub async fn get(
        &self,
        key: &str,
        generation_key: &str,
    ) -> Result<(Option<Entry>, Option<String>), CacheError> {
        self.settle_epoch().await?;
        let mut pipe = redis::pipe();
        pipe.cmd("GET").arg(key).cmd("GET").arg(generation_key);
        let (raw, generation): (Option<Vec<u8>>, Option<String>) = self.query(&pipe).await?;
        // An entry that does not parse (another version wrote it) is a miss.
        let entry = raw.and_then(|bytes| serde_json::from_slice(&bytes).ok());
        Ok((entry, generation))
    }

    pub async fn generations(&self, keys: &[String]) -> Result<Vec<Option<String>>, CacheError> {
        let mut pipe = redis::pipe();
        pipe.cmd("MGET").arg(keys);
        let (values,): (Vec<Option<String>>,) = self.query(&pipe).await?;
        Ok(values)
    }

    pub async fn put(&self, key: &str, entry: &Entry, ttl: Duration) -> Result<(), CacheError> {
        let json = serde_json::to_vec(entry).map_err(|e| CacheError::Redis(e.to_string()))?;
        let mut pipe = redis::pipe();
        pipe.cmd("SET")
            .arg(key)
            .arg(json)
            .arg("EX")
            .arg(ttl.as_secs().max(1))
            .ignore();
        self.query::<()>(&pipe).await
    }

    /// Gives every key a new, never-used value, all at once (MULTI/EXEC).
    pub async fn bump(&self, keys: &[String]) -> Result<(), CacheError> {
        let mut keys = keys.to_vec();
        let failed = self.failed_bumps.load(Ordering::SeqCst);
        let with_epoch = failed != self.covered_bumps.load(Ordering::SeqCst);
        if with_epoch {
            keys.push(EPOCH_KEY.to_owned());
        }
        let mut pipe = redis::pipe();
        pipe.atomic();
        for key in &keys {
            pipe.cmd("SET")
                .arg(key)
                .arg(Uuid::now_v7().to_string())
                .arg("EX")
                .arg(GENERATION_TTL_SECS)
                .ignore();
        }
        let done = self.query::<()>(&pipe).await;
        match &done {
            Ok(()) if with_epoch => {
                self.covered_bumps.fetch_max(failed, Ordering::SeqCst);
            }
            Ok(()) => {}
            Err(_) => {
                self.failed_bumps.fetch_add(1, Ordering::SeqCst);
            }
        }
        done
    }

    async fn settle_epoch(&self) -> Result<(), CacheError> {
        if self.failed_bumps.load(Ordering::SeqCst) != self.covered_bumps.load(Ordering::SeqCst) {
            self.bump(&[]).await?;
            tracing::info!(
                "read cache: Redis is back; entries stored before the outage are invalidated"
            );
        }
        Ok(())
    }

    async fn query<T: redis::FromRedisValue>(
        &self,
        pipe: &redis::Pipeline,
    ) -> Result<T, CacheError> {
        let mut connection = self.connection().await?;
        let outcome =
            match tokio::time::timeout(COMMAND_TIMEOUT, pipe.query_async::<T>(&mut connection))
                .await
            {
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(e)) => CacheError::Redis(e.to_string()),
                Err(_) => CacheError::Redis("command timed out".into()),
            };
        self.cool_down(&outcome).await;
        Err(outcome)
    }

    async fn connection(&self) -> Result<MultiplexedConnection, CacheError> {
        let mut link = self.link.lock().await;
        if link.retry_at.is_some_and(|at| Instant::now() < at) {
            return Err(CacheError::CoolingDown);
        }
        if let Some(connection) = &link.connection {
            return Ok(connection.clone());
        }
        let connecting = self.client.get_multiplexed_async_connection();
        let error = match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
            Ok(Ok(connection)) => {
                link.retry_at = None;
                return Ok(link.connection.insert(connection).clone());
            }
            Ok(Err(e)) => CacheError::Redis(e.to_string()),
            Err(_) => CacheError::Redis("connect timed out".into()),
        };
        tracing::warn!(error = %error, retry_in = ?COOLDOWN, "read cache: Redis unreachable; answering live");
        link.retry_at = Some(Instant::now() + COOLDOWN);
        Err(error)
    }

    async fn cool_down(&self, error: &CacheError) {
        tracing::warn!(error = %error, retry_in = ?COOLDOWN, "read cache: Redis failed; answering live");
        let mut link = self.link.lock().await;
        link.connection = None;
        link.retry_at = Some(Instant::now() + COOLDOWN);
    }
}
