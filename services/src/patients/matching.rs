//! The staff matching queue: an ORU whose identifier (of a facility that registers walk-ins)
//! no patient holds, but whose PID name and birth date match an existing patient, is
//! answered AE and waits here. Staff decide: the same person (the identifier is linked to
//! that patient) or another (a new patient is registered with it). Never merged by itself;
//! the waiting message is then replayed from the dead letter.

use chrono::NaiveDate;
use portal_core::access::Access;
use portal_core::audit::{AuditRecord, Outcome};
use portal_core::context::RequestContext;
use portal_core::error::{ServiceError, ServiceResult};
use portal_core::pagination::{KeyKind, Keyset, Page, PageRequest};
use portal_entities::{PatientMatchStatus, patient, patient_id_authority, patient_match};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, Order, QueryFilter, Set,
};
use tracing::instrument;
use uuid::Uuid;

use super::identity;
use super::registration::{self, PatientPatch, walk_in_mrn};
use crate::master::update::Kept;
use crate::master::{self, MAINTAINERS};

const OPEN: Access = Access::write("patient_match.open", "PatientMatch");
const READ: Access = Access::read("patient_match.read", "PatientMatch");
const RESOLVE: Access = Access::write("patient_match.resolve", "PatientMatch");

/// What a message said about a patient no identifier found.
#[derive(Debug, Clone)]
pub struct Unmatched {
    pub hl7_message_id: Uuid,
    pub authority_id: Uuid,
    pub value: String,
    pub given_name: String,
    pub family_name: String,
    pub birth_date: NaiveDate,
}

/// Staff's decision on a match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// The candidate is the same person: the identifier becomes theirs.
    Link,
    /// Another person: a new patient is registered from the message's name and birth date.
    Register,
}

/// Puts an unmatched identifier in the queue (once: a resent message finds its open match)
/// with the patient it may be; its own transaction, so the match outlives the AE.
#[instrument(skip(ctx, unmatched), fields(request_id = %ctx.request_id))]
pub async fn enqueue(
    ctx: &RequestContext,
    unmatched: Unmatched,
    candidate: &patient::Model,
) -> ServiceResult<Uuid> {
    let tenant_id = ctx.viewer()?.tenant_id;
    let work = ctx.begin_write().await?;
    let open = patient_match::Entity::find()
        .filter(patient_match::Column::TenantId.eq(tenant_id))
        .filter(patient_match::Column::Status.eq(PatientMatchStatus::Open))
        .filter(patient_match::Column::AuthorityId.eq(unmatched.authority_id))
        .filter(patient_match::Column::Value.eq(unmatched.value.as_str()))
        .one(work.txn())
        .await?;
    if let Some(open) = open {
        return Ok(open.id);
    }
    let row = patient_match::Model {
        id: Uuid::now_v7(),
        tenant_id,
        hl7_message_id: unmatched.hl7_message_id,
        authority_id: unmatched.authority_id,
        value: unmatched.value,
        given_name: unmatched.given_name,
        family_name: unmatched.family_name,
        birth_date: unmatched.birth_date,
        candidate_patient_id: candidate.id,
        status: PatientMatchStatus::Open,
        resolved_patient_id: None,
        resolved_by: None,
        resolved_at: None,
        created_at: master::now(),
    };
    patient_match::Entity::insert(row.clone().into_active_model())
        .exec_without_returning(work.txn())
        .await?;
    work.commit().await?;
    ctx.record(AuditRecord::new(
        OPEN.entity(row.id),
        Some(candidate.id),
        Outcome::Allowed,
    ));
    Ok(row.id)
}

/// A match with the authority of its identifier.
#[derive(Debug, Clone)]
pub struct MatchView {
    pub row: patient_match::Model,
    pub authority: patient_id_authority::Model,
}

