//! The shared part of the automatic persisted-query store: `portal:apq:<sha256>` keys in
//! Redis with a day's expiry. Each call is bounded by a short timeout, and a failure is
//! only logged: the client then sends the text again.

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use tokio::sync::Mutex;

const TIMEOUT: Duration = Duration::from_millis(200);
const TTL_SECS: u64 = 86_400;
const PREFIX: &str = "portal:apq:";

pub struct RedisQueries {
    client: redis::Client,
    connection: Mutex<Option<MultiplexedConnection>>,
}

impl RedisQueries {
    pub fn new(url: &str) -> Result<Self, String> {
        let client = redis::Client::open(url).map_err(|e| e.to_string())?;
        Ok(Self {
            client,
            connection: Mutex::new(None),
        })
    }

    pub async fn get(&self, hash: &str) -> Option<String> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(format!("{PREFIX}{hash}"));
        self.run::<Option<String>>(cmd).await.flatten()
    }

    pub async fn put(&self, hash: &str, query: &str) {
        let mut cmd = redis::cmd("SET");
        cmd.arg(format!("{PREFIX}{hash}"))
            .arg(query)
            .arg("EX")
            .arg(TTL_SECS);
        self.run::<()>(cmd).await;
    }

    async fn run<T: redis::FromRedisValue>(&self, cmd: redis::Cmd) -> Option<T> {
        let done = tokio::time::timeout(TIMEOUT, async {
            let mut connection = self.connection().await?;
            cmd.query_async::<T>(&mut connection)
                .await
                .map_err(|e| e.to_string())
        })
        .await
        .unwrap_or_else(|_| Err("timed out".into()));
        match done {
            Ok(value) => Some(value),
            Err(error) => {
                tracing::warn!(error = %error, "persisted queries: Redis unavailable; clients resend texts");
                *self.connection.lock().await = None;
                None
            }
        }
    }

    async fn connection(&self) -> Result<MultiplexedConnection, String> {
        let mut held = self.connection.lock().await;
        if let Some(connection) = held.as_ref() {
            return Ok(connection.clone());
        }
        let connection = self
            .client
            .get_multiplexed_async_connection()
            .await
            .map_err(|e| e.to_string())?;
        Ok(held.insert(connection).clone())
    }
}
