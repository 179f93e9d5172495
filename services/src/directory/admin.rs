//! The organisation's directory (master data): facilities with their CLIA number, address
//! and phone, and clinicians with their NPI — what orders, appointments and public-health
//! reports name. Staff and admins keep it; listing it is the parent `directory`.

use chrono::{DateTime, Utc};
use portal_core::access::Access;
use portal_core::context::{RequestContext, Writing};
use portal_core::error::{ServiceError, ServiceResult};
use portal_entities::{clinician, facility};
use sea_orm::{ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter};
use tracing::instrument;
use uuid::Uuid;

use super::code_map::{self, CodeMapEntry};
use super::identifiers::{self, FacilityIdentifier};
use crate::master::fields::{self, MAX_TEXT};
use crate::master::update::{Kept, Owner, Update};
use crate::master::{self, Change, MAINTAINERS, Patch, given, patch, set};

const CREATE_FACILITY: Access = Access::write("facility.create", "Facility");
const UPDATE_FACILITY: Access = Access::write("facility.update", "Facility");
const CREATE_CLINICIAN: Access = Access::write("clinician.create", "Clinician");
const UPDATE_CLINICIAN: Access = Access::write("clinician.update", "Clinician");

const DUPLICATE_CLINICIAN: &str =
    "another clinician of the organisation has this NPI or user subject";

/// A facility's fields (`createFacility` needs a name; `updateFacility` changes what is given).
#[derive(Debug, Clone, Default)]
pub struct FacilityPatch {
    pub name: Option<String>,
    pub clia_number: Patch<String>,
    /// The street line(s).
    pub address: Patch<String>,
    pub city: Patch<String>,
    pub state: Patch<String>,
    pub postal_code: Patch<String>,
    pub country: Patch<String>,
    pub phone: Patch<String>,
    /// The clinician public-health reports name when an order names none.
    pub default_ordering_clinician_id: Patch<Uuid>,
    /// HL7: store an ORU's valid groups and answer AE for the others.
    pub accept_valid_groups: Option<bool>,
    /// The alias identifiers (HL7 HD), replacing the stored ones when given.
    pub identifiers: Option<Vec<FacilityIdentifier>>,
    /// The sender's local codes mapped to catalog codes, replacing the stored map when given.
    pub code_map: Option<Vec<CodeMapEntry>>,
}

impl Kept for FacilityPatch {
    type Row = facility::Model;
    type Entity = facility::Entity;
    type Active = facility::ActiveModel;
    const NAME: &'static str = "facility";
    const OWNER: Owner = Owner::Organisation;

    fn tenant_column() -> facility::Column {
        facility::Column::TenantId
    }

    fn touch(row: &mut facility::Model, at: DateTime<Utc>) {
        row.updated_at = Some(at);
    }

    fn validated(mut self) -> ServiceResult<Self> {
        if let Some(name) = &self.name {
            self.name = Some(fields::required("input.name", name, MAX_TEXT)?);
        }
        if let Some(Some(clia)) = &mut self.clia_number {
            *clia = clia.to_uppercase();
            fields::clia("input.cliaNumber", clia)?;
        }
        for (field, value, max) in [
            ("input.address", &self.address, MAX_TEXT),
            ("input.city", &self.city, 100),
            ("input.state", &self.state, 50),
            ("input.postalCode", &self.postal_code, 20),
            ("input.country", &self.country, 60),
        ] {
            fields::optional(field, given(value), max)?;
        }
        if let Some(Some(phone)) = &self.phone {
            fields::phone("input.phone", phone)?;
        }
        if self.default_ordering_clinician_id == Some(Some(Uuid::nil())) {
            return Err(ServiceError::bad_input(
                "input.defaultOrderingClinicianId",
                "is not a clinician id",
            ));
        }
        if let Some(given) = self.identifiers.take() {
            self.identifiers = Some(identifiers::validated("input.identifiers", given)?);
        }
        if let Some(given) = self.code_map.take() {
            self.code_map = Some(code_map::validated("input.codeMap", given)?);
        }
        Ok(self)
    }

