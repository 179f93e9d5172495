//! The append-only, hash-chained audit trail: what happened (`AuditRecord`), who did it
//! (`Who`), and the chain the rows are appended to.

use chrono::{DateTime, Utc};
use portal_entities::{AuditOutcome, audit_event};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ConnectionTrait, DatabaseBackend, EntityTrait, QueryOrder, QueryTrait, Statement,
    TransactionSession, TransactionTrait,
};
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::error::{ServiceError, ServiceResult};
use crate::identity::Viewer;
use crate::policy::Access;

pub use portal_entities::AuditOutcome as Outcome;

/// The hash the first row of the chain links to.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Serialises chain appends within this process; on PostgreSQL the chain head's row lock
/// (`lock_chain_head`) serialises them across processes and replicas.
static CHAIN_LOCK: Mutex<()> = Mutex::const_new(());
const CHAIN_LOCK_KEY: i64 = 0x706f_7274_616c; // "portal"

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
        }
    }
}

/// Appends rows to the chain in a transaction of their own: each row's hash covers its
/// content and the previous hash.
pub async fn append<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    rows: Vec<audit_event::Model>,
) -> ServiceResult<usize> {
    let _guard = CHAIN_LOCK.lock().await;
    let txn = crate::db::begin_write(db).await?;
    let count = link_and_insert(&txn, rows).await?;
    txn.commit().await?;
    Ok(count)
}

/// Appends rows to the chain inside the caller's open PostgreSQL transaction (a query's own,
/// which then commits them with it): three statements fewer per read than `append`. The
/// chain head's row lock taken here is held until that transaction ends, so appends stay
/// serial across processes and replicas even though the process lock is released on return. The
/// caller must end the transaction promptly and must treat a failed COMMIT as a failed
/// append.
pub async fn append_within<C: ConnectionTrait>(
    txn: &C,
    rows: Vec<audit_event::Model>,
) -> ServiceResult<usize> {
    let _guard = CHAIN_LOCK.lock().await;
    link_and_insert(txn, rows).await
}

/// Links the rows to the chain head, inserts them and moves the head, in the caller's
/// transaction.
///
/// PostgreSQL, two statements: the head row is read `FOR UPDATE` (in READ COMMITTED a
/// waiter gets the version its predecessor committed, so appends of every process are
/// serial), then one statement inserts the rows and moves the head. The same statement
/// takes the advisory lock older versions use, so a rolling upgrade cannot fork the chain.
/// SQLite: the write lock the caller's transaction holds serialises appends.
async fn link_and_insert<C: ConnectionTrait>(
    txn: &C,
    rows: Vec<audit_event::Model>,
) -> ServiceResult<usize> {
    let count = rows.len();
    let postgres = txn.get_database_backend() == DatabaseBackend::Postgres;
    let mut prev = if postgres {
        lock_chain_head(txn).await?
    } else {
        chain_head(txn).await?
    };
    let mut models = Vec::with_capacity(count);
    for mut row in rows {
        row.prev_hash = prev;
        row.hash = row_hash(&row);
        prev = row.hash.clone();
        models.push(active(row));
    }
    // Without RETURNING: a row of no tenant (a rejected token) is not readable back under
    // row-level security, and nothing here needs the generated `seq`.
    let insert = audit_event::Entity::insert_many(models);
    if postgres {
        let Statement { sql, values, .. } = QueryTrait::build(&insert, DatabaseBackend::Postgres);
        let mut values = values.map(|v| v.0).unwrap_or_default();
        values.push(prev.into());
        let sql = format!(
            "WITH moved AS (UPDATE audit_chain_head SET last_hash = ${} WHERE id = 1) {sql}",
            values.len()
        );
        txn.execute_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            sql,
            values,
        ))
        .await?;
    } else {
        insert.exec_without_returning(txn).await?;
        move_chain_head(txn, &prev).await?;
    }
    Ok(count)
}

/// PostgreSQL: locks the chain head row and returns its hash. The row is created by the
/// migration; should it be missing, it is created at the genesis hash first (a concurrent
/// creator makes this wait for its commit, so both see one row).
async fn lock_chain_head<C: ConnectionTrait>(txn: &C) -> ServiceResult<String> {
    let lock = Statement::from_sql_and_values(
        DatabaseBackend::Postgres,
        "SELECT pg_advisory_xact_lock($1)::text AS locked, last_hash \
         FROM audit_chain_head WHERE id = 1 FOR UPDATE",
        [CHAIN_LOCK_KEY.into()],
    );
    if let Some(row) = txn.query_one_raw(lock.clone()).await? {
        return Ok(row.try_get::<String>("", "last_hash")?);
    }
    txn.execute_raw(Statement::from_sql_and_values(
        DatabaseBackend::Postgres,
        "INSERT INTO audit_chain_head (id, last_hash) VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
        [GENESIS_HASH.into()],
    ))
    .await?;
    let row = txn
        .query_one_raw(lock)
        .await?
        .ok_or_else(|| ServiceError::Internal("the audit chain head row is missing".into()))?;
    Ok(row.try_get::<String>("", "last_hash")?)
}

/// The hash the next row links to. The head lives in `audit_chain_head` (one row, no
/// tenant) rather than in the newest `audit_events` row, which under row-level security may
/// belong to a tenant this connection cannot see.
async fn chain_head<C: ConnectionTrait>(db: &C) -> ServiceResult<String> {
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT last_hash FROM audit_chain_head WHERE id = 1",
        ))
        .await?;
    match row {
        Some(row) => Ok(row.try_get::<String>("", "last_hash")?),
        None => Ok(GENESIS_HASH.to_owned()),
    }
}

async fn move_chain_head<C: ConnectionTrait>(db: &C, hash: &str) -> ServiceResult<()> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DatabaseBackend::Postgres => {
            "INSERT INTO audit_chain_head (id, last_hash) VALUES (1, $1) \
             ON CONFLICT (id) DO UPDATE SET last_hash = EXCLUDED.last_hash"
        }
        _ => {
            "INSERT INTO audit_chain_head (id, last_hash) VALUES (1, ?) \
             ON CONFLICT (id) DO UPDATE SET last_hash = excluded.last_hash"
        }
    };
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        sql,
        [hash.to_owned().into()],
    ))
    .await?;
    Ok(())
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
    }
}

/// SHA-256 over the previous hash and every content column, in a fixed order.
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

/// Where a verification of the chain stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum ChainCheck {
    Intact { rows: u64 },
    Broken { seq: i64 },
}

/// Recomputes the whole chain; the first row whose link or hash does not match is reported.
/// The chain runs across tenants, so on PostgreSQL this needs a connection that sees every
/// row: the owner or an auditor role with `BYPASSRLS` (under the application's role, with
/// row-level security, other tenants' rows are missing and the chain looks broken).
pub async fn verify_chain<C: ConnectionTrait>(db: &C) -> ServiceResult<ChainCheck> {
    let rows = audit_event::Entity::find()
        .order_by_asc(audit_event::Column::Seq)
        .all(db)
        .await?;
    let mut prev = GENESIS_HASH.to_owned();
    for row in &rows {
        if row.prev_hash != prev || row_hash(row) != row.hash {
            return Ok(ChainCheck::Broken { seq: row.seq });
        }
        prev = row.hash.clone();
    }
    Ok(ChainCheck::Intact {
        rows: rows.len() as u64,
    })
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
