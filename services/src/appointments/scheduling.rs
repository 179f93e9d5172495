//! Appointments kept in step with an external scheduling system (HL7 SIU): booked,
//! rescheduled, modified, cancelled or marked no-show by the system's appointment id. The
//! booking rules apply (`booking`), except that the system may report the past.

use portal_entities::{AppointmentStatus, appointment, test_order};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter,
};
use tracing::instrument;
use uuid::Uuid;

use super::booking::{self, BookingInput};
use crate::patients;
use portal_core::access::{Access, Scope};
use portal_core::audit::{AuditRecord, Outcome};
use portal_core::context::RequestContext;
use portal_core::error::{ServiceError, ServiceResult};

const SYNC: Access = Access::write("appointment.sync", "Appointment");

/// An appointment as the scheduling system describes it.
#[derive(Debug, Clone)]
pub struct ExternalAppointment {
    /// The scheduling system's appointment id (SCH-2).
    pub external_id: String,
    pub patient_id: Uuid,
    pub booking: BookingInput,
    /// The placer order number the appointment is for (SCH-26): orders of the patient with
    /// that number are linked to it.
    pub order_number: Option<String>,
}

/// What a sync did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synced {
    Created,
    Updated,
    Unchanged,
}

/// The appointment with this external id, if any (writers only).
pub async fn find_external(
    ctx: &RequestContext,
    external_id: &str,
) -> ServiceResult<Option<appointment::Model>> {
    let tenant = writer(ctx)?;
    Ok(appointment::Entity::find()
        .filter(appointment::Column::TenantId.eq(tenant))
        .filter(appointment::Column::ExternalId.eq(external_id.to_owned()))
        .one(ctx.db())
        .await?)
}

/// Creates the appointment (`create_if_missing`) or updates its time, place, kind and
/// reason; links the patient's orders named by `order_number`. A BOOKED appointment stays
/// BOOKED; updating a cancelled one is a CONFLICT. Audited.
#[instrument(skip(ctx, input), fields(request_id = %ctx.request_id))]
pub async fn sync(
    ctx: &RequestContext,
    input: &ExternalAppointment,
    create_if_missing: bool,
) -> ServiceResult<(appointment::Model, Synced)> {
    let tenant = writer(ctx)?;
    let what = SYNC;
    let fail = |e| ctx.failed(what, Some(input.patient_id), e);
    input.booking.validate_times_and_reason().map_err(fail)?;
    if input.external_id.trim().is_empty() || input.external_id.len() > 200 {
        return Err(fail(ServiceError::bad_input(
            "externalId",
            "1 to 200 characters",
        )));
    }
    let work = ctx.begin_write().await?;
    let txn = work.txn();
    patients::authorize_write(&work, input.patient_id, Scope::Appointments, what).await?;
    booking::check_places(txn, tenant, &input.booking)
        .await
        .map_err(fail)?;
    let existing = appointment::Entity::find()
        .filter(appointment::Column::TenantId.eq(tenant))
        .filter(appointment::Column::ExternalId.eq(input.external_id.clone()))
        .one(txn)
        .await?;
    let b = &input.booking;
    let reason = b.reason.as_deref().map(str::trim).map(str::to_owned);
    let (row, synced) = match existing {
        None if !create_if_missing => {
            return Err(fail(ServiceError::NotFound("appointment")));
        }
        None => {
            let row = appointment::Model {
                id: Uuid::now_v7(),
                tenant_id: tenant,
                patient_id: input.patient_id,
                facility_id: b.facility_id,
                clinician_id: b.clinician_id,
                kind: b.kind,
                starts_at: b.starts_at,
                ends_at: b.ends_at,
                status: AppointmentStatus::Booked,
                reason,
                created_at: portal_core::clock::now(),
                cancelled_at: None,
                external_id: Some(input.external_id.clone()),
                order_number: input.order_number.clone(),
            };
            (row.into_active_model().insert(txn).await?, Synced::Created)
        }
        Some(row) if row.patient_id != input.patient_id => {
            return Err(fail(ServiceError::Conflict(
                "this appointment id belongs to another patient".into(),
            )));
        }
        Some(row) if row.status != AppointmentStatus::Booked => {
            return Err(fail(ServiceError::Conflict(
                "only a BOOKED appointment can be changed".into(),
            )));
        }
        Some(row) => {
            let same = row.facility_id == b.facility_id
                && row.clinician_id == b.clinician_id
                && row.kind == b.kind
                && row.starts_at == b.starts_at
                && row.ends_at == b.ends_at
                && row.reason == reason
                && row.order_number == input.order_number;
            if same {
                (row, Synced::Unchanged)
            } else {
                let mut active = row.into_active_model();
                active.facility_id = Set(b.facility_id);
                active.clinician_id = Set(b.clinician_id);
                active.kind = Set(b.kind);
                active.starts_at = Set(b.starts_at);
                active.ends_at = Set(b.ends_at);
                active.reason = Set(reason);
                active.order_number = Set(input.order_number.clone());
                (active.update(txn).await?, Synced::Updated)
            }
        }
    };
    if let Some(number) = &row.order_number {
        test_order::Entity::update_many()
            .col_expr(test_order::Column::AppointmentId, Expr::value(Some(row.id)))
            .filter(test_order::Column::TenantId.eq(tenant))
            .filter(test_order::Column::PatientId.eq(row.patient_id))
            .filter(test_order::Column::PlacerOrderNumber.eq(number.clone()))
            .filter(test_order::Column::AppointmentId.is_null())
            .exec(txn)
            .await?;
    }
    work.commit().await?;
    if synced != Synced::Unchanged {
        ctx.record(AuditRecord::new(
            what.entity(row.id),
            Some(row.patient_id),
            Outcome::Allowed,
        ));
    }
    Ok((row, synced))
}

