//! Reading a patient's appointments.

use chrono::{DateTime, Utc};
use portal_entities::{AppointmentKind, AppointmentStatus, appointment};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, Order, QueryFilter};
use tracing::instrument;
use uuid::Uuid;

use crate::access::{self, Access, PatientAccess, Scope};
use crate::context::RequestContext;
use crate::error::{ServiceError, ServiceResult};
use crate::pagination::{Keyset, Page, PageRequest};

const LIST: Access = Access::read("appointments.list", "Appointment");

/// The filters of `Patient.appointments`: an interval on the start time, status and kind.
#[derive(Debug, Clone, Default)]
pub struct AppointmentFilter {
    pub statuses: Option<Vec<AppointmentStatus>>,
    pub kind: Option<AppointmentKind>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// A patient's appointments in start order (earliest first).
#[instrument(skip(db, ctx, filter, page), fields(request_id = %ctx.request_id))]
pub async fn list<C: ConnectionTrait>(
    db: &C,
    ctx: &RequestContext,
    patient_id: Uuid,
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
    let access = access::authorize(db, ctx, patient_id, Scope::Appointments, LIST).await?;
    let mut select = appointment::Entity::find()
        .filter(appointment::Column::TenantId.eq(access.tenant_id))
        .filter(appointment::Column::PatientId.eq(patient_id));
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
    let after_key = page
        .after
        .as_ref()
        .map(|c| c.time())
        .transpose()?
        .map(Into::into);
    let keyset = Keyset {
        key: appointment::Column::StartsAt,
        id: appointment::Column::Id,
        order: Order::Asc,
    };
    Ok((access, keyset.fetch(select, page, after_key, db).await?))
}
