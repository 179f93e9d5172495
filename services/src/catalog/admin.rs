//! Keeping the test catalog (master data): tests with their analytes, units, reference
//! ranges, the sensitivity flag and the public-health `reportable` flag. Staff and admins;
//! the code is unique within the organisation. Reading the catalog is `catalog`.

use chrono::{DateTime, Utc};
use portal_core::access::Access;
use portal_core::context::{RequestContext, Writing};
use portal_core::error::{ServiceError, ServiceResult};
use portal_entities::{CodeSystem, TestCategory, ValueType, catalog_analyte, test_catalog};
use sea_orm::{ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder};
use tracing::instrument;
use uuid::Uuid;

use crate::master::fields::{self, MAX_TEXT};
use crate::master::update::{self, Kept, Owner, Update};
use crate::master::{self, Change, MAINTAINERS, Patch, given, patch, set};

const CREATE: Access = Access::write("catalog_test.create", "TestCatalogItem");
const UPDATE: Access = Access::write("catalog_test.update", "TestCatalogItem");
const UPSERT: Access = Access::write("catalog_test.upsert", "TestCatalogItem");

const DUPLICATE_CODE: &str = "the catalog already has a test with this code";
const MAX_ANALYTES: usize = 100;

/// One analyte of a test, in the order results report them.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalyteInput {
    pub code: String,
    pub display_name: String,
    pub value_type: ValueType,
    pub unit: Option<String>,
    pub reference_low: Option<f64>,
    pub reference_high: Option<f64>,
    pub reference_text: Option<String>,
    /// Whether rows of this analyte go to public health when the test is reportable.
    pub reportable: bool,
}

/// A catalog test's fields (`createCatalogTest` needs code, code system, display name and
/// category; an update changes what is given, and a given analyte list replaces the old one).
#[derive(Debug, Clone, Default)]
pub struct CatalogTestPatch {
    pub code: Option<String>,
    pub code_system: Option<CodeSystem>,
    pub display_name: Option<String>,
    pub category: Option<TestCategory>,
    pub specimen: Patch<String>,
    pub unit: Patch<String>,
    pub reference_low: Patch<f64>,
    pub reference_high: Patch<f64>,
    pub reference_text: Patch<String>,
    pub sensitive: Option<bool>,
    pub reportable: Option<bool>,
    /// The instrument or test kit model public-health rows name (`equipment_model_name`).
    pub device_model: Patch<String>,
    pub analytes: Option<Vec<AnalyteInput>>,
}

impl Kept for CatalogTestPatch {
    type Row = test_catalog::Model;
    type Entity = test_catalog::Entity;
    type Active = test_catalog::ActiveModel;
    const NAME: &'static str = "catalog test";
    const OWNER: Owner = Owner::Organisation;
    const DUPLICATE: Option<&'static str> = Some(DUPLICATE_CODE);

    fn tenant_column() -> test_catalog::Column {
        test_catalog::Column::TenantId
    }

    fn touch(row: &mut test_catalog::Model, at: DateTime<Utc>) {
        row.updated_at = Some(at);
    }

    /// Checks every given field (an import checks a whole file before writing any of it);
    /// field paths are those of the GraphQL input (`input.analytes[2].code`).
    fn validated(mut self) -> ServiceResult<Self> {
        if let Some(name) = &self.display_name {
            self.display_name = Some(fields::required("input.displayName", name, MAX_TEXT)?);
        }
        if let Some(code) = &self.code {
            self.code = Some(fields::identifier("input.code", code)?);
        }
        for (field, value) in [
            ("input.specimen", &self.specimen),
            ("input.unit", &self.unit),
            ("input.referenceText", &self.reference_text),
            ("input.deviceModel", &self.device_model),
        ] {
            fields::optional(field, given(value), MAX_TEXT)?;
        }
        if let (Some(code), Some(CodeSystem::Loinc)) = (&self.code, self.code_system) {
            fields::loinc("input.code", code)?;
        }
        if let (Some(Some(low)), Some(Some(high))) = (self.reference_low, self.reference_high) {
            fields::range("input.referenceHigh", Some(low), Some(high))?;
        }
        if let Some(analytes) = &mut self.analytes {
            validate_analytes(analytes)?;
        }
        Ok(self)
    }

