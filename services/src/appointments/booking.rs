//! Booking and cancelling appointments (patients, their proxies with APPOINTMENTS, the care team).

use chrono::{DateTime, Duration, Utc};
use portal_entities::{AppointmentKind, AppointmentStatus, appointment, clinician, facility};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter,
};
use tracing::instrument;
use uuid::Uuid;

use crate::patients;
use portal_core::access::{self, Access, PatientAccess, Scope};
use portal_core::audit;
use portal_core::context::RequestContext;
use portal_core::error::{ServiceError, ServiceResult};

const BOOK: Access = Access::write("appointment.book", "Appointment");
const CANCEL: Access = Access::write("appointment.cancel", "Appointment");

/// The longest appointment that can be booked.
pub const MAX_LENGTH: Duration = Duration::hours(8);
const MAX_REASON: usize = 500;

/// The fields of `bookAppointment`.
#[derive(Debug, Clone)]
pub struct BookingInput {
    pub facility_id: Uuid,
    pub clinician_id: Option<Uuid>,
    pub kind: AppointmentKind,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub reason: Option<String>,
}

impl BookingInput {
    fn validate(&self, now: DateTime<Utc>) -> ServiceResult<()> {
        if self.starts_at <= now {
            return Err(ServiceError::bad_input(
                "input.startsAt",
                "the appointment must start in the future",
            ));
        }
        self.validate_times_and_reason()
    }

    /// The rules every appointment keeps, also one a scheduling system reports afterwards
    /// (which may lie in the past): it ends after it starts, within 8 hours, with a short reason.
    pub(crate) fn validate_times_and_reason(&self) -> ServiceResult<()> {
        if self.ends_at <= self.starts_at {
            return Err(ServiceError::bad_input(
                "input.endsAt",
                "the appointment must end after it starts",
            ));
        }
        if self.ends_at - self.starts_at > MAX_LENGTH {
            return Err(ServiceError::bad_input(
                "input.endsAt",
                "an appointment lasts at most 8 hours",
            ));
        }
        reason("input.reason", self.reason.as_deref())
    }
}

fn reason(field: &str, reason: Option<&str>) -> ServiceResult<()> {
    if reason.is_some_and(|r| r.chars().count() > MAX_REASON) {
        return Err(ServiceError::bad_input(
            field,
            format!("at most {MAX_REASON} characters"),
        ));
    }
    reason.map_or(Ok(()), |r| portal_core::text::check(field, r))
}

/// Books an appointment; one that overlaps another BOOKED appointment of the patient is a CONFLICT.
#[instrument(skip(ctx, input), fields(request_id = %ctx.request_id))]
pub async fn book(
    ctx: &RequestContext,
    patient_id: Uuid,
    input: &BookingInput,
) -> ServiceResult<(PatientAccess, appointment::Model)> {
    let db = ctx.db();
    let (access, _) = patients::authorize_write(ctx, patient_id, Scope::Appointments, BOOK).await?;
    let tenant_id = access.tenant_id;
    let fail = |e| ctx.failed(BOOK, Some(patient_id), e);
    let now = portal_core::clock::now();
    input.validate(now).map_err(fail)?;
    check_places(db, tenant_id, input).await.map_err(fail)?;
    let row = appointment::Model {
        id: Uuid::now_v7(),
        tenant_id,
        patient_id,
        facility_id: input.facility_id,
        clinician_id: input.clinician_id,
        kind: input.kind,
        starts_at: input.starts_at,
        ends_at: input.ends_at,
        status: AppointmentStatus::Booked,
        reason: input.reason.as_deref().map(str::trim).map(str::to_owned),
        created_at: now,
        cancelled_at: None,
        external_id: None,
        order_number: None,
    };
    let txn = portal_core::db::begin_write(db).await?;
    patients::lock(&txn, tenant_id, patient_id).await?;
    if overlaps(&txn, &row).await? {
        return Err(fail(ServiceError::Conflict(
            "the patient already has an appointment booked at that time".into(),
        )));
    }
    appointment::Entity::insert(row.clone().into_active_model())
        .exec_without_returning(&txn)
        .await?;
    txn.commit().await?;
    Ok((access, row))
}

/// The facility and clinician must be of the viewer's organisation.
pub(crate) async fn check_places<C: ConnectionTrait>(
    db: &C,
    tenant_id: Uuid,
    input: &BookingInput,
) -> ServiceResult<()> {
    let facilities = facility::Entity::find_by_id(input.facility_id)
        .filter(facility::Column::TenantId.eq(tenant_id))
        .count(db)
        .await?;
    if facilities == 0 {
        return Err(ServiceError::bad_input(
            "input.facilityId",
            "no such facility",
        ));
    }
    if let Some(clinician_id) = input.clinician_id {
        let clinicians = clinician::Entity::find_by_id(clinician_id)
            .filter(clinician::Column::TenantId.eq(tenant_id))
            .count(db)
            .await?;
        if clinicians == 0 {
            return Err(ServiceError::bad_input(
                "input.clinicianId",
                "no such clinician",
            ));
        }
    }
    Ok(())
}

async fn overlaps<C: ConnectionTrait>(db: &C, row: &appointment::Model) -> ServiceResult<bool> {
    let count = appointment::Entity::find()
        .filter(appointment::Column::TenantId.eq(row.tenant_id))
        .filter(appointment::Column::PatientId.eq(row.patient_id))
        .filter(appointment::Column::Status.eq(AppointmentStatus::Booked))
        .filter(appointment::Column::StartsAt.lt(row.ends_at))
        .filter(appointment::Column::EndsAt.gt(row.starts_at))
        .count(db)
        .await?;
    Ok(count > 0)
}

/// Cancels a BOOKED appointment (anything else is a CONFLICT). The reason goes to the audit trail.
#[instrument(skip(ctx, why), fields(request_id = %ctx.request_id))]
pub async fn cancel(
    ctx: &RequestContext,
    appointment_id: Uuid,
    why: Option<&str>,
) -> ServiceResult<(PatientAccess, appointment::Model)> {
    let db = ctx.db();
    let tenant_id = ctx.viewer()?.tenant_id;
    let mut row = appointment::Entity::find_by_id(appointment_id)
        .filter(appointment::Column::TenantId.eq(tenant_id))
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("appointment"))?;
    let what = CANCEL.entity(appointment_id);
    let access = access::authorize(ctx, row.patient_id, Scope::Appointments, what).await?;
    let fail = |e| ctx.failed(what, Some(row.patient_id), e);
    reason("reason", why).map_err(fail)?;
    let not_booked = || ServiceError::Conflict("only a BOOKED appointment can be cancelled".into());
    if row.status != AppointmentStatus::Booked {
        return Err(fail(not_booked()));
    }
    let now = portal_core::clock::now();
    let updated = appointment::Entity::update_many()
        .col_expr(
            appointment::Column::Status,
            AppointmentStatus::Cancelled.into(),
        )
        .col_expr(appointment::Column::CancelledAt, now.into())
        .filter(appointment::Column::Id.eq(appointment_id))
        .filter(appointment::Column::Status.eq(AppointmentStatus::Booked))
        .exec(db)
        .await?;
    if updated.rows_affected == 0 {
        return Err(fail(not_booked()));
    }
    if let Some(why) = why.map(str::trim).filter(|w| !w.is_empty()) {
        ctx.record(
            audit::AuditRecord::new(what, Some(row.patient_id), audit::Outcome::Allowed)
                .reason(&format!("cancelled: {why}")),
        );
    }
    row.status = AppointmentStatus::Cancelled;
    row.cancelled_at = Some(now);
    Ok((access, row))
}
