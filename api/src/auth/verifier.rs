//! Verifies bearer tokens: HS256 dev secret, a PEM public key, or a JWKS endpoint.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};

use super::jwks::JwksCache;
use super::{Claims, Viewer};
use portal_core::ServiceError;

/// What every token must say about who issued it and for whom.
#[derive(Debug, Clone)]
pub struct JwtSettings {
    pub issuer: String,
    pub audience: String,
    pub leeway_seconds: u64,
}

/// Where verification keys come from.
pub enum KeySource {
    /// The embedded default's shared secret (HS256).
    DevSecret(Vec<u8>),
    /// A PEM public key (RS256 or ES256).
    Pem { algorithm: Algorithm, pem: Vec<u8> },
    /// An identity provider's JWKS endpoint; keys are cached for `ttl` and, when the
    /// provider cannot be reached, used for up to `max_stale`.
    Jwks {
        url: String,
        ttl: Duration,
        max_stale: Duration,
    },
}

enum Keys {
    Static {
        key: DecodingKey,
        algorithm: Algorithm,
    },
    Jwks(JwksCache),
}

pub struct TokenVerifier {
    settings: JwtSettings,
    keys: Keys,
}

const ASYMMETRIC: [Algorithm; 2] = [Algorithm::RS256, Algorithm::ES256];

impl TokenVerifier {
    pub fn new(settings: JwtSettings, source: KeySource) -> Result<Self, ServiceError> {
        let keys = match source {
            KeySource::DevSecret(secret) => Keys::Static {
                key: DecodingKey::from_secret(&secret),
                algorithm: Algorithm::HS256,
            },
            KeySource::Pem { algorithm, pem } => {
                let key = match algorithm {
                    Algorithm::RS256 => DecodingKey::from_rsa_pem(&pem),
                    Algorithm::ES256 => DecodingKey::from_ec_pem(&pem),
                    other => {
                        return Err(ServiceError::internal(format!(
                            "unsupported JWT algorithm {other:?}; use RS256 or ES256"
                        )));
                    }
                }
                .map_err(|e| ServiceError::internal(format!("invalid JWT public key: {e}")))?;
                Keys::Static { key, algorithm }
            }
            KeySource::Jwks {
                url,
                ttl,
                max_stale,
            } => Keys::Jwks(JwksCache::new(url, ttl, max_stale)?),
        };
        Ok(Self { settings, keys })
    }

    /// Checks signature, algorithm, `exp`, `nbf`, `iss` and `aud`, then reads the portal claims.
    pub async fn verify(&self, token: &str) -> Result<Viewer, ServiceError> {
        let rejected = |why: &str| ServiceError::Unauthenticated(why.to_owned());
        let header = decode_header(token).map_err(|_| rejected("malformed token"))?;
        let (key, algorithm) = match &self.keys {
            Keys::Static { key, algorithm } => {
                if header.alg != *algorithm {
                    return Err(rejected("token algorithm not accepted"));
                }
                (key.clone(), *algorithm)
            }
            Keys::Jwks(cache) => {
                if !ASYMMETRIC.contains(&header.alg) {
                    return Err(rejected("token algorithm not accepted"));
                }
                let kid = header
                    .kid
                    .as_deref()
                    .ok_or_else(|| rejected("token has no key id"))?;
                (cache.key(kid).await?, header.alg)
            }
        };
        let claims = decode::<Claims>(token, &key, &self.validation(algorithm))
            .map_err(|e| {
                tracing::debug!(error = %e, "token rejected");
                rejected("invalid or expired token")
            })?
            .claims;
        claims.into_viewer()
    }

    fn validation(&self, algorithm: Algorithm) -> Validation {
        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[self.settings.issuer.as_str()]);
        validation.set_audience(&[self.settings.audience.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = self.settings.leeway_seconds;
        // A token that is not valid yet (`nbf` ahead, beyond the leeway) is refused too.
        validation.validate_nbf = true;
        validation
    }
}
