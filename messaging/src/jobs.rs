//! Scheduled housekeeping jobs: record expired proxy grants, purge expired result links,
//! idempotency keys and received HL7 messages (raw, they hold PHI) past their retention.
//! Safe with several workers.
//!
//! Each run is one write transaction. On PostgreSQL it first takes
//! `pg_try_advisory_xact_lock(<job key>)`: a worker that does not get it skips the run
//! (another worker is doing it), so several workers never do the same work twice. Every
//! statement is also guarded (`expired_at IS NULL`, a cutoff time), so a run that overlaps
//! another one on SQLite (one process) or repeats after a crash changes nothing twice.
//! Access checks never depend on these jobs: they compare `valid_to` / `expires_at` with the
//! clock on every read; the jobs keep tables small and leave an audit trail.

use std::time::Duration;

use chrono::{DateTime, Utc};
use portal_entities::{
    AuditOutcome, audit_event, hl7_message, idempotency_key, proxy_grant, result_link,
};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Statement,
};
use tracing::instrument;
use uuid::Uuid;

use portal_core::db::TenantDb;
use portal_core::error::{ServiceError, ServiceResult};
use portal_core::{audit, clock};

/// Grants marked expired per run at most (each gets an audit row); the rest wait for the next run.
const GRANT_BATCH: u64 = 500;

/// The subject audit rows of the jobs carry.
const SYSTEM_SUBJECT: &str = "system:jobs";

/// How long rows are kept once they no longer serve anyone.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Result links are deleted this long after they expired (until then, opening one
    /// answers "expired" rather than "unknown").
    pub result_links: Duration,
    /// Idempotency keys are deleted this long after they were stored. A retry after that
    /// is answered CONFLICT by the unique key on `test_results`, never stored twice.
    pub idempotency_keys: Duration,
    /// Received HL7 messages (accepted or not, dead letter included) are deleted this long
    /// after they were received: the raw message holds PHI and is kept only for replay and
    /// support. Results it stored are not affected.
    pub hl7_messages: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    ExpireProxyGrants,
    PurgeResultLinks,
    PurgeIdempotencyKeys,
    PurgeHl7Messages,
}

impl Job {
    pub const ALL: [Self; 4] = [
        Self::ExpireProxyGrants,
        Self::PurgeResultLinks,
        Self::PurgeIdempotencyKeys,
        Self::PurgeHl7Messages,
    ];

    /// The job's name in logs, metrics labels and audit actions.
    pub fn name(self) -> &'static str {
        match self {
            Self::ExpireProxyGrants => "expire_proxy_grants",
            Self::PurgeResultLinks => "purge_result_links",
            Self::PurgeIdempotencyKeys => "purge_idempotency_keys",
            Self::PurgeHl7Messages => "purge_hl7_messages",
        }
    }

    /// The PostgreSQL advisory lock key of the job ("portjob" and a number).
    pub fn lock_key(self) -> i64 {
        let base: i64 = 0x706f_7274_6a6f_0000;
        base + match self {
            Self::ExpireProxyGrants => 1,
            Self::PurgeResultLinks => 2,
            Self::PurgeIdempotencyKeys => 3,
            Self::PurgeHl7Messages => 4,
        }
    }
}

/// What one run of a job did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobRun {
    /// Rows changed or deleted.
    Done(u64),
    /// Another worker holds the job's lock and is running it.
    Skipped,
}

/// Runs `job` once at `now`, tenant by tenant (on PostgreSQL each tenant's rows are reachable
/// only through a handle bound to it: row-level security). Skipped only when another worker
/// held the job's lock for every tenant that had something to do.
#[instrument(skip(db, retention), fields(job = job.name()))]
pub async fn run(
    db: &DatabaseConnection,
    job: Job,
    retention: &Retention,
    now: DateTime<Utc>,
) -> ServiceResult<JobRun> {
    let mut changed = 0;
    let mut skipped = false;
    for scope in portal_core::db::tenant_scopes(db).await? {
        match run_scope(&scope, job, retention, now).await? {
            JobRun::Done(count) => changed += count,
            JobRun::Skipped => skipped = true,
        }
    }
    Ok(if skipped && changed == 0 {
        JobRun::Skipped
    } else {
        JobRun::Done(changed)
    })
}

/// One run of `job` over the rows `db` reaches, in one transaction.
async fn run_scope(
    db: &TenantDb,
    job: Job,
    retention: &Retention,
    now: DateTime<Utc>,
) -> ServiceResult<JobRun> {
    let txn = portal_core::db::begin_write(db).await?;
    if !try_lock(&txn, job).await? {
        txn.rollback().await?;
        return Ok(JobRun::Skipped);
    }
    let (count, audit_rows) = match job {
        Job::ExpireProxyGrants => expire_proxy_grants(&txn, now).await?,
        Job::PurgeResultLinks => {
            let cutoff = before(now, retention.result_links)?;
            let deleted = result_link::Entity::delete_many()
                .filter(result_link::Column::ExpiresAt.lt(cutoff))
                .exec(&txn)
                .await?
                .rows_affected;
            (deleted, summary(job, "ResultLink", deleted, now))
        }
        Job::PurgeIdempotencyKeys => {
            let cutoff = before(now, retention.idempotency_keys)?;
            let deleted = idempotency_key::Entity::delete_many()
                .filter(idempotency_key::Column::CreatedAt.lt(cutoff))
                .exec(&txn)
                .await?
                .rows_affected;
            (deleted, summary(job, "IdempotencyKey", deleted, now))
        }
        Job::PurgeHl7Messages => {
            let cutoff = before(now, retention.hl7_messages)?;
            let deleted = hl7_message::Entity::delete_many()
                .filter(hl7_message::Column::ReceivedAt.lt(cutoff))
                .exec(&txn)
                .await?
                .rows_affected;
            (deleted, summary(job, "Hl7Message", deleted, now))
        }
    };
    txn.commit().await?;
    // The audit rows go in a transaction of their own after the change; the job's change is
    // committed and guarded, so a failed append is logged and the change is not redone.
    if !audit_rows.is_empty()
        && let Err(error) = audit::append(db, audit_rows).await
    {
        tracing::error!(error = %error, "job audit rows could not be written");
    }
    if count > 0 {
        tracing::info!(count, "scheduled job changed rows");
    }
    Ok(JobRun::Done(count))
}

