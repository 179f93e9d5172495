//! Patients: reading one patient by id and the patients a viewer may see here, staff search
//! in `search`, registration (mutations, CSV import, HL7 ADT) in `registration`.

pub mod identity;
pub mod matching;
pub mod registration;
pub mod search;

use portal_entities::{patient, test_order};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, EntityTrait, Order, QueryFilter,
    QuerySelect, Select,
};
use tracing::instrument;
use uuid::Uuid;

use portal_core::access::{self, Access, PatientAccess, Relation, Scope};
use portal_core::context::RequestContext;
use portal_core::context::Work;
use portal_core::error::{ServiceError, ServiceResult};
use portal_core::identity::Role;
use portal_core::pagination::{KeyKind, Keyset, Page, PageRequest};

const READ: Access = Access::read("patient.read", "Patient");

/// A patient of the viewer's tenant the viewer may see (FORBIDDEN otherwise, audited).
#[instrument(skip(ctx), fields(request_id = %ctx.request_id))]
pub async fn get(
    ctx: &RequestContext,
    patient_id: Uuid,
) -> ServiceResult<(PatientAccess, patient::Model)> {
    let viewer = ctx.viewer()?;
    let found = if ctx.db().get_database_backend() == DatabaseBackend::Postgres {
        crate::prefetch::patient(ctx, viewer.tenant_id, patient_id).await?
    } else {
        find_in_tenant(ctx.db(), viewer.tenant_id, patient_id).await?
    };
    let patient = found.ok_or(ServiceError::NotFound("patient"))?;
    let access =
        access::authorize(ctx, patient_id, Scope::Profile, READ.entity(patient_id)).await?;
    Ok((access, patient))
}

/// A patient of the tenant, or NOT_FOUND; writes look the patient up before authorizing.
pub async fn in_tenant<C: ConnectionTrait>(
    db: &C,
    tenant_id: Uuid,
    patient_id: Uuid,
) -> ServiceResult<patient::Model> {
    find_in_tenant(db, tenant_id, patient_id)
        .await?
        .ok_or(ServiceError::NotFound("patient"))
}

/// For writes on a patient's record: the patient must be of the viewer's tenant (NOT_FOUND)
/// and the viewer must hold `scope` (FORBIDDEN); the decision is audited under `what`.
pub async fn authorize_write(
    work: &impl Work,
    patient_id: Uuid,
    scope: Scope,
    what: Access,
) -> ServiceResult<(PatientAccess, patient::Model)> {
    let tenant_id = work.ctx().viewer()?.tenant_id;
    let patient = in_tenant(work.conn(), tenant_id, patient_id).await?;
    let access = access::authorize(work, patient_id, scope, what).await?;
    Ok((access, patient))
}

/// Takes a row lock on the patient (PostgreSQL) so concurrent writes that check, then insert
/// (overlapping bookings, duplicate grants) run one after the other; SQLite locks the file.
pub async fn lock<C: ConnectionTrait>(
    db: &C,
    tenant_id: Uuid,
    patient_id: Uuid,
) -> ServiceResult<()> {
    patient::Entity::find_by_id(patient_id)
        .select_only()
        .column(patient::Column::Id)
        .filter(patient::Column::TenantId.eq(tenant_id))
        .lock_exclusive()
        .into_tuple::<Uuid>()
        .one(db)
        .await?;
    Ok(())
}

pub(crate) async fn find_in_tenant<C: ConnectionTrait>(
    db: &C,
    tenant_id: Uuid,
    patient_id: Uuid,
) -> ServiceResult<Option<patient::Model>> {
    Ok(patient::Entity::find_by_id(patient_id)
        .filter(patient::Column::TenantId.eq(tenant_id))
        .one(db)
        .await?)
}

