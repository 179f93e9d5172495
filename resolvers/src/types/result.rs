//! Test results as the API shows them: observations, imaging report, correction history.

use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};
use portal_entities::{ResultStatus as DbStatus, imaging_report, observation, test_result};
use portal_services::live::SharedResult;
use portal_services::results::Visibility;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::OnceCell;

use super::catalog::TestCatalogItem;
use super::common::ReferenceRange;
use super::enums::{Interpretation, ResultStatus, TestCategory, ValueType};
use super::order::TestOrder;
use super::patient::Patient;
use super::result_details as details;
use crate::context::loader;
use crate::error::GqlResult;
use crate::ids::{NodeType, encode};
use crate::loaders::{
    CatalogById, ImagingReportOf, ObservationsOf, OrderById, PatientById, ResultById,
    VersionsOfChain,
};

/// One immutable result event. Corrections are new results linked to the one they replace.
#[derive(Clone)]
pub struct TestResult {
    pub model: test_result::Model,
    pub vis: Visibility,
    /// Set when the event hub delivers the result to many subscribers: its nested parts are
    /// read once for all of them.
    shared: Option<Arc<SharedResult>>,
}

impl TestResult {
    pub fn new(model: test_result::Model, vis: Visibility) -> Self {
        Self {
            model,
            vis,
            shared: None,
        }
    }

    /// A result the hub delivers, shared by every subscriber of its event on this replica.
    pub fn shared(shared: Arc<SharedResult>, vis: Visibility) -> Self {
        Self {
            model: shared.model.clone(),
            vis,
            shared: Some(shared),
        }
    }
}

