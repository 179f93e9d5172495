//! The queue seen from outside: its [`crate::queue`] descriptors (batches, a retry queue;
//! reports, whose ERROR status is the error queue), its gauges for `/metrics`, the open
//! error queue for `portal report errors`, and replay after a fix. Counts and ids only: no PHI.

use chrono::{DateTime, Utc};
use portal_entities::{
    BatchStatus, ReportStatus, public_health_batch, public_health_error, public_health_report,
};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect, UpdateMany,
};
use uuid::Uuid;

use crate::queue::{self, DeadLetter, JobQueue, Replay};

use portal_core::clock;
use portal_core::error::ServiceResult;

/// Uploads: PENDING batches are claimed once `next_attempt_at` has passed and retried for
/// ever; a batch ends SENT or REFUSED (its reports then go to the error queue).
pub struct Batches;

impl DeadLetter for Batches {
    type Entity = public_health_batch::Entity;
    type Status = BatchStatus;
    const NAME: &'static str = "public_health_batches";
    const STATUS: public_health_batch::Column = public_health_batch::Column::Status;
    const CREATED_AT: public_health_batch::Column = public_health_batch::Column::CreatedAt;
    const DEAD: &'static [BatchStatus] = &[BatchStatus::Refused];
}

impl JobQueue for Batches {
    const ID: public_health_batch::Column = public_health_batch::Column::Id;
    const RUN_AT: public_health_batch::Column = public_health_batch::Column::NextAttemptAt;
    const ATTEMPTS: public_health_batch::Column = public_health_batch::Column::Attempts;
    const READY: &'static [BatchStatus] = &[BatchStatus::Pending];
    const RETRY: BatchStatus = BatchStatus::Pending;
    const UNIQUE: &'static [public_health_batch::Column] = &[public_health_batch::Column::Id];
}

/// Reports: QUEUED or BATCHED wait; ERROR is the error queue, replayed back to QUEUED.
pub struct Reports;

impl DeadLetter for Reports {
    type Entity = public_health_report::Entity;
    type Status = ReportStatus;
    const NAME: &'static str = "public_health_reports";
    const STATUS: public_health_report::Column = public_health_report::Column::Status;
    const CREATED_AT: public_health_report::Column = public_health_report::Column::CreatedAt;
    const DEAD: &'static [ReportStatus] = &[ReportStatus::Error];
}

impl Replay for Reports {
    /// Back to QUEUED, out of its batch: it goes into a new batch with a new id.
    fn replayed(
        update: UpdateMany<public_health_report::Entity>,
        _now: DateTime<Utc>,
    ) -> UpdateMany<public_health_report::Entity> {
        update
            .col_expr(
                public_health_report::Column::Status,
                Expr::value(ReportStatus::Queued),
            )
            .col_expr(
                public_health_report::Column::BatchId,
                Expr::value(Option::<Uuid>::None),
            )
    }
}

/// The queue's state, added up over tenants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Backlog {
    /// Reports not yet delivered: QUEUED or BATCHED.
    pub depth: i64,
    pub oldest_created_at: Option<DateTime<Utc>>,
    /// Reports in the error queue.
    pub errors: i64,
    /// Batches per status.
    pub batches: Vec<(BatchStatus, i64)>,
}

pub async fn backlog(db: &DatabaseConnection) -> ServiceResult<Backlog> {
    let waiting =
        queue::backlog::<Reports>(db, &[ReportStatus::Queued, ReportStatus::Batched]).await?;
    Ok(Backlog {
        depth: waiting.depth,
        oldest_created_at: waiting.oldest_created_at,
        errors: i64::try_from(queue::dead_count::<Reports>(db).await?).unwrap_or(i64::MAX),
        batches: queue::by_status::<Batches>(db).await?,
    })
}

/// One open entry of the error queue.
#[derive(Debug, Clone)]
pub struct OpenError {
    pub tenant_id: Uuid,
    /// The report's `message_id`.
    pub report_id: Uuid,
    pub result_id: Option<Uuid>,
    pub batch_id: Option<Uuid>,
    pub http_status: Option<i32>,
    pub message: String,
    pub created_at: DateTime<Utc>,
}

/// The error queue: entries not yet replayed, oldest first, at most `limit` per tenant.
pub async fn open_errors(db: &DatabaseConnection, limit: u64) -> ServiceResult<Vec<OpenError>> {
    let mut open = Vec::new();
    for scope in portal_core::db::tenant_scopes(db).await? {
        let rows = public_health_error::Entity::find()
            .find_also_related(public_health_report::Entity)
            .filter(public_health_error::Column::ReplayedAt.is_null())
            .order_by_asc(public_health_error::Column::CreatedAt)
            .limit(limit)
            .all(&scope)
            .await?;
        open.extend(rows.into_iter().map(|(error, report)| OpenError {
            tenant_id: error.tenant_id,
            report_id: error.report_id,
            result_id: report.map(|r| r.result_id),
            batch_id: error.batch_id,
            http_status: error.http_status,
            message: error.message,
            created_at: error.created_at,
        }));
    }
    Ok(open)
}

/// Puts every report of the error queue back in the queue (it goes into a new batch with a
/// new id) and closes its error entries; `dry_run` only counts them.
pub async fn replay_errors(db: &DatabaseConnection, dry_run: bool) -> ServiceResult<u64> {
    let mut total = 0;
    for scope in portal_core::db::tenant_scopes(db).await? {
        if dry_run {
            total += queue::count_dead_in::<Reports>(&scope, None).await?;
            continue;
        }
        let txn = portal_core::db::begin_write(&scope).await?;
        let requeued = queue::replay_in::<Reports>(&txn, None).await?;
        public_health_error::Entity::update_many()
            .col_expr(
                public_health_error::Column::ReplayedAt,
                Expr::value(Some(clock::now())),
            )
            .filter(public_health_error::Column::ReplayedAt.is_null())
            .exec(&txn)
            .await?;
        txn.commit().await?;
        total += requeued;
    }
    if !dry_run {
        tracing::info!(replayed = total, "public-health error queue replayed");
    }
    Ok(total)
}
