//! Live results for subscriptions: who may subscribe, and what each committed event shows
//! a subscriber (access and release policy re-checked per event, every read audited).

use portal_entities::test_result;
use portal_subscriptions::Event;
use tracing::instrument;
use uuid::Uuid;

use crate::patients;
use crate::results::{self, Visibility};
use portal_core::access::{self, Access, PatientAccess, Scope};
use portal_core::audit::{AuditRecord, Outcome};
use portal_core::context::{RequestContext, Unfinished};
use portal_core::error::{ServiceError, ServiceResult};
use portal_core::identity::Role;
use portal_messaging::outbox::{self, Follow};

/// A FINAL, CORRECTED or ENTERED_IN_ERROR result was stored (patients may see it).
pub const RESULT_RELEASED: &str = "result.released";
/// A PRELIMINARY result was stored (care team only).
pub const RESULT_PRELIMINARY: &str = "result.preliminary";

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

/// Starts `resultReady(patientId, after)`: authorizes (audited at once) and says which
/// events to follow, from the event `after` on (see `outbox::start_after`).
pub async fn subscribe_ready(
    ctx: &RequestContext,
    patient_id: Uuid,
    after: Option<Uuid>,
) -> ServiceResult<Follow> {
    let db = ctx.db();
    let decision = authorize_ready(ctx, patient_id).await;
    ctx.flush_audit().await?;
    let access = decision?;
    Ok(Follow {
        tenant_id: access.tenant_id,
        patient_id: Some(patient_id),
        after: outbox::start_after(db, access.tenant_id, after).await?,
    })
}

/// Starts `resultUpdated(patientId, after)` for a care-team member (audited at once).
pub async fn subscribe_updated(
    ctx: &RequestContext,
    patient_id: Option<Uuid>,
    after: Option<Uuid>,
) -> ServiceResult<Follow> {
    let db = ctx.db();
    let decision = authorize_updated(ctx, patient_id).await;
    ctx.flush_audit().await?;
    decision?;
    let tenant_id = ctx.viewer()?.tenant_id;
    Ok(Follow {
        tenant_id,
        patient_id,
        after: outbox::start_after(db, tenant_id, after).await?,
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
) -> ServiceResult<()> {
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
        return Ok(());
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
    if access.is_patient_facing() {
        return Err(ServiceError::Forbidden(
            "result updates are for the care team".into(),
        ));
    }
    Ok(())
}

/// The result an event announces, read as the subscriber under `ctx`, a fresh unit of work
/// per event (so a revoked or expired grant is noticed), with the read audited before it is
/// returned. `None` when the event is not for this audience or the release policy withholds
/// the result (PRELIMINARY or held sensitive results for patients). FORBIDDEN means the
/// viewer lost access.
#[instrument(skip(ctx, event), fields(request_id = %ctx.request_id, event_id = %event.id))]
pub async fn result_for_event(
    ctx: &RequestContext,
    event: &Event,
    audience: Audience,
) -> ServiceResult<Option<(Visibility, test_result::Model)>> {
    let viewer = ctx.viewer()?;
    let wanted = match audience {
        Audience::Patient => event.event_type == RESULT_RELEASED,
        Audience::CareTeam => {
            event.event_type == RESULT_RELEASED || event.event_type == RESULT_PRELIMINARY
        }
    };
    if !wanted || event.tenant_id != viewer.tenant_id {
        return Ok(None);
    }
    if viewer.is_expired() {
        // The token was valid when the subscription started; it is not any more.
        return Err(ServiceError::Unauthenticated(
            "the token has expired".into(),
        ));
    }
    if audience == Audience::CareTeam && !on_care_team(ctx, event).await? {
        // Events of patients the viewer does not treat are not theirs: skipped unaudited,
        // like rows a list query filters out.
        return Ok(None);
    }
    let read = results::get(ctx, event.aggregate_id).await;
    let finished = ctx.finish().await;
    match read {
        Ok(found) => {
            finished.map_err(unfinished)?;
            Ok(Some(found))
        }
        Err(ServiceError::NotFound(_)) => finished.map(|_| None).map_err(unfinished),
        Err(err) => {
            if let Err(why) = finished {
                tracing::error!(error = %why.cause, "{}", why.what);
            }
            Err(err)
        }
    }
}

fn unfinished(why: Unfinished) -> ServiceError {
    ServiceError::Unavailable(format!("{}: {}", why.what, why.cause).into())
}

async fn on_care_team(ctx: &RequestContext, event: &Event) -> ServiceResult<bool> {
    let Some(patient_id) = event.patient_id else {
        return Ok(false);
    };
    let relation = access::relation(ctx, patient_id).await?;
    Ok(relation.is_some_and(|r| !r.is_patient_facing() && r.allows(Scope::Results)))
}
