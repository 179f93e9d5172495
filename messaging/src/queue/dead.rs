//! The dead state: which rows are in it, listing and counting them, and replay — in bulk
//! (the rows go back to the queue) or row by row (the caller applies each again).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, ExprTrait,
    QueryFilter, QueryOrder, QuerySelect,
};

use super::{DeadLetter, Replay, Row};
use portal_core::clock;
use portal_core::error::ServiceResult;

/// Dead rows that entered the queue at or after `since`.
pub fn dead_filter<Q: DeadLetter>(since: Option<DateTime<Utc>>) -> Condition {
    let mut dead = Condition::all().add(Q::STATUS.is_in(Q::DEAD.iter().copied()));
    if let Some(since) = since {
        dead = dead.add(Q::CREATED_AT.gte(since));
    }
    dead
}

/// The dead rows of `db`'s tenant(s) since `since`, oldest first, at most `limit`.
pub async fn dead_rows<Q: DeadLetter>(
    db: &impl ConnectionTrait,
    since: Option<DateTime<Utc>>,
    limit: Option<u64>,
) -> ServiceResult<Vec<Row<Q>>> {
    Ok(<Q::Entity as EntityTrait>::find()
        .filter(dead_filter::<Q>(since))
        .order_by_asc(Q::CREATED_AT)
        .limit(limit)
        .all(db)
        .await?)
}

/// How many rows of `db`'s tenant(s) are dead since `since`.
pub async fn count_dead_in<Q: DeadLetter>(
    db: &impl ConnectionTrait,
    since: Option<DateTime<Utc>>,
) -> ServiceResult<u64> {
    let count: Option<i64> = <Q::Entity as EntityTrait>::find()
        .select_only()
        .column_as(Expr::col(Q::STATUS).count(), "count")
        .filter(dead_filter::<Q>(since))
        .into_tuple()
        .one(db)
        .await?;
    Ok(count.map_or(0, |n| u64::try_from(n).unwrap_or(0)))
}

/// Puts the dead rows of `db`'s tenant(s) since `since` back in the queue
/// ([`Replay::replayed`]); returns how many.
pub async fn replay_in<Q: Replay>(
    db: &impl ConnectionTrait,
    since: Option<DateTime<Utc>>,
) -> ServiceResult<u64> {
    let update = Q::replayed(<Q::Entity as EntityTrait>::update_many(), clock::now());
    let result = update.filter(dead_filter::<Q>(since)).exec(db).await?;
    Ok(result.rows_affected)
}

/// [`replay_in`] tenant by tenant over the pool; `dry_run` only counts.
pub async fn replay<Q: Replay>(
    db: &DatabaseConnection,
    since: Option<DateTime<Utc>>,
    dry_run: bool,
) -> ServiceResult<u64> {
    let mut total = 0;
    for scope in portal_core::db::tenant_scopes(db).await? {
        total += if dry_run {
            count_dead_in::<Q>(&scope, since).await?
        } else {
            replay_in::<Q>(&scope, since).await?
        };
    }
    Ok(total)
}
