//! The event hub: one per replica, and inside it one follower per tenant. The follower reads
//! the tenant's publication sequence once for every subscription of the replica (reorder,
//! gap wait, catch-up from the outbox: `outbox::follow`) and routes each event only to the
//! subscriptions it concerns — those of its patient, and the care team's tenant-wide ones.
//! What events show each of them is decided in `event::serve`, once per batch of events
//! ready together (one transaction, one read of their results, one audit append).
//!
//! Each subscription has a bounded buffer (`buffer` events). A subscriber whose buffer is
//! full when an event is routed to it is dropped from the hub and its connection is told to
//! close (`CloseSignal`): the hub never waits for one client, and memory stays bounded. The
//! client resumes with `after`, replayed from the outbox.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use portal_core::context::Origin;
use portal_core::db::TenantDb;
use portal_core::error::{ServiceError, ServiceResult};
use portal_core::identity::Viewer;
use portal_core::policy::PatientAccess;
use portal_core::sync::lock;
use portal_messaging::outbox::{self, BATCH, Follow};
use portal_subscriptions::{Event, EventBus};
use sea_orm::DatabaseConnection;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc};
use uuid::Uuid;

use super::event::{self, proxy_grant_of, revoked};
use super::shared::SharedResult;
use super::{Audience, PROXY_REVOKED};
use crate::results::Visibility;

/// How long a tenant's follower waits after the outbox could not be read before it tries
/// again (the gap it could not fill stays open and is filled then).
const RETRY: Duration = Duration::from_secs(1);
/// The most events a tenant's follower serves in one batch (one transaction, one audit
/// append): what is ready together, up to this many.
const DISPATCH_BATCH: usize = 256;

/// A subscription as the hub keeps it: who, what, and how access is decided per event.
#[derive(Debug)]
pub struct Watch {
    pub audience: Audience,
    pub tenant_id: Uuid,
    /// Only this patient's events (always set for `resultReady`).
    pub patient_id: Option<Uuid>,
    pub standing: Standing,
    /// The tenant's publication number the subscriber is past (see `outbox::start_after`).
    pub after: i64,
    /// The subscriber's viewer, connection id and address (for the audit rows).
    pub origin: Origin,
    /// Told when the hub drops the subscription for not draining its buffer.
    pub closer: Option<Arc<CloseSignal>>,
}

impl Watch {
    pub fn viewer(&self) -> Option<&Viewer> {
        self.origin.viewer.as_ref()
    }
}

/// What access decisions of a subscription rest on.
#[derive(Debug, Clone)]
pub enum Standing {
    /// `resultReady`: the access proved when it started (a proxy's grant is watched for
    /// revocation and expiry).
    Patient(PatientAccess),
    /// `resultUpdated`: a care-team member, decided per event's patient.
    CareTeam(CareTeam),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CareTeam {
    /// Lab (`full == false`), staff or admin: every patient of the tenant.
    Tenant { full: bool },
    /// A clinician: patients whose tests they ordered or were referred.
    Clinician(Uuid),
}

/// What a subscription receives.
#[derive(Debug)]
pub enum Live {
    /// A result to show, with the rule under which this subscriber sees it.
    Result {
        event_id: Uuid,
        result: Arc<SharedResult>,
        vis: Visibility,
    },
    /// The subscription ends with this error (access lost, token expired, too slow, …).
    End(ServiceError),
}

/// Lets the hub ask a connection to close (the subscriber did not drain its buffer).
#[derive(Debug, Default)]
pub struct CloseSignal {
    fired: AtomicBool,
    notify: Notify,
}

impl CloseSignal {
    pub fn fire(&self) {
        self.fired.store(true, Ordering::SeqCst);
        self.notify.notify_one();
    }

    pub fn fired(&self) -> bool {
        self.fired.load(Ordering::SeqCst)
    }

    /// Completes once `fire` was called (before or after this call).
    pub async fn wait(&self) {
        while !self.fired() {
            self.notify.notified().await;
        }
    }
}

/// The replica's hub. Cheap to clone.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    pool: DatabaseConnection,
    bus: EventBus,
    buffer: usize,
    admission: Arc<Semaphore>,
    tenants: Mutex<HashMap<Uuid, Arc<TenantHub>>>,
    next_id: AtomicU64,
    counters: Arc<Counters>,
}

