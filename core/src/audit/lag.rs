//! The audit sealer's lag for `/metrics`: how many committed rows wait for a seal, and since
//! when, over every chain. A growing age means no sealer runs (docs/audit.md).

use chrono::{DateTime, Utc};
use portal_entities::audit_event;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect};

use super::chain::{self, Chain};
use crate::error::ServiceResult;

/// Unsealed rows and the oldest one's time, over every chain.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lag {
    pub unsealed: u64,
    pub oldest: Option<DateTime<Utc>>,
}

/// One short read-only transaction per chain (bound to its tenant under row-level
/// security), each an aggregate over `idx_audit_events_tenant_id_sealed_batch_seq`.
pub async fn lag(db: &DatabaseConnection) -> ServiceResult<Lag> {
    let mut total = Lag::default();
    for chain in chain::chains(db).await? {
        let (count, oldest) = unsealed(db, chain).await?;
        total.unsealed += count;
        total.oldest = match (total.oldest, oldest) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    Ok(total)
}

async fn unsealed(
    db: &DatabaseConnection,
    chain: Chain,
) -> ServiceResult<(u64, Option<DateTime<Utc>>)> {
    let txn = chain.begin(db, true).await?;
    let row: Option<(i64, Option<DateTime<Utc>>)> = audit_event::Entity::find()
        .filter(chain.rows())
        .filter(audit_event::Column::SealedBatch.is_null())
        .select_only()
        .column_as(audit_event::Column::Seq.count(), "unsealed")
        .column_as(audit_event::Column::OccurredAt.min(), "oldest")
        .into_tuple()
        .one(&txn)
        .await?;
    txn.commit().await?;
    let (count, oldest) = row.unwrap_or((0, None));
    Ok((u64::try_from(count).unwrap_or(0), oldest))
}
