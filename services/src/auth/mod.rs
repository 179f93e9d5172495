//! Identity: token claims, the authenticated viewer, token verification and dev tokens.

mod claims;
mod dev_key;
mod jwks;
mod verifier;

pub use claims::{Claims, Role};
pub use dev_key::{DevSigner, load_or_create_dev_secret};
pub use verifier::{JwtSettings, KeySource, TokenVerifier};

use uuid::Uuid;

/// Who is making a request, as established from a verified token.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub subject: String,
    pub tenant_id: Uuid,
    pub roles: Vec<Role>,
    /// The patient record of a patient user (`pid` claim).
    pub patient_id: Option<Uuid>,
    /// When the token stops being valid (`exp`); long-lived subscriptions end then.
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

impl Viewer {
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Lab, staff and admin act on every patient of their tenant.
    pub fn is_tenant_wide(&self) -> bool {
        self.roles
            .iter()
            .any(|r| matches!(r, Role::Lab | Role::Staff | Role::Admin))
    }

    pub fn is_expired(&self) -> bool {
        self.expires_at <= chrono::Utc::now()
    }

    pub fn roles_label(&self) -> String {
        self.roles
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}
