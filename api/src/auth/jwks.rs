//! A cached JWKS key set, so a short identity-provider outage does not stop the portal.

use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::JwkSet;
use tokio::sync::RwLock;

use portal_core::ServiceError;

/// Refetch at most this often when a token names a key id we do not know.
const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(10);

struct Fetched {
    set: JwkSet,
    at: Instant,
}

pub(super) struct JwksCache {
    url: String,
    ttl: Duration,
    max_stale: Duration,
    client: reqwest::Client,
    current: RwLock<Option<Fetched>>,
}

impl JwksCache {
    pub(super) fn new(
        url: String,
        ttl: Duration,
        max_stale: Duration,
    ) -> Result<Self, ServiceError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| ServiceError::Internal(Box::new(e)))?;
        Ok(Self {
            url,
            ttl,
            max_stale,
            client,
            current: RwLock::new(None),
        })
    }

    /// The decoding key for `kid`, from the cache when fresh, else from the provider.
    pub(super) async fn key(&self, kid: &str) -> Result<DecodingKey, ServiceError> {
        {
            let current = self.current.read().await;
            if let Some(fetched) = current.as_ref() {
                let fresh = fetched.at.elapsed() < self.ttl;
                let recently = fetched.at.elapsed() < MIN_REFRESH_INTERVAL;
                match find(&fetched.set, kid) {
                    Some(key) if fresh => return key,
                    None if recently => return Err(unknown_key()),
                    _ => {}
                }
            }
        }
        self.refresh(kid).await
    }

    async fn refresh(&self, kid: &str) -> Result<DecodingKey, ServiceError> {
        let mut current = self.current.write().await;
        match self.fetch().await {
            Ok(set) => {
                let key = find(&set, kid);
                *current = Some(Fetched {
                    set,
                    at: Instant::now(),
                });
                key.unwrap_or_else(|| Err(unknown_key()))
            }
            Err(err) => {
                tracing::warn!(error = %err, "identity provider key set unreachable");
                match current.as_ref() {
                    Some(stale) if stale.at.elapsed() < self.max_stale => {
                        find(&stale.set, kid).unwrap_or_else(|| Err(unknown_key()))
                    }
                    _ => Err(ServiceError::Unavailable(Box::new(err))),
                }
            }
        }
    }

    async fn fetch(&self) -> Result<JwkSet, reqwest::Error> {
        self.client
            .get(&self.url)
            .send()
            .await?
            .error_for_status()?
            .json::<JwkSet>()
            .await
    }
}

fn find(set: &JwkSet, kid: &str) -> Option<Result<DecodingKey, ServiceError>> {
    set.find(kid).map(|jwk| {
        DecodingKey::from_jwk(jwk)
            .map_err(|_| ServiceError::Unauthenticated("token signed with an unusable key".into()))
    })
}

fn unknown_key() -> ServiceError {
    ServiceError::Unauthenticated("token signed with an unknown key".into())
}
