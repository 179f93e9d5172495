//! Reading insurance coverage and claims (explanations of benefits).

use portal_entities::{ClaimStatus, claim, coverage};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, Order, QueryFilter};
use tracing::instrument;
use uuid::Uuid;

use crate::access::{self, Access, PatientAccess, Scope};
use crate::context::RequestContext;
use crate::error::ServiceResult;
use crate::pagination::{Keyset, Page, PageRequest};

const COVERAGES: Access = Access::read("coverages.list", "Coverage");
const CLAIMS: Access = Access::read("claims.list", "Claim");

/// A patient's coverages, latest period first.
#[instrument(skip(db, ctx, page), fields(request_id = %ctx.request_id))]
pub async fn coverages<C: ConnectionTrait>(
    db: &C,
    ctx: &RequestContext,
    patient_id: Uuid,
    page: &PageRequest,
) -> ServiceResult<(PatientAccess, Page<coverage::Model>)> {
    let access = access::authorize(db, ctx, patient_id, Scope::Coverage, COVERAGES).await?;
    let select = coverage::Entity::find()
        .filter(coverage::Column::TenantId.eq(access.tenant_id))
        .filter(coverage::Column::PatientId.eq(patient_id));
    let after_key = page
        .after
        .as_ref()
        .map(|c| c.date())
        .transpose()?
        .map(Into::into);
    let keyset = Keyset {
        key: coverage::Column::PeriodStart,
        id: coverage::Column::Id,
        order: Order::Desc,
    };
    Ok((access, keyset.fetch(select, page, after_key, db).await?))
}

/// The filters of `Patient.claims`.
#[derive(Debug, Clone, Default)]
pub struct ClaimFilter {
    pub coverage_id: Option<Uuid>,
    pub statuses: Option<Vec<ClaimStatus>>,
}

/// A patient's claims, latest service date first.
#[instrument(skip(db, ctx, filter, page), fields(request_id = %ctx.request_id))]
pub async fn claims<C: ConnectionTrait>(
    db: &C,
    ctx: &RequestContext,
    patient_id: Uuid,
    filter: &ClaimFilter,
    page: &PageRequest,
) -> ServiceResult<(PatientAccess, Page<claim::Model>)> {
    let access = access::authorize(db, ctx, patient_id, Scope::Coverage, CLAIMS).await?;
    let mut select = claim::Entity::find()
        .filter(claim::Column::TenantId.eq(access.tenant_id))
        .filter(claim::Column::PatientId.eq(patient_id));
    if let Some(coverage_id) = filter.coverage_id {
        select = select.filter(claim::Column::CoverageId.eq(coverage_id));
    }
    if let Some(statuses) = &filter.statuses {
        select = select.filter(claim::Column::Status.is_in(statuses.iter().copied()));
    }
    let after_key = page
        .after
        .as_ref()
        .map(|c| c.date())
        .transpose()?
        .map(Into::into);
    let keyset = Keyset {
        key: claim::Column::ServiceDate,
        id: claim::Column::Id,
        order: Order::Desc,
    };
    Ok((access, keyset.fetch(select, page, after_key, db).await?))
}
