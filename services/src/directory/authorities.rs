//! Assigning authorities of patient identifiers (master data, staff and admins): the
//! organisation's own (its MRNs) and one per sending facility, with the facility's walk-in
//! rules — register an unknown patient from an ORU, send result links to such patients —
//! both off until set. See docs/master-data.md, "Patient identifier authorities".

use portal_core::access::Access;
use portal_core::context::RequestContext;
use portal_core::error::{ServiceError, ServiceResult};
use portal_entities::{facility, patient_id_authority};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, Set,
};
use tracing::instrument;
use uuid::Uuid;

use crate::master::fields::{self, MAX_TEXT};
use crate::master::{self, Change, MAINTAINERS};

const SET: Access = Access::write("patient_id_authority.set", "PatientIdAuthority");
const READ: Access = Access::read("patient_id_authority.read", "PatientIdAuthority");

/// HL7 table 0301 universal id types the portal accepts.
pub const UNIVERSAL_ID_TYPES: &[&str] = &[
    "CLIA", "CLIP", "DNS", "EUI64", "GUID", "HCD", "HL7", "ISO", "L", "M", "N", "NPI", "Random",
    "URI", "UUID", "x400", "x500",
];

/// An authority as staff set it (every field replaces the stored one).
#[derive(Debug, Clone, Default)]
pub struct AuthorityInput {
    pub namespace: Option<String>,
    pub universal_id: Option<String>,
    pub universal_id_type: Option<String>,
    pub registers_patients: bool,
    pub sends_result_links: bool,
}

impl AuthorityInput {
    fn validated(mut self, own: bool) -> ServiceResult<Self> {
        let trimmed = |v: Option<String>| v.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        self.namespace = trimmed(self.namespace);
        self.universal_id = trimmed(self.universal_id);
        self.universal_id_type = trimmed(self.universal_id_type);
        fields::optional("input.namespace", self.namespace.as_deref(), MAX_TEXT)?;
        fields::optional("input.universalId", self.universal_id.as_deref(), MAX_TEXT)?;
        if self.namespace.is_none() && self.universal_id.is_none() {
            return Err(ServiceError::bad_input(
                "input.namespace",
                "an authority needs a namespace id or a universal id",
            ));
        }
        match (&self.universal_id, &mut self.universal_id_type) {
            (Some(_), None) => {
                return Err(ServiceError::bad_input(
                    "input.universalIdType",
                    "a universal id needs its type (HL7 table 0301: ISO, CLIA, DNS, UUID...)",
                ));
            }
            (_, Some(kind)) => {
                let known = UNIVERSAL_ID_TYPES
                    .iter()
                    .find(|k| k.eq_ignore_ascii_case(kind))
                    .ok_or_else(|| {
                        ServiceError::bad_input(
                            "input.universalIdType",
                            "unknown universal id type (HL7 table 0301)",
                        )
                    })?;
                *kind = (*known).to_owned();
            }
            (None, None) => {}
        }
        if own && (self.registers_patients || self.sends_result_links) {
            return Err(ServiceError::bad_input(
                "input.registersPatients",
                "walk-in rules belong to a sending facility's authority, not the organisation's own",
            ));
        }
        Ok(self)
    }
}

/// Sets the authority of a facility (or, without one, the organisation's own), creating it
/// the first time (`setPatientIdAuthority`).
#[instrument(skip(ctx, input), fields(request_id = %ctx.request_id))]
pub async fn set(
    ctx: &RequestContext,
    facility_id: Option<Uuid>,
    input: AuthorityInput,
) -> ServiceResult<patient_id_authority::Model> {
    let tenant_id = master::require(ctx, MAINTAINERS, SET, None)?;
    let fail = |e| ctx.failed(SET, None, e);
    let input = input.validated(facility_id.is_none()).map_err(fail)?;
    let work = ctx.begin_write().await?;
    if let Some(facility_id) = facility_id {
        facility::Entity::find_by_id(facility_id)
            .filter(facility::Column::TenantId.eq(tenant_id))
            .one(work.txn())
            .await?
            .ok_or_else(|| fail(ServiceError::NotFound("facility")))?;
    }
    let mut stored = patient_id_authority::Entity::find()
        .filter(patient_id_authority::Column::TenantId.eq(tenant_id));
    stored = match facility_id {
        Some(id) => stored.filter(patient_id_authority::Column::FacilityId.eq(id)),
        None => stored.filter(patient_id_authority::Column::FacilityId.is_null()),
    };
    let now = master::now();
    let (row, change) = match stored.one(work.txn()).await? {
        Some(current) => {
            let mut active = current.into_active_model();
            active.namespace = Set(input.namespace);
            active.universal_id = Set(input.universal_id);
            active.universal_id_type = Set(input.universal_id_type);
            active.registers_patients = Set(input.registers_patients);
            active.sends_result_links = Set(input.sends_result_links);
            active.updated_at = Set(Some(now));
            (active.update(work.txn()).await?, Change::Updated)
        }
        None => {
            let row = patient_id_authority::Model {
                id: Uuid::now_v7(),
                tenant_id,
                facility_id,
                namespace: input.namespace,
                universal_id: input.universal_id,
                universal_id_type: input.universal_id_type,
                registers_patients: input.registers_patients,
                sends_result_links: input.sends_result_links,
                created_at: now,
                updated_at: None,
            };
            patient_id_authority::Entity::insert(row.clone().into_active_model())
                .exec_without_returning(work.txn())
                .await
                .map_err(|e| {
                    fail(master::conflict_on_duplicate(
                        e,
                        "the facility already has an authority",
                    ))
                })?;
            (row, Change::Created)
        }
    };
    work.commit().await?;
    master::done(ctx, SET.entity(row.id), None, change);
    Ok(row)
}

/// The organisation's authorities, its own first (`patientIdAuthorities`).
#[instrument(skip(ctx), fields(request_id = %ctx.request_id))]
pub async fn list(ctx: &RequestContext) -> ServiceResult<Vec<patient_id_authority::Model>> {
    let tenant_id = master::require(ctx, MAINTAINERS, READ, None)?;
    let mut rows = patient_id_authority::Entity::find()
        .filter(patient_id_authority::Column::TenantId.eq(tenant_id))
        .order_by_asc(patient_id_authority::Column::CreatedAt)
        .order_by_asc(patient_id_authority::Column::Id)
        .all(ctx.db())
        .await?;
    rows.sort_by_key(|a| a.facility_id.is_some());
    Ok(rows)
}
