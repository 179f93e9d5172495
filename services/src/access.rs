//! Access rules (SPEC §6): who may see which patient's data, decided once, audited always.

use chrono::Utc;
use portal_entities::{clinician, proxy_grant, test_order};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use crate::audit::{AuditRecord, Outcome};
use crate::auth::{Role, Viewer};
use crate::context::RequestContext;
use crate::error::{ServiceError, ServiceResult};

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
}

impl Scope {
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "RESULTS" => Some(Self::Results),
            "APPOINTMENTS" => Some(Self::Appointments),
            "COVERAGE" => Some(Self::Coverage),
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

    fn proxy_for(&self) -> Option<Uuid> {
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

/// Decides whether the viewer may see `scope` of `patient_id` (a patient of the viewer's
/// tenant: callers look the patient up with the tenant filter first) and audits the answer.
pub async fn authorize<C: ConnectionTrait>(
    db: &C,
    ctx: &RequestContext,
    patient_id: Uuid,
    scope: Scope,
    what: Access,
) -> ServiceResult<PatientAccess> {
    let Some(viewer) = ctx.viewer.as_ref() else {
        ctx.record(
            AuditRecord::new(what, Some(patient_id), Outcome::Denied).reason("unauthenticated"),
        );
        return Err(ServiceError::Unauthenticated(
            "a bearer token is required".into(),
        ));
    };
    let relation = relation(db, ctx, viewer, patient_id).await?;
    match relation {
        Some(relation) if relation.allows(scope) => {
            let access = PatientAccess {
                patient_id,
                tenant_id: viewer.tenant_id,
                relation,
            };
            ctx.record(
                AuditRecord::new(what, Some(patient_id), Outcome::Allowed)
                    .proxy_for(access.proxy_for()),
            );
            Ok(access)
        }
        Some(_) => {
            ctx.record(
                AuditRecord::new(what, Some(patient_id), Outcome::Denied)
                    .reason("scope not granted"),
            );
            Err(ServiceError::Forbidden(format!(
                "you may not see this patient's {} data",
                scope.as_str().to_lowercase()
            )))
        }
        None => {
            ctx.record(
                AuditRecord::new(what, Some(patient_id), Outcome::Denied)
                    .reason("no relation to patient"),
            );
            Err(ServiceError::Forbidden(
                "you may not see this patient's data".into(),
            ))
        }
    }
}

/// The viewer's relation to a patient of their tenant, cached for the request.
pub async fn relation<C: ConnectionTrait>(
    db: &C,
    ctx: &RequestContext,
    viewer: &Viewer,
    patient_id: Uuid,
) -> ServiceResult<Option<Relation>> {
    if let Some(cached) = ctx.cached_relation(patient_id) {
        return Ok(cached);
    }
    let found = resolve_relation(db, ctx, viewer, patient_id).await?;
    ctx.cache_relation(patient_id, found.clone());
    Ok(found)
}

async fn resolve_relation<C: ConnectionTrait>(
    db: &C,
    ctx: &RequestContext,
    viewer: &Viewer,
    patient_id: Uuid,
) -> ServiceResult<Option<Relation>> {
    if viewer.patient_id == Some(patient_id) && viewer.has_role(Role::Patient) {
        return Ok(Some(Relation::Own));
    }
    if viewer.is_tenant_wide() {
        let full = viewer.has_role(Role::Staff) || viewer.has_role(Role::Admin);
        return Ok(Some(Relation::Tenant { full }));
    }
    if viewer.has_role(Role::Clinician)
        && let Some(clinician_id) = clinician_id(db, viewer).await?
        && treats(db, viewer.tenant_id, clinician_id, patient_id).await?
    {
        return Ok(Some(Relation::Clinician { clinician_id }));
    }
    let grants = active_grants(db, ctx, viewer).await?;
    Ok(grants
        .into_iter()
        .find(|g| g.patient_id == patient_id)
        .map(|g| Relation::Proxy {
            grant_id: g.id,
            scopes: g.scopes.split(',').filter_map(Scope::parse).collect(),
            valid_to: g.valid_to,
        }))
}

/// The clinician record of a clinician user, by token subject.
pub async fn clinician_id<C: ConnectionTrait>(
    db: &C,
    viewer: &Viewer,
) -> ServiceResult<Option<Uuid>> {
    Ok(clinician::Entity::find()
        .select_only()
        .column(clinician::Column::Id)
        .filter(clinician::Column::TenantId.eq(viewer.tenant_id))
        .filter(clinician::Column::UserSubject.eq(viewer.subject.as_str()))
        .into_tuple::<Uuid>()
        .one(db)
        .await?)
}

async fn treats<C: ConnectionTrait>(
    db: &C,
    tenant_id: Uuid,
    clinician_id: Uuid,
    patient_id: Uuid,
) -> ServiceResult<bool> {
    let order = test_order::Entity::find()
        .select_only()
        .column(test_order::Column::Id)
        .filter(test_order::Column::TenantId.eq(tenant_id))
        .filter(test_order::Column::PatientId.eq(patient_id))
        .filter(
            Condition::any()
                .add(test_order::Column::OrderingClinicianId.eq(clinician_id))
                .add(test_order::Column::ReferringClinicianId.eq(clinician_id)),
        )
        .into_tuple::<Uuid>()
        .one(db)
        .await?;
    Ok(order.is_some())
}

/// Proxy grants held by the viewer that are in force now: started, not expired, not revoked.
/// When a grant starts or ends is noted on the request: an answer built on these grants
/// changes then, without any write (see `ReadDeps::fresh_until`).
pub async fn active_grants<C: ConnectionTrait>(
    db: &C,
    ctx: &RequestContext,
    viewer: &Viewer,
) -> ServiceResult<Vec<proxy_grant::Model>> {
    let now = Utc::now();
    let unexpired = proxy_grant::Entity::find()
        .filter(proxy_grant::Column::TenantId.eq(viewer.tenant_id))
        .filter(proxy_grant::Column::GranteeSubject.eq(viewer.subject.as_str()))
        .filter(proxy_grant::Column::RevokedAt.is_null())
        .filter(
            Condition::any()
                .add(proxy_grant::Column::ValidTo.is_null())
                .add(proxy_grant::Column::ValidTo.gt(now)),
        )
        .all(db)
        .await?;
    let mut active = Vec::with_capacity(unexpired.len());
    for grant in unexpired {
        if grant.valid_from > now {
            ctx.note_until(grant.valid_from);
            continue;
        }
        if let Some(valid_to) = grant.valid_to {
            ctx.note_until(valid_to);
        }
        active.push(grant);
    }
    Ok(active)
}

/// Notes when a grant shown to a viewer (with its `active` flag) turns active or inactive.
pub(crate) fn note_grant_bounds(ctx: &RequestContext, grant: &proxy_grant::Model) {
    let now = Utc::now();
    if grant.revoked_at.is_some() {
        return;
    }
    if grant.valid_from > now {
        ctx.note_until(grant.valid_from);
    }
    if let Some(valid_to) = grant.valid_to.filter(|to| *to > now) {
        ctx.note_until(valid_to);
    }
}
