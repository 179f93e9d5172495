//! Access decisions (SPEC §6): the viewer's relation to a patient looked up once per request,
//! the answer audited always. The types they produce are in `policy`.

use chrono::Utc;
use portal_entities::{clinician, proxy_grant, test_order};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use crate::audit::{AuditRecord, Outcome};
use crate::context::{RequestContext, Work};
use crate::error::{ServiceError, ServiceResult};
use crate::identity::{Role, Viewer};
pub use crate::policy::{Access, PatientAccess, Relation, Scope, as_patient};

/// Decides whether the viewer may see `scope` of `patient_id` (a patient of the viewer's
/// tenant: callers look the patient up with the tenant filter first) and audits the answer.
pub async fn authorize(
    work: &impl Work,
    patient_id: Uuid,
    scope: Scope,
    what: Access,
) -> ServiceResult<PatientAccess> {
    let ctx = work.ctx();
    let Some(viewer) = ctx.viewer.as_ref() else {
        ctx.record(
            AuditRecord::new(what, Some(patient_id), Outcome::Denied).reason("unauthenticated"),
        );
        return Err(ServiceError::Unauthenticated(
            "a bearer token is required".into(),
        ));
    };
    let relation = relation(work, patient_id).await?;
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

/// A parent's proof of access reused for another part of the same patient's record (a
/// child field): the scope is checked against the relation the parent established and the
/// read is audited under `what`, without asking the database again.
pub fn confirm(
    ctx: &RequestContext,
    access: &PatientAccess,
    scope: Scope,
    what: Access,
) -> ServiceResult<PatientAccess> {
    let patient_id = Some(access.patient_id);
    if access.relation.allows(scope) {
        ctx.record(
            AuditRecord::new(what, patient_id, Outcome::Allowed).proxy_for(access.proxy_for()),
        );
        return Ok(access.clone());
    }
    ctx.record(AuditRecord::new(what, patient_id, Outcome::Denied).reason("scope not granted"));
    Err(ServiceError::Forbidden(format!(
        "you may not see this patient's {} data",
        scope.as_str().to_lowercase()
    )))
}

/// The viewer's relation to a patient of their tenant, cached for the request; `None` for
/// no relation (and for an anonymous request).
pub async fn relation(work: &impl Work, patient_id: Uuid) -> ServiceResult<Option<Relation>> {
    let ctx = work.ctx();
    let Some(viewer) = ctx.viewer.as_ref() else {
        return Ok(None);
    };
    if let Some(cached) = ctx.cached_relation(patient_id) {
        return Ok(cached);
    }
    let found = resolve_relation(work.conn(), ctx, viewer, patient_id).await?;
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
        && let Some(clinician_id) = clinician_of(db, viewer).await?
        && treats(db, viewer.tenant_id, clinician_id, patient_id).await?
    {
        return Ok(Some(Relation::Clinician { clinician_id }));
    }
    let grants = grants_of(db, ctx, viewer).await?;
    Ok(grants
        .into_iter()
        .find(|g| g.patient_id == patient_id)
        .map(|g| Relation::Proxy {
            grant_id: g.id,
            scopes: g.scopes.split(',').filter_map(Scope::parse).collect(),
            valid_to: g.valid_to,
        }))
}

/// The clinician record of the viewer (a clinician user, by token subject).
pub async fn clinician_id(work: &impl Work) -> ServiceResult<Option<Uuid>> {
    match work.ctx().viewer.as_ref() {
        Some(viewer) => clinician_of(work.conn(), viewer).await,
        None => Ok(None),
    }
}

async fn clinician_of<C: ConnectionTrait>(db: &C, viewer: &Viewer) -> ServiceResult<Option<Uuid>> {
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
pub async fn active_grants(work: &impl Work) -> ServiceResult<Vec<proxy_grant::Model>> {
    let ctx = work.ctx();
    match ctx.viewer.as_ref() {
        Some(viewer) => grants_of(work.conn(), ctx, viewer).await,
        None => Ok(Vec::new()),
    }
}

async fn grants_of<C: ConnectionTrait>(
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
pub fn note_grant_bounds(ctx: &RequestContext, grant: &proxy_grant::Model) {
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
