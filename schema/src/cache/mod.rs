//! The read cache: whole query answers per viewer, in process memory (embedded default) or
//! Redis (production), invalidated by generation counters that every write moves on.
//!
//! `lookup` runs before a request executes, `after` once it has executed (and its writes
//! have committed). A hit writes the same audit records again, under the new request id, and
//! is withheld like any answer when the audit trail cannot be written. See docs/caching.md.

mod entry;
mod memory;
mod plan;
mod redis_store;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_graphql::{Request, Response};
use portal_core::RequestContext;
use portal_core::read_deps::ReadDeps;
use uuid::Uuid;

use crate::documents::Parsed;
use entry::{Entry, Hit, StoredRecord};
use memory::MemoryStore;
use plan::Kind;
use redis_store::RedisStore;

const PREFIX: &str = "portal:cache:v1";
/// Every entry depends on it; it moves on when a Redis bump could not be written.
const EPOCH_KEY: &str = "portal:cache:v1:g:epoch";
/// Audit actions after which the lists of whom a viewer may see can change (a new order
/// makes a clinician's patient, a grant or revoke a proxy's; a registered or renamed patient
/// joins a staff list or search).
const LIST_CHANGING_ACTIONS: &[&str] = &[
    "result.create",
    "proxy_grant.create",
    "proxy_grant.revoke",
    "patient.create",
    "patient.register",
    "patient.update",
];
/// Audit action prefixes of master data that answers show without naming a patient's
/// generation (a facility's name on an order, the catalog): they move the tenant's master
/// data generation, on which every entry of the tenant depends.
const MASTER_DATA_ACTIONS: &[&str] = &["facility.", "clinician.", "catalog_test."];
/// Entries that would live shorter than this are not stored.
const MIN_TTL: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("Redis: {0}")]
    Redis(String),
    #[error("skipped: Redis failed moments ago")]
    CoolingDown,
}

/// Where entries live.
enum Store {
    Memory(MemoryStore),
    Redis(RedisStore),
}

/// The cache of one application; cheap to clone.
#[derive(Clone)]
pub struct ReadCache {
    inner: Option<Arc<Inner>>,
    stats: Arc<Stats>,
}

struct Inner {
    store: Store,
    ttl: Duration,
}

/// Requests by outcome since start (for `/metrics`).
#[derive(Debug, Default)]
pub struct Stats {
    pub hit: AtomicU64,
    pub miss: AtomicU64,
    pub bypass: AtomicU64,
    pub error: AtomicU64,
}

/// What a request needs from the cache once it has executed.
pub enum Plan {
    /// Nothing to do.
    Skip,
    /// A miss: store the answer if it is clean and nothing was written meanwhile.
    Store {
        key: String,
        tenant: Uuid,
        write_generation: Option<String>,
    },
    /// A mutation: move the generations of what it touched on.
    Invalidate { tenant: Uuid },
}

/// The outcome of `lookup`.
pub enum Lookup {
    /// A valid entry: answer from it (see `serve`).
    Hit(Hit),
    Proceed(Plan),
}

impl ReadCache {
    /// No cache: every request runs live.
    pub fn disabled() -> Self {
        Self {
            inner: None,
            stats: Arc::default(),
        }
    }

    /// The embedded default: in this process, bounded in size.
    pub fn in_process(ttl: Duration) -> Self {
        Self::with_store(Store::Memory(MemoryStore::default()), ttl)
    }

    /// Shared by every replica through Redis at `url`; connects on first use.
    pub fn redis(url: &str, ttl: Duration) -> Result<Self, CacheError> {
        Ok(Self::with_store(Store::Redis(RedisStore::new(url)?), ttl))
    }

