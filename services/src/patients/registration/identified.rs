//! Registration with identifiers under other authorities (HL7 ADT, a walk-in's ORU): the
//! patient is matched or created by MRN as every registration is, and their identifiers of
//! the sending facilities' authorities are recorded in the same transaction.

use portal_core::context::RequestContext;
use portal_core::error::ServiceResult;
use portal_entities::patient;
use tracing::instrument;
use uuid::Uuid;

use super::{Demographics, PatientPatch, REGISTER, register_in};
use crate::master::update::Kept;
use crate::master::{self, Change, REGISTRARS};
use crate::patients::identity;

/// An identifier (CX.1) of a known authority other than the tenant's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Linked {
    pub authority_id: Uuid,
    pub value: String,
    /// The patient is registered from this identifier alone (a walk-in's ORU).
    pub walk_in: bool,
}

/// `register`, then each identifier linked to the patient, in one transaction; an
/// identifier another patient holds is a CONFLICT and nothing is written.
#[instrument(skip(ctx, d, identifiers), fields(request_id = %ctx.request_id))]
pub async fn register_identified(
    ctx: &RequestContext,
    d: Demographics,
    identifiers: &[Linked],
) -> ServiceResult<(patient::Model, Change)> {
    let tenant_id = master::require(ctx, REGISTRARS, REGISTER, None)?;
    let patch = PatientPatch::from(d)
        .validated()
        .map_err(|e| ctx.failed(REGISTER, None, e))?;
    let work = ctx.begin_write().await?;
    let (row, mut change) = register_in(&work, tenant_id, &patch).await?;
    for linked in identifiers {
        let new = identity::link_in(
            &work,
            tenant_id,
            row.id,
            linked.authority_id,
            &linked.value,
            linked.walk_in,
        )
        .await?;
        if new && change == Change::Unchanged {
            change = Change::Updated;
        }
    }
    work.commit().await?;
    Ok((row, change))
}

/// An MRN for a patient registered from another authority's identifier alone (a walk-in):
/// `W` and 12 hexadecimal digits of a new time-ordered id.
pub fn walk_in_mrn() -> String {
    let id = Uuid::now_v7().simple().to_string().to_uppercase();
    format!("W{}", &id[id.len() - 12..])
}
