//! What a walk-in result link shows: one result with its values, and nothing reachable beyond it.

use async_graphql::{ID, Object};
use chrono::{DateTime, Utc};
use portal_entities::ResultStatus as DbStatus;
use portal_services::walk_in::OpenedResult;

use super::catalog::TestCatalogItem;
use super::enums::{ResultStatus, TestCategory};
use super::result::{ImagingReport, Observation};
use crate::ids::{NodeType, encode};

/// A result opened through a walk-in link. The holder is not signed in, so unlike `TestResult`
/// it does not lead on to the patient, the order or other results.
pub struct WalkInResult(pub OpenedResult);

#[Object]
impl WalkInResult {
    async fn id(&self) -> ID {
        encode(NodeType::TestResult, self.0.result.id)
    }
    async fn status(&self) -> ResultStatus {
        self.0.result.status.into()
    }
    async fn category(&self) -> TestCategory {
        self.0.result.category.into()
    }
    async fn issued_at(&self) -> DateTime<Utc> {
        self.0.result.issued_at
    }
    async fn performing_lab(&self) -> Option<&str> {
        self.0.result.performing_lab.as_deref()
    }
    async fn conclusion(&self) -> Option<&str> {
        self.0.result.conclusion.as_deref()
    }
    /// True when this version corrects or withdraws an earlier one.
    async fn is_corrected(&self) -> bool {
        let r = &self.0.result;
        r.replaces_result_id.is_some()
            || matches!(r.status, DbStatus::Corrected | DbStatus::EnteredInError)
    }
    async fn correction_reason(&self) -> Option<&str> {
        self.0.result.correction_reason.as_deref()
    }
    async fn test(&self) -> Option<TestCatalogItem> {
        self.0.test.clone().map(TestCatalogItem)
    }
    async fn observations(&self) -> Vec<Observation> {
        self.0
            .observations
            .iter()
            .cloned()
            .map(Observation)
            .collect()
    }
    async fn imaging_report(&self) -> Option<ImagingReport> {
        self.0.imaging_report.clone().map(ImagingReport)
    }
}
