//! The queue seen from outside: its gauges for `/metrics`, the open error queue for
//! `portal report errors`, and replay after a fix. Counts and ids only: no PHI.

use chrono::{DateTime, Utc};
use portal_entities::{
    BatchStatus, ReportStatus, public_health_batch, public_health_error, public_health_report,
};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, ExprTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use uuid::Uuid;

use portal_core::clock;
use portal_core::error::ServiceResult;

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
    let mut total = Backlog::default();
    for scope in portal_core::db::tenant_scopes(db).await? {
        let (depth, oldest): (i64, Option<DateTime<Utc>>) = public_health_report::Entity::find()
            .select_only()
            .column_as(Expr::col(public_health_report::Column::Id).count(), "depth")
            .column_as(
                Expr::col(public_health_report::Column::CreatedAt).min(),
                "oldest",
            )
            .filter(
                public_health_report::Column::Status
                    .is_in([ReportStatus::Queued, ReportStatus::Batched]),
            )
            .into_tuple()
            .one(&scope)
            .await?
            .unwrap_or((0, None));
        total.depth += depth;
        total.oldest_created_at = match (total.oldest_created_at, oldest) {
            (Some(a), Some(b)) => Some(std::cmp::min(a, b)),
            (a, b) => a.or(b),
        };
        total.errors += i64::try_from(
            public_health_report::Entity::find()
                .filter(public_health_report::Column::Status.eq(ReportStatus::Error))
                .count(&scope)
                .await?,
        )
        .unwrap_or(i64::MAX);
        let by_status: Vec<(BatchStatus, i64)> = public_health_batch::Entity::find()
            .select_only()
            .column(public_health_batch::Column::Status)
            .column_as(Expr::col(public_health_batch::Column::Id).count(), "count")
            .group_by(public_health_batch::Column::Status)
            .into_tuple()
            .all(&scope)
            .await?;
        for (status, count) in by_status {
            match total.batches.iter_mut().find(|(s, _)| *s == status) {
                Some((_, n)) => *n += count,
                None => total.batches.push((status, count)),
            }
        }
    }
    Ok(total)
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
        let in_error = public_health_report::Column::Status.eq(ReportStatus::Error);
        if dry_run {
            total += public_health_report::Entity::find()
                .filter(in_error)
                .count(&scope)
                .await?;
            continue;
        }
        let txn = portal_core::db::begin_write(&scope).await?;
        let now = clock::now();
        let requeued = public_health_report::Entity::update_many()
            .col_expr(
                public_health_report::Column::Status,
                Expr::value(ReportStatus::Queued),
            )
            .col_expr(
                public_health_report::Column::BatchId,
                Expr::value(Option::<Uuid>::None),
            )
            .filter(in_error)
            .exec(&txn)
            .await?;
        public_health_error::Entity::update_many()
            .col_expr(
                public_health_error::Column::ReplayedAt,
                Expr::value(Some(now)),
            )
            .filter(public_health_error::Column::ReplayedAt.is_null())
            .exec(&txn)
            .await?;
        txn.commit().await?;
        total += requeued.rows_affected;
    }
    if !dry_run {
        tracing::info!(replayed = total, "public-health error queue replayed");
    }
    Ok(total)
}
