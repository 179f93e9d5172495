//! Verification of the audit chains, streaming: a chain's seals are read a page at a time
//! and each batch's rows by their batch, so memory stays bounded by the page and batch
//! sizes, never by the table. The first broken link of each chain is reported.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use portal_entities::{audit_event, audit_seal};

use super::chain::{self, Chain, GENESIS_HASH, SealFields};
use super::row_hash;
use crate::error::ServiceResult;

/// Seals and unsealed rows read per query.
pub const PAGE: u64 = 200;

/// What to verify.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// One chain, or every chain.
    pub chain: Option<Chain>,
    /// Start at the first batch sealed at or after this time (its link to the batch before
    /// is still checked); every batch when `None`.
    pub since: Option<DateTime<Utc>>,
}

/// Where a chain's verification found its first broken link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Break {
    pub batch: Option<i64>,
    pub seq: Option<i64>,
    pub reason: &'static str,
}

/// One chain's verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    pub chain: Chain,
    pub batches: u64,
    pub sealed_rows: u64,
    pub unsealed_rows: u64,
    pub oldest_unsealed: Option<DateTime<Utc>>,
    /// The last batch's hash: record it elsewhere to detect a truncated tail later.
    pub head: String,
    pub broken: Option<Break>,
}

/// Verifies the chains of `scope`, each in one read-only snapshot.
pub async fn verify(db: &DatabaseConnection, scope: &Scope) -> ServiceResult<Vec<ChainReport>> {
    let chains = match scope.chain {
        Some(chain) => vec![chain],
        None => chain::chains(db).await?,
    };
    let mut reports = Vec::with_capacity(chains.len());
    for chain in chains {
        let txn = chain.begin(db, true).await?;
        let report = verify_in(&txn, chain, scope.since).await;
        txn.rollback().await?;
        reports.push(report?);
    }
    Ok(reports)
}

/// Where a verification of every chain stopped: all rows checked, or the first broken row.
#[derive(Debug, PartialEq, Eq)]
pub enum ChainCheck {
    Intact {
        rows: u64,
    },
    /// The row (or, when the break is in a batch as a whole, its first row) at fault.
    Broken {
        seq: i64,
    },
}

/// Every chain, from its first batch, and the unsealed rows' own hashes.
pub async fn verify_chain(db: &DatabaseConnection) -> ServiceResult<ChainCheck> {
    let mut rows = 0;
    for report in verify(db, &Scope::default()).await? {
        if let Some(broken) = report.broken {
            return Ok(ChainCheck::Broken {
                seq: broken.seq.unwrap_or_default(),
            });
        }
        rows += report.sealed_rows + report.unsealed_rows;
    }
    Ok(ChainCheck::Intact { rows })
}

async fn verify_in(
    txn: &DatabaseTransaction,
    chain: Chain,
    since: Option<DateTime<Utc>>,
) -> ServiceResult<ChainReport> {
    let mut report = ChainReport {
        chain,
        batches: 0,
        sealed_rows: 0,
        unsealed_rows: 0,
        oldest_unsealed: None,
        head: GENESIS_HASH.to_owned(),
        broken: None,
    };
    let (mut next, mut prev) = start(txn, chain, since).await?;
    'pages: loop {
        let seals = audit_seal::Entity::find()
            .filter(chain.seals())
            .filter(audit_seal::Column::Batch.gte(next))
            .order_by_asc(audit_seal::Column::Batch)
            .limit(PAGE)
            .all(txn)
            .await?;
        let last_page = (seals.len() as u64) < PAGE;
        for seal in seals {
            if let Some(broken) = check_batch(txn, chain, &seal, next, &prev, &mut report).await? {
                report.broken = Some(broken);
                break 'pages;
            }
            report.batches += 1;
            prev = seal.hash;
            next += 1;
        }
        if last_page {
            break;
        }
    }
    report.head = prev;
    if report.broken.is_none() {
        report.broken = claimed_beyond(txn, chain, next).await?;
    }
    if report.broken.is_none() {
        report.broken = check_unsealed(txn, chain, &mut report).await?;
    }
    Ok(report)
}

/// The first batch to check and the hash it must link to.
async fn start(
    txn: &DatabaseTransaction,
    chain: Chain,
    since: Option<DateTime<Utc>>,
) -> ServiceResult<(i64, String)> {
    let Some(since) = since else {
        return Ok((1, GENESIS_HASH.to_owned()));
    };
    let first: Option<i64> = audit_seal::Entity::find()
        .select_only()
        .column(audit_seal::Column::Batch)
        .filter(chain.seals())
        .filter(audit_seal::Column::SealedAt.gte(since))
        .order_by_asc(audit_seal::Column::Batch)
        .limit(1)
        .into_tuple()
        .one(txn)
        .await?;
    let Some(first) = first.filter(|b| *b > 1) else {
        return Ok((first.unwrap_or(1), GENESIS_HASH.to_owned()));
    };
    let before: Option<String> = audit_seal::Entity::find()
        .select_only()
        .column(audit_seal::Column::Hash)
        .filter(chain.seals())
        .filter(audit_seal::Column::Batch.eq(first - 1))
        .into_tuple()
        .one(txn)
        .await?;
    // A missing predecessor shows up as a link that does not match.
    Ok((first, before.unwrap_or_default()))
}

