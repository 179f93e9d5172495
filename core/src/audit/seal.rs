//! The sealer: links committed audit rows into their chain in batches, off the request path.
//!
//! One sealer at a time per chain (PostgreSQL: a transaction-scoped advisory lock, tried, not
//! waited for; SQLite: the write lock). A batch is every committed row of the chain that no
//! batch holds yet, oldest `seq` first, up to a size: rows are chosen by `sealed_batch IS
//! NULL`, never by a `seq` high-water mark, so a row whose transaction commits after a
//! higher `seq` was sealed is sealed by the next batch, never skipped. A sealer that dies
//! holding the lock loses its transaction (nothing of its batch stays) and its lock, and the
//! next pass of any replica takes over.

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, Statement,
};

use portal_entities::{audit_event, audit_seal};

use super::chain::{self, Chain, GENESIS_HASH, SEAL_LOCK_CLASS, SealFields};
use crate::error::{ServiceError, ServiceResult};

/// Rows per batch by default: one batch is one UPDATE and one INSERT.
pub const BATCH_ROWS: u64 = 500;

/// What one pass sealed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sealed {
    pub batches: usize,
    pub rows: usize,
    /// Chains another sealer held during this pass (it seals them).
    pub busy: usize,
}

/// Seals every chain until none has a committed unsealed row (or another sealer holds it).
pub async fn seal_all(db: &DatabaseConnection, batch_rows: u64) -> ServiceResult<Sealed> {
    let mut total = Sealed::default();
    for chain in chain::chains(db).await? {
        let sealed = seal_chain(db, chain, batch_rows).await?;
        total.batches += sealed.batches;
        total.rows += sealed.rows;
        total.busy += sealed.busy;
    }
    Ok(total)
}

/// Seals one chain until it has no committed unsealed row, in one transaction.
pub async fn seal_chain(
    db: &DatabaseConnection,
    chain: Chain,
    batch_rows: u64,
) -> ServiceResult<Sealed> {
    let Some(mut seal) = Seal::acquire(db, chain).await? else {
        return Ok(Sealed {
            busy: 1,
            ..Sealed::default()
        });
    };
    let mut sealed = Sealed::default();
    loop {
        let rows = seal.seal_batch(batch_rows).await?;
        if rows == 0 {
            break;
        }
        sealed.batches += 1;
        sealed.rows += rows;
        if (rows as u64) < batch_rows {
            break;
        }
    }
    seal.commit().await?;
    if sealed.rows > 0 {
        tracing::debug!(chain = %chain.label(), batches = sealed.batches, rows = sealed.rows, "audit rows sealed");
    }
    Ok(sealed)
}

/// A chain's seal, held: its transaction and the chain's last batch so far.
pub struct Seal {
    txn: DatabaseTransaction,
    chain: Chain,
    last: Option<(i64, String)>,
}

impl Seal {
    /// Takes the chain's seal, or `None` when another sealer holds it now.
    pub async fn acquire(db: &DatabaseConnection, chain: Chain) -> ServiceResult<Option<Self>> {
        let txn = chain.begin(db, false).await?;
        if txn.get_database_backend() == DatabaseBackend::Postgres {
            let row = txn
                .query_one_raw(Statement::from_sql_and_values(
                    DatabaseBackend::Postgres,
                    "SELECT pg_try_advisory_xact_lock($1, $2) AS got",
                    [SEAL_LOCK_CLASS.into(), chain.lock_key().into()],
                ))
                .await?;
            let got = match row {
                Some(row) => row.try_get::<bool>("", "got")?,
                None => false,
            };
            if !got {
                txn.rollback().await?;
                return Ok(None);
            }
        }
        Ok(Some(Self {
            txn,
            chain,
            last: None,
        }))
    }

    /// Seals up to `limit` committed unsealed rows of the chain as its next batch; returns
    /// how many (0: nothing to seal).
    pub async fn seal_batch(&mut self, limit: u64) -> ServiceResult<usize> {
        let (last_batch, prev_hash) = match &self.last {
            Some(last) => last.clone(),
            None => self.last_seal().await?,
        };
        let rows: Vec<(i64, String)> = audit_event::Entity::find()
            .select_only()
            .column(audit_event::Column::Seq)
            .column(audit_event::Column::Hash)
            .filter(self.chain.rows())
            .filter(audit_event::Column::SealedBatch.is_null())
            .order_by_asc(audit_event::Column::Seq)
            .limit(limit)
            .into_tuple()
            .all(&self.txn)
            .await?;
        let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
            return Ok(0);
        };
        let batch = last_batch + 1;
        let rows_hash = chain::rows_hash(rows.iter().map(|(seq, hash)| (*seq, hash.as_str())));
        let fields = SealFields {
            chain: self.chain,
            batch,
            first_seq: first.0,
            last_seq: last.0,
            row_count: rows.len() as i64,
            rows_hash: &rows_hash,
            prev_hash: &prev_hash,
        };
        let hash = chain::seal_hash(&fields);
        let seqs: Vec<i64> = rows.iter().map(|(seq, _)| *seq).collect();
        let marked = audit_event::Entity::update_many()
            .col_expr(audit_event::Column::SealedBatch, Expr::value(batch))
            .filter(self.chain.rows())
            .filter(audit_event::Column::SealedBatch.is_null())
            .filter(audit_event::Column::Seq.is_in(seqs))
            .exec(&self.txn)
            .await?
            .rows_affected;
        if marked != rows.len() as u64 {
            return Err(ServiceError::internal(format!(
                "audit chain {}: batch {batch} marked {marked} of {} rows",
                self.chain.label(),
                rows.len()
            )));
        }
        audit_seal::Entity::insert(audit_seal::ActiveModel {
            id: NotSet,
            tenant_id: Set(self.chain.tenant()),
            batch: Set(batch),
            first_seq: Set(fields.first_seq),
            last_seq: Set(fields.last_seq),
            row_count: Set(fields.row_count),
            rows_hash: Set(rows_hash.clone()),
            prev_hash: Set(prev_hash),
            hash: Set(hash.clone()),
            sealed_at: Set(Utc::now()),
        })
        .exec_without_returning(&self.txn)
        .await?;
        self.last = Some((batch, hash));
        Ok(rows.len())
    }

    /// Commits the batches sealed so far and lets the chain's seal go.
    pub async fn commit(self) -> ServiceResult<()> {
        self.txn.commit().await?;
        Ok(())
    }

    /// The chain's last batch number and hash (0 and the genesis hash before the first).
    async fn last_seal(&self) -> ServiceResult<(i64, String)> {
        let last: Option<(i64, String)> = audit_seal::Entity::find()
            .select_only()
            .column(audit_seal::Column::Batch)
            .column(audit_seal::Column::Hash)
            .filter(self.chain.seals())
            .order_by_desc(audit_seal::Column::Batch)
            .limit(1)
            .into_tuple()
            .one(&self.txn)
            .await?;
        Ok(last.unwrap_or_else(|| (0, GENESIS_HASH.to_owned())))
    }
}
