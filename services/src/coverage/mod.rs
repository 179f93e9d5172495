//! Insurance coverage and claims: reading coverage and claims (explanations of benefits)
//! here, registering a patient's coverage in `registration`, recording claims in `claims`.

pub mod claims;
pub mod registration;

use portal_entities::{ClaimStatus, claim, coverage};
use sea_orm::{ColumnTrait, EntityTrait, Order, QueryFilter};
use tracing::instrument;
use uuid::Uuid;

use portal_core::access::{self, Access, PatientAccess, Scope};
use portal_core::context::RequestContext;
use portal_core::error::ServiceResult;
use portal_core::pagination::{KeyKind, Keyset, Page, PageRequest, PatientList};

const COVERAGES: Access = Access::read("coverages.list", "Coverage");
const CLAIMS: Access = Access::read("claims.list", "Claim");

/// A patient's coverages, latest period first.
#[instrument(skip(ctx, parent, page), fields(request_id = %ctx.request_id))]
pub async fn coverages(
    ctx: &RequestContext,
    parent: &PatientAccess,
    page: &PageRequest,
) -> ServiceResult<(PatientAccess, Page<coverage::Model>)> {
    let access = access::confirm(ctx, parent, Scope::Coverage, COVERAGES)?;
    let list = PatientList {
        tenant: coverage::Column::TenantId,
        patient: coverage::Column::PatientId,
        sort: Keyset {
            key: coverage::Column::PeriodStart,
            id: coverage::Column::Id,
            kind: KeyKind::Date,
            order: Order::Desc,
        },
    };
    let rows = list
        .fetch(ctx.db(), &access, coverage::Entity::find(), page)
        .await?;
    Ok((access, rows))
}

/// The filters of `Patient.claims`.
#[derive(Debug, Clone, Default)]
pub struct ClaimFilter {
    pub coverage_id: Option<Uuid>,
    pub statuses: Option<Vec<ClaimStatus>>,
}

/// A patient's claims, latest service date first.
#[instrument(skip(ctx, parent, filter, page), fields(request_id = %ctx.request_id))]
pub async fn claims(
    ctx: &RequestContext,
    parent: &PatientAccess,
    filter: &ClaimFilter,
    page: &PageRequest,
) -> ServiceResult<(PatientAccess, Page<claim::Model>)> {
    let access = access::confirm(ctx, parent, Scope::Coverage, CLAIMS)?;
    let mut select = claim::Entity::find();
    if let Some(coverage_id) = filter.coverage_id {
        select = select.filter(claim::Column::CoverageId.eq(coverage_id));
    }
    if let Some(statuses) = &filter.statuses {
        select = select.filter(claim::Column::Status.is_in(statuses.iter().copied()));
    }
    let list = PatientList {
        tenant: claim::Column::TenantId,
        patient: claim::Column::PatientId,
        sort: Keyset {
            key: claim::Column::ServiceDate,
            id: claim::Column::Id,
            kind: KeyKind::Date,
            order: Order::Desc,
        },
    };
    let rows = list.fetch(ctx.db(), &access, select, page).await?;
    Ok((access, rows))
}
