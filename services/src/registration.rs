//! Registering patients and their coverage (SPEC §7 master data): by staff mutations, CSV
//! import and HL7 ADT, all through these functions. A patient is matched by MRN within the
//! viewer's tenant; a coverage by payer and member id within the patient.
//!
//! Optional fields follow one rule everywhere: `None` leaves the stored value alone, a blank
//! string clears it, anything else replaces it (HL7 `""` and an empty CSV cell are blank).

use chrono::NaiveDate;
use portal_core::access::{self, Access, PatientAccess, Scope};
use portal_core::context::{RequestContext, Writing};
use portal_core::error::{ServiceError, ServiceResult};
use portal_entities::{CoverageStatus, coverage, patient};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter};
use tracing::instrument;
use uuid::Uuid;

pub use crate::master::Change;
use crate::master::fields::{self, MAX_TEXT};
use crate::master::{self, Patch, REGISTRARS, blank_clears, patch, set};

const REGISTER: Access = Access::write("patient.register", "Patient");
const CREATE: Access = Access::write("patient.create", "Patient");
const UPDATE: Access = Access::write("patient.update", "Patient");
const UPSERT_COVERAGE: Access = Access::write("coverage.upsert", "Coverage");
const ADD_COVERAGE: Access = Access::write("coverage.create", "Coverage");
const UPDATE_COVERAGE: Access = Access::write("coverage.update", "Coverage");

const DUPLICATE_MRN: &str = "another patient of the organisation has this MRN";
const DUPLICATE_COVERAGE: &str = "the patient already has a coverage with this payer and member id";

/// A postal address (HL7 XAD: street, other designation, city, state, zip, country; county
/// as public health reports it).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Address {
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    /// County or parish (optional in public-health reports).
    pub county: Option<String>,
    pub country: Option<String>,
}

/// Who the patient is, as a registration system sends it (HL7 PID, a CSV row, a mutation).
#[derive(Debug, Clone)]
pub struct Demographics {
    pub mrn: String,
    pub given_name: String,
    pub family_name: String,
    pub birth_date: NaiveDate,
    /// HL7 table 0001 code: F, M, O, U, A, N.
    pub sex: Option<String>,
    /// CDC race code (HL7 table 0005), e.g. 2106-3.
    pub race: Option<String>,
    /// HL7 table 0189 / CDC: H, N, U (or 2135-2 / 2186-5).
    pub ethnicity: Option<String>,
    pub address: Option<Address>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub language: Option<String>,
}

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

/// A change to a patient (`updatePatient`): every field optional; see the module rule.
#[derive(Debug, Clone, Default)]
pub struct PatientPatch {
    pub mrn: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub birth_date: Option<NaiveDate>,
    pub sex: Patch<String>,
    pub race: Patch<String>,
    pub ethnicity: Patch<String>,
    pub address_line1: Patch<String>,
    pub address_line2: Patch<String>,
    pub city: Patch<String>,
    pub state: Patch<String>,
    pub postal_code: Patch<String>,
    pub county: Patch<String>,
    pub country: Patch<String>,
    pub phone: Patch<String>,
    pub email: Patch<String>,
    pub language: Patch<String>,
}

impl From<Demographics> for PatientPatch {
    fn from(d: Demographics) -> Self {
        let a = d.address;
        let part = |f: fn(&Address) -> &Option<String>| {
            a.as_ref().and_then(|a| blank_clears(f(a).clone()))
        };
        Self {
            mrn: Some(d.mrn),
            given_name: Some(d.given_name),
            family_name: Some(d.family_name),
            birth_date: Some(d.birth_date),
            sex: blank_clears(d.sex),
            race: blank_clears(d.race),
            ethnicity: blank_clears(d.ethnicity),
            address_line1: part(|a| &a.line1),
            address_line2: part(|a| &a.line2),
            city: part(|a| &a.city),
            state: part(|a| &a.state),
            postal_code: part(|a| &a.postal_code),
            county: part(|a| &a.county),
            country: part(|a| &a.country),
            phone: blank_clears(d.phone),
            email: blank_clears(d.email),
            language: blank_clears(d.language),
        }
    }
}

