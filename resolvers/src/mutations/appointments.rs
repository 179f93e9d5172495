//! Mutations on appointments: booking and cancelling.

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use portal_services::appointments::booking;

use crate::context::request;
use crate::error::GqlResult;
use crate::ids::{NodeType, decode};
use crate::types::enums::AppointmentKind;
use crate::types::order::Appointment;

#[derive(Default)]
pub struct AppointmentMutation;

#[derive(InputObject)]
pub struct BookAppointmentInput {
    /// A Facility of the organisation.
    pub facility_id: ID,
    /// A Clinician of the organisation, if the visit is with someone in particular.
    pub clinician_id: Option<ID>,
    pub kind: AppointmentKind,
    /// In the future.
    pub starts_at: DateTime<Utc>,
    /// After `startsAt`, at most 8 hours later.
    pub ends_at: DateTime<Utc>,
    /// At most 500 characters.
    pub reason: Option<String>,
}

#[derive(SimpleObject)]
pub struct BookAppointmentPayload {
    pub appointment: Appointment,
}

#[derive(SimpleObject)]
pub struct CancelAppointmentPayload {
    pub appointment: Appointment,
}

#[Object]
impl AppointmentMutation {
    /// Books an appointment (the patient, a proxy with APPOINTMENTS, or the care team).
    /// A booking that overlaps one the patient already has is a CONFLICT, so repeating the
    /// call never books twice.
    async fn book_appointment(
        &self,
        ctx: &Context<'_>,
        patient_id: ID,
        input: BookAppointmentInput,
    ) -> Result<BookAppointmentPayload> {
        let patient_id = decode(&patient_id, NodeType::Patient, "patientId").gql()?;
        let clinician_id = input
            .clinician_id
            .as_ref()
            .map(|id| decode(id, NodeType::Clinician, "input.clinicianId"))
            .transpose()
            .gql()?;
        let input = booking::BookingInput {
            facility_id: decode(&input.facility_id, NodeType::Facility, "input.facilityId")
                .gql()?,
            clinician_id,
            kind: input.kind.into(),
            starts_at: input.starts_at,
            ends_at: input.ends_at,
            reason: input.reason,
        };
        let (access, model) = booking::book(request(ctx)?, patient_id, &input)
            .await
            .gql()?;
        Ok(BookAppointmentPayload {
            appointment: Appointment::new(model, access),
        })
    }

    /// Cancels a BOOKED appointment; anything else is a CONFLICT.
    async fn cancel_appointment(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: Option<String>,
    ) -> Result<CancelAppointmentPayload> {
        let id = decode(&id, NodeType::Appointment, "id").gql()?;
        let (access, model) = booking::cancel(request(ctx)?, id, reason.as_deref())
            .await
            .gql()?;
        Ok(CancelAppointmentPayload {
            appointment: Appointment::new(model, access),
        })
    }
}