    /// The test with the patch applied; the code must suit its code system.
    fn applied(&self, current: &test_catalog::Model) -> ServiceResult<test_catalog::Model> {
        let mut t = current.clone();
        set(&mut t.code, self.code.clone());
        set(&mut t.code_system, self.code_system);
        set(&mut t.display_name, self.display_name.clone());
        set(&mut t.category, self.category);
        patch(&mut t.specimen, self.specimen.clone());
        patch(&mut t.unit, self.unit.clone());
        patch(&mut t.reference_low, self.reference_low);
        patch(&mut t.reference_high, self.reference_high);
        patch(&mut t.reference_text, self.reference_text.clone());
        set(&mut t.sensitive, self.sensitive);
        set(&mut t.reportable, self.reportable);
        patch(&mut t.device_model, self.device_model.clone());
        if t.code_system == CodeSystem::Loinc {
            fields::loinc("input.code", &t.code)?;
        }
        fields::range("input.referenceHigh", t.reference_low, t.reference_high)?;
        Ok(t)
    }

    async fn key_taken(
        &self,
        work: &Writing<'_>,
        current: &test_catalog::Model,
    ) -> ServiceResult<bool> {
        Ok(match self.code.as_deref().filter(|c| *c != current.code) {
            Some(code) => by_code(work, current.tenant_id, code).await?.is_some(),
            None => false,
        })
    }

    /// A given analyte list different from the stored one replaces it as a whole.
    async fn children_change(
        &self,
        work: &Writing<'_>,
        current: &test_catalog::Model,
    ) -> ServiceResult<bool> {
        Ok(match &self.analytes {
            Some(wanted) => analytes_of(work, current.id).await? != *wanted,
            None => false,
        })
    }

    async fn save_children(
        &self,
        work: &Writing<'_>,
        saved: &test_catalog::Model,
    ) -> ServiceResult<()> {
        let Some(wanted) = &self.analytes else {
            return Ok(());
        };
        catalog_analyte::Entity::delete_many()
            .filter(catalog_analyte::Column::TenantId.eq(saved.tenant_id))
            .filter(catalog_analyte::Column::TestId.eq(saved.id))
            .exec(work.txn())
            .await?;
        insert_analytes(work, saved, wanted).await
    }
}

impl CatalogTestPatch {
    fn new_test(&self, tenant_id: Uuid) -> ServiceResult<test_catalog::Model> {
        let missing = |field: &str| ServiceError::bad_input(field, "is required");
        let blank = test_catalog::Model {
            id: Uuid::now_v7(),
            tenant_id,
            code: self.code.clone().ok_or_else(|| missing("input.code"))?,
            code_system: self
                .code_system
                .ok_or_else(|| missing("input.codeSystem"))?,
            display_name: self
                .display_name
                .clone()
                .ok_or_else(|| missing("input.displayName"))?,
            category: self.category.ok_or_else(|| missing("input.category"))?,
            specimen: None,
            unit: None,
            reference_low: None,
            reference_high: None,
            reference_text: None,
            sensitive: false,
            created_at: master::now(),
            reportable: false,
            updated_at: None,
            device_model: None,
        };
        self.applied(&blank)
    }
}