impl PatientPatch {
    /// Checks every given field and brings codes to their listed form; field paths are those
    /// of the GraphQL input (`input.address.postalCode`).
    pub fn validated(mut self) -> ServiceResult<Self> {
        if let Some(mrn) = &self.mrn {
            self.mrn = Some(fields::identifier("input.mrn", mrn)?);
        }
        if let Some(name) = &self.given_name {
            self.given_name = Some(fields::required("input.givenName", name, MAX_TEXT)?);
        }
        if let Some(name) = &self.family_name {
            self.family_name = Some(fields::required("input.familyName", name, MAX_TEXT)?);
        }
        if let Some(date) = self.birth_date {
            fields::birth_date("input.birthDate", date, master::now().date_naive())?;
        }
        coded(&mut self.sex, "input.sex", fields::SEX_CODES)?;
        coded(&mut self.race, "input.race", fields::RACE_CODES)?;
        coded(
            &mut self.ethnicity,
            "input.ethnicity",
            fields::ETHNICITY_CODES,
        )?;
        for (field, value, max) in [
            ("input.address.line1", &self.address_line1, MAX_TEXT),
            ("input.address.line2", &self.address_line2, MAX_TEXT),
            ("input.address.city", &self.city, 100),
            ("input.address.state", &self.state, 50),
            ("input.address.postalCode", &self.postal_code, 20),
            ("input.address.county", &self.county, 100),
            ("input.address.country", &self.country, 60),
        ] {
            fields::optional(field, given(value), max)?;
        }
        if let Some(phone) = given(&self.phone) {
            fields::phone("input.phone", phone)?;
        }
        if let Some(email) = given(&self.email) {
            fields::email("input.email", email)?;
        }
        if let Some(language) = given(&self.language) {
            fields::language("input.language", language)?;
        }
        Ok(self)
    }

    /// The patient with this patch applied.
    fn applied(&self, current: &patient::Model) -> patient::Model {
        let mut p = current.clone();
        set(&mut p.mrn, self.mrn.clone());
        set(&mut p.given_name, self.given_name.clone());
        set(&mut p.family_name, self.family_name.clone());
        set(&mut p.birth_date, self.birth_date);
        patch(&mut p.sex, self.sex.clone());
        patch(&mut p.race, self.race.clone());
        patch(&mut p.ethnicity, self.ethnicity.clone());
        patch(&mut p.address_line1, self.address_line1.clone());
        patch(&mut p.address_line2, self.address_line2.clone());
        patch(&mut p.city, self.city.clone());
        patch(&mut p.state, self.state.clone());
        patch(&mut p.postal_code, self.postal_code.clone());
        patch(&mut p.county, self.county.clone());
        patch(&mut p.country, self.country.clone());
        patch(&mut p.phone, self.phone.clone());
        patch(&mut p.email, self.email.clone());
        patch(&mut p.language, self.language.clone());
        p
    }

    /// A new patient of `tenant_id`; MRN, names and birth date are required.
    fn new_patient(&self, tenant_id: Uuid) -> ServiceResult<patient::Model> {
        let missing = |field: &str| ServiceError::bad_input(field, "is required");
        let blank = patient::Model {
            id: Uuid::now_v7(),
            tenant_id,
            mrn: self.mrn.clone().ok_or_else(|| missing("input.mrn"))?,
            given_name: self
                .given_name
                .clone()
                .ok_or_else(|| missing("input.givenName"))?,
            family_name: self
                .family_name
                .clone()
                .ok_or_else(|| missing("input.familyName"))?,
            birth_date: self.birth_date.ok_or_else(|| missing("input.birthDate"))?,
            email: None,
            phone: None,
            user_subject: None,
            created_at: master::now(),
            sex: None,
            race: None,
            ethnicity: None,
            address_line1: None,
            address_line2: None,
            city: None,
            state: None,
            postal_code: None,
            county: None,
            country: None,
            language: None,
            updated_at: None,
        };
        Ok(self.applied(&blank))
    }
}