    fn with_store(store: Store, ttl: Duration) -> Self {
        Self {
            inner: Some(Arc::new(Inner { store, ttl })),
            stats: Arc::default(),
        }
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Before executing: a valid entry for this viewer and request, or what to do after.
    pub async fn lookup(
        &self,
        request: &Request,
        parsed: Option<&Parsed>,
        ctx: &RequestContext,
    ) -> Lookup {
        let Some(inner) = &self.inner else {
            return Lookup::Proceed(Plan::Skip);
        };
        let viewer = ctx.viewer.as_ref();
        let key = match plan::classify(request, parsed, viewer) {
            Kind::Read(key) => key,
            Kind::Write => {
                return Lookup::Proceed(match ctx.tenant() {
                    Some(tenant) => Plan::Invalidate { tenant },
                    None => Plan::Skip,
                });
            }
            Kind::Bypass => {
                count(&self.stats.bypass);
                return Lookup::Proceed(Plan::Skip);
            }
        };
        let tenant = ctx.tenant().unwrap_or_default();
        match inner.find(&key, tenant).await {
            Ok((Some(entry), _)) => {
                count(&self.stats.hit);
                Lookup::Hit(entry)
            }
            Ok((None, write_generation)) => {
                count(&self.stats.miss);
                Lookup::Proceed(Plan::Store {
                    key,
                    tenant,
                    write_generation,
                })
            }
            Err(err) => {
                count(&self.stats.error);
                tracing::debug!(request_id = %ctx.request_id, error = %err, "read cache unavailable; answering live");
                Lookup::Proceed(Plan::Skip)
            }
        }
    }

    /// After a change made outside a request (a CSV import): every entry of the tenant is
    /// stale, its patient lists and master data included.
    pub async fn invalidate_tenant(&self, tenant: Uuid) -> Result<(), CacheError> {
        let Some(inner) = &self.inner else {
            return Ok(());
        };
        let keys = [master_key(tenant), list_key(tenant), write_key(tenant)];
        inner.bump(&keys).await
    }

    /// After writes of a unit of work that did not come through GraphQL (an HL7 message, a
    /// job), once they committed: the same generations a mutation with these audit records
    /// moves on.
    pub async fn invalidate_after(&self, ctx: &RequestContext) -> Result<(), CacheError> {
        let (Some(inner), Some(tenant)) = (&self.inner, ctx.tenant()) else {
            return Ok(());
        };
        inner.invalidate(tenant, &ctx.read_deps()).await
    }

    /// After executing (and after the request's writes committed).
    pub async fn after(&self, plan: Plan, deps: &ReadDeps, response: &Response) {
        let Some(inner) = &self.inner else {
            return;
        };
        let result = match plan {
            Plan::Skip => return,
            Plan::Store {
                key,
                tenant,
                write_generation,
            } => {
                inner
                    .store(key, tenant, write_generation, deps, response)
                    .await
            }
            Plan::Invalidate { tenant } => inner.invalidate(tenant, deps).await,
        };
        if let Err(err) = result {
            tracing::debug!(error = %err, "read cache not updated");
        }
    }
}

/// Answers from a hit: its audit records are written again now, under this request's unit
/// of work; when they cannot be, the client gets UNAVAILABLE instead of the data, as on a
/// live read.
pub async fn serve(hit: Hit, ctx: &RequestContext) -> Response {
    for record in hit.records {
        ctx.record(record);
    }
    match ctx.finish().await {
        Ok(_) => Response::new(hit.data),
        Err(why) => crate::finish::withheld(&ctx.request_id, why.what, &why.cause),
    }
}

impl Inner {
    /// The entry under `key` if every generation it depends on is unchanged, and the tenant's
    /// write generation now (read before executing, checked again before storing).
    async fn find(
        &self,
        key: &str,
        tenant: Uuid,
    ) -> Result<(Option<Hit>, Option<String>), CacheError> {
        let entry_key = format!("{PREFIX}:e:{key}");
        let write_key = write_key(tenant);
        let (entry, write_generation) = match &self.store {
            Store::Memory(store) => store.get(&entry_key, &write_key),
            Store::Redis(store) => store.get(&entry_key, &write_key).await?,
        };
        let Some(entry) = entry else {
            return Ok((None, write_generation));
        };
        let keys: Vec<String> = entry.deps.iter().map(|(k, _)| k.clone()).collect();
        let current = self.generations(&keys).await?;
        let valid = entry
            .deps
            .iter()
            .zip(&current)
            .all(|((_, then), now)| then == now);
        let hit = if valid { entry.into_hit() } else { None };
        Ok((hit, write_generation))
    }

