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

/// Starts `resultReady(patientId, after)`: authorizes (audited at once) and says what the
/// hub watches for the subscriber, from the event `after` on (see `outbox::start_after`).
pub async fn subscribe_ready(
    ctx: &RequestContext,
    patient_id: Uuid,
    after: Option<Uuid>,
    closer: Option<Arc<CloseSignal>>,
) -> ServiceResult<Watch> {
    let db = ctx.db();
    let decision = authorize_ready(ctx, patient_id).await;
    ctx.flush_audit().await?;
    let access = decision?;
    Ok(Watch {
        audience: Audience::Patient,
        tenant_id: access.tenant_id,
        patient_id: Some(patient_id),
        after: outbox::start_after(db, access.tenant_id, after).await?,
        standing: Standing::Patient(access),
        origin: ctx.origin(),
        closer,
    })
}

/// Starts `resultUpdated(patientId, after)` for a care-team member (audited at once).
pub async fn subscribe_updated(
    ctx: &RequestContext,
    patient_id: Option<Uuid>,
    after: Option<Uuid>,
    closer: Option<Arc<CloseSignal>>,
) -> ServiceResult<Watch> {
    let db = ctx.db();
    let decision = authorize_updated(ctx, patient_id).await;
    ctx.flush_audit().await?;
    let team = decision?;
    let tenant_id = ctx.viewer()?.tenant_id;
    Ok(Watch {
        audience: Audience::CareTeam,
        tenant_id,
        patient_id,
        after: outbox::start_after(db, tenant_id, after).await?,
        standing: Standing::CareTeam(team),
        origin: ctx.origin(),
        closer,
    })
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
