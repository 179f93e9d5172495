//! `JWT_*`: how bearer tokens are verified (issuer, audience, keys, clock skew).

use std::path::PathBuf;
use std::time::Duration;

use super::var::{Reader, Var, kind, section};
use super::{ConfigError, err};

section! {
    title: "Authentication",
    intro: "Bearer JWTs: the issuer and audience every token must carry and where the verification keys come from (a JWKS endpoint or a PEM file; a generated HS256 secret in development only).",
    ISSUER = Var::new("JWT_ISSUER", kind::TEXT, "Required `iss` of every token; must be set in production.")
        .by_environment(Some("portal-dev"), None);
    AUDIENCE = Var::new("JWT_AUDIENCE", kind::TEXT, "Required `aud` of every token; must be set in production.")
        .by_environment(Some("portal"), None);
    JWKS_URL = Var::new("JWT_JWKS_URL", kind::URL,
        "The identity provider's key set, e.g. `https://idp/realms/portal/protocol/openid-connect/certs`.");
    JWKS_CACHE = Var::new("JWT_JWKS_CACHE_SECONDS", kind::SECONDS,
        "How long fetched keys are used before refetching.")
        .default("300");
    JWKS_MAX_STALE = Var::new("JWT_JWKS_MAX_STALE_SECONDS", kind::SECONDS,
        "How long cached keys keep working while the identity provider is unreachable.")
        .default("3600");
    PUBLIC_KEY_FILE = Var::new("JWT_PUBLIC_KEY_FILE", kind::PATH,
        "Instead of `JWT_JWKS_URL`: a PEM public key, for `JWT_ALGORITHM`.");
    ALGORITHM = Var::new("JWT_ALGORITHM", kind::ONE_OF, "The algorithm of `JWT_PUBLIC_KEY_FILE`.")
        .default("RS256")
        .choices(&["RS256", "ES256"]);
    LEEWAY = Var::new("JWT_LEEWAY_SECONDS", kind::SECONDS, "Clock skew allowed on `exp` and `nbf`.")
        .default("30");
}

#[derive(Clone)]
pub struct JwtConfig {
    pub issuer: String,
    pub audience: String,
    pub keys: JwtKeys,
    pub leeway_seconds: u64,
}

#[derive(Clone)]
pub enum JwtKeys {
    /// HS256 with a secret kept in `<data_dir>/dev-jwt-secret` (development only).
    DevSecret,
    /// RS256 / ES256 public key in a PEM file.
    PublicKeyPem { algorithm: String, path: PathBuf },
    /// The identity provider's JWKS endpoint.
    Jwks {
        url: String,
        ttl: Duration,
        max_stale: Duration,
    },
}

pub(super) fn read(r: &Reader) -> Result<JwtConfig, ConfigError> {
    let keys = match (r.set(&PUBLIC_KEY_FILE), r.set(&JWKS_URL)) {
        (Some(_), Some(_)) => {
            return Err(err(format!(
                "set {} or {}, not both",
                PUBLIC_KEY_FILE.name, JWKS_URL.name
            )));
        }
        (Some(path), None) => JwtKeys::PublicKeyPem {
            algorithm: r.choice(&ALGORITHM)?.to_owned(),
            path: path.into(),
        },
        (None, Some(url)) => JwtKeys::Jwks {
            url,
            ttl: r.seconds(&JWKS_CACHE)?,
            max_stale: r.seconds(&JWKS_MAX_STALE)?,
        },
        (None, None) if r.development => JwtKeys::DevSecret,
        (None, None) => {
            return Err(err(format!(
                "production needs {} or {}",
                JWKS_URL.name, PUBLIC_KEY_FILE.name
            )));
        }
    };
    let (Some(issuer), Some(audience)) = (r.text(&ISSUER), r.text(&AUDIENCE)) else {
        return Err(err(format!(
            "production needs {} and {}",
            ISSUER.name, AUDIENCE.name
        )));
    };
    Ok(JwtConfig {
        issuer,
        audience,
        keys,
        leeway_seconds: r.number(&LEEWAY)?,
    })
}
