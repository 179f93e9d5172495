//! Who is asking: the roles the portal knows, the JWT claims it reads, and the viewer they make.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::ServiceError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Patient,
    Clinician,
    Lab,
    Staff,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Patient => "patient",
            Self::Clinician => "clinician",
            Self::Lab => "lab",
            Self::Staff => "staff",
            Self::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "patient" => Some(Self::Patient),
            "clinician" => Some(Self::Clinician),
            "lab" => Some(Self::Lab),
            "staff" => Some(Self::Staff),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }
}

/// Claims of a portal access token. `aud`, `iss` and `exp` are checked by the verifier.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub tid: String,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<String>,
    pub exp: i64,
    #[serde(default)]
    pub iat: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
}

impl Claims {
    /// Turns verified claims into a viewer; roles the portal does not know are ignored.
    pub fn into_viewer(self) -> Result<Viewer, ServiceError> {
        let invalid = |what: &str| {
            ServiceError::Unauthenticated(format!("token has an invalid {what} claim"))
        };
        let tenant_id = Uuid::parse_str(&self.tid).map_err(|_| invalid("tid"))?;
        let patient_id = match self.pid.as_deref() {
            Some(pid) => Some(Uuid::parse_str(pid).map_err(|_| invalid("pid"))?),
            None => None,
        };
        let roles: Vec<Role> = self.roles.iter().filter_map(|r| Role::parse(r)).collect();
        if roles.is_empty() {
            return Err(invalid("roles"));
        }
        if roles.contains(&Role::Patient) && patient_id.is_none() {
            return Err(invalid("pid"));
        }
        if self.sub.trim().is_empty() {
            return Err(invalid("sub"));
        }
        let expires_at =
            chrono::DateTime::from_timestamp(self.exp, 0).ok_or_else(|| invalid("exp"))?;
        Ok(Viewer {
            expires_at,
            subject: self.sub,
            tenant_id,
            roles,
            patient_id,
        })
    }
}

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
