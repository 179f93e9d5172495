//! The unit of work of one request: who asks, the tenant-bound database handle, the audit
//! buffer, the relation cache and what the answer depends on — created once at the edge
//! (HTTP, WebSocket delivery, cache hit, job, HL7 message) and finished once (`finish`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use portal_entities::audit_event;
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, TransactionTrait};
use uuid::Uuid;

use crate::audit::{self, AuditRecord, Outcome};
use crate::error::{ServiceError, ServiceResult};
use crate::identity::Viewer;
use crate::policy::{Access, Relation};
use crate::prefetch::Prefetch;
use crate::read_deps::ReadDeps;
use crate::sync::lock;
use crate::tenant_db::TenantDb;

/// Where a request comes from, as the edge knows it before any work is done.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub viewer: Option<Viewer>,
    /// Recorded on every audit row of the request.
    pub request_id: String,
    pub client_addr: Option<String>,
}

impl Origin {
    pub fn new(viewer: Option<Viewer>, request_id: String, client_addr: Option<String>) -> Self {
        Self {
            viewer,
            request_id,
            client_addr,
        }
    }
}

/// How the request uses the database (PostgreSQL; on SQLite both are the pool).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// One transaction bound to the tenant for everything the request reads, begun on its
    /// first statement; `finish` commits it with the audit rows (a GraphQL query).
    Query,
    /// Statement by statement, and each write in a transaction of its own, bound to the
    /// tenant (mutations, subscription deliveries, jobs, HL7 messages).
    Statements,
    /// One write transaction for everything the request does, on both backends: the
    /// services' transactions are savepoints in it, `finish` commits it with the audit rows
    /// (an HL7 message: one message, one outcome).
    Message,
}

/// One request as every service sees it (see the module documentation). Services take
/// `&RequestContext` and nothing beside it: the database handle is `db()`.
pub struct RequestContext {
    pub viewer: Option<Viewer>,
    pub request_id: String,
    pub client_addr: Option<String>,
    tenant: Option<Uuid>,
    db: TenantDb,
    /// How many of the request's audit records (kept in `deps`) are written already.
    written: Mutex<usize>,
    relations: Mutex<HashMap<Uuid, Option<Relation>>>,
    relation_lookups: std::sync::atomic::AtomicUsize,
    deps: Arc<ReadDeps>,
    prefetch: Arc<Prefetch>,
}

impl RequestContext {
    /// The request's unit of work over `pool`, bound to the viewer's tenant (the tenant is
    /// derived here, once).
    pub fn new(pool: &DatabaseConnection, shape: Shape, origin: Origin) -> Self {
        let tenant = origin.viewer.as_ref().map(|v| v.tenant_id);
        let db = match shape {
            Shape::Query => TenantDb::request(pool.clone(), tenant),
            Shape::Statements => TenantDb::scoped(pool.clone(), tenant),
            Shape::Message => TenantDb::message(pool.clone(), tenant),
        };
        Self::over(db, origin)
    }

    /// A unit of work over a handle the caller bound already to the viewer's tenant (a
    /// WebSocket connection's).
    pub fn over(db: TenantDb, origin: Origin) -> Self {
        Self {
            tenant: origin.viewer.as_ref().map(|v| v.tenant_id),
            viewer: origin.viewer,
            request_id: origin.request_id,
            client_addr: origin.client_addr,
            db,
            written: Mutex::new(0),
            relations: Mutex::new(HashMap::new()),
            relation_lookups: std::sync::atomic::AtomicUsize::new(0),
            deps: Arc::default(),
            prefetch: Arc::default(),
        }
    }

    /// The database handle of this request, bound to its tenant.
    pub fn db(&self) -> &TenantDb {
        &self.db
    }

    /// The tenant the request is bound to (the viewer's), if any.
    pub fn tenant(&self) -> Option<Uuid> {
        self.tenant
    }

    /// Where the request came from (for a fresh unit of work on its behalf).
    pub fn origin(&self) -> Origin {
        Origin::new(
            self.viewer.clone(),
            self.request_id.clone(),
            self.client_addr.clone(),
        )
    }

    /// The authenticated viewer, or UNAUTHENTICATED.
    pub fn viewer(&self) -> ServiceResult<&Viewer> {
        self.viewer
            .as_ref()
            .ok_or_else(|| ServiceError::Unauthenticated("a bearer token is required".into()))
    }

