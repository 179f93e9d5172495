//! Coverage registration: a patient's payer plans, matched by payer and member id within the
//! patient (HL7 IN1, `addCoverage`, `updateCoverage`).

use chrono::{DateTime, NaiveDate, Utc};
use portal_core::access::Access;
use portal_core::context::{RequestContext, Writing};
use portal_core::error::{ServiceError, ServiceResult};
use portal_entities::{CoverageStatus, coverage};
use sea_orm::{ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter};
use tracing::instrument;
use uuid::Uuid;

use crate::master::fields::{self, MAX_TEXT};
use crate::master::update::{self, Kept, Owner, Update};
use crate::master::{self, Change, Patch, REGISTRARS, blank_clears, given, patch, set};

const UPSERT_COVERAGE: Access = Access::write("coverage.upsert", "Coverage");
const ADD_COVERAGE: Access = Access::write("coverage.create", "Coverage");
const UPDATE_COVERAGE: Access = Access::write("coverage.update", "Coverage");

const DUPLICATE_COVERAGE: &str = "the patient already has a coverage with this payer and member id";

/// A payer plan covering the patient (HL7 IN1, a mutation).
#[derive(Debug, Clone, Default)]
pub struct CoverageRecord {
    pub payer_id: Option<String>,
    pub payer_name: String,
    pub plan: Option<String>,
    pub member_id: String,
    pub group_number: Option<String>,
    /// The coverage starts the day it is recorded when no start is known.
    pub period_start: Option<NaiveDate>,
    pub period_end: Option<NaiveDate>,
}

/// A change to a coverage (`updateCoverage`): every field optional.
#[derive(Debug, Clone, Default)]
pub struct CoveragePatch {
    pub payer_id: Patch<String>,
    pub payer_name: Option<String>,
    pub plan: Option<String>,
    pub member_id: Option<String>,
    pub group_number: Patch<String>,
    pub period_start: Option<NaiveDate>,
    pub period_end: Patch<NaiveDate>,
    pub status: Option<CoverageStatus>,
}

impl From<CoverageRecord> for CoveragePatch {
    fn from(c: CoverageRecord) -> Self {
        Self {
            payer_id: blank_clears(c.payer_id),
            payer_name: Some(c.payer_name),
            plan: c.plan,
            member_id: Some(c.member_id),
            group_number: blank_clears(c.group_number),
            period_start: c.period_start,
            period_end: c.period_end.map(Some),
            status: None,
        }
    }
}

impl Kept for CoveragePatch {
    type Row = coverage::Model;
    type Entity = coverage::Entity;
    type Active = coverage::ActiveModel;
    const NAME: &'static str = "coverage";
    const OWNER: Owner = Owner::Patient;
    const DUPLICATE: Option<&'static str> = Some(DUPLICATE_COVERAGE);

    fn tenant_column() -> coverage::Column {
        coverage::Column::TenantId
    }

    fn patient_of(row: &coverage::Model) -> Option<Uuid> {
        Some(row.patient_id)
    }

    fn touch(row: &mut coverage::Model, at: DateTime<Utc>) {
        row.updated_at = Some(at);
    }

    fn validated(mut self) -> ServiceResult<Self> {
        if let Some(id) = given(&self.payer_id) {
            self.payer_id = Some(Some(fields::identifier("input.payerId", id)?));
        }
        if let Some(name) = &self.payer_name {
            self.payer_name = Some(fields::required("input.payerName", name, MAX_TEXT)?);
        }
        if let Some(plan) = &self.plan {
            self.plan = Some(fields::text("input.plan", plan, MAX_TEXT)?);
        }
        if let Some(member) = &self.member_id {
            self.member_id = Some(fields::identifier("input.memberId", member)?);
        }
        if let Some(group) = given(&self.group_number) {
            self.group_number = Some(Some(fields::identifier("input.groupNumber", group)?));
        }
        Ok(self)
    }

    fn applied(&self, current: &coverage::Model) -> ServiceResult<coverage::Model> {
        let mut c = current.clone();
        patch(&mut c.payer_id, self.payer_id.clone());
        set(&mut c.payer, self.payer_name.clone());
        set(&mut c.plan_name, self.plan.clone());
        set(&mut c.member_id, self.member_id.clone());
        patch(&mut c.group_number, self.group_number.clone());
        set(&mut c.period_start, self.period_start);
        patch(&mut c.period_end, self.period_end);
        set(&mut c.status, self.status);
        if let Some(end) = c.period_end
            && end < c.period_start
        {
            return Err(ServiceError::bad_input(
                "input.periodEnd",
                "must not be before the period start",
            ));
        }
        Ok(c)
    }

    /// The changed coverage must not take the payer and member id of another of the
    /// patient's (a change that does not apply is refused when it is applied).
    async fn key_taken(
        &self,
        work: &Writing<'_>,
        current: &coverage::Model,
    ) -> ServiceResult<bool> {
        let Ok(next) = self.applied(current) else {
            return Ok(false);
        };
        Ok(
            matching_coverage(work, current.patient_id, &Key::stored(&next))
                .await?
                .is_some_and(|other| other.id != current.id),
        )
    }
}

