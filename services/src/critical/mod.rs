//! Critical-result alerts for clinicians and staff: reading them (a clinician the alerts
//! addressed to them now or earlier, staff and admins all of the organisation's; never a
//! patient or proxy), and acknowledging one with a read-back (`ack`). Raising them is part of storing a result
//! (`crate::ingest::critical`).

pub mod ack;

use portal_core::access::{self, Access};
use portal_core::audit::{AuditRecord, Outcome};
use portal_core::context::{RequestContext, Work};
use portal_core::error::{ServiceError, ServiceResult};
use portal_core::identity::Role;
use portal_entities::{CriticalAlertStatus, critical_alert, escalation_step, test_order};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tracing::instrument;
use uuid::Uuid;

const LIST: Access = Access::read("critical_alert.list", "CriticalAlert");
const READ: Access = Access::read("critical_alert.read", "CriticalAlert");

/// Most alerts one page holds.
pub const MAX_PAGE: u64 = 100;

/// Who is asking: staff (every alert of the tenant) or a clinician (their own).
#[derive(Debug, Clone, Copy)]
pub enum Reader {
    Staff,
    Clinician(Uuid),
}

/// Staff and admins read every alert; a clinician signed in as one of the organisation's
/// clinicians reads theirs; anyone else is refused (audited).
pub async fn reader(work: &impl Work, what: Access) -> ServiceResult<Reader> {
    let ctx = work.ctx();
    let viewer = ctx.viewer()?;
    if viewer.has_role(Role::Staff) || viewer.has_role(Role::Admin) {
        return Ok(Reader::Staff);
    }
    if viewer.has_role(Role::Clinician)
        && let Some(id) = access::clinician_id(work).await?
    {
        return Ok(Reader::Clinician(id));
    }
    ctx.record(AuditRecord::new(what, None, Outcome::Denied).reason("not a clinician or staff"));
    Err(ServiceError::Forbidden(
        "critical-result alerts are for clinicians and staff".into(),
    ))
}

/// The clinicians an alert has been addressed to, up to and including its current step: the
/// ordering (or referring) clinician of step 0 and the chain's clinicians up to `step`.
pub async fn addressees<C: ConnectionTrait>(
    db: &C,
    alert: &critical_alert::Model,
) -> ServiceResult<Vec<Uuid>> {
    let mut ids = Vec::new();
    if let Some(id) = alert.addressee_clinician_id {
        ids.push(id);
    }
    let order = test_order::Entity::find_by_id(alert.order_id)
        .filter(test_order::Column::TenantId.eq(alert.tenant_id))
        .one(db)
        .await?;
    if let Some(order) = order {
        ids.extend(order.ordering_clinician_id.or(order.referring_clinician_id));
    }
    let steps = escalation_step::Entity::find()
        .filter(escalation_step::Column::TenantId.eq(alert.tenant_id))
        .filter(escalation_step::Column::FacilityId.eq(alert.facility_id))
        .filter(escalation_step::Column::Position.lte(alert.step))
        .all(db)
        .await?;
    ids.extend(steps.into_iter().filter_map(|s| s.clinician_id));
    Ok(ids)
}

/// A page of alerts, newest first: `status` filters, `after` is the last id of the previous
/// page.
#[instrument(skip(ctx), fields(request_id = %ctx.request_id))]
pub async fn list(
    ctx: &RequestContext,
    status: Option<CriticalAlertStatus>,
    first: u64,
    after: Option<Uuid>,
) -> ServiceResult<Vec<critical_alert::Model>> {
    let who = reader(ctx, LIST).await?;
    let tenant = ctx.viewer()?.tenant_id;
    let mut query = critical_alert::Entity::find()
        .filter(critical_alert::Column::TenantId.eq(tenant))
        .order_by_desc(critical_alert::Column::Id)
        .limit(first.clamp(1, MAX_PAGE) * 4);
    if let Some(status) = status {
        query = query.filter(critical_alert::Column::Status.eq(status));
    }
    if let Some(after) = after {
        query = query.filter(critical_alert::Column::Id.lt(after));
    }
    let rows = query.all(ctx.db()).await?;
    let mut page = Vec::new();
    for alert in rows {
        if page.len() as u64 >= first.clamp(1, MAX_PAGE) {
            break;
        }
        if visible(ctx, who, &alert).await? {
            page.push(alert);
        }
    }
    ctx.record(AuditRecord::new(LIST, None, Outcome::Allowed));
    Ok(page)
}

async fn visible(
    ctx: &RequestContext,
    who: Reader,
    alert: &critical_alert::Model,
) -> ServiceResult<bool> {
    Ok(match who {
        Reader::Staff => true,
        Reader::Clinician(me) => addressees(ctx.db(), alert).await?.contains(&me),
    })
}

/// One alert the viewer may read; another tenant's or one not addressed to them is NOT_FOUND.
#[instrument(skip(ctx), fields(request_id = %ctx.request_id))]
pub async fn get(ctx: &RequestContext, id: Uuid) -> ServiceResult<critical_alert::Model> {
    let what = READ.entity(id);
    let who = reader(ctx, what).await?;
    let tenant = ctx.viewer()?.tenant_id;
    let alert = critical_alert::Entity::find_by_id(id)
        .filter(critical_alert::Column::TenantId.eq(tenant))
        .one(ctx.db())
        .await?;
    match alert {
        Some(alert) if visible(ctx, who, &alert).await? => {
            ctx.record(AuditRecord::new(
                what,
                Some(alert.patient_id),
                Outcome::Allowed,
            ));
            Ok(alert)
        }
        _ => Err(ServiceError::NotFound("critical alert")),
    }
}
