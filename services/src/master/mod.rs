//! What every master-data write shares (patient and coverage registration, directory,
//! catalog, claims): who may write, how a field is patched, how it is validated, duplicate
//! keys as CONFLICT, and the one update sequence (`update`).

pub mod escalation;
pub mod fields;
pub mod update;

use chrono::{DateTime, Utc};
use portal_core::access::Access;
use portal_core::audit::{AuditRecord, Outcome};
use portal_core::context::RequestContext;
use portal_core::error::{ServiceError, ServiceResult};
use portal_core::identity::Role;
use sea_orm::{DbErr, SqlErr};
use uuid::Uuid;

/// Staff and admins keep the directory, the catalog and claims.
pub const MAINTAINERS: &[Role] = &[Role::Staff, Role::Admin];
/// Registration (patients, coverage) is also done by the lab's and registration systems'
/// interfaces, which act as the lab role.
pub const REGISTRARS: &[Role] = &[Role::Staff, Role::Admin, Role::Lab];

/// A change to an optional field: `None` keeps it, `Some(None)` clears it, `Some(Some(v))`
/// sets it.
pub type Patch<T> = Option<Option<T>>;

/// A text patch from a value where blank means "clear" (HL7 `""`, an empty CSV cell).
pub fn blank_clears(value: Option<String>) -> Patch<String> {
    value.map(|v| {
        let v = v.trim();
        (!v.is_empty()).then(|| v.to_owned())
    })
}

/// The text a patch sets, if it sets one.
pub fn given(value: &Patch<String>) -> Option<&str> {
    value.as_ref().and_then(|v| v.as_deref())
}

/// Applies a patch to an optional field.
pub fn patch<T>(slot: &mut Option<T>, change: Patch<T>) {
    if let Some(value) = change {
        *slot = value;
    }
}

/// Applies a change to a required field.
pub fn set<T>(slot: &mut T, change: Option<T>) {
    if let Some(value) = change {
        *slot = value;
    }
}

/// Whether a write created, changed or left the row as it was (an import of the same file
/// again changes nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Created,
    Updated,
    Unchanged,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Unchanged => "unchanged",
        }
    }
}

/// The viewer's tenant when they hold one of `roles`; otherwise FORBIDDEN (UNAUTHENTICATED
/// without a token), and the refusal is audited under `what`.
pub fn require(
    ctx: &RequestContext,
    roles: &[Role],
    what: Access,
    patient_id: Option<Uuid>,
) -> ServiceResult<Uuid> {
    let Some(viewer) = ctx.viewer.as_ref() else {
        ctx.record(AuditRecord::new(what, patient_id, Outcome::Denied).reason("unauthenticated"));
        return Err(ServiceError::Unauthenticated(
            "a bearer token is required".into(),
        ));
    };
    if roles.iter().any(|r| viewer.has_role(*r)) {
        return Ok(viewer.tenant_id);
    }
    ctx.record(AuditRecord::new(what, patient_id, Outcome::Denied).reason("role not permitted"));
    let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    Err(ServiceError::Forbidden(format!(
        "only the {} roles may change master data",
        names.join(", ")
    )))
}

/// Records a master-data write that went through (or found nothing to change).
pub fn done(ctx: &RequestContext, what: Access, patient_id: Option<Uuid>, change: Change) {
    ctx.record(AuditRecord::new(what, patient_id, Outcome::Allowed).reason(change.as_str()));
}

/// A duplicate key the database refused becomes CONFLICT with `message`; other errors pass.
pub fn conflict_on_duplicate(err: DbErr, message: &str) -> ServiceError {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => ServiceError::Conflict(message.to_owned()),
        _ => err.into(),
    }
}

/// `now` as master data stores it.
pub fn now() -> DateTime<Utc> {
    portal_core::clock::now()
}
