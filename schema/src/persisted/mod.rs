//! Persisted queries, keyed by the SHA-256 (hex) of their text: automatic persisted queries
//! (Apollo's APQ protocol — a client sends the hash, and the text only when the server does
//! not know it yet), and the production mode that runs registered operations only (a
//! manifest, see `manifest`).
//!
//! Automatic mode keeps what clients register in process (bounded), and with Redis also in
//! Redis, so a hash registered on one replica is known to all of them; Redis being down only
//! means clients send the text once more.

mod manifest;
mod memory;
mod redis_store;

use std::collections::HashMap;

use sha2::{Digest, Sha256};

pub use manifest::{Manifest, ManifestError, ManifestOperation};
use memory::Memory;
use redis_store::RedisQueries;

/// The SHA-256 of `query` in lower-case hex, as APQ clients compute it.
pub fn sha256_hex(query: &str) -> String {
    hex::encode(Sha256::digest(query.as_bytes()))
}

/// Where the texts of persisted queries come from.
pub struct PersistedQueries {
    /// Registered operations (the manifest), by hash; always known.
    registered: HashMap<String, String>,
    /// `None`: registered operations only — nothing else runs, nothing can be registered.
    automatic: Option<Automatic>,
}

struct Automatic {
    memory: Memory,
    redis: Option<RedisQueries>,
}

impl PersistedQueries {
    /// APQ kept in this process only (the embedded default).
    pub fn in_process() -> Self {
        Self {
            registered: HashMap::new(),
            automatic: Some(Automatic {
                memory: Memory::default(),
                redis: None,
            }),
        }
    }

    /// APQ kept in process and in Redis (`url`), shared by every replica.
    pub fn with_redis(url: &str) -> Result<Self, ManifestError> {
        let redis = RedisQueries::new(url).map_err(ManifestError::Redis)?;
        Ok(Self {
            registered: HashMap::new(),
            automatic: Some(Automatic {
                memory: Memory::default(),
                redis: Some(redis),
            }),
        })
    }

    /// Only the operations of `manifest` run (by hash or by their exact text).
    pub fn registered_only(manifest: Manifest) -> Self {
        Self {
            registered: manifest.by_hash(),
            automatic: None,
        }
    }

    /// Whether only registered operations may run.
    pub fn is_registered_only(&self) -> bool {
        self.automatic.is_none()
    }

    /// Whether the operation with this hash is in the manifest.
    pub fn is_registered(&self, hash: &str) -> bool {
        self.registered.contains_key(hash)
    }

    /// The text persisted under `hash`, if any.
    pub async fn get(&self, hash: &str) -> Option<String> {
        if let Some(query) = self.registered.get(hash) {
            return Some(query.clone());
        }
        let automatic = self.automatic.as_ref()?;
        if let Some(query) = automatic.memory.get(hash) {
            return Some(query);
        }
        let query = automatic.redis.as_ref()?.get(hash).await?;
        // Only a text that matches its hash is kept (Redis is shared, not trusted blindly).
        (sha256_hex(&query) == hash).then(|| {
            automatic.memory.put(hash, &query);
            query
        })
    }

    /// Persists `query` under `hash` (the caller checked that it is the query's hash). Does
    /// nothing in registered-only mode.
    pub async fn put(&self, hash: &str, query: &str) {
        let Some(automatic) = &self.automatic else {
            return;
        };
        automatic.memory.put(hash, query);
        if let Some(redis) = &automatic.redis {
            redis.put(hash, query).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_the_hex_sha256_of_the_text() {
        assert_eq!(
            sha256_hex("{ __typename }"),
            "7f56e67dd21ab3f30d1ff8b7bed08893f0a0db86449836189b361dd1e56ddb4b"
        );
    }

    #[tokio::test]
    async fn automatic_queries_are_kept_once_registered() {
        let store = PersistedQueries::in_process();
        let query = "{ __typename }";
        let hash = sha256_hex(query);
        assert_eq!(store.get(&hash).await, None);
        store.put(&hash, query).await;
        assert_eq!(store.get(&hash).await.as_deref(), Some(query));
        assert!(!store.is_registered_only());
    }

    #[tokio::test]
    async fn registered_only_knows_the_manifest_and_nothing_else() {
        let manifest = Manifest::from_documents([("Q", "query Q { __typename }")]);
        let store = PersistedQueries::registered_only(manifest);
        let hash = sha256_hex("query Q { __typename }");
        assert!(store.is_registered(&hash) && store.is_registered_only());
        assert_eq!(
            store.get(&hash).await.as_deref(),
            Some("query Q { __typename }")
        );
        let other = sha256_hex("{ viewer { subject } }");
        store.put(&other, "{ viewer { subject } }").await;
        assert_eq!(store.get(&other).await, None);
    }
}
