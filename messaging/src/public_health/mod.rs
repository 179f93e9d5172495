//! Public-health reporting (like SimpleReport's uploader to ReportStream): reports queued with
//! their results (`portal_services::ingest::public_health`) are batched, written as CSV and uploaded
//! to the tenant's endpoint, and leave the queue only when the receiver accepted them.
//!
//! Guarantees: one report per result version (unique by result); a batch's membership and
//! CSV never change, and every resend carries the same id, so a receiver that drops repeated
//! ids records each report once, even after a timeout or a "504 that was really a success";
//! a report enters a new batch only after its batch was refused (4xx). Rows a 4xx names go to
//! the error queue (`queue::open_errors`, `queue::replay_errors`). Batches are a
//! [`crate::queue`] retry queue ([`queue::Batches`]) and the error queue its dead letter
//! ([`queue::Reports`]): a batch is held under a lease, so a worker killed mid-upload leaves
//! it to the next worker once the lease ends.

mod batch;
mod columns;
pub mod disclosure;
mod facts;
pub mod queue;
pub mod receiver;
mod rows;
mod upload;

use std::collections::HashMap;
use std::time::Duration;

use portal_entities::tenant;
use sea_orm::{DatabaseConnection, EntityTrait};
use tracing::instrument;
use uuid::Uuid;

pub use batch::Recorded;
pub use columns::{COLUMNS, REQUIRED};
pub use facts::{Place, ResultFacts, When, facts_from_stored_result};
pub use rows::{Hold, RowSettings, WITHDRAWAL_HELD};
pub use upload::{Answer, Destination, HttpEndpoint, is_refusal, parse_header};

use crate::queue::{Backoff, Retries};
use portal_core::db::TenantDb;
use portal_core::error::ServiceResult;

/// Sizes, lease and backoff (`PUBLIC_HEALTH_*`).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Reports taken from the queue at a time while forming a batch (`PUBLIC_HEALTH_DEQUEUE_BATCH`).
    pub dequeue_batch: usize,
    /// Most reports per upload (`PUBLIC_HEALTH_MAX_BATCH`).
    pub max_batch: usize,
    /// How long a worker holds a batch (`PUBLIC_HEALTH_LEASE_SECS`).
    pub lease: Duration,
    /// The upload request timeout (`PUBLIC_HEALTH_TIMEOUT_MS`); an upload starts only while
    /// twice this much of the lease is left.
    pub timeout: Duration,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    pub processing_mode: String,
}

impl Settings {
    /// Uploads are retried for ever (a batch leaves only when answered), doubling from the
    /// base, no jitter.
    pub fn retries(&self) -> Retries {
        Retries {
            max_attempts: None,
            backoff: Backoff::exponential(self.backoff_base, self.backoff_max),
        }
    }
}

/// The reporting facility an endpoint's rows name (`reporting_facility_name`, `_clia`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reporter {
    pub name: String,
    pub clia: String,
}

/// What an endpoint takes and whom its rows name as reporter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointRules {
    /// Codes of the catalog tests the endpoint accepts; `None` takes every reportable test.
    /// Reports of other tests wait in the error queue, saying so.
    pub accepts: Option<Vec<String>>,
    /// The tenant's configured reporter; `None`: the testing lab reports.
    pub reporter: Option<Reporter>,
}

/// Where each tenant reports: its own binding (by tenant id or slug), else the default.
#[derive(Debug, Clone, Default)]
pub struct Destinations {
    pub default: Option<Destination>,
    /// Keyed by tenant id (as text) or slug.
    pub per_tenant: HashMap<String, Destination>,
    /// The rules of the default endpoint.
    pub default_rules: EndpointRules,
    /// The rules of each tenant's own endpoint, keyed as `per_tenant`.
    pub rules: HashMap<String, EndpointRules>,
}

impl Destinations {
    pub fn for_tenant(&self, tenant: &tenant::Model) -> Option<&Destination> {
        self.binding(tenant)
            .and_then(|key| self.per_tenant.get(key))
            .or(self.default.as_ref())
    }

    /// The rules of the endpoint `for_tenant` picks.
    pub fn rules_for(&self, tenant: &tenant::Model) -> &EndpointRules {
        match self.binding(tenant) {
            Some(key) => self.rules.get(key).unwrap_or(&self.default_rules),
            None => &self.default_rules,
        }
    }

    fn binding(&self, tenant: &tenant::Model) -> Option<&str> {
        let id = tenant.id.to_string();
        if self.per_tenant.contains_key(&id) {
            return self.per_tenant.get_key_value(&id).map(|(k, _)| k.as_str());
        }
        self.per_tenant
            .get_key_value(&tenant.slug)
            .map(|(k, _)| k.as_str())
    }
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassCounts {
    /// Uploads answered 2xx (or written to the folder).
    pub sent: usize,
    /// Uploads to retry later (5xx, timeout, no connection).
    pub retried: usize,
    /// Uploads refused (4xx).
    pub refused: usize,
    /// Reports moved to the error queue (refused, or missing required data).
    pub errors: usize,
    /// Of those, the reports held back before sending, by why (`Hold::as_str`).
    pub held: HeldCounts,
    /// Reports delivered.
    pub reports_sent: usize,
}

/// Reports held back before sending, by why.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeldCounts {
    pub withdrawal: usize,
    pub out_of_scope: usize,
    pub invalid_row: usize,
}

impl HeldCounts {
    fn add(&mut self, hold: Hold) {
        match hold {
            Hold::Withdrawal => self.withdrawal += 1,
            Hold::OutOfScope => self.out_of_scope += 1,
            Hold::InvalidRow => self.invalid_row += 1,
        }
    }