    async fn store(
        &self,
        key: String,
        tenant: Uuid,
        write_generation: Option<String>,
        deps: &ReadDeps,
        response: &Response,
    ) -> Result<(), CacheError> {
        if !response.errors.is_empty() {
            return Ok(());
        }
        let Some(ttl) = self.ttl_for(deps) else {
            return Ok(());
        };
        let records = deps.records();
        let mut keys: Vec<String> = vec![EPOCH_KEY.to_owned()];
        keys.extend(patient_keys(tenant, &records));
        keys.push(master_key(tenant));
        if deps.lists_patients() {
            keys.push(list_key(tenant));
        }
        keys.push(write_key(tenant));
        let mut generations = self.generations(&keys).await?;
        // A write that committed while this answer was computed may not be in it.
        if generations.pop().flatten() != write_generation {
            return Ok(());
        }
        keys.pop();
        let entry = Entry {
            data: response.data.clone(),
            records: records.iter().map(StoredRecord::from_record).collect(),
            deps: keys.into_iter().zip(generations).collect(),
        };
        let entry_key = format!("{PREFIX}:e:{key}");
        match &self.store {
            Store::Memory(store) => {
                store.put(entry_key, entry, ttl);
                Ok(())
            }
            Store::Redis(store) => store.put(&entry_key, &entry, ttl).await,
        }
    }

    async fn invalidate(&self, tenant: Uuid, deps: &ReadDeps) -> Result<(), CacheError> {
        let records = deps.records();
        let mut keys: Vec<String> = patient_keys(tenant, &records).collect();
        if records
            .iter()
            .any(|r| LIST_CHANGING_ACTIONS.contains(&r.action.as_str()))
        {
            keys.push(list_key(tenant));
        }
        if records.iter().any(|r| {
            MASTER_DATA_ACTIONS
                .iter()
                .any(|prefix| r.action.starts_with(prefix))
        }) {
            keys.push(master_key(tenant));
        }
        keys.push(write_key(tenant));
        self.bump(&keys).await
    }

    async fn bump(&self, keys: &[String]) -> Result<(), CacheError> {
        match &self.store {
            Store::Memory(store) => {
                store.bump(keys);
                Ok(())
            }
            Store::Redis(store) => store.bump(keys).await,
        }
    }

    async fn generations(&self, keys: &[String]) -> Result<Vec<Option<String>>, CacheError> {
        match &self.store {
            Store::Memory(store) => Ok(store.generations(keys)),
            Store::Redis(store) => store.generations(keys).await,
        }
    }

    /// The configured TTL, shortened to when a grant the answer relied on starts or ends.
    fn ttl_for(&self, deps: &ReadDeps) -> Option<Duration> {
        let ttl = match deps.fresh_until() {
            Some(until) => {
                let left = (until - chrono::Utc::now()).to_std().ok()?;
                left.min(self.ttl)
            }
            None => self.ttl,
        };
        (ttl >= MIN_TTL).then_some(ttl)
    }
}

fn patient_keys(
    tenant: Uuid,
    records: &[portal_core::audit::AuditRecord],
) -> impl Iterator<Item = String> {
    let patients: BTreeSet<Uuid> = records.iter().filter_map(|r| r.patient_id).collect();
    patients
        .into_iter()
        .map(move |p| format!("{PREFIX}:g:p:{tenant}:{p}"))
}

fn list_key(tenant: Uuid) -> String {
    format!("{PREFIX}:g:lists:{tenant}")
}

fn master_key(tenant: Uuid) -> String {
    format!("{PREFIX}:g:master:{tenant}")
}

fn write_key(tenant: Uuid) -> String {
    format!("{PREFIX}:g:writes:{tenant}")
}

fn count(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}