fn validate_analytes(analytes: &mut [AnalyteInput]) -> ServiceResult<()> {
    if analytes.len() > MAX_ANALYTES {
        return Err(ServiceError::bad_input(
            "input.analytes",
            format!("at most {MAX_ANALYTES} analytes"),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for (i, a) in analytes.iter_mut().enumerate() {
        let path = |name: &str| format!("input.analytes[{i}].{name}");
        a.code = fields::identifier(&path("code"), &a.code)?;
        a.display_name = fields::required(&path("displayName"), &a.display_name, MAX_TEXT)?;
        a.unit = master::blank_clears(a.unit.take()).flatten();
        a.reference_text = master::blank_clears(a.reference_text.take()).flatten();
        fields::optional(&path("unit"), a.unit.as_deref(), 50)?;
        fields::optional(
            &path("referenceText"),
            a.reference_text.as_deref(),
            MAX_TEXT,
        )?;
        fields::range(&path("referenceHigh"), a.reference_low, a.reference_high)?;
        if !seen.insert(a.code.clone()) {
            return Err(ServiceError::bad_input(
                path("code"),
                "each analyte code appears once in a test",
            ));
        }
    }
    Ok(())
}

/// Adds a test to the organisation's catalog.
#[instrument(skip(ctx, input), fields(request_id = %ctx.request_id))]
pub async fn create(
    ctx: &RequestContext,
    input: CatalogTestPatch,
) -> ServiceResult<test_catalog::Model> {
    let tenant_id = master::require(ctx, MAINTAINERS, CREATE, None)?;
    let fail = |e| ctx.failed(CREATE, None, e);
    let input = input.validated().map_err(fail)?;
    let row = input.new_test(tenant_id).map_err(fail)?;
    let work = ctx.begin_write().await?;
    if by_code(&work, tenant_id, &row.code).await?.is_some() {
        return Err(fail(ServiceError::Conflict(DUPLICATE_CODE.into())));
    }
    insert(&work, &row, input.analytes.as_deref().unwrap_or_default())
        .await
        .map_err(fail)?;
    work.commit().await?;
    master::done(ctx, CREATE.entity(row.id), None, Change::Created);
    Ok(row)
}

/// Changes the fields given of a catalog test; a given analyte list replaces its analytes.
#[instrument(skip(ctx, input), fields(request_id = %ctx.request_id))]
pub async fn update(
    ctx: &RequestContext,
    test_id: Uuid,
    input: CatalogTestPatch,
) -> ServiceResult<test_catalog::Model> {
    Update::new(MAINTAINERS, UPDATE, test_id)
        .run(ctx, input)
        .await
}

/// Creates the test (matched by code within the tenant) or brings it to `input`, inside the
/// caller's write transaction (a catalog import writes its whole file in one); the role is
/// checked with `require_maintainer` and the input is complete.
pub async fn upsert_in(
    work: &Writing<'_>,
    tenant_id: Uuid,
    input: CatalogTestPatch,
) -> ServiceResult<(test_catalog::Model, Change)> {
    let input = input.validated()?;
    let code = input
        .code
        .clone()
        .ok_or_else(|| ServiceError::bad_input("input.code", "is required"))?;
    let (row, change) = match by_code(work, tenant_id, &code).await? {
        Some(current) => update::save(work, &current, &input).await?,
        None => {
            let row = input.new_test(tenant_id)?;
            insert(work, &row, input.analytes.as_deref().unwrap_or_default()).await?;
            (row, Change::Created)
        }
    };
    master::done(work, UPSERT.entity(row.id), None, change);
    Ok((row, change))
}

/// The viewer's tenant when they may keep the catalog (audited refusal otherwise).
pub fn require_maintainer(ctx: &RequestContext) -> ServiceResult<Uuid> {
    master::require(ctx, MAINTAINERS, UPSERT, None)
}

async fn by_code(
    work: &Writing<'_>,
    tenant_id: Uuid,
    code: &str,
) -> ServiceResult<Option<test_catalog::Model>> {
    Ok(test_catalog::Entity::find()
        .filter(test_catalog::Column::TenantId.eq(tenant_id))
        .filter(test_catalog::Column::Code.eq(code))
        .one(work.txn())
        .await?)
}

async fn insert(
    work: &Writing<'_>,
    row: &test_catalog::Model,
    analytes: &[AnalyteInput],
) -> ServiceResult<()> {
    test_catalog::Entity::insert(row.clone().into_active_model())
        .exec_without_returning(work.txn())
        .await
        .map_err(|e| master::conflict_on_duplicate(e, DUPLICATE_CODE))?;
    insert_analytes(work, row, analytes).await
}

async fn insert_analytes(
    work: &Writing<'_>,
    test: &test_catalog::Model,
    analytes: &[AnalyteInput],
) -> ServiceResult<()> {
    if analytes.is_empty() {
        return Ok(());
    }
    let rows = (0..).zip(analytes).map(|(position, a)| {
        catalog_analyte::Model {
            id: Uuid::now_v7(),
            tenant_id: test.tenant_id,
            test_id: test.id,
            position,
            code: a.code.clone(),
            display_name: a.display_name.clone(),
            value_type: a.value_type,
            unit: a.unit.clone(),
            reference_low: a.reference_low,
            reference_high: a.reference_high,
            reference_text: a.reference_text.clone(),
            reportable: a.reportable,
        }
        .into_active_model()
    });
    catalog_analyte::Entity::insert_many(rows)
        .exec_without_returning(work.txn())
        .await?;
    Ok(())
}

async fn analytes_of(work: &Writing<'_>, test_id: Uuid) -> ServiceResult<Vec<AnalyteInput>> {
    let rows = catalog_analyte::Entity::find()
        .filter(catalog_analyte::Column::TestId.eq(test_id))
        .order_by_asc(catalog_analyte::Column::Position)
        .all(work.txn())
        .await?;
    Ok(rows
        .into_iter()
        .map(|a| AnalyteInput {
            code: a.code,
            display_name: a.display_name,
            value_type: a.value_type,
            unit: a.unit,
            reference_low: a.reference_low,
            reference_high: a.reference_high,
            reference_text: a.reference_text,
            reportable: a.reportable,
        })
        .collect())
}