    /// Begins a write transaction on the request's handle (see `db::begin_write`); what runs
    /// inside takes the returned `Writing`, the same request inside that transaction.
    pub async fn begin_write(&self) -> Result<Writing<'_>, DbErr> {
        let txn = crate::db::begin_write(&self.db).await?;
        Ok(Writing { ctx: self, txn })
    }

    pub fn record(&self, record: AuditRecord) {
        self.deps.record(record);
    }

    /// Records a change that access allowed but a business rule refused; hands the error back.
    pub fn failed(
        &self,
        what: Access,
        patient_id: Option<Uuid>,
        err: ServiceError,
    ) -> ServiceError {
        self.record(
            AuditRecord::new(what, patient_id, Outcome::Failed).reason(err.code().as_str()),
        );
        err
    }

    /// What the answer depends on; the read cache keeps this handle across the execution.
    pub fn read_deps(&self) -> Arc<ReadDeps> {
        self.deps.clone()
    }

    /// Rows fetched ahead for this request's loaders (see `prefetch`).
    pub fn prefetch(&self) -> &Arc<Prefetch> {
        &self.prefetch
    }

    /// The answer lists the patients the viewer may see (see `ReadDeps::lists_patients`).
    pub fn note_patient_list(&self) {
        self.deps.note_patient_list();
    }

    /// The answer may change by itself at `at` (a grant starts or ends then).
    pub fn note_until(&self, at: chrono::DateTime<chrono::Utc>) {
        self.deps.note_until(at);
    }

    /// How many times this request looked a viewer–patient relation up in the database.
    pub fn relation_lookups(&self) -> usize {
        self.relation_lookups
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Writes the records buffered so far now, in a transaction of their own (a subscription
    /// audits its start before it follows events). Fails when the trail cannot be written.
    pub async fn flush_audit(&self) -> ServiceResult<usize> {
        let rows = self.take_rows();
        if rows.is_empty() {
            return Ok(0);
        }
        audit::append(&self.own_handle(), rows).await
    }

    /// Ends the request: its transaction commits with its audit rows. If either fails the
    /// caller must withhold the answer (nothing of patient data goes unrecorded, and no
    /// answer is given for a transaction that did not commit).
    ///
    /// - `Shape::Query` on PostgreSQL: the rows are appended inside the query's own
    ///   transaction and commit with it. If that fails, the rows are written in a transaction
    ///   of their own and the answer is still withheld.
    /// - Otherwise (writes committed as they ran; SQLite): the rows go in their own
    ///   transaction, bound to the tenant.
    pub async fn finish(&self) -> Result<usize, Unfinished> {
        let rows = self.take_rows();
        let count = rows.len();
        if let TenantDb::Request(_) = &self.db {
            let committed = if rows.is_empty() {
                self.db.finish().await.map_err(|e| e.to_string())
            } else {
                self.commit_with_audit(rows.clone()).await
            };
            let Err(cause) = committed else {
                return Ok(count);
            };
            if rows.is_empty() {
                return Err(Unfinished::new(
                    "the request's transaction did not commit",
                    cause,
                ));
            }
            if let Err(err) = audit::append(&self.own_handle(), rows).await {
                tracing::error!(request_id = %self.request_id, error = %err, "audit records could not be written on their own either");
            }
            return Err(Unfinished::new(
                "the request's transaction and its audit records did not commit",
                cause,
            ));
        }
        if rows.is_empty() {
            return Ok(0);
        }
        audit::append(&self.own_handle(), rows)
            .await
            .map_err(|err| Unfinished::new("audit trail write failed", err.to_string()))
    }

    /// Appends the rows in the query's transaction, then commits it (`audit::commit_with`:
    /// the transaction is ended either way, so its connection goes back to the pool).
    async fn commit_with_audit(&self, rows: Vec<audit_event::Model>) -> Result<(), String> {
        audit::commit_with(&self.db, rows)
            .await
            .map_err(|e| e.to_string())
    }

    /// A handle of the same tenant outside the request's transaction.
    fn own_handle(&self) -> TenantDb {
        TenantDb::scoped(self.db.pool().clone(), self.tenant())
    }

    /// The records not yet written, as audit rows (they count as written from now on).
    pub fn take_rows(&self) -> Vec<audit_event::Model> {
        let mut written = lock(&self.written);
        let (records, end) = self.deps.records_from(*written);
        *written = end;
        records
            .into_iter()
            .map(|r| r.into_row(&self.who()))
            .collect()
    }

    /// The rows of the records not yet written, and `extra`'s last, for a write that sends
    /// them in its own transaction. Nothing counts as written until `audit_committed` is
    /// given the returned mark: if the write fails, the records stay for `finish` and `extra`
    /// is not recorded.
    pub fn rows_for_commit(
        &self,
        extra: Option<AuditRecord>,
    ) -> (Vec<audit_event::Model>, PendingAudit) {
        let written = *lock(&self.written);
        let (mut records, end) = self.deps.records_from(written);
        records.extend(extra.clone());
        let rows: Vec<_> = records
            .into_iter()
            .map(|r| r.into_row(&self.who()))
            .collect();
        let pending = PendingAudit {
            end,
            extra,
            rows: rows.clone(),
        };
        (rows, pending)
    }

    /// The rows of `rows_for_commit` committed: they count as written, and its extra record
    /// joins the request's records where its row was.
    pub fn audit_committed(&self, pending: PendingAudit) {
        let mut written = lock(&self.written);
        let mut end = pending.end;
        if let Some(extra) = pending.extra {
            self.deps.record_at(end, extra);
            end += 1;
        }
        *written = (*written).max(end);
    }

    /// The write of `rows_for_commit` did not commit: its extra record joins the request's
    /// records (to be written like any other, e.g. by `flush_audit`), nothing counts as written.
    pub fn audit_not_committed(&self, pending: PendingAudit) {
        let _written = lock(&self.written);
        if let Some(extra) = pending.extra {
            self.deps.record_at(pending.end, extra);
        }
    }

    fn who(&self) -> audit::Who<'_> {
        audit::Who {
            viewer: self.viewer.as_ref(),
            request_id: &self.request_id,
            client_addr: self.client_addr.as_deref(),
        }
    }

    pub(crate) fn cached_relation(&self, patient_id: Uuid) -> Option<Option<Relation>> {
        lock(&self.relations).get(&patient_id).cloned()
    }

    pub(crate) fn cache_relation(&self, patient_id: Uuid, relation: Option<Relation>) {
        self.relation_lookups
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        lock(&self.relations).insert(patient_id, relation);
    }
}