/// Moves a BOOKED appointment to CANCELLED or NO_SHOW; one already there is unchanged;
/// any other move is a CONFLICT. Audited.
#[instrument(skip(ctx), fields(request_id = %ctx.request_id))]
pub async fn set_status(
    ctx: &RequestContext,
    external_id: &str,
    status: AppointmentStatus,
) -> ServiceResult<(appointment::Model, Synced)> {
    let tenant = writer(ctx)?;
    if !matches!(
        status,
        AppointmentStatus::Cancelled | AppointmentStatus::NoShow
    ) {
        return Err(ServiceError::bad_input("status", "CANCELLED or NO_SHOW"));
    }
    let work = ctx.begin_write().await?;
    let txn = work.txn();
    let row = appointment::Entity::find()
        .filter(appointment::Column::TenantId.eq(tenant))
        .filter(appointment::Column::ExternalId.eq(external_id.to_owned()))
        .one(txn)
        .await?
        .ok_or(ServiceError::NotFound("appointment"))?;
    let what = SYNC.entity(row.id);
    patients::authorize_write(&work, row.patient_id, Scope::Appointments, what).await?;
    if row.status == status {
        return Ok((row, Synced::Unchanged));
    }
    if row.status != AppointmentStatus::Booked {
        return Err(ctx.failed(
            what,
            Some(row.patient_id),
            ServiceError::Conflict("only a BOOKED appointment can be cancelled or missed".into()),
        ));
    }
    let patient_id = row.patient_id;
    let mut active = row.into_active_model();
    active.status = Set(status);
    if status == AppointmentStatus::Cancelled {
        active.cancelled_at = Set(Some(portal_core::clock::now()));
    }
    let row = active.update(txn).await?;
    work.commit().await?;
    ctx.record(
        AuditRecord::new(what, Some(patient_id), Outcome::Allowed).reason(status_label(status)),
    );
    Ok((row, Synced::Updated))
}

/// The patient's appointment booked for the placer order `number`, if any.
pub async fn appointment_for_order(
    ctx: &RequestContext,
    patient_id: Uuid,
    number: &str,
) -> ServiceResult<Option<Uuid>> {
    let tenant = writer(ctx)?;
    Ok(appointment::Entity::find()
        .filter(appointment::Column::TenantId.eq(tenant))
        .filter(appointment::Column::PatientId.eq(patient_id))
        .filter(appointment::Column::OrderNumber.eq(number.to_owned()))
        .one(ctx.db())
        .await?
        .map(|a| a.id))
}

fn status_label(status: AppointmentStatus) -> &'static str {
    match status {
        AppointmentStatus::Cancelled => "cancelled by the scheduling system",
        AppointmentStatus::NoShow => "no-show reported by the scheduling system",
        _ => "changed by the scheduling system",
    }
}

/// Only the tenant-wide roles (lab, staff, admin: an interface) sync appointments.
fn writer(ctx: &RequestContext) -> ServiceResult<Uuid> {
    let viewer = ctx.viewer()?;
    if viewer.is_tenant_wide() {
        return Ok(viewer.tenant_id);
    }
    ctx.record(
        AuditRecord::new(SYNC, None, Outcome::Denied).reason("role may not sync appointments"),
    );
    Err(ServiceError::Forbidden(
        "only scheduling interfaces and staff sync appointments".into(),
    ))
}