    fn applied(&self, current: &facility::Model) -> ServiceResult<facility::Model> {
        let mut f = current.clone();
        set(&mut f.name, self.name.clone());
        patch(&mut f.clia_number, self.clia_number.clone());
        patch(&mut f.address, self.address.clone());
        patch(&mut f.city, self.city.clone());
        patch(&mut f.state, self.state.clone());
        patch(&mut f.postal_code, self.postal_code.clone());
        patch(&mut f.country, self.country.clone());
        patch(&mut f.phone, self.phone.clone());
        patch(
            &mut f.default_ordering_clinician_id,
            self.default_ordering_clinician_id,
        );
        set(&mut f.accept_valid_groups, self.accept_valid_groups);
        if let Some(given) = &self.identifiers {
            f.identifiers = identifiers::stored(given)?;
        }
        if let Some(given) = &self.code_map {
            f.code_map = code_map::stored(given)?;
        }
        Ok(f)
    }
}

/// Adds a facility to the organisation.
#[instrument(skip(ctx, input), fields(request_id = %ctx.request_id))]
pub async fn create_facility(
    ctx: &RequestContext,
    input: FacilityPatch,
) -> ServiceResult<facility::Model> {
    let tenant_id = master::require(ctx, MAINTAINERS, CREATE_FACILITY, None)?;
    let fail = |e| ctx.failed(CREATE_FACILITY, None, e);
    let input = input.validated().map_err(fail)?;
    let name = input
        .name
        .clone()
        .ok_or_else(|| fail(ServiceError::bad_input("input.name", "is required")))?;
    let row = input
        .applied(&facility::Model {
            id: Uuid::now_v7(),
            tenant_id,
            name,
            clia_number: None,
            address: None,
            created_at: master::now(),
            city: None,
            state: None,
            postal_code: None,
            country: None,
            phone: None,
            updated_at: None,
            default_ordering_clinician_id: None,
            accept_valid_groups: false,
            identifiers: None,
            code_map: None,
        })
        .map_err(fail)?;
    let work = ctx.begin_write().await?;
    facility::Entity::insert(row.clone().into_active_model())
        .exec_without_returning(work.txn())
        .await?;
    work.commit().await?;
    master::done(ctx, CREATE_FACILITY.entity(row.id), None, Change::Created);
    Ok(row)
}

/// Changes the fields given of one of the organisation's facilities.
#[instrument(skip(ctx, input), fields(request_id = %ctx.request_id))]
pub async fn update_facility(
    ctx: &RequestContext,
    facility_id: Uuid,
    input: FacilityPatch,
) -> ServiceResult<facility::Model> {
    Update::new(MAINTAINERS, UPDATE_FACILITY, facility_id)
        .run(ctx, input)
        .await
}

/// A clinician's fields (`createClinician` needs a display name).
#[derive(Debug, Clone, Default)]
pub struct ClinicianPatch {
    pub display_name: Option<String>,
    pub given_name: Patch<String>,
    pub family_name: Patch<String>,
    pub npi: Patch<String>,
    /// The identity-provider subject of the clinician's login, if they sign in.
    pub user_subject: Patch<String>,
}

impl Kept for ClinicianPatch {
    type Row = clinician::Model;
    type Entity = clinician::Entity;
    type Active = clinician::ActiveModel;
    const NAME: &'static str = "clinician";
    const OWNER: Owner = Owner::Organisation;
    const DUPLICATE: Option<&'static str> = Some(DUPLICATE_CLINICIAN);

    fn tenant_column() -> clinician::Column {
        clinician::Column::TenantId
    }

    fn touch(row: &mut clinician::Model, at: DateTime<Utc>) {
        row.updated_at = Some(at);
    }