    /// Each reason with its count.
    pub fn by_reason(&self) -> [(Hold, usize); 3] {
        [
            (Hold::Withdrawal, self.withdrawal),
            (Hold::OutOfScope, self.out_of_scope),
            (Hold::InvalidRow, self.invalid_row),
        ]
    }
}

/// One pass over every tenant: retries due batches, forms and sends new ones until the queue
/// is empty, an upload must wait (5xx, timeout), or `stop()` says so.
#[instrument(skip_all)]
pub async fn report_due(
    pool: &DatabaseConnection,
    destinations: &Destinations,
    settings: &Settings,
    stop: &(dyn Fn() -> bool + Sync),
) -> ServiceResult<PassCounts> {
    let mut counts = PassCounts::default();
    for tenant in tenant::Entity::find().all(pool).await? {
        let db = TenantDb::scoped(pool.clone(), Some(tenant.id));
        let Some(destination) = destinations.for_tenant(&tenant) else {
            continue;
        };
        let row_settings = RowSettings {
            processing_mode: settings.processing_mode.clone(),
            sender_id: sender_id(destination, &tenant),
            rules: destinations.rules_for(&tenant).clone(),
        };
        report_tenant(
            &db,
            tenant.id,
            destination,
            settings,
            &row_settings,
            stop,
            &mut counts,
        )
        .await?;
    }
    if counts != PassCounts::default() {
        tracing::info!(
            sent = counts.sent,
            retried = counts.retried,
            refused = counts.refused,
            errors = counts.errors,
            reports_sent = counts.reports_sent,
            "public-health reports uploaded"
        );
    }
    Ok(counts)
}

fn sender_id(destination: &Destination, tenant: &tenant::Model) -> String {
    match destination {
        Destination::Http(endpoint) => endpoint
            .client_name()
            .map_or_else(|| tenant.slug.clone(), str::to_owned),
        Destination::Directory(_) => tenant.slug.clone(),
    }
}

async fn report_tenant(
    db: &TenantDb,
    tenant: Uuid,
    destination: &Destination,
    settings: &Settings,
    row_settings: &RowSettings,
    stop: &(dyn Fn() -> bool + Sync),
    counts: &mut PassCounts,
) -> ServiceResult<()> {
    while !stop() {
        let claimed = match batch::claim_due(db, tenant, settings).await? {
            Some(claimed) => claimed,
            None => match batch::form(db, tenant, settings, row_settings).await? {
                batch::Formed::Batch(claimed, held) => {
                    count_held(counts, &held);
                    claimed
                }
                batch::Formed::OnlyProblems(held) => {
                    count_held(counts, &held);
                    continue;
                }
                batch::Formed::Empty => return Ok(()),
            },
        };
        if !claimed.lease.has_time_for(settings.timeout) {
            tracing::warn!(batch.id = %claimed.batch.id, "lease nearly over: batch left for the next claim");
            return Ok(());
        }
        let answer = upload::send(destination, claimed.batch.id, &claimed.batch.payload).await;
        let recorded =
            batch::record(db, &claimed, &answer, settings, &destination.receiver()).await?;
        tracing::info!(
            batch.id = %claimed.batch.id,
            rows = claimed.batch.row_count,
            attempt = claimed.batch.attempts + 1,
            outcome = ?recorded,
            "public-health batch uploaded"
        );
        match recorded {
            Recorded::Sent => {
                counts.sent += 1;
                counts.reports_sent += usize::try_from(claimed.batch.row_count).unwrap_or(0);
            }
            Recorded::Refused { errors, .. } => {
                counts.refused += 1;
                counts.errors += errors;
            }
            // The receiver is in trouble (or the lease ran out): wait for the next pass.
            Recorded::Retried => {
                counts.retried += 1;
                return Ok(());
            }
            Recorded::LeaseLost => return Ok(()),
        }
    }
    Ok(())
}

fn count_held(counts: &mut PassCounts, held: &[Hold]) {
    counts.errors += held.len();
    for hold in held {
        counts.held.add(*hold);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portal_core::clock;

    fn tenant(slug: &str) -> tenant::Model {
        tenant::Model {
            id: Uuid::now_v7(),
            slug: slug.into(),
            name: slug.into(),
            created_at: clock::now(),
        }
    }

    #[test]
    fn a_tenant_binding_wins_over_the_default_by_slug_or_id() {
        let lakeside = tenant("lakeside");
        let by_id = tenant("hilltop");
        let destinations = Destinations {
            default: Some(Destination::Directory("/default".into())),
            per_tenant: HashMap::from([
                (
                    "lakeside".to_owned(),
                    Destination::Directory("/lakeside".into()),
                ),
                (
                    by_id.id.to_string(),
                    Destination::Directory("/hilltop".into()),
                ),
            ]),
            ..Destinations::default()
        };
        let dir = |t: &tenant::Model| match destinations.for_tenant(t) {
            Some(Destination::Directory(dir)) => dir.display().to_string(),
            other => format!("{other:?}"),
        };
        assert_eq!(dir(&lakeside), "/lakeside");
        assert_eq!(dir(&by_id), "/hilltop");
        assert_eq!(dir(&tenant("riverside")), "/default");
        let none = Destinations::default();
        assert!(
            none.for_tenant(&lakeside).is_none(),
            "no endpoint: reports stay queued"
        );
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let settings = Settings {
            dequeue_batch: 32,
            max_batch: 500,
            lease: Duration::from_secs(300),
            timeout: Duration::from_secs(30),
            backoff_base: Duration::from_secs(60),
            backoff_max: Duration::from_secs(300),
            processing_mode: "P".into(),
        };
        let backoff = settings.retries().backoff;
        let delays: Vec<u64> = (1..=5).map(|a| backoff.delay(a).as_secs()).collect();
        assert_eq!(delays, [60, 120, 240, 300, 300]);
    }
}
