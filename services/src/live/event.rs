//! What one committed event shows each of the subscriptions it concerns: the result read
//! once, each subscriber's access decided from what the hub knows (the relation proved at
//! subscribe time, grant revocations and expiry, the patient's release preference), and the
//! audit rows of every delivery written in one append before anything is delivered.

use std::sync::Arc;

use portal_core::audit::{self, AuditRecord, Outcome, Who};
use portal_core::db::TenantDb;
use portal_core::error::{ServiceError, ServiceResult};
use portal_core::policy::{Access, PatientAccess, Relation};
use portal_core::release::{self, ReleaseRule};
use portal_entities::{audit_event, test_order, test_result};
use portal_subscriptions::Event;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use super::hub::{CareTeam, Live, Standing, Watch};
use super::shared::SharedResult;
use super::{Audience, PROXY_REVOKED, RESULT_PRELIMINARY, RESULT_RELEASED};
use crate::results::{READ, Visibility};

const SUBSCRIBE_READY: Access = Access::read("results.subscribe", "Patient");

/// What `event` gives each of `watches`, in the same order: `None` when nothing (not for
/// that subscriber, or withheld by the release policy), `Live::End` when the subscription
/// must end. Reads the result at most once and appends the audit rows of all deliveries in
/// one transaction; when that append fails, every delivery becomes UNAVAILABLE (nothing is
/// shown unaudited).
pub async fn serve(db: &TenantDb, event: &Event, watches: &[&Watch]) -> Vec<Option<Live>> {
    let mut rows = Vec::new();
    let outcomes = match event.event_type.as_str() {
        RESULT_RELEASED | RESULT_PRELIMINARY => {
            match decide_result(db, event, watches, &mut rows).await {
                Ok(outcomes) => outcomes,
                Err(err) => {
                    tracing::warn!(event_id = %event.id, error = %err, "live result could not be read");
                    return watches.iter().map(|_| Some(unavailable(&err))).collect();
                }
            }
        }
        PROXY_REVOKED => decide_revocation(event, watches, &mut rows),
        _ => return watches.iter().map(|_| None).collect(),
    };
    if rows.is_empty() {
        return outcomes;
    }
    match audit::append(db, rows).await {
        Ok(_) => outcomes,
        Err(err) => {
            tracing::error!(event_id = %event.id, error = %err, "audit rows of live deliveries could not be written; withholding them");
            outcomes
                .into_iter()
                .map(|o| o.map(|_| unavailable(&err)))
                .collect()
        }
    }
}

fn unavailable(err: &ServiceError) -> Live {
    Live::End(ServiceError::Unavailable(err.to_string().into()))
}

/// Per watch, the delivery of a result event; the rows to audit are pushed to `rows`.
async fn decide_result(
    db: &TenantDb,
    event: &Event,
    watches: &[&Watch],
    rows: &mut Vec<audit_event::Model>,
) -> ServiceResult<Vec<Option<Live>>> {
    let released = event.event_type == RESULT_RELEASED;
    let wanted: Vec<bool> = watches
        .iter()
        .map(|w| released || w.audience == Audience::CareTeam)
        .collect();
    if !wanted.contains(&true) {
        return Ok(watches.iter().map(|_| None).collect());
    }
    let Some(result) = test_result::Entity::find_by_id(event.aggregate_id)
        .filter(test_result::Column::TenantId.eq(event.tenant_id))
        .one(db)
        .await?
    else {
        return Ok(watches.iter().map(|_| None).collect());
    };
    let facts = Facts::load(db, &result, watches).await?;
    let shared = Arc::new(SharedResult::new(result));
    let now = chrono::Utc::now();
    let outcomes = watches
        .iter()
        .zip(wanted)
        .map(|(watch, wanted)| {
            if !wanted {
                return None;
            }
            let decision = facts.decide(watch, &shared.model, now);
            decision.into_live(watch, event, &shared, rows)
        })
        .collect();
    Ok(outcomes)
}

/// A `proxy.revoked` event ends the subscriptions served under that grant, at once.
fn decide_revocation(
    event: &Event,
    watches: &[&Watch],
    rows: &mut Vec<audit_event::Model>,
) -> Vec<Option<Live>> {
    watches
        .iter()
        .map(|watch| {
            let Standing::Patient(access) = &watch.standing else {
                return None;
            };
            if proxy_grant_of(access) != Some(event.aggregate_id) {
                return None;
            }
            rows.push(denied(
                watch,
                SUBSCRIBE_READY.entity(access.patient_id),
                "grant revoked",
            ));
            Some(Live::End(revoked()))
        })
        .collect()
}

pub(super) fn revoked() -> ServiceError {
    ServiceError::Forbidden("you may not see this patient's data".into())
}

pub(super) fn proxy_grant_of(access: &PatientAccess) -> Option<Uuid> {
    match access.relation {
        Relation::Proxy { grant_id, .. } => Some(grant_id),
        _ => None,
    }
}

