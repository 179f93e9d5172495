//! `addTestResults`: the items of a batch share one transaction (up to 100 items; a larger
//! batch takes one per 100), each in a savepoint of its own, so one COMMIT (one WAL flush)
//! serves them all while each item still stands or falls alone:
//! - an item that fails rolls back to its savepoint: nothing of it stays, the others keep
//!   theirs, and its error is its outcome;
//! - an item that failed on a database error (not a rule of the request: a deadlock, a lost
//!   statement) is retried alone, in a transaction of its own, after the shared COMMIT;
//! - if the shared transaction itself fails (BEGIN, a savepoint, the COMMIT), nothing of it
//!   is there: the audit rows it carried are written on their own with each create marked
//!   FAILED, and every item is stored again alone, one transaction each, as if sent one by
//!   one. Nothing is lost and nothing is stored twice (the shared work never committed).

use portal_core::audit::Outcome;
use portal_core::context::{RequestContext, Writing};
use portal_core::error::{ServiceError, ServiceResult};
use portal_entities::audit_event;
use sea_orm::DbErr;
use tracing::instrument;

use super::store::{CREATE, InTxn, add_one, after_race, precheck, require_writer, store_in};
use super::validate::Known;
use super::{MAX_BATCH, NewResult, Stored};

/// Most items in one shared transaction: a larger batch takes several, so no transaction
/// holds its locks (on SQLite the database's one write lock) for a whole 500-result batch.
const CHUNK: usize = 100;

/// An input that passed the checks that need no database, with its request hash.
struct Item {
    input: NewResult,
    hash: String,
    at: String,
}

/// Stores a batch (see the module documentation): each result stands or falls alone. Inputs that already
/// failed to convert keep their error. Returns one outcome per input, in order.
#[instrument(skip(ctx, inputs), fields(request_id = %ctx.request_id, count = inputs.len()))]
pub async fn add_results(
    ctx: &RequestContext,
    inputs: Vec<ServiceResult<NewResult>>,
) -> ServiceResult<Vec<ServiceResult<Stored>>> {
    require_writer(ctx, CREATE)?;
    if inputs.is_empty() || inputs.len() > MAX_BATCH {
        return Err(ServiceError::bad_input(
            "inputs",
            format!("send between 1 and {MAX_BATCH} results"),
        ));
    }
    Ok(store(ctx, inputs).await)
}

/// Stores the batch (see the module documentation); one outcome per input, in order.
async fn store(
    ctx: &RequestContext,
    inputs: Vec<ServiceResult<NewResult>>,
) -> Vec<ServiceResult<Stored>> {
    let mut items = Vec::with_capacity(inputs.len());
    let mut early = Vec::with_capacity(inputs.len());
    for (i, input) in inputs.into_iter().enumerate() {
        let at = format!("inputs[{i}]");
        match input.and_then(|input| precheck(ctx, &input, &at).map(|hash| (input, hash))) {
            Ok((input, hash)) => {
                items.push(Some(Item { input, hash, at }));
                early.push(None);
            }
            Err(err) => {
                items.push(None);
                early.push(Some(Err(err)));
            }
        }
    }
    let mut shared_outcomes = Vec::with_capacity(items.len());
    for chunk in items.chunks(CHUNK) {
        match shared(ctx, chunk).await {
            Ok(outcomes) => shared_outcomes.extend(outcomes),
            Err(err) => {
                tracing::warn!(request_id = %ctx.request_id, error = %err, "the shared transaction of a batch failed; storing its items one by one");
                shared_outcomes.extend(chunk.iter().map(|_| None));
            }
        }
    }
    let mut outcomes = Vec::with_capacity(items.len());
    for ((item, early), shared) in items.into_iter().zip(early).zip(shared_outcomes) {
        outcomes.push(match (item, early, shared) {
            (_, Some(err), _) => err,
            (Some(item), None, Some(outcome)) => {
                after_race(ctx, &item.input, &item.hash, outcome).await
            }
            (Some(item), None, None) => add_one(ctx, item.input, &item.at).await,
            (None, None, _) => Err(ServiceError::internal("a batch item without input")),
        });
    }
    outcomes
}

/// One pass over the items in one transaction. Per item: its outcome, or `None` to store it
/// alone. An error means the shared transaction failed and nothing of it committed.
async fn shared(
    ctx: &RequestContext,
    items: &[Option<Item>],
) -> Result<Vec<Option<ServiceResult<Stored>>>, DbErr> {
    let work = ctx.begin_write().await?;
    let mut known = Known::default();
    let mut sent = Vec::new();
    let mut outcomes = Vec::with_capacity(items.len());
    for item in items {
        let Some(item) = item else {
            outcomes.push(None);
            continue;
        };
        let outcome = match in_savepoint(&work, &mut known, item, &mut sent).await {
            Ok(outcome) => outcome,
            Err(err) => {
                if let Err(rollback) = work.rollback().await {
                    tracing::warn!(request_id = %ctx.request_id, error = %rollback, "a broken batch transaction did not roll back cleanly");
                }
                lost(ctx, sent).await;
                return Err(err);
            }
        };
        outcomes.push(match outcome {
            // A database error, not a rule of the request: tried again alone.
            Err(ServiceError::Internal(source)) if !super::store::is_unique_violation(&*source) => {
                None
            }
            other => Some(other),
        });
    }
    if let Err(err) = work.commit().await {
        lost(ctx, sent).await;
        return Err(err);
    }
    Ok(outcomes)
}

/// Stores one item in a savepoint of the shared transaction. The outer error means the
/// shared transaction broke (a savepoint could not be taken, released or rolled back to).
async fn in_savepoint(
    work: &Writing<'_>,
    known: &mut Known,
    item: &Item,
    sent: &mut Vec<audit_event::Model>,
) -> Result<ServiceResult<Stored>, DbErr> {
    let point = work.savepoint().await?;
    match store_in(&point, known, &item.input, &item.hash, &item.at).await {
        Ok(InTxn::Replayed(stored)) => {
            point.rollback().await?;
            Ok(Ok(stored))
        }
        Ok(InTxn::Written(stored, pending)) => {
            point.commit().await?;
            sent.extend_from_slice(pending.rows());
            work.ctx.audit_committed(pending);
            Ok(Ok(stored))
        }
        Err(err) => {
            point.rollback().await?;
            Ok(Err(err))
        }
    }
}

/// The audit rows of a shared transaction that did not commit, written on their own: what
/// they record happened, except the creates, which are marked FAILED.
async fn lost(ctx: &RequestContext, rows: Vec<audit_event::Model>) {
    if rows.is_empty() {
        return;
    }
    let rows: Vec<_> = rows
        .into_iter()
        .map(|mut row| {
            if row.action == CREATE.action && row.entity_id.is_some() {
                row.outcome = Outcome::Failed;
                row.reason = Some("commit failed".into());
            }
            row
        })
        .collect();
    if let Err(err) = portal_core::audit::append(ctx.db(), rows).await {
        tracing::error!(request_id = %ctx.request_id, error = %err, "audit rows of a failed batch commit could not be written");
    }
}