/// Totals since start, for metrics.
#[derive(Debug, Default)]
pub struct Counters {
    /// Subscriptions dropped because their buffer was full.
    pub slow_closed: AtomicU64,
    /// Events routed to at least one subscription.
    pub events_served: AtomicU64,
}

impl Hub {
    /// `buffer`: events held per subscription before it counts as not draining;
    /// `subscribe_slots`: subscribes authorized at once (see `admission`).
    pub fn new(
        pool: DatabaseConnection,
        bus: EventBus,
        buffer: usize,
        subscribe_slots: usize,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                pool,
                bus,
                buffer: buffer.max(1),
                admission: Arc::new(Semaphore::new(subscribe_slots.max(1))),
                tenants: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(1),
                counters: Arc::default(),
            }),
        }
    }

    /// A turn to subscribe, held while the subscribe is authorized and audited: only
    /// `subscribe_slots` of them use database connections at once, so a burst of thousands of
    /// subscribes (the morning's apps opening) waits here, in order, instead of timing out
    /// in the pool and starving the queries and deliveries of connections.
    pub async fn admission(&self) -> Option<OwnedSemaphorePermit> {
        self.inner.admission.clone().acquire_owned().await.ok()
    }

    /// Registers a subscription. Events numbered after `watch.after` reach it: those the
    /// hub already passed are replayed from the outbox for it alone, then live ones follow.
    pub async fn subscribe(&self, watch: Watch) -> ServiceResult<Subscription> {
        let tenant = self.tenant(watch.tenant_id).await?;
        let (tx, rx) = mpsc::channel(self.inner.buffer);
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let slow = Arc::new(AtomicBool::new(false));
        let watch = Arc::new(watch);
        let revoked_already = matches!(&watch.standing, Standing::Patient(a)
            if proxy_grant_of(a).is_some_and(|g| lock(&tenant.routes).revoked.contains(&g)));
        let upto = if revoked_already {
            None
        } else {
            let mut routes = lock(&tenant.routes);
            routes.insert(
                id,
                Entry {
                    watch: watch.clone(),
                    tx,
                    slow: slow.clone(),
                },
            );
            Some(routes.cursor)
        };
        let db = TenantDb::scoped(self.inner.pool.clone(), Some(watch.tenant_id));
        Ok(Subscription {
            guard: Guard { tenant, id },
            rx,
            slow,
            replay: upto.map(|upto| Replay {
                after: watch.after,
                upto,
                queue: VecDeque::new(),
            }),
            ended: revoked_already.then(revoked),
            done: false,
            watch,
            db,
        })
    }

    /// Open subscriptions of this replica.
    pub fn subscription_count(&self) -> usize {
        lock(&self.inner.tenants)
            .values()
            .map(|t| lock(&t.routes).subs.len())
            .sum()
    }

    pub fn counters(&self) -> Arc<Counters> {
        self.inner.counters.clone()
    }

    /// The tenant's follower, started on first use.
    async fn tenant(&self, tenant_id: Uuid) -> ServiceResult<Arc<TenantHub>> {
        if let Some(found) = lock(&self.inner.tenants).get(&tenant_id) {
            return Ok(found.clone());
        }
        let db = TenantDb::scoped(self.inner.pool.clone(), Some(tenant_id));
        let start = outbox::last_seq(&db, tenant_id).await?;
        let mut tenants = lock(&self.inner.tenants);
        if let Some(found) = tenants.get(&tenant_id) {
            return Ok(found.clone());
        }
        let hub = Arc::new(TenantHub {
            tenant_id,
            routes: Mutex::new(Routes {
                cursor: start,
                ..Routes::default()
            }),
            counters: self.inner.counters.clone(),
        });
        // Listening starts here, before anything numbered after `start` can be missed.
        let events = outbox::follow(
            db.clone(),
            &self.inner.bus,
            Follow {
                tenant_id,
                patient_id: None,
                after: start,
            },
        );
        tokio::spawn(run(hub.clone(), db, events));
        tenants.insert(tenant_id, hub.clone());
        Ok(hub)
    }
}

/// The subscriptions one event concerns, by id.
type Targets = Vec<(u64, Arc<Watch>)>;

/// One tenant's routing table.
struct TenantHub {
    tenant_id: Uuid,
    routes: Mutex<Routes>,
    counters: Arc<Counters>,
}

