//! Test orders and appointments as the API shows them.

use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};
use portal_core::access::{PatientAccess, Scope};
use portal_entities::{appointment, test_order};
use portal_services::ServiceError;
use portal_services::results::Visibility;

use super::catalog::TestCatalogItem;
use super::common::{Clinician, Facility};
use super::enums::{AppointmentKind, AppointmentStatus, OrderSource, OrderStatus};
use super::result::TestResult;
use crate::context::{loader, request};
use crate::error::{GqlResult, to_gql};
use crate::ids::{NodeType, encode};
use crate::loaders::{
    AppointmentById, CatalogById, ClinicianById, FacilityById, OrdersOfAppointment, ResultsOfOrder,
};

/// An order for a test, from the portal, a walk-in visit or a referral.
pub struct TestOrder {
    model: test_order::Model,
    vis: Visibility,
}

impl TestOrder {
    pub fn new(model: test_order::Model, vis: Visibility) -> Self {
        Self { model, vis }
    }
}

#[Object]
impl TestOrder {
    pub async fn id(&self) -> ID {
        encode(NodeType::TestOrder, self.model.id)
    }
    async fn status(&self) -> OrderStatus {
        self.model.status.into()
    }
    async fn source(&self) -> OrderSource {
        self.model.source.into()
    }
    async fn ordered_at(&self) -> DateTime<Utc> {
        self.model.ordered_at
    }
    async fn accession_number(&self) -> Option<&str> {
        self.model.accession_number.as_deref()
    }
    async fn test(&self, ctx: &Context<'_>) -> Result<Option<TestCatalogItem>> {
        let row = loader(ctx)?
            .load_one(CatalogById(self.model.test_id))
            .await
            .gql()?;
        Ok(row.map(TestCatalogItem))
    }
    async fn facility(&self, ctx: &Context<'_>) -> Result<Option<Facility>> {
        let row = loader(ctx)?
            .load_one(FacilityById(self.model.facility_id))
            .await
            .gql()?;
        Ok(row.map(Facility))
    }
    async fn ordering_clinician(&self, ctx: &Context<'_>) -> Result<Option<Clinician>> {
        clinician(ctx, self.model.ordering_clinician_id).await
    }
    /// The referring doctor (refdoc) of a referral order.
    async fn referring_clinician(&self, ctx: &Context<'_>) -> Result<Option<Clinician>> {
        clinician(ctx, self.model.referring_clinician_id).await
    }
    async fn appointment(&self, ctx: &Context<'_>) -> Result<Option<Appointment>> {
        let Some(id) = self.model.appointment_id else {
            return Ok(None);
        };
        if !self.vis.access.relation.allows(Scope::Appointments) {
            return Ok(None);
        }
        let row = loader(ctx)?.load_one(AppointmentById(id)).await.gql()?;
        Ok(row.map(|a| Appointment::new(a, self.vis.access.clone())))
    }
    /// The current version of each result of this order the viewer may see.
    async fn results(&self, ctx: &Context<'_>) -> Result<Vec<TestResult>> {
        let rows = loader(ctx)?
            .load_one(ResultsOfOrder(self.model.id))
            .await
            .gql()?
            .unwrap_or_default();
        let replaced: Vec<_> = rows.iter().filter_map(|r| r.replaces_result_id).collect();
        Ok(rows
            .into_iter()
            .filter(|r| !replaced.contains(&r.id) && self.vis.shows_version(r))
            .map(|r| TestResult::new(r, self.vis.clone()))
            .collect())
    }
}

async fn clinician(ctx: &Context<'_>, id: Option<uuid::Uuid>) -> Result<Option<Clinician>> {
    let Some(id) = id else { return Ok(None) };
    let row = loader(ctx)?.load_one(ClinicianById(id)).await.gql()?;
    Ok(row.map(Clinician))
}

/// A booked visit: a lab draw, an imaging study or a consultation.
pub struct Appointment {
    model: appointment::Model,
    access: PatientAccess,
}

impl Appointment {
    pub fn new(model: appointment::Model, access: PatientAccess) -> Self {
        Self { model, access }
    }
}

#[Object]
impl Appointment {
    pub async fn id(&self) -> ID {
        encode(NodeType::Appointment, self.model.id)
    }
    async fn kind(&self) -> AppointmentKind {
        self.model.kind.into()
    }
    async fn status(&self) -> AppointmentStatus {
        self.model.status.into()
    }
    async fn starts_at(&self) -> DateTime<Utc> {
        self.model.starts_at
    }
    async fn ends_at(&self) -> DateTime<Utc> {
        self.model.ends_at
    }
    async fn reason(&self) -> Option<&str> {
        self.model.reason.as_deref()
    }
    async fn cancelled_at(&self) -> Option<DateTime<Utc>> {
        self.model.cancelled_at
    }
    async fn facility(&self, ctx: &Context<'_>) -> Result<Option<Facility>> {
        let row = loader(ctx)?
            .load_one(FacilityById(self.model.facility_id))
            .await
            .gql()?;
        Ok(row.map(Facility))
    }
    async fn clinician(&self, ctx: &Context<'_>) -> Result<Option<Clinician>> {
        clinician(ctx, self.model.clinician_id).await
    }
    /// Orders linked to this appointment (needs access to the patient's results).
    async fn orders(&self, ctx: &Context<'_>) -> Result<Vec<TestOrder>> {
        if !self.access.relation.allows(Scope::Results) {
            return Err(to_gql(&ServiceError::Forbidden(
                "you may not see this patient's results data".into(),
            )));
        }
        let vis = portal_services::results::visibility(request(ctx)?, self.access.clone())
            .await
            .gql()?;
        let rows = loader(ctx)?
            .load_one(OrdersOfAppointment(self.model.id))
            .await
            .gql()?;
        Ok(rows
            .unwrap_or_default()
            .into_iter()
            .map(|o| TestOrder::new(o, vis.clone()))
            .collect())
    }
}