fn given(value: &Patch<String>) -> Option<&str> {
    value.as_ref().and_then(|v| v.as_deref())
}

fn coded(value: &mut Patch<String>, field: &str, codes: &[&str]) -> ServiceResult<()> {
    if let Some(Some(v)) = value {
        *v = fields::code(field, v, codes)?;
    }
    Ok(())
}

/// The viewer's tenant when they may register patients (audited refusal otherwise): an
/// import checks this once for its whole file.
pub fn require_registrar(ctx: &RequestContext) -> ServiceResult<Uuid> {
    master::require(ctx, REGISTRARS, REGISTER, None)
}

/// Creates the patient (matched by MRN within the viewer's tenant) or updates the fields
/// given; staff/admin/lab roles; audited.
#[instrument(skip(ctx, d), fields(request_id = %ctx.request_id))]
pub async fn register(
    ctx: &RequestContext,
    d: Demographics,
) -> ServiceResult<(patient::Model, Change)> {
    let tenant_id = master::require(ctx, REGISTRARS, REGISTER, None)?;
    let patch = PatientPatch::from(d)
        .validated()
        .map_err(|e| ctx.failed(REGISTER, None, e))?;
    let work = ctx.begin_write().await?;
    let out = register_in(&work, tenant_id, &patch).await?;
    work.commit().await?;
    Ok(out)
}

/// `register` inside the caller's write transaction (an import writes a whole file in one),
/// with the role already checked and the patch validated.
pub async fn register_in(
    work: &Writing<'_>,
    tenant_id: Uuid,
    patch: &PatientPatch,
) -> ServiceResult<(patient::Model, Change)> {
    let mrn = patch
        .mrn
        .as_deref()
        .ok_or_else(|| ServiceError::bad_input("input.mrn", "is required"))?;
    let existing = by_mrn(work, tenant_id, mrn).await?;
    let (row, change) = match existing {
        Some(current) => save_changes(work, &current, patch).await?,
        None => {
            let row = patch
                .new_patient(tenant_id)
                .map_err(|e| work.failed(REGISTER, None, e))?;
            insert(work, &row).await?;
            (row, Change::Created)
        }
    };
    master::done(work, REGISTER.entity(row.id), Some(row.id), change);
    Ok((row, change))
}

/// Registers a new patient (`registerPatient`): an MRN the organisation already uses is a
/// CONFLICT.
#[instrument(skip(ctx, patch), fields(request_id = %ctx.request_id))]
pub async fn create(
    ctx: &RequestContext,
    patch: PatientPatch,
) -> ServiceResult<(PatientAccess, patient::Model)> {
    let tenant_id = master::require(ctx, REGISTRARS, CREATE, None)?;
    let fail = |e| ctx.failed(CREATE, None, e);
    let row = patch
        .validated()
        .and_then(|p| p.new_patient(tenant_id))
        .map_err(fail)?;
    let work = ctx.begin_write().await?;
    if by_mrn(&work, tenant_id, &row.mrn).await?.is_some() {
        return Err(fail(ServiceError::Conflict(DUPLICATE_MRN.into())));
    }
    insert(&work, &row).await.map_err(fail)?;
    let access = access::authorize(&work, row.id, Scope::Profile, CREATE.entity(row.id)).await?;
    work.commit().await?;
    Ok((access, row))
}

