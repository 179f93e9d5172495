//! What a batch of committed events shows each of the subscriptions they concern: the
//! results read once for the whole batch, each subscriber's access decided from what the hub
//! knows (the relation proved at subscribe time, grant revocations and expiry, the patient's
//! release preference), and the audit rows of every delivery appended in the batch's one
//! transaction, which commits before anything is delivered.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use portal_core::audit::{self, AuditRecord, Outcome, Who};
use portal_core::db::TenantDb;
use portal_core::error::{ServiceError, ServiceResult};
use portal_core::policy::{Access, PatientAccess, Relation};
use portal_core::release::{self, ReleaseRule};
use portal_entities::{audit_event, test_order, test_result};
use portal_subscriptions::Event;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use super::hub::{CareTeam, Live, Standing, Watch};
use super::shared::SharedResult;
use super::{Audience, PROXY_REVOKED, RESULT_PRELIMINARY, RESULT_RELEASED};
use crate::results::{READ, Visibility};

const SUBSCRIBE_READY: Access = Access::read("results.subscribe", "Patient");

/// One event of a batch with the subscriptions it concerns (an id the caller knows each by).
pub struct Routed<'a> {
    pub event: &'a Event,
    pub targets: Vec<(u64, &'a Watch)>,
}

/// What each event of `batch` gives each of its targets, in the same order: `None` when
/// nothing (not for that subscriber, or withheld by the release policy), `Live::End` when the
/// subscription must end (and nothing later in the batch reaches it). The batch runs in one
/// transaction of `tenant_id`: the results of all its events in one read, the facts that
/// decide access in one read each, and the audit rows of all deliveries in one append before
/// COMMIT. When anything of that fails, every delivery of the batch becomes UNAVAILABLE
/// (nothing is shown unaudited; the subscribers resume with `after`).
pub async fn serve(
    pool: &DatabaseConnection,
    tenant_id: Uuid,
    batch: &[Routed<'_>],
) -> Vec<Vec<Option<Live>>> {
    let db = TenantDb::request(pool.clone(), Some(tenant_id));
    let mut rows = Vec::new();
    let decided = decide(&db, tenant_id, batch, &mut rows).await;
    let committed = match &decided {
        Ok(_) => audit::commit_with(&db, rows).await,
        Err(_) => db.finish().await.map_err(ServiceError::from),
    };
    match (decided, committed) {
        (Ok(outcomes), Ok(())) => outcomes,
        (Ok(outcomes), Err(err)) => {
            tracing::error!(events = batch.len(), error = %err, "audit rows of live deliveries could not be written; withholding them");
            outcomes
                .into_iter()
                .map(|o| {
                    o.into_iter()
                        .map(|o| o.map(|_| unavailable(&err)))
                        .collect()
                })
                .collect()
        }
        (Err(err), _) => {
            tracing::warn!(events = batch.len(), error = %err, "live results could not be read");
            batch
                .iter()
                .map(|r| r.targets.iter().map(|_| Some(unavailable(&err))).collect())
                .collect()
        }
    }
}

fn unavailable(err: &ServiceError) -> Live {
    Live::End(ServiceError::Unavailable(err.to_string().into()))
}

/// Per event and target, the delivery; the rows to audit are pushed to `rows`.
async fn decide(
    db: &TenantDb,
    tenant_id: Uuid,
    batch: &[Routed<'_>],
    rows: &mut Vec<audit_event::Model>,
) -> ServiceResult<Vec<Vec<Option<Live>>>> {
    let facts = Facts::load(db, tenant_id, batch).await?;
    let now = chrono::Utc::now();
    let mut ended: HashSet<u64> = HashSet::new();
    let mut outcomes = Vec::with_capacity(batch.len());
    for routed in batch {
        let event = routed.event;
        let mut of_event = Vec::with_capacity(routed.targets.len());
        for (id, watch) in &routed.targets {
            let live = if ended.contains(id) {
                None
            } else {
                match event.event_type.as_str() {
                    RESULT_RELEASED | RESULT_PRELIMINARY => {
                        let wanted = event.event_type == RESULT_RELEASED
                            || watch.audience == Audience::CareTeam;
                        match facts.results.get(&event.aggregate_id) {
                            Some(shared) if wanted => facts
                                .decide(watch, &shared.model, now)
                                .into_live(watch, event, shared, rows),
                            _ => None,
                        }
                    }
                    PROXY_REVOKED => decide_revocation(event, watch, rows),
                    _ => None,
                }
            };
            if matches!(live, Some(Live::End(_))) {
                ended.insert(*id);
            }
            of_event.push(live);
        }
        outcomes.push(of_event);
    }
    Ok(outcomes)
}

/// A `proxy.revoked` event ends the subscriptions served under that grant, at once.
fn decide_revocation(
    event: &Event,
    watch: &Watch,
    rows: &mut Vec<audit_event::Model>,
) -> Option<Live> {
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

/// What the hub reads once per batch to decide all its subscribers.
struct Facts {
    /// The batch's results by id, each shared by all its subscribers on this replica.
    results: HashMap<Uuid, Arc<SharedResult>>,
    /// Results held from patient-facing viewers: the patient holds sensitive results and
    /// the result's test is sensitive (read only when a patient-facing viewer subscribes).
    held: HashSet<Uuid>,
    /// Per patient, the clinicians who ordered or were referred one of their tests (read only
    /// when a clinician subscribes).
    treating: HashMap<Uuid, Vec<Uuid>>,
}

impl Facts {
    async fn load(db: &TenantDb, tenant_id: Uuid, batch: &[Routed<'_>]) -> ServiceResult<Self> {
        let mut ids = Vec::new();
        let (mut patient_facing, mut clinicians) = (false, false);
        for routed in batch {
            let event = routed.event;
            let released = match event.event_type.as_str() {
                RESULT_RELEASED => true,
                RESULT_PRELIMINARY => false,
                _ => continue,
            };
            let wanted: Vec<&Watch> = routed
                .targets
                .iter()
                .map(|(_, w)| *w)
                .filter(|w| released || w.audience == Audience::CareTeam)
                .collect();
            if wanted.is_empty() {
                continue;
            }
            ids.push(event.aggregate_id);
            patient_facing |= wanted
                .iter()
                .any(|w| matches!(&w.standing, Standing::Patient(a) if a.is_patient_facing()));
            clinicians |= wanted
                .iter()
                .any(|w| matches!(w.standing, Standing::CareTeam(CareTeam::Clinician(_))));
        }
        if ids.is_empty() {
            return Ok(Self {
                results: HashMap::new(),
                held: HashSet::new(),
                treating: HashMap::new(),
            });
        }
        ids.sort_unstable();
        ids.dedup();
        let found = test_result::Entity::find()
            .filter(test_result::Column::TenantId.eq(tenant_id))
            .filter(test_result::Column::Id.is_in(ids))
            .all(db)
            .await?;
        let mut patients: Vec<Uuid> = found.iter().map(|r| r.patient_id).collect();
        patients.sort_unstable();
        patients.dedup();
        let held = if patient_facing {
            held_results(db, tenant_id, &found, &patients).await?
        } else {
            HashSet::new()
        };
        let treating = if clinicians {
            treating(db, tenant_id, &patients).await?
        } else {
            HashMap::new()
        };
        let results = found
            .into_iter()
            .map(|r| (r.id, Arc::new(SharedResult::new(r))))
            .collect();
        Ok(Self {
            results,
            held,
            treating,
        })
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
                    CareTeam::Clinician(id)
                        if self
                            .treating
                            .get(&result.patient_id)
                            .is_some_and(|t| t.contains(id)) =>
                    {
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
        let rule = ReleaseRule::new(access.is_patient_facing(), self.held.contains(&result.id));
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

/// Of `results`, those held from patient-facing viewers: their patient holds sensitive
/// results for review and their test is sensitive.
async fn held_results(
    db: &TenantDb,
    tenant_id: Uuid,
    results: &[test_result::Model],
    patients: &[Uuid],
) -> ServiceResult<HashSet<Uuid>> {
    let holding = release::holding_sensitive_results(db, tenant_id, patients).await?;
    let mut tests: Vec<Uuid> = results
        .iter()
        .filter(|r| holding.contains(&r.patient_id))
        .map(|r| r.test_id)
        .collect();
    tests.sort_unstable();
    tests.dedup();
    let sensitive = release::sensitive_tests(db, tenant_id, &tests).await?;
    Ok(results
        .iter()
        .filter(|r| holding.contains(&r.patient_id) && sensitive.contains(&r.test_id))
        .map(|r| r.id)
        .collect())
}

/// Per patient, the clinicians on their orders (ordering or referred).
async fn treating(
    db: &TenantDb,
    tenant_id: Uuid,
    patients: &[Uuid],
) -> ServiceResult<HashMap<Uuid, Vec<Uuid>>> {
    let rows: Vec<(Uuid, Option<Uuid>, Option<Uuid>)> = test_order::Entity::find()
        .select_only()
        .column(test_order::Column::PatientId)
        .column(test_order::Column::OrderingClinicianId)
        .column(test_order::Column::ReferringClinicianId)
        .filter(test_order::Column::TenantId.eq(tenant_id))
        .filter(test_order::Column::PatientId.is_in(patients.iter().copied()))
        .into_tuple()
        .all(db)
        .await?;
    let mut by_patient: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for (patient, ordering, referring) in rows {
        let ids = by_patient.entry(patient).or_default();
        ids.extend([ordering, referring].into_iter().flatten());
    }
    for ids in by_patient.values_mut() {
        ids.sort_unstable();
        ids.dedup();
    }
    Ok(by_patient)
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
