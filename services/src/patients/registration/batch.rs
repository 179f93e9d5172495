//! Registering many patients in the caller's transaction (a CSV import): the stored patients
//! of all the file's MRNs are read in a few queries and the new ones inserted in batches;
//! only rows that change are updated, one statement each.

use std::collections::HashMap;

use portal_core::context::Writing;
use portal_core::error::{ServiceError, ServiceResult};
use portal_entities::patient;
use sea_orm::{ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter};
use uuid::Uuid;

use super::{DUPLICATE_MRN, PatientPatch, REGISTER};
use crate::master::update;
use crate::master::{self, Change};

/// MRNs looked up per query.
const LOOKUP_CHUNK: usize = 500;
/// Patients inserted per statement (24 columns each, far below PostgreSQL's 65 535
/// parameters).
const INSERT_CHUNK: usize = 100;

/// A patch that could not be applied: its index in the list when it is one patch's fault.
#[derive(Debug)]
pub struct BatchFailure {
    pub index: Option<usize>,
    pub error: ServiceError,
}

impl From<ServiceError> for BatchFailure {
    fn from(error: ServiceError) -> Self {
        Self { index: None, error }
    }
}

/// `register_in` for every patch (validated, with distinct MRNs; the role checked), in the
/// order given; each is audited like a single registration.
pub async fn register_all_in(
    work: &Writing<'_>,
    tenant_id: Uuid,
    patches: &[PatientPatch],
) -> Result<Vec<Change>, BatchFailure> {
    let mrns = patches
        .iter()
        .enumerate()
        .map(|(index, p)| {
            p.mrn.as_deref().ok_or(BatchFailure {
                index: Some(index),
                error: ServiceError::bad_input("input.mrn", "is required"),
            })
        })
        .collect::<Result<Vec<&str>, _>>()?;
    let stored = stored_by_mrn(work, tenant_id, &mrns).await?;
    let mut changes = Vec::with_capacity(patches.len());
    let mut created = Vec::new();
    for (index, (patch, mrn)) in patches.iter().zip(&mrns).enumerate() {
        let at = |error| BatchFailure {
            index: Some(index),
            error,
        };
        let (row, change) = match stored.get(*mrn) {
            Some(current) => update::save(work, current, patch).await.map_err(at)?,
            None => {
                let row = patch.new_patient(tenant_id).map_err(at)?;
                created.push(row.clone());
                (row, Change::Created)
            }
        };
        master::done(work, REGISTER.entity(row.id), Some(row.id), change);
        changes.push(change);
    }
    for chunk in created.chunks(INSERT_CHUNK) {
        let rows = chunk
            .iter()
            .cloned()
            .map(IntoActiveModel::into_active_model);
        patient::Entity::insert_many(rows)
            .exec_without_returning(work.txn())
            .await
            .map_err(|e| master::conflict_on_duplicate(e, DUPLICATE_MRN))?;
    }
    Ok(changes)
}

async fn stored_by_mrn(
    work: &Writing<'_>,
    tenant_id: Uuid,
    mrns: &[&str],
) -> ServiceResult<HashMap<String, patient::Model>> {
    let mut stored = HashMap::with_capacity(mrns.len());
    for chunk in mrns.chunks(LOOKUP_CHUNK) {
        let rows = patient::Entity::find()
            .filter(patient::Column::TenantId.eq(tenant_id))
            .filter(patient::Column::Mrn.is_in(chunk.iter().copied()))
            .all(work.txn())
            .await?;
        stored.extend(rows.into_iter().map(|p| (p.mrn.clone(), p)));
    }
    Ok(stored)
}
