//! Policy types (SPEC §6): the scopes of a record, how a viewer relates to a patient, the
//! proof of access a read carries, and what is being read. No database code: the decisions
//! that need the database are in `access`, and everything else depends on these types.

use chrono::Utc;
use portal_entities::notification_preference;
use uuid::Uuid;

/// The parts of a patient's record a viewer may be allowed to see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Name, birth date, identifiers: everyone with any relation.
    Profile,
    /// Orders and results.
    Results,
    Appointments,
    /// Coverage and claims.
    Coverage,
    /// Notification preferences, push tokens, proxy grants: the patient and staff only.
    Account,
    /// Who looked at the record and what left it (docs/patients.md, "Access history").
    AccessLog,
}

impl Scope {
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "RESULTS" => Some(Self::Results),
            "APPOINTMENTS" => Some(Self::Appointments),
            "COVERAGE" => Some(Self::Coverage),
            "ACCESS_LOG" => Some(Self::AccessLog),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Profile => "PROFILE",
            Self::Results => "RESULTS",
            Self::Appointments => "APPOINTMENTS",
            Self::Coverage => "COVERAGE",
            Self::Account => "ACCOUNT",
            Self::AccessLog => "ACCESS_LOG",
        }
    }
}

/// How the viewer is related to a patient.
#[derive(Debug, Clone, PartialEq)]
pub enum Relation {
    /// The patient themself.
    Own,
    /// A parent or carer holding an active proxy grant.
    Proxy {
        grant_id: Uuid,
        scopes: Vec<Scope>,
        valid_to: Option<chrono::DateTime<Utc>>,
    },
    /// A clinician who ordered, or was referred, one of the patient's tests.
    Clinician { clinician_id: Uuid },
    /// Lab (`full == false`), staff or admin (`full == true`) of the patient's tenant.
    Tenant { full: bool },
}

impl Relation {
    pub fn allows(&self, scope: Scope) -> bool {
        match self {
            Self::Own => true,
            Self::Tenant { full: true } => true,
            Self::Tenant { full: false } | Self::Clinician { .. } => {
                matches!(scope, Scope::Profile | Scope::Results | Scope::Appointments)
            }
            Self::Proxy { scopes, .. } => scope == Scope::Profile || scopes.contains(&scope),
        }
    }

    /// Patients and their proxies see only released results (SPEC §4).
    pub fn is_patient_facing(&self) -> bool {
        matches!(self, Self::Own | Self::Proxy { .. })
    }

    pub fn label(&self) -> &'static str {
        match self {
            Self::Own => "SELF",
            Self::Proxy { .. } => "PROXY",
            Self::Clinician { .. } => "CLINICIAN",
            Self::Tenant { .. } => "CARE_TEAM",
        }
    }
}

/// Proof that the viewer may see `scope`-data of a patient; every read path needs one.
#[derive(Debug, Clone)]
pub struct PatientAccess {
    pub patient_id: Uuid,
    pub tenant_id: Uuid,
    pub relation: Relation,
}

impl PatientAccess {
    pub fn is_patient_facing(&self) -> bool {
        self.relation.is_patient_facing()
    }

    pub fn proxy_for(&self) -> Option<Uuid> {
        matches!(self.relation, Relation::Proxy { .. }).then_some(self.patient_id)
    }
}

/// The patient's own view of their record, for paths without a patient login (walk-in result
/// links): the same patient-facing release rule a signed-in patient gets.
pub fn as_patient(tenant_id: Uuid, patient_id: Uuid) -> PatientAccess {
    PatientAccess {
        patient_id,
        tenant_id,
        relation: Relation::Own,
    }
}

/// What is being read, for the audit trail.
#[derive(Debug, Clone, Copy)]
pub struct Access {
    pub action: &'static str,
    pub entity_type: &'static str,
    pub entity_id: Option<Uuid>,
}

impl Access {
    pub const fn read(action: &'static str, entity_type: &'static str) -> Self {
        Self {
            action,
            entity_type,
            entity_id: None,
        }
    }

    /// A change; audited like a read, under the write's action name.
    pub const fn write(action: &'static str, entity_type: &'static str) -> Self {
        Self::read(action, entity_type)
    }

    pub const fn entity(mut self, id: Uuid) -> Self {
        self.entity_id = Some(id);
        self
    }
}

/// The notification preferences a patient has before choosing any: email only, nothing held.
pub fn default_preferences(tenant_id: Uuid, patient_id: Uuid) -> notification_preference::Model {
    notification_preference::Model {
        patient_id,
        tenant_id,
        email: true,
        sms: false,
        push: false,
        language: "en".to_owned(),
        hold_sensitive_results: false,
        updated_at: Utc::now(),
    }
}