#[Object]
impl TestResult {
    pub async fn id(&self) -> ID {
        encode(NodeType::TestResult, self.model.id)
    }
    async fn status(&self) -> ResultStatus {
        self.model.status.into()
    }
    async fn category(&self) -> TestCategory {
        self.model.category.into()
    }
    async fn issued_at(&self) -> DateTime<Utc> {
        self.model.issued_at
    }
    #[graphql(deprecation = "use performingLaboratory (the laboratory as the result names it)")]
    async fn performing_lab(&self) -> Option<&str> {
        self.model.performing_lab.as_deref()
    }
    /// When the specimen was collected.
    async fn collected_at(&self, ctx: &Context<'_>) -> Result<Option<DateTime<Utc>>> {
        Ok(details::collected_at(
            details::of_result(ctx, self.model.id).await?,
        ))
    }
    /// When the performing laboratory received the specimen.
    async fn received_at(&self, ctx: &Context<'_>) -> Result<Option<DateTime<Utc>>> {
        Ok(details::of_result(ctx, self.model.id)
            .await?
            .and_then(|d| d.received_at))
    }
    async fn specimen(&self, ctx: &Context<'_>) -> Result<Option<details::Specimen>> {
        Ok(details::of_result(ctx, self.model.id)
            .await?
            .as_ref()
            .and_then(details::specimen))
    }
    /// The laboratory that performed the test, as the result names it.
    async fn performing_laboratory(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Option<details::PerformingLaboratory>> {
        Ok(details::of_result(ctx, self.model.id)
            .await?
            .as_ref()
            .and_then(details::laboratory))
    }
    async fn conclusion(&self) -> Option<&str> {
        self.model.conclusion.as_deref()
    }
    /// True when this version corrects or withdraws an earlier one.
    async fn is_corrected(&self) -> bool {
        self.model.replaces_result_id.is_some()
            || matches!(
                self.model.status,
                DbStatus::Corrected | DbStatus::EnteredInError
            )
    }
    /// Why the earlier version was corrected or marked entered in error.
    async fn correction_reason(&self) -> Option<&str> {
        self.model.correction_reason.as_deref()
    }
    /// The version this one replaces.
    async fn replaces(&self, ctx: &Context<'_>) -> Result<Option<TestResult>> {
        let Some(id) = self.model.replaces_result_id else {
            return Ok(None);
        };
        let found = loader(ctx)?.load_one(ResultById(id)).await.gql()?;
        Ok(found
            .filter(|r| self.vis.shows_version(r))
            .map(|r| TestResult::new(r, self.vis.clone())))
    }
    /// The version that replaced this one, if any (null on the current version).
    async fn superseded_by(&self, ctx: &Context<'_>) -> Result<Option<TestResult>> {
        Ok(self
            .versions(ctx)
            .await?
            .into_iter()
            .find(|r| r.model.replaces_result_id == Some(self.model.id)))
    }
    /// Every version of this result the viewer may see, oldest first.
    async fn history(&self, ctx: &Context<'_>) -> Result<Vec<TestResult>> {
        self.versions(ctx).await
    }
    async fn observations(&self, ctx: &Context<'_>) -> Result<Vec<Observation>> {
        let cell = self.shared.as_ref().map(|s| &s.observations);
        let rows = part(cell, || async {
            let rows = loader(ctx)?.load_one(ObservationsOf(self.model.id)).await;
            Ok(rows.gql()?.unwrap_or_default())
        })
        .await?;
        Ok(rows.into_iter().map(Observation).collect())
    }
    async fn imaging_report(&self, ctx: &Context<'_>) -> Result<Option<ImagingReport>> {
        let cell = self.shared.as_ref().map(|s| &s.imaging_report);
        let row = part(cell, || async {
            loader(ctx)?
                .load_one(ImagingReportOf(self.model.id))
                .await
                .gql()
        })
        .await?;
        Ok(row.map(ImagingReport))
    }
    async fn test(&self, ctx: &Context<'_>) -> Result<Option<TestCatalogItem>> {
        let cell = self.shared.as_ref().map(|s| &s.test);
        let row = part(cell, || async {
            loader(ctx)?
                .load_one(CatalogById(self.model.test_id))
                .await
                .gql()
        })
        .await?;
        Ok(row.map(TestCatalogItem))
    }
    async fn order(&self, ctx: &Context<'_>) -> Result<Option<TestOrder>> {
        let row = loader(ctx)?
            .load_one(OrderById(self.model.order_id))
            .await
            .gql()?;
        Ok(row.map(|o| TestOrder::new(o, self.vis.clone())))
    }
    async fn patient(&self, ctx: &Context<'_>) -> Result<Option<Patient>> {
        let row = loader(ctx)?
            .load_one(PatientById(self.model.patient_id))
            .await
            .gql()?;
        Ok(row.map(|p| Patient::new(p, self.vis.access.clone())))
    }
}

impl TestResult {
    async fn versions(&self, ctx: &Context<'_>) -> Result<Vec<TestResult>> {
        let cell = self.shared.as_ref().map(|s| &s.versions);
        let rows = part(cell, || async {
            let rows = loader(ctx)?
                .load_one(VersionsOfChain(self.model.chain_id))
                .await;
            Ok(rows.gql()?.unwrap_or_default())
        })
        .await?;
        Ok(rows
            .into_iter()
            .filter(|r| self.vis.shows_version(r))
            .map(|r| TestResult::new(r, self.vis.clone()))
            .collect())
    }
}

/// A nested part of a result: the hub's shared copy when the hub delivered it (loaded by the
/// first subscriber that asks, for all of them), otherwise loaded through the request's
/// loader.
async fn part<T, F>(cell: Option<&OnceCell<T>>, load: impl FnOnce() -> F) -> Result<T>
where
    T: Clone,
    F: Future<Output = Result<T>>,
{
    match cell {
        Some(cell) => Ok(cell.get_or_try_init(load).await?.clone()),
        None => load().await,
    }
}

/// One measured or observed value of a result.
pub struct Observation(pub observation::Model);

#[Object]
impl Observation {
    pub async fn id(&self) -> ID {
        encode(NodeType::Observation, self.0.id)
    }
    /// Analyte code (LOINC where known).
    async fn code(&self) -> &str {
        &self.0.code
    }
    async fn display_name(&self) -> &str {
        &self.0.display_name
    }
    async fn value_type(&self) -> ValueType {
        self.0.value_type.into()
    }
    async fn value_numeric(&self) -> Option<f64> {
        self.0.value_numeric
    }
    async fn value_text(&self) -> Option<&str> {
        self.0.value_text.as_deref()
    }
    /// Coded value (e.g. SNOMED CT) for CODED observations.
    async fn value_code(&self) -> Option<&str> {
        self.0.value_code.as_deref()
    }
    /// The value as a patient would read it, with its unit.
    async fn display_value(&self) -> String {
        let m = &self.0;
        let value = match (m.value_numeric, &m.value_text) {
            (Some(n), _) => format!("{n}"),
            (None, Some(text)) => text.clone(),
            (None, None) => String::new(),
        };
        match &m.unit {
            Some(unit) if m.value_numeric.is_some() => format!("{value} {unit}"),
            _ => value,
        }
    }
    async fn unit(&self) -> Option<&str> {
        self.0.unit.as_deref()
    }
    /// When the observation was made.
    async fn observed_at(&self, ctx: &Context<'_>) -> Result<Option<DateTime<Utc>>> {
        Ok(details::of_observation(ctx, self.0.id)
            .await?
            .and_then(|d| d.observed_at))
    }
    /// The device or test kit the observation was made with.
    async fn device(&self, ctx: &Context<'_>) -> Result<Option<details::Device>> {
        Ok(details::of_observation(ctx, self.0.id)
            .await?
            .as_ref()
            .and_then(details::device))
    }
    /// The reference range as the laboratory sent it (its text), else the catalog's.
    async fn reference_range(&self) -> Option<ReferenceRange> {
        let m = &self.0;
        ReferenceRange::from_parts(m.reference_low, m.reference_high, m.reference_text.clone())
    }
    async fn interpretation(&self) -> Option<Interpretation> {
        self.0.interpretation.map(Into::into)
    }

    /// The laboratory's abnormal flags as sent (HL7 OBX-8), beside the mapped
    /// `interpretation`: `AA` stays `AA` although it maps to ABNORMAL.
    /// Null when the laboratory sent none.
    async fn abnormal_flags(&self) -> Option<Vec<String>> {
        self.0
            .abnormal_flags
            .as_deref()
            .map(|f| f.split('~').map(str::to_owned).collect())
    }
}

/// The report of an imaging study.
pub struct ImagingReport(pub imaging_report::Model);

#[Object]
impl ImagingReport {
    /// DICOM modality code, e.g. DX, CT, MR.
    async fn modality(&self) -> &str {
        &self.0.modality
    }
    async fn study_instance_uid(&self) -> &str {
        &self.0.study_instance_uid
    }
    async fn findings(&self) -> &str {
        &self.0.findings
    }
    async fn impression(&self) -> &str {
        &self.0.impression
    }
}
