//! The development signing key (HS256) of the embedded default, and minting dev tokens.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rand::RngCore;

use super::Claims;
use portal_core::ServiceError;

const SECRET_FILE: &str = "dev-jwt-secret";

/// Reads the dev secret from `data_dir`, creating a random one on first use so that tokens
/// minted by `portal token` keep working across restarts.
pub fn load_or_create_dev_secret(data_dir: &Path) -> std::io::Result<Vec<u8>> {
    let path = data_dir.join(SECRET_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => STANDARD
            .decode(text.trim())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(data_dir)?;
            let mut secret = vec![0u8; 32];
            rand::rng().fill_bytes(&mut secret);
            std::fs::write(&path, STANDARD.encode(&secret))?;
            restrict_permissions(&path)?;
            Ok(secret)
        }
        Err(e) => Err(e),
    }
}

#[cfg(unix)]
fn restrict_permissions(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
}

#[cfg(not(unix))]
fn restrict_permissions(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

/// Signs development tokens with the dev secret.
#[derive(Clone)]
pub struct DevSigner {
    key: EncodingKey,
    issuer: String,
    audience: String,
}

impl DevSigner {
    pub fn new(secret: &[u8], issuer: &str, audience: &str) -> Self {
        Self {
            key: EncodingKey::from_secret(secret),
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
        }
    }

    /// Mints a token valid for `ttl`.
    pub fn mint(
        &self,
        subject: &str,
        tenant_id: uuid::Uuid,
        roles: &[super::Role],
        patient_id: Option<uuid::Uuid>,
        ttl: chrono::Duration,
    ) -> Result<String, ServiceError> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: subject.to_owned(),
            tid: tenant_id.to_string(),
            roles: roles.iter().map(|r| r.as_str().to_owned()).collect(),
            pid: patient_id.map(|p| p.to_string()),
            exp: now + ttl.num_seconds(),
            iat: now,
            iss: Some(self.issuer.clone()),
            aud: Some(self.audience.clone()),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.key)
            .map_err(|e| ServiceError::Internal(Box::new(e)))
    }
}