/// The queue for staff and admins (`patientMatches`), oldest first; open ones only unless
/// `status` says otherwise. Each listed candidate's read is audited.
#[instrument(skip(ctx, page), fields(request_id = %ctx.request_id))]
pub async fn list(
    ctx: &RequestContext,
    status: Option<PatientMatchStatus>,
    page: &PageRequest,
) -> ServiceResult<Page<MatchView>> {
    let tenant_id = master::require(ctx, MAINTAINERS, READ, None)?;
    let select = patient_match::Entity::find()
        .filter(patient_match::Column::TenantId.eq(tenant_id))
        .filter(patient_match::Column::Status.eq(status.unwrap_or(PatientMatchStatus::Open)));
    let keyset = Keyset {
        key: patient_match::Column::Id,
        id: patient_match::Column::Id,
        kind: KeyKind::Id,
        order: Order::Asc,
    };
    let rows = keyset.fetch(select, page, ctx.db()).await?;
    for row in &rows.items {
        ctx.record(AuditRecord::new(
            READ.entity(row.id),
            Some(row.candidate_patient_id),
            Outcome::Allowed,
        ));
    }
    let ids: Vec<Uuid> = rows.items.iter().map(|r| r.authority_id).collect();
    let authorities = crate::lookup::by_keys::<patient_id_authority::Entity, _>(
        ctx.db(),
        patient_id_authority::Column::TenantId,
        tenant_id,
        patient_id_authority::Column::Id,
        &ids,
    )
    .await?;
    let by_id: std::collections::HashMap<Uuid, patient_id_authority::Model> =
        authorities.into_iter().map(|a| (a.id, a)).collect();
    if rows
        .items
        .iter()
        .any(|r| !by_id.contains_key(&r.authority_id))
    {
        return Err(ServiceError::NotFound("patient identifier authority"));
    }
    Ok(rows.map(|row| MatchView {
        authority: by_id[&row.authority_id].clone(),
        row,
    }))
}

/// One match of the tenant with its authority (staff and admins).
pub async fn get(ctx: &RequestContext, match_id: Uuid) -> ServiceResult<MatchView> {
    let tenant_id = master::require(ctx, MAINTAINERS, READ.entity(match_id), None)?;
    let row = find(ctx, tenant_id, match_id).await?;
    let authority = patient_id_authority::Entity::find_by_id(row.authority_id)
        .filter(patient_id_authority::Column::TenantId.eq(tenant_id))
        .one(ctx.db())
        .await?
        .ok_or(ServiceError::NotFound("patient identifier authority"))?;
    ctx.record(AuditRecord::new(
        READ.entity(row.id),
        Some(row.candidate_patient_id),
        Outcome::Allowed,
    ));
    Ok(MatchView { row, authority })
}

async fn find(
    ctx: &RequestContext,
    tenant_id: Uuid,
    match_id: Uuid,
) -> ServiceResult<patient_match::Model> {
    patient_match::Entity::find_by_id(match_id)
        .filter(patient_match::Column::TenantId.eq(tenant_id))
        .one(ctx.db())
        .await?
        .ok_or(ServiceError::NotFound("patient match"))
}

/// Staff's decision (`resolvePatientMatch`): the identifier is linked to the candidate, or
/// a new patient is registered with it; the match is closed in the same transaction. A
/// match already resolved is a CONFLICT.
#[instrument(skip(ctx), fields(request_id = %ctx.request_id))]
pub async fn resolve(
    ctx: &RequestContext,
    match_id: Uuid,
    resolution: Resolution,
) -> ServiceResult<patient_match::Model> {
    let what = RESOLVE.entity(match_id);
    let tenant_id = master::require(ctx, MAINTAINERS, what, None)?;
    let row = find(ctx, tenant_id, match_id).await?;
    if row.status != PatientMatchStatus::Open {
        return Err(ctx.failed(
            what,
            Some(row.candidate_patient_id),
            ServiceError::Conflict("the match is already resolved".into()),
        ));
    }
    let work = ctx.begin_write().await?;
    let (patient_id, status) = match resolution {
        Resolution::Link => (row.candidate_patient_id, PatientMatchStatus::Linked),
        Resolution::Register => {
            let patch = PatientPatch {
                mrn: Some(walk_in_mrn()),
                given_name: Some(row.given_name.clone()),
                family_name: Some(row.family_name.clone()),
                birth_date: Some(row.birth_date),
                ..PatientPatch::default()
            }
            .validated()
            .map_err(|e| ctx.failed(what, None, e))?;
            let (created, _) = registration::register_in(&work, tenant_id, &patch).await?;
            (created.id, PatientMatchStatus::Registered)
        }
    };
    identity::link_in(
        &work,
        tenant_id,
        patient_id,
        row.authority_id,
        &row.value,
        status == PatientMatchStatus::Registered,
    )
    .await
    .map_err(|e| ctx.failed(what, Some(patient_id), e))?;
    let mut active = row.into_active_model();
    active.status = Set(status);
    active.resolved_patient_id = Set(Some(patient_id));
    active.resolved_by = Set(Some(ctx.viewer()?.subject.clone()));
    active.resolved_at = Set(Some(master::now()));
    let resolved = active.update(work.txn()).await?;
    work.commit().await?;
    ctx.record(AuditRecord::new(what, Some(patient_id), Outcome::Allowed));
    Ok(resolved)
}
