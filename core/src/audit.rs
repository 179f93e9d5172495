//! The append-only audit trail: what happened (`AuditRecord`), who did it (`Who`), the
//! append (one statement, no shared lock), and the batches that seal committed rows into
//! one hash chain per tenant (`seal`) and check them (`verify`). See docs/audit.md.

pub mod chain;
pub mod lag;
pub mod seal;
pub mod verify;

pub use chain::{Chain, GENESIS_HASH};
pub use verify::{ChainCheck, verify_chain};

use chrono::{DateTime, Utc};
use portal_entities::{AuditOutcome, audit_event};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ConnectionTrait, EntityTrait, QueryTrait, TransactionSession, TransactionTrait,
    sea_query::InsertStatement,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::ServiceResult;
use crate::identity::Viewer;
use crate::policy::Access;

pub use portal_entities::AuditOutcome as Outcome;

/// What happened, before the request's who/where are attached.
#[derive(Debug, Clone)]
pub struct AuditRecord {
    pub action: String,
    pub entity_type: String,
    pub entity_id: Option<Uuid>,
    pub patient_id: Option<Uuid>,
    pub proxy_for: Option<Uuid>,
    pub outcome: AuditOutcome,
    pub reason: Option<String>,
    pub occurred_at: DateTime<Utc>,
}

impl AuditRecord {
    pub fn new(what: Access, patient_id: Option<Uuid>, outcome: AuditOutcome) -> Self {
        Self {
            action: what.action.to_owned(),
            entity_type: what.entity_type.to_owned(),
            entity_id: what.entity_id,
            patient_id,
            proxy_for: None,
            outcome,
            reason: None,
            occurred_at: crate::clock::now(),
        }
    }

    pub fn reason(mut self, reason: &str) -> Self {
        self.reason = Some(reason.to_owned());
        self
    }

    pub fn proxy_for(mut self, patient_id: Option<Uuid>) -> Self {
        self.proxy_for = patient_id;
        self
    }
}

/// Who a request's records are attributed to.
pub struct Who<'a> {
    pub viewer: Option<&'a Viewer>,
    pub request_id: &'a str,
    pub client_addr: Option<&'a str>,
}

impl AuditRecord {
    /// The row this record becomes, before it is linked into the chain.
    pub fn into_row(self, who: &Who<'_>) -> audit_event::Model {
        let viewer = who.viewer;
        audit_event::Model {
            seq: 0,
            id: Uuid::now_v7(),
            tenant_id: viewer.map(|v| v.tenant_id),
            subject: viewer.map(|v| v.subject.clone()),
            roles: viewer.map(|v| v.roles_label()).unwrap_or_default(),
            proxy_for: self.proxy_for,
            action: self.action,
            entity_type: self.entity_type,
            entity_id: self.entity_id,
            patient_id: self.patient_id,
            request_id: Some(who.request_id.to_owned()),
            client_addr: who.client_addr.map(str::to_owned),
            outcome: self.outcome,
            reason: self.reason,
            occurred_at: self.occurred_at,
            prev_hash: String::new(),
            hash: String::new(),
            sealed_batch: None,
        }
    }
}

/// Appends rows in a transaction of their own. Each row carries the hash of its content;
/// a sealer links it into its chain after it commits (`seal`). No lock is shared with any
/// other request, tenant or replica.
pub async fn append<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    rows: Vec<audit_event::Model>,
) -> ServiceResult<usize> {
    let txn = crate::db::begin_write(db).await?;
    let count = insert(&txn, rows).await?;
    txn.commit().await?;
    Ok(count)
}

/// Appends rows inside the caller's open transaction (a query's own, which then commits
/// them with it). The caller must treat a failed COMMIT as a failed append.
pub async fn append_within<C: ConnectionTrait>(
    txn: &C,
    rows: Vec<audit_event::Model>,
) -> ServiceResult<usize> {
    insert(txn, rows).await
}

/// Rows per INSERT: 18 bound values each stay under SQLite's 32,766 and PostgreSQL's 65,535
/// parameters per statement (one event's deliveries to thousands of subscribers, in one
/// append, can be more).
const ROWS_PER_INSERT: usize = 1_000;