/// The patients the viewer may see: themself and those who granted them proxy access (patients),
/// those they ordered for or were referred (clinicians), everyone in the tenant (lab, staff).
#[instrument(skip(ctx, page), fields(request_id = %ctx.request_id))]
pub async fn visible_to_viewer(
    ctx: &RequestContext,
    page: &PageRequest,
) -> ServiceResult<Page<(PatientAccess, patient::Model)>> {
    let Some(select) = visible(ctx).await? else {
        return Ok(Page::empty());
    };
    let keyset = Keyset {
        key: patient::Column::Id,
        id: patient::Column::Id,
        kind: KeyKind::Id,
        order: Order::Asc,
    };
    let rows = keyset.fetch(select, page, ctx.db()).await?;
    authorize_each(ctx, rows).await
}

/// The patients of the viewer's tenant the viewer may see, as a query to filter further;
/// `None` when they may see nobody. The answer is noted as a patient list (read cache).
pub(crate) async fn visible(
    ctx: &RequestContext,
) -> ServiceResult<Option<Select<patient::Entity>>> {
    let viewer = ctx.viewer()?;
    ctx.note_patient_list();
    let mut select = patient::Entity::find().filter(patient::Column::TenantId.eq(viewer.tenant_id));
    if !viewer.is_tenant_wide() {
        let mut visible = Condition::any();
        if let (Some(own), true) = (viewer.patient_id, viewer.has_role(Role::Patient)) {
            visible = visible.add(patient::Column::Id.eq(own));
        }
        let grantors: Vec<Uuid> = access::active_grants(ctx)
            .await?
            .iter()
            .map(|g| g.patient_id)
            .collect();
        if !grantors.is_empty() {
            visible = visible.add(patient::Column::Id.is_in(grantors));
        }
        if viewer.has_role(Role::Clinician)
            && let Some(clinician_id) = access::clinician_id(ctx).await?
        {
            visible = visible.add(patient::Column::Id.in_subquery(treated_by(clinician_id)));
        }
        if visible.is_empty() {
            return Ok(None);
        }
        select = select.filter(visible);
    }
    Ok(Some(select))
}

/// Each patient of the page with the viewer's proof of access (every one audited).
pub(crate) async fn authorize_each(
    ctx: &RequestContext,
    rows: Page<patient::Model>,
) -> ServiceResult<Page<(PatientAccess, patient::Model)>> {
    let Page {
        items,
        cursors,
        has_next_page,
        has_previous_page,
        total,
    } = rows;
    let mut visible = Vec::with_capacity(items.len());
    for patient in items {
        let access = access::authorize(ctx, patient.id, Scope::Profile, READ.entity(patient.id));
        visible.push((access.await?, patient));
    }
    Ok(Page {
        items: visible,
        cursors,
        has_next_page,
        has_previous_page,
        total,
    })
}

fn treated_by(clinician_id: Uuid) -> sea_orm::sea_query::SelectStatement {
    Query::select()
        .column(test_order::Column::PatientId)
        .from(test_order::Entity)
        .cond_where(
            Condition::any()
                .add(Expr::col(test_order::Column::OrderingClinicianId).eq(clinician_id))
                .add(Expr::col(test_order::Column::ReferringClinicianId).eq(clinician_id)),
        )
        .to_owned()
}

/// Looks a patient up by MRN within a tenant (used by the dev `portal token` command).
pub async fn find_by_mrn<C: ConnectionTrait>(
    db: &C,
    tenant_id: Uuid,
    mrn: &str,
) -> ServiceResult<Option<patient::Model>> {
    Ok(patient::Entity::find()
        .filter(patient::Column::TenantId.eq(tenant_id))
        .filter(patient::Column::Mrn.eq(mrn))
        .one(db)
        .await?)
}

/// Whether the relation lets the viewer see more than the profile of this patient.
pub fn relation_scopes(relation: &Relation) -> Vec<Scope> {
    [
        Scope::Profile,
        Scope::Results,
        Scope::Appointments,
        Scope::Coverage,
        Scope::Account,
        Scope::AccessLog,
    ]
    .into_iter()
    .filter(|s| relation.allows(*s))
    .collect()
}