/// On PostgreSQL, the job's transaction-scoped advisory lock, if free; SQLite's write lock
/// (taken by `begin_write`) already serialises runs.
async fn try_lock<C: ConnectionTrait>(txn: &C, job: Job) -> ServiceResult<bool> {
    if txn.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(true);
    }
    let row = txn
        .query_one_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT pg_try_advisory_xact_lock($1) AS locked",
            [job.lock_key().into()],
        ))
        .await?
        .ok_or_else(|| ServiceError::internal("advisory lock query returned no row"))?;
    Ok(row.try_get::<bool>("", "locked")?)
}

/// Marks grants whose `valid_to` passed (and that were not revoked) as expired, one audit
/// row each. Access checks already refuse them by `valid_to`.
async fn expire_proxy_grants<C: ConnectionTrait>(
    txn: &C,
    now: DateTime<Utc>,
) -> ServiceResult<(u64, Vec<audit_event::Model>)> {
    use proxy_grant::Column as C;
    let due: Vec<(Uuid, Uuid, Uuid)> = proxy_grant::Entity::find()
        .select_only()
        .columns([C::Id, C::TenantId, C::PatientId])
        .filter(C::ValidTo.lte(now))
        .filter(C::ExpiredAt.is_null())
        .filter(C::RevokedAt.is_null())
        .order_by_asc(C::ValidTo)
        .limit(GRANT_BATCH)
        .into_tuple()
        .all(txn)
        .await?;
    if due.is_empty() {
        return Ok((0, Vec::new()));
    }
    let marked = proxy_grant::Entity::update_many()
        .col_expr(C::ExpiredAt, Expr::value(Some(now)))
        .filter(C::Id.is_in(due.iter().map(|(id, _, _)| *id)))
        .filter(C::ExpiredAt.is_null())
        .exec(txn)
        .await?
        .rows_affected;
    let rows = due
        .into_iter()
        .map(|(id, tenant, patient)| {
            let mut row = system_row("proxy_grant.expire", "ProxyGrant", Some(tenant), None, now);
            row.entity_id = Some(id);
            row.patient_id = Some(patient);
            row
        })
        .collect();
    Ok((marked, rows))
}

/// One audit row for a purge that deleted something: the count, never the rows.
fn summary(
    job: Job,
    entity_type: &str,
    deleted: u64,
    now: DateTime<Utc>,
) -> Vec<audit_event::Model> {
    if deleted == 0 {
        return Vec::new();
    }
    let action = format!("jobs.{}", job.name());
    vec![system_row(
        &action,
        entity_type,
        None,
        Some(format!("deleted {deleted}")),
        now,
    )]
}

fn system_row(
    action: &str,
    entity_type: &str,
    tenant: Option<Uuid>,
    reason: Option<String>,
    now: DateTime<Utc>,
) -> audit_event::Model {
    audit_event::Model {
        seq: 0,
        id: Uuid::now_v7(),
        tenant_id: tenant,
        subject: Some(SYSTEM_SUBJECT.to_owned()),
        roles: "system".to_owned(),
        proxy_for: None,
        action: action.to_owned(),
        entity_type: entity_type.to_owned(),
        entity_id: None,
        patient_id: None,
        request_id: None,
        client_addr: None,
        outcome: AuditOutcome::Allowed,
        reason,
        occurred_at: now,
        prev_hash: String::new(),
        hash: String::new(),
        sealed_batch: None,
    }
}

fn before(now: DateTime<Utc>, age: Duration) -> ServiceResult<DateTime<Utc>> {
    chrono::Duration::from_std(age)
        .ok()
        .and_then(|age| now.checked_sub_signed(age))
        .ok_or_else(|| ServiceError::internal("job retention out of range"))
}

/// Runs every job once; a failing job is logged and does not stop the others.
pub async fn run_all(
    db: &DatabaseConnection,
    retention: &Retention,
) -> Vec<(Job, ServiceResult<JobRun>)> {
    let mut runs = Vec::with_capacity(Job::ALL.len());
    for job in Job::ALL {
        let outcome = run(db, job, retention, clock::now()).await;
        if let Err(error) = &outcome {
            tracing::warn!(job = job.name(), error = %error, "scheduled job failed");
        }
        runs.push((job, outcome));
    }
    runs
}