/// Which records a write sent with its rows (see `RequestContext::rows_for_commit`).
#[derive(Debug)]
#[must_use = "pass it to `audit_committed` once the rows committed"]
pub struct PendingAudit {
    end: usize,
    extra: Option<AuditRecord>,
    rows: Vec<audit_event::Model>,
}

impl PendingAudit {
    /// The rows the write sent.
    pub fn rows(&self) -> &[audit_event::Model] {
        &self.rows
    }

    /// The extra record with another outcome (the write's COMMIT failed).
    pub fn failed(mut self, reason: &str) -> Self {
        if let Some(extra) = &mut self.extra {
            extra.outcome = Outcome::Failed;
            extra.reason = Some(reason.to_owned());
        }
        self
    }
}

/// Why a request could not be finished; the answer is withheld (UNAVAILABLE).
#[derive(Debug)]
pub struct Unfinished {
    pub what: &'static str,
    pub cause: String,
}

impl Unfinished {
    fn new(what: &'static str, cause: String) -> Self {
        Self { what, cause }
    }
}

/// The request inside one of its write transactions: services that write take this, so the
/// transaction and the request travel as one value. `commit` ends it; dropping it rolls back.
pub struct Writing<'a> {
    pub ctx: &'a RequestContext,
    txn: DatabaseTransaction,
}

impl Writing<'_> {
    pub fn txn(&self) -> &DatabaseTransaction {
        &self.txn
    }

    pub async fn commit(self) -> Result<(), DbErr> {
        self.txn.commit().await
    }

    pub async fn rollback(self) -> Result<(), DbErr> {
        self.txn.rollback().await
    }

    /// A savepoint in this transaction as a `Writing` of its own: `commit` releases it,
    /// `rollback` (or dropping it) undoes what ran in it and nothing before it.
    pub async fn savepoint(&self) -> Result<Writing<'_>, DbErr> {
        Ok(Writing {
            ctx: self.ctx,
            txn: self.txn.begin().await?,
        })
    }
}

impl std::ops::Deref for Writing<'_> {
    type Target = RequestContext;

    fn deref(&self) -> &RequestContext {
        self.ctx
    }
}

/// The request value with the connection to use now: the request's own handle, or a write
/// transaction of it. Access decisions and services' inner steps take `&impl Work`.
pub trait Work: Sync {
    type Conn: ConnectionTrait;
    fn conn(&self) -> &Self::Conn;
    fn ctx(&self) -> &RequestContext;
}

impl Work for RequestContext {
    type Conn = TenantDb;
    fn conn(&self) -> &TenantDb {
        &self.db
    }
    fn ctx(&self) -> &RequestContext {
        self
    }
}

impl Work for Writing<'_> {
    type Conn = DatabaseTransaction;
    fn conn(&self) -> &DatabaseTransaction {
        &self.txn
    }
    fn ctx(&self) -> &RequestContext {
        self.ctx
    }
}
