//! Gauges of a queue for `/metrics`: rows per status, the backlog and the age of its oldest
//! row, the dead-letter size. Counts only (no PHI), added up tenant by tenant under
//! row-level security.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, ExprTrait, QueryFilter,
    QuerySelect,
};

use super::{DeadLetter, count_dead_in};
use portal_core::error::ServiceResult;

/// Rows waiting, and since when.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backlog {
    pub depth: i64,
    pub oldest_created_at: Option<DateTime<Utc>>,
}

impl Backlog {
    fn add(&mut self, other: Backlog) {
        self.depth += other.depth;
        self.oldest_created_at = match (self.oldest_created_at, other.oldest_created_at) {
            (Some(a), Some(b)) => Some(std::cmp::min(a, b)),
            (a, b) => a.or(b),
        };
    }

    /// Seconds since the oldest waiting row entered the queue at `now`; 0 when none waits.
    pub fn age_seconds(&self, now: DateTime<Utc>) -> f64 {
        self.oldest_created_at
            .map(|oldest| (now - oldest).num_milliseconds())
            .map_or(0.0, |ms| std::cmp::max(ms, 0) as f64 / 1000.0)
    }
}

/// Rows in one of `waiting` and the oldest `CREATED_AT` among them, over every tenant.
pub async fn backlog<Q: DeadLetter>(
    db: &DatabaseConnection,
    waiting: &[Q::Status],
) -> ServiceResult<Backlog> {
    let mut total = Backlog::default();
    for scope in portal_core::db::tenant_scopes(db).await? {
        total.add(backlog_in::<Q>(&scope, waiting).await?);
    }
    Ok(total)
}

async fn backlog_in<Q: DeadLetter>(
    db: &impl ConnectionTrait,
    waiting: &[Q::Status],
) -> ServiceResult<Backlog> {
    let (depth, oldest_created_at): (i64, Option<DateTime<Utc>>) =
        <Q::Entity as EntityTrait>::find()
            .select_only()
            .column_as(Expr::col(Q::STATUS).count(), "depth")
            .column_as(Expr::col(Q::CREATED_AT).min(), "oldest")
            .filter(Q::STATUS.is_in(waiting.iter().copied()))
            .into_tuple()
            .one(db)
            .await?
            .unwrap_or((0, None));
    Ok(Backlog {
        depth,
        oldest_created_at,
    })
}

/// Rows per status over every tenant (statuses without rows are absent).
pub async fn by_status<Q: DeadLetter>(
    db: &DatabaseConnection,
) -> ServiceResult<Vec<(Q::Status, i64)>> {
    let mut totals: Vec<(Q::Status, i64)> = Vec::new();
    for scope in portal_core::db::tenant_scopes(db).await? {
        let counts: Vec<(Q::Status, i64)> = <Q::Entity as EntityTrait>::find()
            .select_only()
            .column(Q::STATUS)
            .column_as(Expr::col(Q::STATUS).count(), "count")
            .group_by(Q::STATUS)
            .into_tuple()
            .all(&scope)
            .await?;
        for (status, count) in counts {
            match totals.iter_mut().find(|(s, _)| *s == status) {
                Some((_, total)) => *total += count,
                None => totals.push((status, count)),
            }
        }
    }
    Ok(totals)
}

/// Rows in the dead letter over every tenant.
pub async fn dead_count<Q: DeadLetter>(db: &DatabaseConnection) -> ServiceResult<u64> {
    let mut total = 0;
    for scope in portal_core::db::tenant_scopes(db).await? {
        total += count_dead_in::<Q>(&scope, None).await?;
    }
    Ok(total)
}
