//! The lease a claim holds: its end is the fencing token every state write is checked
//! against, and a heartbeat moves it on while the work lasts.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, Value};

use super::{Failure, JobQueue, Row, after};
use portal_core::clock;
use portal_core::error::ServiceResult;

/// Rows held until `token`. The end of a lease is later than that of every earlier claim of
/// the same row (a row is claimed only once its `run_at` has passed), so it tells this
/// holder's writes from those of any holder before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    until: DateTime<Utc>,
}

impl Lease {
    pub(crate) fn new(until: DateTime<Utc>) -> Self {
        Self { until }
    }

    /// A lease of `length` from now, for rows inserted already held (their `RUN_AT` set to
    /// its [`token`](Self::token)).
    pub fn from_now(length: Duration) -> ServiceResult<Self> {
        Ok(Self::new(after(clock::now(), length)?))
    }

    /// The lease end, stored in `RUN_AT` while the rows are held.
    pub fn token(&self) -> DateTime<Utc> {
        self.until
    }

    /// Whether work of at most `work` started now ends well inside the lease (with as much
    /// again to spare), so it never overlaps a worker that takes the rows over.
    pub fn has_time_for(&self, work: Duration) -> bool {
        after(clock::now(), work.saturating_mul(2)).is_ok_and(|end| end < self.until)
    }
}

/// The row `id`, still held under `lease`: ready, and its `RUN_AT` still the lease's token.
pub fn fence<Q: JobQueue>(lease: &Lease, id: impl Into<Value>) -> Condition {
    Condition::all()
        .add(Q::ID.eq(id))
        .add(Q::STATUS.is_in(Q::READY.iter().copied()))
        .add(Q::RUN_AT.eq(lease.token()))
}

/// Applies `update` to row `id` only while `lease` holds it; `false` when the lease ran out
/// and the row was taken over (nothing changed).
pub async fn write<Q: JobQueue>(
    db: &impl ConnectionTrait,
    lease: &Lease,
    id: impl Into<Value>,
    update: sea_orm::UpdateMany<Q::Entity>,
) -> ServiceResult<bool> {
    let result = update.filter(fence::<Q>(lease, id)).exec(db).await?;
    Ok(result.rows_affected == 1)
}

/// Records a failed attempt on row `id` (with `update`'s own columns): the attempts, the
/// next `RUN_AT`, and [`JobQueue::RETRY`] or the first dead status. Fenced like [`write`].
pub async fn fail<Q: JobQueue>(
    db: &impl ConnectionTrait,
    lease: &Lease,
    id: impl Into<Value>,
    failure: &Failure,
    update: sea_orm::UpdateMany<Q::Entity>,
) -> ServiceResult<bool> {
    let status = match (failure.dead, Q::DEAD.first()) {
        (true, Some(dead)) => *dead,
        _ => Q::RETRY,
    };
    let update = update
        .col_expr(Q::ATTEMPTS, Expr::value(failure.attempts))
        .col_expr(Q::RUN_AT, Expr::value(failure.retry_at))
        .col_expr(Q::STATUS, Expr::value(status));
    write::<Q>(db, lease, id, update).await
}

/// Extends the lease on `ids` to `extend` from now; returns the rows still held (the others
/// were taken over after the lease ran out) and the new lease, whose token later writes use.
pub async fn heartbeat<Q: JobQueue, V: Into<Value>>(
    db: &impl ConnectionTrait,
    lease: &Lease,
    ids: impl IntoIterator<Item = V>,
    extend: Duration,
) -> ServiceResult<(Vec<Row<Q>>, Lease)> {
    let renewed = Lease::new(after(clock::now(), extend)?.max(lease.until));
    let held = <Q::Entity as EntityTrait>::update_many()
        .col_expr(Q::RUN_AT, Expr::value(renewed.token()))
        .filter(Q::ID.is_in(ids))
        .filter(Q::STATUS.is_in(Q::READY.iter().copied()))
        .filter(Q::RUN_AT.eq(lease.token()))
        .exec_with_returning(db)
        .await?;
    Ok((held, renewed))
}
