//! Appointments: reading a patient's appointments here, booking and cancelling them
//! (`booking`), and keeping them in step with an external scheduling system (`scheduling`).

pub mod booking;
pub mod scheduling;

use chrono::{DateTime, Utc};
use portal_entities::{AppointmentKind, AppointmentStatus, appointment};
use sea_orm::{ColumnTrait, EntityTrait, Order, QueryFilter};
use tracing::instrument;

use crate::times::Within;

use portal_core::access::{self, Access, PatientAccess, Scope};
use portal_core::context::RequestContext;
use portal_core::error::{ServiceError, ServiceResult};
use portal_core::pagination::{KeyKind, Keyset, Page, PageRequest, PatientList};

const LIST: Access = Access::read("appointments.list", "Appointment");

/// The filters of `Patient.appointments`: an interval on the start time, status and kind.
#[derive(Debug, Clone, Default)]
pub struct AppointmentFilter {
    pub statuses: Option<Vec<AppointmentStatus>>,
    pub kind: Option<AppointmentKind>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Conditions on the appointment's times, all of them met.
    pub within: Vec<Within<appointment::Column>>,
}

/// A patient's appointments in start order (earliest first).
#[instrument(skip(ctx, parent, filter, page), fields(request_id = %ctx.request_id))]
pub async fn list(
    ctx: &RequestContext,
    parent: &PatientAccess,
    filter: &AppointmentFilter,
    page: &PageRequest,
) -> ServiceResult<(PatientAccess, Page<appointment::Model>)> {
    if let (Some(from), Some(to)) = (filter.from, filter.to)
        && from > to
    {
        return Err(ServiceError::bad_input(
            "filter.from",
            "from must not be after to",
        ));
    }
    let access = access::confirm(ctx, parent, Scope::Appointments, LIST)?;
    let mut select = appointment::Entity::find();
    if let Some(statuses) = &filter.statuses {
        select = select.filter(appointment::Column::Status.is_in(statuses.iter().copied()));
    }
    if let Some(kind) = filter.kind {
        select = select.filter(appointment::Column::Kind.eq(kind));
    }
    if let Some(from) = filter.from {
        select = select.filter(appointment::Column::StartsAt.gte(from));
    }
    if let Some(to) = filter.to {
        select = select.filter(appointment::Column::StartsAt.lte(to));
    }
    for within in &filter.within {
        select = select.filter(within.condition());
    }
    let list = PatientList {
        tenant: appointment::Column::TenantId,
        patient: appointment::Column::PatientId,
        sort: Keyset {
            key: appointment::Column::StartsAt,
            id: appointment::Column::Id,
            kind: KeyKind::Time,
            order: Order::Asc,
        },
    };
    let rows = list.fetch(ctx.db(), &access, select, page).await?;
    Ok((access, rows))
}
