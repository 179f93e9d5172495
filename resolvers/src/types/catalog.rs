//! The test catalog as the API shows it.

use async_graphql::{Context, ID, Object, Result};
use portal_entities::{catalog_analyte, test_catalog};

use super::common::ReferenceRange;
use super::enums::{CodeSystem, TestCategory, ValueType};
use crate::context::loader;
use crate::error::GqlResult;
use crate::ids::{NodeType, encode};
use crate::loaders::AnalytesOf;

/// An orderable test: a panel (CBC) or a single analyte (HbA1c), or an imaging study.
pub struct TestCatalogItem(pub test_catalog::Model);

#[Object]
impl TestCatalogItem {
    pub async fn id(&self) -> ID {
        encode(NodeType::TestCatalogItem, self.0.id)
    }
    /// LOINC code where known.
    async fn code(&self) -> &str {
        &self.0.code
    }
    async fn code_system(&self) -> CodeSystem {
        self.0.code_system.into()
    }
    async fn display_name(&self) -> &str {
        &self.0.display_name
    }
    async fn category(&self) -> TestCategory {
        self.0.category.into()
    }
    async fn specimen(&self) -> Option<&str> {
        self.0.specimen.as_deref()
    }
    async fn unit(&self) -> Option<&str> {
        self.0.unit.as_deref()
    }
    async fn reference_range(&self) -> Option<ReferenceRange> {
        let m = &self.0;
        ReferenceRange::from_parts(m.reference_low, m.reference_high, m.reference_text.clone())
    }
    /// Results of sensitive tests (HIV, genetic, pathology) can be held by patient preference.
    async fn sensitive(&self) -> bool {
        self.0.sensitive
    }
    /// Results of this test are reported to public health.
    async fn reportable(&self) -> bool {
        self.0.reportable
    }
    /// The instrument or test kit model public-health rows name (`equipment_model_name`).
    async fn device_model(&self) -> Option<&str> {
        self.0.device_model.as_deref()
    }
    /// The analytes a result of this test reports.
    async fn analytes(&self, ctx: &Context<'_>) -> Result<Vec<CatalogAnalyte>> {
        let rows = loader(ctx)?.load_one(AnalytesOf(self.0.id)).await.gql()?;
        Ok(rows
            .unwrap_or_default()
            .into_iter()
            .map(CatalogAnalyte)
            .collect())
    }
}

/// One analyte of a catalog test, with its expected value type, unit and reference range.
pub struct CatalogAnalyte(pub catalog_analyte::Model);

#[Object]
impl CatalogAnalyte {
    async fn code(&self) -> &str {
        &self.0.code
    }
    async fn display_name(&self) -> &str {
        &self.0.display_name
    }
    async fn value_type(&self) -> ValueType {
        self.0.value_type.into()
    }
    async fn unit(&self) -> Option<&str> {
        self.0.unit.as_deref()
    }
    /// Rows of this analyte go to public health when its test is reportable.
    async fn reportable(&self) -> bool {
        self.0.reportable
    }
    async fn reference_range(&self) -> Option<ReferenceRange> {
        let m = &self.0;
        ReferenceRange::from_parts(m.reference_low, m.reference_high, m.reference_text.clone())
    }
}
