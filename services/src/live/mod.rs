//! Live results for subscriptions: who may subscribe (audited when they do), and the
//! replica's event hub that decides what each committed event shows them (`hub`, `event`).

mod event;
mod hub;
mod shared;

use std::sync::Arc;

use tracing::instrument;
use uuid::Uuid;

pub use hub::{CareTeam, CloseSignal, Counters, Hub, Live, Standing, Subscription, Watch};
pub use shared::SharedResult;

use crate::patients;
use portal_core::access::{self, Access, PatientAccess, Relation, Scope};
use portal_core::audit::{AuditRecord, Outcome};
use portal_core::context::RequestContext;
use portal_core::error::{ServiceError, ServiceResult};
use portal_core::identity::Role;
use portal_messaging::outbox;

/// A FINAL, CORRECTED or ENTERED_IN_ERROR result was stored (patients may see it).
pub const RESULT_RELEASED: &str = "result.released";
/// A PRELIMINARY result was stored (care team only).
pub const RESULT_PRELIMINARY: &str = "result.preliminary";
/// A proxy grant was created (`aggregate_id`: the grant; `patient_id`: the grantor).
pub const PROXY_GRANTED: &str = "proxy.granted";
/// A proxy grant was revoked: subscriptions served under it end at once.
pub const PROXY_REVOKED: &str = "proxy.revoked";

const SUBSCRIBE_READY: Access = Access::read("results.subscribe", "Patient");
const SUBSCRIBE_UPDATED: Access = Access::read("results.subscribe_updates", "Patient");

/// Who a subscription serves, which decides the events it follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// `resultReady`: released results of one patient, as the patient (or proxy) sees them.
    Patient,
    /// `resultUpdated`: every stored result of patients the care-team member may see.
    CareTeam,
}

/// Starts `resultReady(patientId, after)`: authorizes and finds where to start (the event
/// `after`, see `outbox::start_after`) in one request transaction that commits with the
/// audit row, and says what the hub watches for the subscriber. `ctx` is a `Shape::Query`
/// unit of work made for this subscribe alone.
pub async fn subscribe_ready(
    ctx: &RequestContext,
    patient_id: Uuid,
    after: Option<Uuid>,
    closer: Option<Arc<CloseSignal>>,
) -> ServiceResult<Watch> {
    let tenant_id = ctx.viewer()?.tenant_id;
    let decision = authorize_ready(ctx, patient_id).await;
    let (access, after) = start(ctx, decision, tenant_id, after).await?;
    Ok(Watch {
        audience: Audience::Patient,
        tenant_id: access.tenant_id,
        patient_id: Some(patient_id),
        after,
        standing: Standing::Patient(access),
        origin: ctx.origin(),
        closer,
    })
}

/// Starts `resultUpdated(patientId, after)` for a care-team member, in one request
/// transaction like `subscribe_ready`.
pub async fn subscribe_updated(
    ctx: &RequestContext,
    patient_id: Option<Uuid>,
    after: Option<Uuid>,
    closer: Option<Arc<CloseSignal>>,
) -> ServiceResult<Watch> {
    let tenant_id = ctx.viewer()?.tenant_id;
    let decision = authorize_updated(ctx, patient_id).await;
    let (team, after) = start(ctx, decision, tenant_id, after).await?;
    Ok(Watch {
        audience: Audience::CareTeam,
        tenant_id,
        patient_id,
        after,
        standing: Standing::CareTeam(team),
        origin: ctx.origin(),
        closer,
    })
}

/// The rest of a subscribe after its access decision: where it starts (allowed only), then
/// the request's end — its transaction commits with its audit rows, so the decision,
/// allowed or denied, is on the trail before anything is delivered. If that fails the
/// subscription does not start (UNAVAILABLE), as a query's answer would be withheld.
async fn start<T>(
    ctx: &RequestContext,
    decision: ServiceResult<T>,
    tenant_id: Uuid,
    after: Option<Uuid>,
) -> ServiceResult<(T, i64)> {
    let started = match decision {
        Ok(standing) => outbox::start_after(ctx.db(), tenant_id, after)
            .await
            .map(|after| (standing, after)),
        Err(err) => Err(err),
    };
    ctx.finish().await.map_err(|unfinished| {
        tracing::error!(request_id = %ctx.request_id, error = %unfinished.cause, "{}; the subscription does not start", unfinished.what);
        ServiceError::Unavailable(unfinished.what.into())
    })?;
    started
}

/// `resultReady(patientId)`: the viewer must be allowed to see the patient's results.
#[instrument(skip(ctx), fields(request_id = %ctx.request_id))]
pub async fn authorize_ready(
    ctx: &RequestContext,
    patient_id: Uuid,
) -> ServiceResult<PatientAccess> {
    let db = ctx.db();
    let viewer = ctx.viewer()?;
    patients::find_in_tenant(db, viewer.tenant_id, patient_id)
        .await?
        .ok_or(ServiceError::NotFound("patient"))?;
    access::authorize(
        ctx,
        patient_id,
        Scope::Results,
        SUBSCRIBE_READY.entity(patient_id),
    )
    .await
}

/// `resultUpdated(patientId)`: clinicians, lab, staff and admins only; with a patient, the
/// viewer must be on that patient's care team.
#[instrument(skip(ctx), fields(request_id = %ctx.request_id))]
pub async fn authorize_updated(
    ctx: &RequestContext,
    patient_id: Option<Uuid>,
) -> ServiceResult<CareTeam> {
    let db = ctx.db();
    let viewer = ctx.viewer()?;
    let care_team = [Role::Clinician, Role::Lab, Role::Staff, Role::Admin]
        .into_iter()
        .any(|r| viewer.has_role(r));
    if !care_team {
        ctx.record(
            AuditRecord::new(SUBSCRIBE_UPDATED, patient_id, Outcome::Denied)
                .reason("care team only"),
        );
        return Err(ServiceError::Forbidden(
            "result updates are for the care team".into(),
        ));
    }
    let Some(patient_id) = patient_id else {
        ctx.record(AuditRecord::new(SUBSCRIBE_UPDATED, None, Outcome::Allowed));
        return tenant_care_team(ctx).await;
    };
    patients::find_in_tenant(db, viewer.tenant_id, patient_id)
        .await?
        .ok_or(ServiceError::NotFound("patient"))?;
    let access = access::authorize(
        ctx,
        patient_id,
        Scope::Results,
        SUBSCRIBE_UPDATED.entity(patient_id),
    )
    .await?;
    match access.relation {
        Relation::Tenant { full } => Ok(CareTeam::Tenant { full }),
        Relation::Clinician { clinician_id } => Ok(CareTeam::Clinician(clinician_id)),
        Relation::Own | Relation::Proxy { .. } => Err(ServiceError::Forbidden(
            "result updates are for the care team".into(),
        )),
    }
}

/// How a care-team member's tenant-wide `resultUpdated` decides each event's patient.
async fn tenant_care_team(ctx: &RequestContext) -> ServiceResult<CareTeam> {
    let viewer = ctx.viewer()?;
    if viewer.is_tenant_wide() {
        let full = viewer.has_role(Role::Staff) || viewer.has_role(Role::Admin);
        return Ok(CareTeam::Tenant { full });
    }
    match access::clinician_id(ctx).await? {
        Some(id) => Ok(CareTeam::Clinician(id)),
        None => Err(ServiceError::Forbidden(
            "result updates are for the care team".into(),
        )),
    }
}