#[derive(Default)]
struct Routes {
    /// Every event of the tenant numbered up to here has been routed.
    cursor: i64,
    subs: HashMap<u64, Entry>,
    by_patient: HashMap<Uuid, Vec<u64>>,
    /// `resultUpdated` without a patient: every event of the tenant.
    everyone: Vec<u64>,
    /// Grants revoked since the hub started (a subscription that proved one before the
    /// revocation committed is refused when it registers after the hub saw it).
    revoked: HashSet<Uuid>,
}

struct Entry {
    watch: Arc<Watch>,
    tx: mpsc::Sender<Box<Live>>,
    slow: Arc<AtomicBool>,
}

impl Routes {
    fn insert(&mut self, id: u64, entry: Entry) {
        match entry.watch.patient_id {
            Some(patient) => self.by_patient.entry(patient).or_default().push(id),
            None => self.everyone.push(id),
        }
        self.subs.insert(id, entry);
    }

    fn remove(&mut self, id: u64) {
        let Some(entry) = self.subs.remove(&id) else {
            return;
        };
        match entry.watch.patient_id {
            Some(patient) => {
                if let Some(ids) = self.by_patient.get_mut(&patient) {
                    ids.retain(|i| *i != id);
                    if ids.is_empty() {
                        self.by_patient.remove(&patient);
                    }
                }
            }
            None => self.everyone.retain(|i| *i != id),
        }
    }

    /// The subscriptions `event` concerns (and moves the cursor past it).
    fn route(&mut self, event: &Event) -> Targets {
        self.cursor = self.cursor.max(event.seq);
        if event.event_type == PROXY_REVOKED {
            self.revoked.insert(event.aggregate_id);
        }
        let of_patient = event
            .patient_id
            .and_then(|p| self.by_patient.get(&p))
            .into_iter()
            .flatten();
        of_patient
            .chain(self.everyone.iter())
            .filter_map(|id| {
                let entry = self.subs.get(id)?;
                (entry.watch.after < event.seq).then(|| (*id, entry.watch.clone()))
            })
            .collect()
    }

    /// Hands `live` to the subscription without waiting; a full buffer drops it from the hub.
    fn send(&mut self, id: u64, live: Live, counters: &Counters) {
        let Some(entry) = self.subs.get(&id) else {
            return;
        };
        let end = matches!(live, Live::End(_));
        match entry.tx.try_send(Box::new(live)) {
            Ok(()) if !end => {}
            Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => self.remove(id),
            Err(mpsc::error::TrySendError::Full(_)) => {
                entry.slow.store(true, Ordering::SeqCst);
                if let Some(closer) = &entry.watch.closer {
                    closer.fire();
                }
                counters.slow_closed.fetch_add(1, Ordering::Relaxed);
                tracing::info!(
                    connection = %entry.watch.origin.request_id,
                    "subscriber did not drain its buffer; closing it (it resumes with `after`)"
                );
                self.remove(id);
            }
        }
    }
}

impl TenantHub {
    /// Routes a batch of events (in number order) and serves the subscriptions they concern
    /// in one go (`event::serve`: one transaction for the batch).
    async fn dispatch(&self, db: &TenantDb, events: Vec<Event>) {
        let routed: Vec<(Event, Targets)> = {
            let mut routes = lock(&self.routes);
            events
                .into_iter()
                .map(|event| {
                    let targets = routes.route(&event);
                    (event, targets)
                })
                .filter(|(_, targets)| !targets.is_empty())
                .collect()
        };
        if routed.is_empty() {
            return;
        }
        self.counters
            .events_served
            .fetch_add(routed.len() as u64, Ordering::Relaxed);
        let batch: Vec<event::Routed<'_>> = routed
            .iter()
            .map(|(event, targets)| event::Routed {
                event,
                targets: targets.iter().map(|(id, w)| (*id, w.as_ref())).collect(),
            })
            .collect();
        let outcomes = event::serve(db.pool(), self.tenant_id, &batch).await;
        let mut routes = lock(&self.routes);
        for ((_, targets), of_event) in routed.iter().zip(outcomes) {
            for ((id, _), outcome) in targets.iter().zip(of_event) {
                if let Some(live) = outcome {
                    routes.send(*id, live, &self.counters);
                }
            }
        }
    }
}