impl CoveragePatch {
    fn new_coverage(&self, tenant_id: Uuid, patient_id: Uuid) -> ServiceResult<coverage::Model> {
        let missing = |field: &str| ServiceError::bad_input(field, "is required");
        let now = master::now();
        let blank = coverage::Model {
            id: Uuid::now_v7(),
            tenant_id,
            patient_id,
            payer: self
                .payer_name
                .clone()
                .ok_or_else(|| missing("input.payerName"))?,
            plan_name: String::new(),
            member_id: self
                .member_id
                .clone()
                .ok_or_else(|| missing("input.memberId"))?,
            group_number: None,
            period_start: now.date_naive(),
            period_end: None,
            status: CoverageStatus::Active,
            created_at: now,
            payer_id: None,
            updated_at: None,
        };
        self.applied(&blank)
    }
}

/// Creates or updates the patient's coverage matched by (payer, member id); audited.
#[instrument(skip(ctx, c), fields(request_id = %ctx.request_id))]
pub async fn upsert_coverage(
    ctx: &RequestContext,
    patient_id: Uuid,
    c: CoverageRecord,
) -> ServiceResult<(coverage::Model, Change)> {
    let tenant_id = master::require(ctx, REGISTRARS, UPSERT_COVERAGE, Some(patient_id))?;
    let fail = |e| ctx.failed(UPSERT_COVERAGE, Some(patient_id), e);
    let patch = CoveragePatch::from(c).validated().map_err(fail)?;
    let work = ctx.begin_write().await?;
    crate::patients::in_tenant(work.txn(), tenant_id, patient_id).await?;
    crate::patients::lock(work.txn(), tenant_id, patient_id).await?;
    let (row, change) = match matching_coverage(&work, patient_id, &Key::of(&patch)).await? {
        Some(current) => update::save(&work, &current, &patch).await.map_err(fail)?,
        None => {
            let row = patch.new_coverage(tenant_id, patient_id).map_err(fail)?;
            insert_coverage(&work, &row).await?;
            (row, Change::Created)
        }
    };
    master::done(
        ctx,
        UPSERT_COVERAGE.entity(row.id),
        Some(patient_id),
        change,
    );
    work.commit().await?;
    Ok((row, change))
}

/// Adds a coverage (`addCoverage`); one with the same payer and member id is a CONFLICT.
#[instrument(skip(ctx, c), fields(request_id = %ctx.request_id))]
pub async fn add_coverage(
    ctx: &RequestContext,
    patient_id: Uuid,
    c: CoverageRecord,
) -> ServiceResult<coverage::Model> {
    let tenant_id = master::require(ctx, REGISTRARS, ADD_COVERAGE, Some(patient_id))?;
    let fail = |e| ctx.failed(ADD_COVERAGE, Some(patient_id), e);
    let patch = CoveragePatch::from(c).validated().map_err(fail)?;
    let work = ctx.begin_write().await?;
    crate::patients::in_tenant(work.txn(), tenant_id, patient_id).await?;
    crate::patients::lock(work.txn(), tenant_id, patient_id).await?;
    if matching_coverage(&work, patient_id, &Key::of(&patch))
        .await?
        .is_some()
    {
        return Err(fail(ServiceError::Conflict(DUPLICATE_COVERAGE.into())));
    }
    let row = patch.new_coverage(tenant_id, patient_id).map_err(fail)?;
    insert_coverage(&work, &row).await?;
    master::done(
        ctx,
        ADD_COVERAGE.entity(row.id),
        Some(patient_id),
        Change::Created,
    );
    work.commit().await?;
    Ok(row)
}

/// Changes the fields given of a coverage (`updateCoverage`).
#[instrument(skip(ctx, patch), fields(request_id = %ctx.request_id))]
pub async fn update_coverage(
    ctx: &RequestContext,
    coverage_id: Uuid,
    patch: CoveragePatch,
) -> ServiceResult<coverage::Model> {
    Update::new(REGISTRARS, UPDATE_COVERAGE, coverage_id)
        .run(ctx, patch)
        .await
}

/// What identifies a coverage of a patient: the member id with the payer.
struct Key<'a> {
    member_id: Option<&'a str>,
    payer_id: Option<&'a str>,
    payer_name: &'a str,
}

impl<'a> Key<'a> {
    fn of(patch: &'a CoveragePatch) -> Self {
        Self {
            member_id: patch.member_id.as_deref(),
            payer_id: given(&patch.payer_id),
            payer_name: patch.payer_name.as_deref().unwrap_or_default(),
        }
    }

    fn stored(row: &'a coverage::Model) -> Self {
        Self {
            member_id: Some(&row.member_id),
            payer_id: row.payer_id.as_deref(),
            payer_name: &row.payer,
        }
    }
}

/// The patient's coverage with the key's member id and payer: the payer id when both sides
/// have one, the payer name (case-insensitive) otherwise.
async fn matching_coverage(
    work: &Writing<'_>,
    patient_id: Uuid,
    key: &Key<'_>,
) -> ServiceResult<Option<coverage::Model>> {
    let Some(member_id) = key.member_id else {
        return Ok(None);
    };
    let tenant_id = work.viewer()?.tenant_id;
    let candidates = coverage::Entity::find()
        .filter(coverage::Column::TenantId.eq(tenant_id))
        .filter(coverage::Column::PatientId.eq(patient_id))
        .filter(coverage::Column::MemberId.eq(member_id))
        .all(work.txn())
        .await?;
    Ok(candidates
        .into_iter()
        .find(|c| match (key.payer_id, c.payer_id.as_deref()) {
            (Some(given), Some(stored)) => given == stored,
            _ => c.payer.eq_ignore_ascii_case(key.payer_name),
        }))
}

async fn insert_coverage(work: &Writing<'_>, row: &coverage::Model) -> ServiceResult<()> {
    coverage::Entity::insert(row.clone().into_active_model())
        .exec_without_returning(work.txn())
        .await?;
    Ok(())
}