/// Changes the fields given of a patient of the organisation (`updatePatient`).
#[instrument(skip(ctx, patch), fields(request_id = %ctx.request_id))]
pub async fn update(
    ctx: &RequestContext,
    patient_id: Uuid,
    patch: PatientPatch,
) -> ServiceResult<(PatientAccess, patient::Model)> {
    let what = UPDATE.entity(patient_id);
    let tenant_id = master::require(ctx, REGISTRARS, what, Some(patient_id))?;
    let fail = |e| ctx.failed(what, Some(patient_id), e);
    let patch = patch.validated().map_err(fail)?;
    let work = ctx.begin_write().await?;
    let current = crate::patients::in_tenant(work.txn(), tenant_id, patient_id).await?;
    if let Some(mrn) = patch.mrn.as_deref().filter(|m| *m != current.mrn)
        && by_mrn(&work, tenant_id, mrn).await?.is_some()
    {
        return Err(fail(ServiceError::Conflict(DUPLICATE_MRN.into())));
    }
    let (row, _) = save_changes(&work, &current, &patch).await.map_err(fail)?;
    let access = access::authorize(&work, patient_id, Scope::Profile, what).await?;
    work.commit().await?;
    Ok((access, row))
}

async fn by_mrn(
    work: &Writing<'_>,
    tenant_id: Uuid,
    mrn: &str,
) -> ServiceResult<Option<patient::Model>> {
    crate::patients::find_by_mrn(work.txn(), tenant_id, mrn).await
}

async fn insert(work: &Writing<'_>, row: &patient::Model) -> ServiceResult<()> {
    patient::Entity::insert(row.clone().into_active_model())
        .exec_without_returning(work.txn())
        .await
        .map_err(|e| master::conflict_on_duplicate(e, DUPLICATE_MRN))?;
    Ok(())
}

/// Writes the patch when it changes anything (then `updated_at` moves); an identical patch
/// writes nothing.
async fn save_changes(
    work: &Writing<'_>,
    current: &patient::Model,
    patch: &PatientPatch,
) -> ServiceResult<(patient::Model, Change)> {
    let mut next = patch.applied(current);
    if next == *current {
        return Ok((next, Change::Unchanged));
    }
    next.updated_at = Some(master::now());
    next.clone()
        .into_active_model()
        .reset_all()
        .update(work.txn())
        .await
        .map_err(|e| master::conflict_on_duplicate(e, DUPLICATE_MRN))?;
    Ok((next, Change::Updated))
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

impl CoveragePatch {
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
        Some(current) => save_coverage(&work, &current, &patch).await.map_err(fail)?,
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
    let what = UPDATE_COVERAGE.entity(coverage_id);
    let tenant_id = master::require(ctx, REGISTRARS, what, None)?;
    let work = ctx.begin_write().await?;
    let current = coverage::Entity::find_by_id(coverage_id)
        .filter(coverage::Column::TenantId.eq(tenant_id))
        .one(work.txn())
        .await?
        .ok_or(ServiceError::NotFound("coverage"))?;
    let patient_id = current.patient_id;
    let fail = |e| ctx.failed(what, Some(patient_id), e);
    let patch = patch.validated().map_err(fail)?;
    let next = patch.applied(&current).map_err(fail)?;
    if matching_coverage(&work, patient_id, &Key::stored(&next))
        .await?
        .is_some_and(|other| other.id != coverage_id)
    {
        return Err(fail(ServiceError::Conflict(DUPLICATE_COVERAGE.into())));
    }
    let (row, change) = save_coverage(&work, &current, &patch).await.map_err(fail)?;
    master::done(ctx, what, Some(patient_id), change);
    work.commit().await?;
    Ok(row)
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

async fn save_coverage(
    work: &Writing<'_>,
    current: &coverage::Model,
    patch: &CoveragePatch,
) -> ServiceResult<(coverage::Model, Change)> {
    let mut next = patch.applied(current)?;
    if next == *current {
        return Ok((next, Change::Unchanged));
    }
    next.updated_at = Some(master::now());
    next.clone()
        .into_active_model()
        .reset_all()
        .update(work.txn())
        .await?;
    Ok((next, Change::Updated))
}