/// What the hub reads once per result event to decide all its subscribers.
struct Facts {
    /// The patient holds sensitive results and this result's test is sensitive.
    held: bool,
    /// Clinicians who ordered or were referred one of the patient's tests (read only when a
    /// clinician subscribes).
    treating: Vec<Uuid>,
}

impl Facts {
    async fn load(
        db: &TenantDb,
        result: &test_result::Model,
        watches: &[&Watch],
    ) -> ServiceResult<Self> {
        let patient_facing = watches
            .iter()
            .any(|w| matches!(&w.standing, Standing::Patient(a) if a.is_patient_facing()));
        let held = patient_facing
            && release::holds_sensitive_results(db, result.tenant_id, result.patient_id).await?
            && release::is_sensitive(db, result.tenant_id, result.test_id).await?;
        let clinicians = watches
            .iter()
            .any(|w| matches!(w.standing, Standing::CareTeam(CareTeam::Clinician(_))));
        let treating = if clinicians {
            treating(db, result).await?
        } else {
            Vec::new()
        };
        Ok(Self { held, treating })
    }

    fn decide(
        &self,
        watch: &Watch,
        result: &test_result::Model,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Decision {
        if watch.viewer().is_none_or(|v| v.is_expired()) {
            return Decision::End(ServiceError::Unauthenticated(
                "the token has expired".into(),
            ));
        }
        let access = match &watch.standing {
            Standing::Patient(access) => {
                if let Relation::Proxy {
                    valid_to: Some(to), ..
                } = access.relation
                    && to <= now
                {
                    return Decision::Lost(access.patient_id, "grant expired");
                }
                access.clone()
            }
            Standing::CareTeam(team) => {
                let relation = match team {
                    CareTeam::Tenant { full } => Relation::Tenant { full: *full },
                    CareTeam::Clinician(id) if self.treating.contains(id) => {
                        Relation::Clinician { clinician_id: *id }
                    }
                    // Not a patient of theirs: skipped unaudited, like rows a list filters.
                    CareTeam::Clinician(_) => return Decision::Skip,
                };
                PatientAccess {
                    patient_id: result.patient_id,
                    tenant_id: result.tenant_id,
                    relation,
                }
            }
        };
        let rule = ReleaseRule::new(access.is_patient_facing(), self.held);
        if !rule.allows(result, true) {
            return Decision::Withheld;
        }
        Decision::Show(Visibility { access, rule })
    }
}

/// One subscriber's part of one result event.
enum Decision {
    Show(Visibility),
    /// Not released to this viewer (audited as a denied read, as a query would be).
    Withheld,
    /// Not this subscriber's concern.
    Skip,
    /// Access to the patient ended (audited); the subscription ends FORBIDDEN.
    Lost(Uuid, &'static str),
    End(ServiceError),
}

impl Decision {
    fn into_live(
        self,
        watch: &Watch,
        event: &Event,
        shared: &Arc<SharedResult>,
        rows: &mut Vec<audit_event::Model>,
    ) -> Option<Live> {
        let read = READ.entity(shared.model.id);
        match self {
            Self::Show(vis) => {
                let record =
                    AuditRecord::new(read, Some(shared.model.patient_id), Outcome::Allowed)
                        .proxy_for(vis.access.proxy_for());
                rows.push(record.into_row(&watch.who()));
                Some(Live::Result {
                    event_id: event.id,
                    result: shared.clone(),
                    vis,
                })
            }
            Self::Withheld => {
                rows.push(denied(watch, read, "not released"));
                None
            }
            Self::Skip => None,
            Self::Lost(patient_id, why) => {
                rows.push(denied(watch, SUBSCRIBE_READY.entity(patient_id), why));
                Some(Live::End(revoked()))
            }
            Self::End(err) => Some(Live::End(err)),
        }
    }
}

fn denied(watch: &Watch, what: Access, why: &str) -> audit_event::Model {
    AuditRecord::new(what, watch.patient_id, Outcome::Denied)
        .reason(why)
        .into_row(&watch.who())
}

/// The clinicians on the patient's orders (ordering or referred).
async fn treating(db: &TenantDb, result: &test_result::Model) -> ServiceResult<Vec<Uuid>> {
    let pairs: Vec<(Option<Uuid>, Option<Uuid>)> = test_order::Entity::find()
        .select_only()
        .column(test_order::Column::OrderingClinicianId)
        .column(test_order::Column::ReferringClinicianId)
        .filter(test_order::Column::TenantId.eq(result.tenant_id))
        .filter(test_order::Column::PatientId.eq(result.patient_id))
        .into_tuple()
        .all(db)
        .await?;
    let mut ids: Vec<Uuid> = pairs
        .into_iter()
        .flat_map(|(a, b)| [a, b])
        .flatten()
        .collect();
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

impl Watch {
    pub(super) fn who(&self) -> Who<'_> {
        Who {
            viewer: self.origin.viewer.as_ref(),
            request_id: &self.origin.request_id,
            client_addr: self.origin.client_addr.as_deref(),
        }
    }
}
