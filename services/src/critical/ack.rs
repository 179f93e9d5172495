//! `acknowledgeCriticalResult`: the addressee (now or at an earlier step) records that they
//! took the critical value, with the read-back they gave; audited, idempotent, and it stops
//! the escalation (a step that loses the race sends nothing).

use portal_core::access::Access;
use portal_core::audit::{AuditRecord, Outcome};
use portal_core::context::RequestContext;
use portal_core::error::{ServiceError, ServiceResult};
use portal_entities::{CriticalAlertStatus, critical_alert};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter};
use tracing::instrument;
use uuid::Uuid;

use super::{Reader, addressees, reader};
use crate::ingest::critical::event_row;

const ACK: Access = Access::write("critical_alert.acknowledge", "CriticalAlert");
pub const ALERT_ACKNOWLEDGED: &str = "critical.acknowledged";
const MAX_READ_BACK: usize = 2_000;

/// Acknowledges an alert as the viewing clinician. Acknowledging it again returns it as it
/// was acknowledged; a closed alert is a CONFLICT; someone it was never addressed to is
/// FORBIDDEN (another tenant's alert is NOT_FOUND).
#[instrument(skip(ctx, read_back), fields(request_id = %ctx.request_id))]
pub async fn acknowledge(
    ctx: &RequestContext,
    alert_id: Uuid,
    read_back: &str,
) -> ServiceResult<critical_alert::Model> {
    let what = ACK.entity(alert_id);
    let read_back = read_back.trim();
    if read_back.is_empty() || read_back.chars().count() > MAX_READ_BACK {
        return Err(ctx.failed(
            what,
            None,
            ServiceError::bad_input(
                "readBack",
                "the read-back of 1 to 2000 characters is required",
            ),
        ));
    }
    portal_core::text::check("readBack", read_back).map_err(|e| ctx.failed(what, None, e))?;
    let viewer = ctx.viewer()?;
    let tenant = viewer.tenant_id;
    let subject = viewer.subject.clone();
    let work = ctx.begin_write().await?;
    let me = match reader(&work, what).await? {
        Reader::Clinician(me) => me,
        Reader::Staff => {
            ctx.record(AuditRecord::new(what, None, Outcome::Denied).reason("not a clinician"));
            return Err(ServiceError::Forbidden(
                "only a clinician the alert was addressed to acknowledges it".into(),
            ));
        }
    };
    let alert = critical_alert::Entity::find_by_id(alert_id)
        .filter(critical_alert::Column::TenantId.eq(tenant))
        .one(work.txn())
        .await?
        .ok_or(ServiceError::NotFound("critical alert"))?;
    let patient = Some(alert.patient_id);
    if !addressees(work.txn(), &alert).await?.contains(&me) {
        ctx.record(AuditRecord::new(what, patient, Outcome::Denied).reason("not an addressee"));
        return Err(ServiceError::Forbidden(
            "only a clinician the alert was addressed to acknowledges it".into(),
        ));
    }
    match alert.status {
        CriticalAlertStatus::Acknowledged => {
            ctx.record(
                AuditRecord::new(what, patient, Outcome::Allowed).reason("already acknowledged"),
            );
            return Ok(alert);
        }
        CriticalAlertStatus::Closed => {
            return Err(ctx.failed(
                what,
                patient,
                ServiceError::Conflict(
                    "the alert was closed: the value is no longer critical".into(),
                ),
            ));
        }
        CriticalAlertStatus::Open => {}
    }
    let now = portal_core::clock::now();
    // Only an open alert changes: an escalation step committed meanwhile leaves it open
    // (at a later step, whose earlier addressee this clinician still is).
    let changed = critical_alert::Entity::update_many()
        .col_expr(
            critical_alert::Column::Status,
            Expr::value(CriticalAlertStatus::Acknowledged),
        )
        .col_expr(critical_alert::Column::AcknowledgedAt, Expr::value(now))
        .col_expr(
            critical_alert::Column::AcknowledgedByClinicianId,
            Expr::value(me),
        )
        .col_expr(
            critical_alert::Column::AcknowledgedBySubject,
            Expr::value(subject.as_str()),
        )
        .col_expr(critical_alert::Column::ReadBack, Expr::value(read_back))
        .col_expr(critical_alert::Column::UpdatedAt, Expr::value(now))
        .filter(critical_alert::Column::TenantId.eq(tenant))
        .filter(critical_alert::Column::Id.eq(alert_id))
        .filter(critical_alert::Column::Status.eq(CriticalAlertStatus::Open))
        .exec(work.txn())
        .await?
        .rows_affected;
    let current = critical_alert::Entity::find_by_id(alert_id)
        .filter(critical_alert::Column::TenantId.eq(tenant))
        .one(work.txn())
        .await?
        .ok_or(ServiceError::NotFound("critical alert"))?;
    if changed == 1 {
        critical_alert_event(&work, &current).await?;
    }
    work.commit().await?;
    ctx.record(AuditRecord::new(what, patient, Outcome::Allowed));
    Ok(current)
}

async fn critical_alert_event(
    work: &portal_core::context::Writing<'_>,
    alert: &critical_alert::Model,
) -> ServiceResult<()> {
    portal_entities::outbox_event::Entity::insert(
        event_row(alert, ALERT_ACKNOWLEDGED).into_active_model(),
    )
    .exec_without_returning(work.txn())
    .await?;
    Ok(())
}
