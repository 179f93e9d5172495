//! Enqueuing under the unique key, and claiming due rows in batches under a lease.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, LockBehavior, LockType};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, QueryTrait, TryInsertResult,
};

use super::{JobQueue, Lease, Row, after};
use portal_core::clock;
use portal_core::error::ServiceResult;

/// Adds `rows`, skipping any whose [`JobQueue::UNIQUE`] key is already queued; returns how
/// many were added.
pub async fn enqueue<Q, A>(db: &impl ConnectionTrait, rows: Vec<A>) -> ServiceResult<u64>
where
    Q: JobQueue,
    A: ActiveModelTrait<Entity = Q::Entity> + Send,
{
    let added = <Q::Entity as EntityTrait>::insert_many(rows)
        .on_conflict_do_nothing_on(Q::UNIQUE.iter().copied())
        .exec_without_returning(db)
        .await?;
    Ok(match added {
        TryInsertResult::Inserted(n) => n,
        TryInsertResult::Empty | TryInsertResult::Conflicted => 0,
    })
}

/// Claims up to `limit` due rows (oldest due first) that also match `scope`, for `lease`;
/// returns them (their `RUN_AT` now the lease end) and the lease.
///
/// A read first, so an idle poll takes no write lock (SQLite has one for the whole file);
/// then one statement: `UPDATE … SET run_at = lease end WHERE id IN (due ids, oldest first,
/// LIMIT n) AND <due>`. On PostgreSQL the inner SELECT takes the rows `FOR UPDATE SKIP
/// LOCKED`, so concurrent claims take different rows instead of waiting, and the outer guard
/// is re-checked on the locked row. On SQLite writes run one at a time, so the guarded
/// UPDATE alone gives each row to one worker.
pub async fn claim<Q: JobQueue>(
    db: &impl ConnectionTrait,
    scope: Condition,
    limit: u64,
    lease: Duration,
) -> ServiceResult<(Vec<Row<Q>>, Lease)> {
    let now = clock::now();
    let lease = Lease::new(after(now, lease)?);
    let due = due_at::<Q>(now).add(scope);
    let any_due = <Q::Entity as EntityTrait>::find()
        .select_only()
        .expr_as(Expr::val(1), "due")
        .filter(due.clone())
        .limit(1)
        .into_tuple::<i32>()
        .one(db)
        .await?;
    if any_due.is_none() {
        return Ok((Vec::new(), lease));
    }
    let mut pick = <Q::Entity as EntityTrait>::find()
        .select_only()
        .column(Q::ID)
        .filter(due.clone())
        .order_by_asc(Q::RUN_AT)
        .order_by_asc(Q::ID)
        .limit(limit);
    if db.get_database_backend() == DatabaseBackend::Postgres {
        pick = pick.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    let claimed = <Q::Entity as EntityTrait>::update_many()
        .col_expr(Q::RUN_AT, Expr::value(lease.token()))
        .filter(Q::ID.in_subquery(pick.into_query()))
        .filter(due)
        .exec_with_returning(db)
        .await?;
    tracing::debug!(queue = Q::NAME, claimed = claimed.len(), "rows claimed");
    Ok((claimed, lease))
}

/// Rows a worker may take at `now`: in a ready status and due.
fn due_at<Q: JobQueue>(now: DateTime<Utc>) -> Condition {
    Condition::all()
        .add(Q::STATUS.is_in(Q::READY.iter().copied()))
        .add(Q::RUN_AT.lte(now))
}
