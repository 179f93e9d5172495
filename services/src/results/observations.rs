//! Reading observations on their own (a patient's trend of one analyte): the observations of
//! the current, released versions of a patient's results, newest result first.

use chrono::{DateTime, Utc};
use portal_entities::{TestCategory, observation, test_result};
use sea_orm::{
    ColumnTrait, EntityTrait, JoinType, Order, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, RelationTrait,
};
use tracing::instrument;
use uuid::Uuid;

use crate::results::{self, Visibility};
use crate::times::Within;
use portal_core::access::{self, Access, PatientAccess, Scope};
use portal_core::context::RequestContext;
use portal_core::error::{ServiceError, ServiceResult};
use portal_core::pagination::{self, Cursor, Page, PageRequest};
use portal_core::release::{self, ReleaseRule};

/// The filters of an observation search; every given one must hold.
#[derive(Debug, Clone, Default)]
pub struct ObservationFilter {
    /// Analyte codes (an empty list matches nothing).
    pub codes: Option<Vec<String>>,
    pub category: Option<TestCategory>,
    /// Issued (its result) at or after.
    pub since: Option<DateTime<Utc>>,
    /// Issued (its result) at or before.
    pub until: Option<DateTime<Utc>>,
    /// Conditions on its result's times, all of them met.
    pub within: Vec<Within<test_result::Column>>,
}

/// An observation with the result version it belongs to (its status, time and patient).
pub type ObservationOf = (observation::Model, test_result::Model);

const LIST: Access = Access::read("observations.list", "Observation");
const READ: Access = Access::read("observation.read", "Observation");

/// The observations of the current version of each result of the patient the viewer may see,
/// newest result first (then by id). Cursors are the result's issue time and the
/// observation's id.
#[instrument(skip(ctx, parent, filter, page), fields(request_id = %ctx.request_id))]
pub async fn list(
    ctx: &RequestContext,
    parent: &PatientAccess,
    filter: &ObservationFilter,
    page: &PageRequest,
) -> ServiceResult<(Visibility, Page<ObservationOf>)> {
    if let (Some(since), Some(until)) = (filter.since, filter.until)
        && since > until
    {
        return Err(ServiceError::bad_input(
            "date",
            "since must not be after until",
        ));
    }
    let access = access::confirm(ctx, parent, Scope::Results, LIST)?;
    let rule = ReleaseRule::for_access(ctx.db(), &access).await?;
    let mut select = observation::Entity::find()
        .join(JoinType::InnerJoin, observation::Relation::TestResult.def())
        .select_also(test_result::Entity)
        .filter(observation::Column::TenantId.eq(access.tenant_id))
        .filter(test_result::Column::TenantId.eq(access.tenant_id))
        .filter(test_result::Column::PatientId.eq(access.patient_id))
        .filter(release::current_versions(access.patient_id))
        .filter(rule.condition(access.tenant_id));
    if let Some(codes) = &filter.codes {
        select = select.filter(observation::Column::Code.is_in(codes.iter().map(String::as_str)));
    }
    if let Some(category) = filter.category {
        select = select.filter(test_result::Column::Category.eq(category));
    }
    if let Some(since) = filter.since {
        select = select.filter(test_result::Column::IssuedAt.gte(since));
    }
    if let Some(until) = filter.until {
        select = select.filter(test_result::Column::IssuedAt.lte(until));
    }
    for within in &filter.within {
        select = select.filter(within.condition());
    }
    let total = if page.total {
        Some(select.clone().count(ctx.db()).await?)
    } else {
        None
    };
    let order = Order::Desc;
    if let Some(cursor) = &page.after {
        select = select.filter(pagination::beyond(
            test_result::Column::IssuedAt,
            observation::Column::Id,
            &order,
            cursor.time()?.into(),
            cursor.id,
        ));
    }
    let mut rows = select
        .order_by(test_result::Column::IssuedAt, order.clone())
        .order_by(observation::Column::Id, order)
        .limit(page.first + 1)
        .all(ctx.db())
        .await?;
    let has_next_page = rows.len() as u64 > page.first;
    rows.truncate(page.first as usize);
    let mut items = Vec::with_capacity(rows.len());
    for (obs, result) in rows {
        let result = result.ok_or_else(|| ServiceError::internal("observation without result"))?;
        items.push((obs, result));
    }
    let cursors = items
        .iter()
        .map(|(obs, result)| Cursor::at_time(result.issued_at, obs.id))
        .collect();
    let page = Page {
        items,
        cursors,
        has_next_page,
        has_previous_page: page.after.is_some(),
        total,
    };
    Ok((Visibility { access, rule }, page))
}

/// One observation by id, under the rules of its result (`results::get`): NOT_FOUND when the
/// viewer may not see that result version.
#[instrument(skip(ctx), fields(request_id = %ctx.request_id))]
pub async fn get(
    ctx: &RequestContext,
    observation_id: Uuid,
) -> ServiceResult<(Visibility, ObservationOf)> {
    let viewer = ctx.viewer()?;
    let obs = observation::Entity::find_by_id(observation_id)
        .filter(observation::Column::TenantId.eq(viewer.tenant_id))
        .one(ctx.db())
        .await?
        .ok_or(ServiceError::NotFound("observation"))?;
    let (vis, result) = results::get(ctx, obs.result_id).await?;
    access::confirm(
        ctx,
        &vis.access,
        Scope::Results,
        READ.entity(observation_id),
    )?;
    Ok((vis, (obs, result)))
}
