//! Release policy (SPEC §4): which results a patient or proxy may see. Every read path asks here.

use std::collections::HashSet;

use portal_entities::{ResultStatus, notification_preference, test_catalog, test_result};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use crate::error::ServiceResult;
use crate::policy::PatientAccess;

/// Result statuses a patient sees at once, without clinician review (Cures Act).
pub const RELEASED_STATUSES: [ResultStatus; 3] = [
    ResultStatus::Final,
    ResultStatus::Corrected,
    ResultStatus::EnteredInError,
];

pub fn is_released_status(status: ResultStatus) -> bool {
    RELEASED_STATUSES.contains(&status)
}

/// What this viewer may see of one patient's results.
#[derive(Debug, Clone, Copy)]
pub struct ReleaseRule {
    patient_facing: bool,
    hold_sensitive: bool,
}

impl ReleaseRule {
    /// The rule from what the caller knows already (the event hub decides many subscribers
    /// of one patient from one read of the preference).
    pub fn new(patient_facing: bool, hold_sensitive: bool) -> Self {
        Self {
            patient_facing,
            hold_sensitive: patient_facing && hold_sensitive,
        }
    }

    /// Loads the patient's sensitive-results preference when the viewer is patient-facing.
    pub async fn for_access<C: ConnectionTrait>(
        db: &C,
        access: &PatientAccess,
    ) -> ServiceResult<Self> {
        let hold_sensitive = access.is_patient_facing()
            && holds_sensitive_results(db, access.tenant_id, access.patient_id).await?;
        Ok(Self {
            patient_facing: access.is_patient_facing(),
            hold_sensitive,
        })
    }

    /// Like `for_access`, over the request's handle, using the preference when the request
    /// fetched it ahead (a patient read brings it along).
    pub async fn for_request(
        ctx: &crate::context::RequestContext,
        access: &PatientAccess,
    ) -> ServiceResult<Self> {
        if !access.is_patient_facing() {
            return Ok(Self {
                patient_facing: false,
                hold_sensitive: false,
            });
        }
        let hold_sensitive = match ctx.prefetch().hold(access.patient_id) {
            Some(hold) => hold,
            None => holds_sensitive_results(ctx.db(), access.tenant_id, access.patient_id).await?,
        };
        Ok(Self {
            patient_facing: true,
            hold_sensitive,
        })
    }

    /// A filter that keeps only the results this viewer may see (for list queries).
    pub fn condition(&self, tenant_id: Uuid) -> Condition {
        let mut cond = Condition::all();
        if self.patient_facing {
            cond = cond.add(test_result::Column::Status.is_in(RELEASED_STATUSES));
            if self.hold_sensitive {
                cond = cond.add(
                    Expr::col((test_result::Entity, test_result::Column::TestId)).not_in_subquery(
                        Query::select()
                            .column(test_catalog::Column::Id)
                            .from(test_catalog::Entity)
                            .and_where(test_catalog::Column::TenantId.eq(tenant_id))
                            .and_where(test_catalog::Column::Sensitive.eq(true))
                            .to_owned(),
                    ),
                );
            }
        }
        cond
    }

    /// Whether sensitive results are held from this viewer.
    pub fn holds_sensitive(&self) -> bool {
        self.hold_sensitive
    }

    /// Whether one result is visible; `sensitive` is its catalog entry's flag.
    pub fn allows(&self, result: &test_result::Model, sensitive: bool) -> bool {
        if !self.patient_facing {
            return true;
        }
        is_released_status(result.status) && !(self.hold_sensitive && sensitive)
    }
}

/// Whether the patient chose to hold sensitive results until they discussed them.
pub async fn holds_sensitive_results<C: ConnectionTrait>(
    db: &C,
    tenant_id: Uuid,
    patient_id: Uuid,
) -> ServiceResult<bool> {
    let hold = notification_preference::Entity::find()
        .select_only()
        .column(notification_preference::Column::HoldSensitiveResults)
        .filter(notification_preference::Column::TenantId.eq(tenant_id))
        .filter(notification_preference::Column::PatientId.eq(patient_id))
        .into_tuple::<bool>()
        .one(db)
        .await?;
    Ok(hold.unwrap_or(false))
}

/// Of `patients`, those who hold sensitive results for review (one query for many; the event
/// hub decides a batch of events at once).
pub async fn holding_sensitive_results<C: ConnectionTrait>(
    db: &C,
    tenant_id: Uuid,
    patients: &[Uuid],
) -> ServiceResult<HashSet<Uuid>> {
    if patients.is_empty() {
        return Ok(HashSet::new());
    }
    let holding: Vec<Uuid> = notification_preference::Entity::find()
        .select_only()
        .column(notification_preference::Column::PatientId)
        .filter(notification_preference::Column::TenantId.eq(tenant_id))
        .filter(notification_preference::Column::PatientId.is_in(patients.iter().copied()))
        .filter(notification_preference::Column::HoldSensitiveResults.eq(true))
        .into_tuple()
        .all(db)
        .await?;
    Ok(holding.into_iter().collect())
}

/// Of `tests`, the sensitive ones (one query for many, like `holding_sensitive_results`).
pub async fn sensitive_tests<C: ConnectionTrait>(
    db: &C,
    tenant_id: Uuid,
    tests: &[Uuid],
) -> ServiceResult<HashSet<Uuid>> {
    if tests.is_empty() {
        return Ok(HashSet::new());
    }
    let sensitive: Vec<Uuid> = test_catalog::Entity::find()
        .select_only()
        .column(test_catalog::Column::Id)
        .filter(test_catalog::Column::TenantId.eq(tenant_id))
        .filter(test_catalog::Column::Id.is_in(tests.iter().copied()))
        .filter(test_catalog::Column::Sensitive.eq(true))
        .into_tuple()
        .all(db)
        .await?;
    Ok(sensitive.into_iter().collect())
}

/// Keeps only the latest version of each correction chain: results nobody replaced.
pub fn current_versions(patient_id: Uuid) -> Condition {
    Condition::all().add(
        Expr::col((test_result::Entity, test_result::Column::Id)).not_in_subquery(
            Query::select()
                .column(test_result::Column::ReplacesResultId)
                .from(test_result::Entity)
                .and_where(test_result::Column::PatientId.eq(patient_id))
                .and_where(test_result::Column::ReplacesResultId.is_not_null())
                .to_owned(),
        ),
    )
}

/// Whether a catalog test is flagged sensitive (a patient may hold such results).
pub async fn is_sensitive<C: ConnectionTrait>(
    db: &C,
    tenant_id: Uuid,
    test_id: Uuid,
) -> ServiceResult<bool> {
    let sensitive = test_catalog::Entity::find_by_id(test_id)
        .select_only()
        .column(test_catalog::Column::Sensitive)
        .filter(test_catalog::Column::TenantId.eq(tenant_id))
        .into_tuple::<bool>()
        .one(db)
        .await?;
    Ok(sensitive.unwrap_or(false))
}
