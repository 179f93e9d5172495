//! Registering patients (SPEC §7 master data): by staff mutations, CSV import and HL7 ADT,
//! all through these functions. A patient is matched by MRN within the viewer's tenant; their
//! coverage is registered in `coverage::registration`.
//!
//! Optional fields follow one rule everywhere: `None` leaves the stored value alone, a blank
//! string clears it, anything else replaces it (HL7 `""` and an empty CSV cell are blank).

mod batch;
mod identified;

pub use batch::{BatchFailure, register_all_in};
pub use identified::{Linked, register_identified, walk_in_mrn};

use chrono::{DateTime, NaiveDate, Utc};
use portal_core::access::{self, Access, PatientAccess, Scope};
use portal_core::context::{RequestContext, Writing};
use portal_core::error::{ServiceError, ServiceResult};
use portal_entities::patient;
use sea_orm::{EntityTrait, IntoActiveModel};
use tracing::instrument;
use uuid::Uuid;

use crate::master::fields::{self, MAX_TEXT};
use crate::master::update::{self, Kept, Owner, Update};
use crate::master::{self, Change, Patch, REGISTRARS, blank_clears, given, patch, set};

const REGISTER: Access = Access::write("patient.register", "Patient");
const CREATE: Access = Access::write("patient.create", "Patient");
const UPDATE: Access = Access::write("patient.update", "Patient");

const DUPLICATE_MRN: &str = "another patient of the organisation has this MRN";

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

impl Kept for PatientPatch {
    type Row = patient::Model;
    type Entity = patient::Entity;
    type Active = patient::ActiveModel;
    const NAME: &'static str = "patient";
    const OWNER: Owner = Owner::Itself;
    const DUPLICATE: Option<&'static str> = Some(DUPLICATE_MRN);

    fn tenant_column() -> patient::Column {
        patient::Column::TenantId
    }

    fn patient_of(row: &patient::Model) -> Option<Uuid> {
        Some(row.id)
    }

    fn touch(row: &mut patient::Model, at: DateTime<Utc>) {
        row.updated_at = Some(at);
    }

    /// Checks every given field and brings codes to their listed form; field paths are those
    /// of the GraphQL input (`input.address.postalCode`).
    fn validated(mut self) -> ServiceResult<Self> {
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
    fn applied(&self, current: &patient::Model) -> ServiceResult<patient::Model> {
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
        Ok(p)
    }

    async fn key_taken(&self, work: &Writing<'_>, current: &patient::Model) -> ServiceResult<bool> {
        Ok(match self.mrn.as_deref().filter(|m| *m != current.mrn) {
            Some(mrn) => by_mrn(work, current.tenant_id, mrn).await?.is_some(),
            None => false,
        })
    }
}

impl PatientPatch {
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
        self.applied(&blank)
    }
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
        Some(current) => update::save(work, &current, patch).await?,
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
    let (work, row, _) = Update::new(REGISTRARS, UPDATE, patient_id)
        .saved(ctx, patch)
        .await?;
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