/// A tenant's follower: every event of the tenant, once, in number order. The events that
/// are ready together (a burst, a catch-up page) are served as one batch of at most
/// `DISPATCH_BATCH`.
async fn run(hub: Arc<TenantHub>, db: TenantDb, events: BoxStream<'static, ServiceResult<Event>>) {
    let mut chunks = events.ready_chunks(DISPATCH_BATCH);
    while let Some(chunk) = chunks.next().await {
        let mut batch = Vec::with_capacity(chunk.len());
        for next in chunk {
            match next {
                Ok(event) => batch.push(event),
                Err(err) => {
                    if !batch.is_empty() {
                        hub.dispatch(&db, std::mem::take(&mut batch)).await;
                    }
                    tracing::warn!(error = %err, "event hub could not read the outbox; retrying");
                    tokio::time::sleep(RETRY).await;
                }
            }
        }
        if !batch.is_empty() {
            hub.dispatch(&db, batch).await;
        }
    }
}

/// Removes the subscription from the hub when its stream is dropped.
struct Guard {
    tenant: Arc<TenantHub>,
    id: u64,
}

impl Drop for Guard {
    fn drop(&mut self) {
        lock(&self.tenant.routes).remove(self.id);
    }
}

/// Events the hub had passed when the subscription registered, read from the outbox.
struct Replay {
    after: i64,
    upto: i64,
    queue: VecDeque<Event>,
}

/// A registered subscription: turn it into its stream of deliveries.
pub struct Subscription {
    guard: Guard,
    rx: mpsc::Receiver<Box<Live>>,
    slow: Arc<AtomicBool>,
    replay: Option<Replay>,
    ended: Option<ServiceError>,
    done: bool,
    watch: Arc<Watch>,
    db: TenantDb,
}

impl Subscription {
    /// What the subscriber receives, ending after the first `Live::End`.
    pub fn into_stream(self) -> BoxStream<'static, Live> {
        futures_util::stream::unfold(self, |mut s| async move {
            let next = s.next().await?;
            Some((next, s))
        })
        .boxed()
    }

    async fn next(&mut self) -> Option<Live> {
        if self.done {
            return None;
        }
        if let Some(err) = self.ended.take() {
            return self.emit(Live::End(err));
        }
        loop {
            if let Some(replay) = &mut self.replay {
                if let Some(event) = replay.queue.pop_front() {
                    let batch = [event::Routed {
                        event: &event,
                        targets: vec![(self.guard.id, self.watch.as_ref())],
                    }];
                    // Boxed (and `fill_replay` below): the subscription's stream keeps room
                    // for the largest future it awaits while it idles in `recv`.
                    let mut outcome =
                        Box::pin(event::serve(self.db.pool(), self.watch.tenant_id, &batch)).await;
                    if let Some(Some(live)) = outcome.pop().and_then(|mut o| o.pop()) {
                        return self.emit(live);
                    }
                    continue;
                }
                if replay.after < replay.upto {
                    if let Err(err) = Box::pin(self.fill_replay()).await {
                        return self.emit(Live::End(err));
                    }
                    continue;
                }
                self.replay = None;
            }
            return match self.rx.recv().await {
                Some(live) => self.emit(*live),
                None if self.slow.load(Ordering::SeqCst) => self.emit(Live::End(too_slow())),
                None => None,
            };
        }
    }

    async fn fill_replay(&mut self) -> ServiceResult<()> {
        let Some(replay) = &mut self.replay else {
            return Ok(());
        };
        let follow = Follow {
            tenant_id: self.watch.tenant_id,
            patient_id: self.watch.patient_id,
            after: replay.after,
        };
        let page = outbox::page(&self.db, &follow, replay.after, replay.upto).await?;
        replay.after = match page.last() {
            Some(last) if page.len() as u64 == BATCH => last.seq,
            _ => replay.upto,
        };
        replay.queue.extend(page);
        Ok(())
    }

    fn emit(&mut self, live: Live) -> Option<Live> {
        if matches!(live, Live::End(_)) {
            self.done = true;
            lock(&self.guard.tenant.routes).remove(self.guard.id);
        }
        Some(live)
    }
}

fn too_slow() -> ServiceError {
    ServiceError::Unavailable("the subscriber did not read its events; resume with `after`".into())
}