    fn validated(mut self) -> ServiceResult<Self> {
        if let Some(name) = &self.display_name {
            self.display_name = Some(fields::required("input.displayName", name, MAX_TEXT)?);
        }
        for (field, value) in [
            ("input.givenName", &self.given_name),
            ("input.familyName", &self.family_name),
            ("input.userSubject", &self.user_subject),
        ] {
            fields::optional(field, given(value), MAX_TEXT)?;
        }
        if let Some(Some(npi)) = &self.npi {
            fields::npi("input.npi", npi)?;
        }
        Ok(self)
    }

    fn applied(&self, current: &clinician::Model) -> ServiceResult<clinician::Model> {
        let mut c = current.clone();
        set(&mut c.display_name, self.display_name.clone());
        patch(&mut c.given_name, self.given_name.clone());
        patch(&mut c.family_name, self.family_name.clone());
        patch(&mut c.npi, self.npi.clone());
        patch(&mut c.user_subject, self.user_subject.clone());
        Ok(c)
    }

    /// A change that changes something must leave the NPI and login the clinician's own.
    async fn key_taken(
        &self,
        work: &Writing<'_>,
        current: &clinician::Model,
    ) -> ServiceResult<bool> {
        let next = self.applied(current)?;
        Ok(next != *current && taken(work, &next).await?)
    }
}

/// Adds a clinician; an NPI (or login) another clinician of the organisation has is a CONFLICT.
#[instrument(skip(ctx, input), fields(request_id = %ctx.request_id))]
pub async fn create_clinician(
    ctx: &RequestContext,
    input: ClinicianPatch,
) -> ServiceResult<clinician::Model> {
    let tenant_id = master::require(ctx, MAINTAINERS, CREATE_CLINICIAN, None)?;
    let fail = |e| ctx.failed(CREATE_CLINICIAN, None, e);
    let input = input.validated().map_err(fail)?;
    let display_name = input
        .display_name
        .clone()
        .ok_or_else(|| fail(ServiceError::bad_input("input.displayName", "is required")))?;
    let row = input
        .applied(&clinician::Model {
            id: Uuid::now_v7(),
            tenant_id,
            user_subject: None,
            display_name,
            npi: None,
            created_at: master::now(),
            given_name: None,
            family_name: None,
            updated_at: None,
        })
        .map_err(fail)?;
    let work = ctx.begin_write().await?;
    if taken(&work, &row).await? {
        return Err(fail(ServiceError::Conflict(DUPLICATE_CLINICIAN.into())));
    }
    clinician::Entity::insert(row.clone().into_active_model())
        .exec_without_returning(work.txn())
        .await
        .map_err(|e| fail(master::conflict_on_duplicate(e, DUPLICATE_CLINICIAN)))?;
    work.commit().await?;
    master::done(ctx, CREATE_CLINICIAN.entity(row.id), None, Change::Created);
    Ok(row)
}

/// Changes the fields given of one of the organisation's clinicians.
#[instrument(skip(ctx, input), fields(request_id = %ctx.request_id))]
pub async fn update_clinician(
    ctx: &RequestContext,
    clinician_id: Uuid,
    input: ClinicianPatch,
) -> ServiceResult<clinician::Model> {
    Update::new(MAINTAINERS, UPDATE_CLINICIAN, clinician_id)
        .run(ctx, input)
        .await
}

/// Whether another clinician of the tenant has the row's NPI or user subject.
async fn taken(work: &Writing<'_>, row: &clinician::Model) -> ServiceResult<bool> {
    let mut keys = sea_orm::Condition::any();
    if let Some(npi) = &row.npi {
        keys = keys.add(clinician::Column::Npi.eq(npi.as_str()));
    }
    if let Some(subject) = &row.user_subject {
        keys = keys.add(clinician::Column::UserSubject.eq(subject.as_str()));
    }
    if keys.is_empty() {
        return Ok(false);
    }
    let other = clinician::Entity::find()
        .filter(clinician::Column::TenantId.eq(row.tenant_id))
        .filter(clinician::Column::Id.ne(row.id))
        .filter(keys)
        .one(work.txn())
        .await?;
    Ok(other.is_some())
}