/// Checks one batch against its seal; counts its rows into the report.
async fn check_batch(
    txn: &DatabaseTransaction,
    chain: Chain,
    seal: &audit_seal::Model,
    expected: i64,
    prev: &str,
    report: &mut ChainReport,
) -> ServiceResult<Option<Break>> {
    let at = |seq: Option<i64>, reason| {
        Some(Break {
            batch: Some(seal.batch),
            seq,
            reason,
        })
    };
    if seal.batch != expected {
        return Ok(Some(Break {
            batch: Some(expected),
            seq: None,
            reason: "a batch is missing (the batch numbers have a gap)",
        }));
    }
    if seal.prev_hash != prev {
        return Ok(at(
            Some(seal.first_seq),
            "the batch does not link to the previous batch",
        ));
    }
    let rows = audit_event::Entity::find()
        .filter(chain.rows())
        .filter(audit_event::Column::SealedBatch.eq(seal.batch))
        .order_by_asc(audit_event::Column::Seq)
        .all(txn)
        .await?;
    for row in &rows {
        if row_hash(row) != row.hash {
            return Ok(at(Some(row.seq), "a row's content does not match its hash"));
        }
    }
    let rows_hash = chain::rows_hash(rows.iter().map(|r| (r.seq, r.hash.as_str())));
    let (first, last) = match (rows.first(), rows.last()) {
        (Some(first), Some(last)) => (first.seq, last.seq),
        _ => return Ok(at(Some(seal.first_seq), "the batch's rows are gone")),
    };
    if rows.len() as i64 != seal.row_count
        || rows_hash != seal.rows_hash
        || first != seal.first_seq
        || last != seal.last_seq
    {
        return Ok(at(
            Some(seal.first_seq),
            "the batch's rows differ from its seal (a row deleted, added, renumbered or moved)",
        ));
    }
    let fields = SealFields {
        chain,
        batch: seal.batch,
        first_seq: seal.first_seq,
        last_seq: seal.last_seq,
        row_count: seal.row_count,
        rows_hash: &seal.rows_hash,
        prev_hash: &seal.prev_hash,
    };
    if chain::seal_hash(&fields) != seal.hash {
        return Ok(at(Some(seal.first_seq), "the seal's hash does not match"));
    }
    report.sealed_rows += rows.len() as u64;
    Ok(None)
}

/// Rows that name a batch at or after `next`, which no seal covers.
async fn claimed_beyond(
    txn: &DatabaseTransaction,
    chain: Chain,
    next: i64,
) -> ServiceResult<Option<Break>> {
    let row: Option<(i64, Option<i64>)> = audit_event::Entity::find()
        .select_only()
        .column(audit_event::Column::Seq)
        .column(audit_event::Column::SealedBatch)
        .filter(chain.rows())
        .filter(audit_event::Column::SealedBatch.gte(next))
        .order_by_asc(audit_event::Column::SealedBatch)
        .order_by_asc(audit_event::Column::Seq)
        .limit(1)
        .into_tuple()
        .one(txn)
        .await?;
    Ok(row.map(|(seq, batch)| Break {
        batch,
        seq: Some(seq),
        reason: "a row names a batch that has no seal",
    }))
}

/// The rows not sealed yet: each must still match its own hash.
async fn check_unsealed(
    txn: &DatabaseTransaction,
    chain: Chain,
    report: &mut ChainReport,
) -> ServiceResult<Option<Break>> {
    let mut after = i64::MIN;
    loop {
        let rows = audit_event::Entity::find()
            .filter(chain.rows())
            .filter(audit_event::Column::SealedBatch.is_null())
            .filter(audit_event::Column::Seq.gt(after))
            .order_by_asc(audit_event::Column::Seq)
            .limit(PAGE)
            .all(txn)
            .await?;
        for row in &rows {
            if row_hash(row) != row.hash {
                return Ok(Some(Break {
                    batch: None,
                    seq: Some(row.seq),
                    reason: "an unsealed row's content does not match its hash",
                }));
            }
            report.unsealed_rows += 1;
            report.oldest_unsealed = Some(
                report
                    .oldest_unsealed
                    .map_or(row.occurred_at, |t| t.min(row.occurred_at)),
            );
        }
        match rows.last() {
            Some(last) if rows.len() as u64 == PAGE => after = last.seq,
            _ => return Ok(None),
        }
    }
}

/// How many rows of the chain are waiting for a seal (for metrics and `portal audit`).
pub async fn unsealed_count(txn: &DatabaseTransaction, chain: Chain) -> ServiceResult<u64> {
    Ok(audit_event::Entity::find()
        .filter(chain.rows())
        .filter(audit_event::Column::SealedBatch.is_null())
        .count(txn)
        .await?)
}