/// Hashes each row's content and inserts them, unsealed: in one statement, or one per
/// `ROWS_PER_INSERT` rows (all inside the caller's transaction).
async fn insert<C: ConnectionTrait>(
    txn: &C,
    mut rows: Vec<audit_event::Model>,
) -> ServiceResult<usize> {
    let count = rows.len();
    while !rows.is_empty() {
        let rest = rows.split_off(rows.len().min(ROWS_PER_INSERT));
        if let Some(statement) = insert_statement(std::mem::replace(&mut rows, rest)) {
            txn.execute(&statement).await?;
        }
    }
    Ok(count)
}

/// Ends `db`'s request transaction with `rows` appended as its last statement (they commit
/// with what it read); on a handle that is not one request transaction (SQLite's pool, a
/// scoped handle) the rows go in a transaction of their own. Either way an error means they
/// may not be on the trail and nothing they record may be shown.
pub async fn commit_with(
    db: &crate::db::TenantDb,
    rows: Vec<audit_event::Model>,
) -> ServiceResult<()> {
    if !matches!(db, crate::db::TenantDb::Request(_)) {
        db.finish().await?;
        if !rows.is_empty() {
            append(db, rows).await?;
        }
        return Ok(());
    }
    let appended = append_within(db, rows).await;
    let committed = db.finish().await;
    appended?;
    Ok(committed?)
}

/// The one INSERT of `rows` (hashed, unsealed) for a caller that sends it with other writes
/// of its transaction (a data-modifying CTE); `None` for no rows. Without RETURNING: a row of
/// no tenant (a rejected token) is not readable back under row-level security, and nothing
/// needs the generated `seq`.
pub fn insert_statement(rows: Vec<audit_event::Model>) -> Option<InsertStatement> {
    if rows.is_empty() {
        return None;
    }
    let models = rows.into_iter().map(|mut row| {
        row.prev_hash = String::new();
        row.sealed_batch = None;
        row.hash = row_hash(&row);
        active(row)
    });
    Some(audit_event::Entity::insert_many(models).into_query())
}

fn active(row: audit_event::Model) -> audit_event::ActiveModel {
    audit_event::ActiveModel {
        seq: NotSet,
        id: Set(row.id),
        tenant_id: Set(row.tenant_id),
        subject: Set(row.subject),
        roles: Set(row.roles),
        proxy_for: Set(row.proxy_for),
        action: Set(row.action),
        entity_type: Set(row.entity_type),
        entity_id: Set(row.entity_id),
        patient_id: Set(row.patient_id),
        request_id: Set(row.request_id),
        client_addr: Set(row.client_addr),
        outcome: Set(row.outcome),
        reason: Set(row.reason),
        occurred_at: Set(row.occurred_at),
        prev_hash: Set(row.prev_hash),
        hash: Set(row.hash),
        sealed_batch: Set(None),
    }
}

/// SHA-256 over every content column, in a fixed order, each length-prefixed. `prev_hash`
/// is empty for rows appended since the trail is sealed in batches; rows of the earlier
/// row-by-row chain keep the link they were hashed with.
pub fn row_hash(row: &audit_event::Model) -> String {
    let opt = |u: Option<Uuid>| u.map(|u| u.to_string()).unwrap_or_default();
    let fields = [
        row.prev_hash.clone(),
        row.id.to_string(),
        opt(row.tenant_id),
        row.subject.clone().unwrap_or_default(),
        row.roles.clone(),
        opt(row.proxy_for),
        row.action.clone(),
        row.entity_type.clone(),
        opt(row.entity_id),
        opt(row.patient_id),
        row.request_id.clone().unwrap_or_default(),
        row.client_addr.clone().unwrap_or_default(),
        format!("{:?}", row.outcome),
        row.reason.clone().unwrap_or_default(),
        row.occurred_at
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
    ];
    let mut hasher = Sha256::new();
    for field in &fields {
        hasher.update((field.len() as u64).to_be_bytes());
        hasher.update(field.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// Records a rejected login (bad, expired or wrongly signed token): there is no viewer,
/// so no request value either.
pub async fn record_login_failure<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    request_id: &str,
    client_addr: Option<String>,
    reason: &str,
) -> ServiceResult<()> {
    let who = Who {
        viewer: None,
        request_id,
        client_addr: client_addr.as_deref(),
    };
    let row = AuditRecord::new(
        Access::read("auth.login", "Token"),
        None,
        AuditOutcome::Denied,
    )
    .reason(reason)
    .into_row(&who);
    append(db, vec![row]).await.map(|_| ())
}
