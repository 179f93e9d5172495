//! The per-tenant publication sequence (`outbox_events.publish_seq`): the relay numbers
//! committed events in commit order, one tenant at a time, and commits the numbers before it
//! publishes anything, so whoever sees number N knows every lower number of the tenant is
//! committed and readable. Subscribers resume and catch up by it (docs/events.md).

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use portal_entities::outbox_event;
use sea_orm::sea_query::{Expr, LockBehavior, LockType};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Statement,
};
use uuid::Uuid;

use portal_core::db::TenantDb;
use portal_core::error::ServiceResult;

/// The class of PostgreSQL's two-key advisory locks that serialise sequencing ("seq\0"); that
/// key space never meets the single-key locks of the jobs and the audit chain.
const SEQ_LOCK_CLASS: i32 = 0x7365_7100;

/// Numbers up to `limit` committed, unnumbered events in `(created_at, id)` order, continuing
/// each tenant's sequence, in one short transaction; returns how many it numbered.
///
/// Sequencing is serialised per tenant: on PostgreSQL by a transaction-scoped advisory lock
/// on the tenant (two tenants whose keys collide merely wait for each other), on SQLite by the
/// write lock (`db::begin_write`). A second relay therefore reads the first one's numbers once
/// it gets the lock, and numbers are committed in increasing order.
pub async fn sequence(db: &TenantDb, limit: u64) -> ServiceResult<usize> {
    if unsequenced(db, 1).await?.is_empty() {
        // Nothing to number: no lock taken, no write transaction on an idle pass.
        return Ok(0);
    }
    let txn = portal_core::db::begin_write(db).await?;
    if let Some(tenant) = db.tenant()
        && txn.get_database_backend() == DbBackend::Postgres
    {
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock($1, $2)",
            [SEQ_LOCK_CLASS.into(), lock_key(tenant).into()],
        ))
        .await?;
    }
    let pending = unsequenced(&txn, limit).await?;
    let mut next: HashMap<Uuid, i64> = HashMap::new();
    let mut numbered = Vec::with_capacity(pending.len());
    for (id, tenant) in &pending {
        let seq = match next.entry(*tenant) {
            Entry::Occupied(mut e) => {
                *e.get_mut() += 1;
                *e.get()
            }
            Entry::Vacant(e) => *e.insert(last_seq(&txn, *tenant).await? + 1),
        };
        numbered.push((*id, seq));
    }
    number(&txn, &numbered).await?;
    txn.commit().await?;
    Ok(pending.len())
}

/// Gives each event its number, the whole batch in one statement
/// (`SET publish_seq = CASE id WHEN … THEN … END WHERE id IN (…)`).
async fn number<C: ConnectionTrait>(db: &C, numbered: &[(Uuid, i64)]) -> ServiceResult<()> {
    let Some(((first_id, first_seq), rest)) = numbered.split_first() else {
        return Ok(());
    };
    let mut case = Expr::case(outbox_event::Column::Id.eq(*first_id), *first_seq);
    for (id, seq) in rest {
        case = case.case(outbox_event::Column::Id.eq(*id), *seq);
    }
    outbox_event::Entity::update_many()
        .col_expr(outbox_event::Column::PublishSeq, case.into())
        .filter(outbox_event::Column::Id.is_in(numbered.iter().map(|(id, _)| *id)))
        .exec(db)
        .await?;
    Ok(())
}

/// The tenant's highest number so far (0 before its first event). Every event of the tenant
/// numbered up to it is committed.
pub async fn last_seq<C: ConnectionTrait>(db: &C, tenant_id: Uuid) -> ServiceResult<i64> {
    let last: Option<Option<i64>> = outbox_event::Entity::find()
        .select_only()
        .column_as(outbox_event::Column::PublishSeq.max(), "last")
        .filter(outbox_event::Column::TenantId.eq(tenant_id))
        .into_tuple()
        .one(db)
        .await?;
    Ok(last.flatten().unwrap_or(0))
}

/// Unnumbered events (id, tenant), oldest first. Numbered rows are the only ones published,
/// so `published_at IS NULL` holds for all of them and lets the backlog index serve the scan.
/// Rows another transaction holds locked are skipped (numbered by a later pass): which row
/// gets which number does not matter, only that numbers commit in increasing order.
async fn unsequenced<C: ConnectionTrait>(db: &C, limit: u64) -> ServiceResult<Vec<(Uuid, Uuid)>> {
    Ok(outbox_event::Entity::find()
        .select_only()
        .column(outbox_event::Column::Id)
        .column(outbox_event::Column::TenantId)
        .filter(outbox_event::Column::PublishedAt.is_null())
        .filter(outbox_event::Column::PublishSeq.is_null())
        .order_by_asc(outbox_event::Column::CreatedAt)
        .order_by_asc(outbox_event::Column::Id)
        .limit(limit)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .into_tuple()
        .all(db)
        .await?)
}

/// The tenant's advisory lock key (its id folded to 32 bits).
fn lock_key(tenant: Uuid) -> i32 {
    portal_core::db::fold_key(tenant)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_keys_differ_between_tenants_and_stay_stable() {
        let a = Uuid::from_u128(0x0001_0000_0000_0000_0000_0000_0000_0002);
        let b = Uuid::from_u128(0x0001_0000_0000_0000_0000_0000_0000_0003);
        assert_eq!(lock_key(a), lock_key(a));
        assert_ne!(lock_key(a), lock_key(b));
        assert_eq!(lock_key(a), 0x0001_0002);
    }
}
