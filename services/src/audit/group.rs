//! Group commit of the request path's audit rows: requests that flush while a chain write is
//! under way are written together by the next one, in one transaction and one WAL flush.
//!
//! Every request still waits for its own rows to be committed and fails (the caller withholds
//! the answer) when they are not. The chain order is the order rows are inserted; rows of
//! different tenants go into the same transaction, each tenant's rows in an INSERT bound to
//! that tenant (`set_config('app.tenant_id', …, true)`), as the row-level security policy of
//! `audit_events` requires.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex as SyncMutex};

use portal_entities::audit_event;
use sea_orm::DatabaseConnection;
use tokio::sync::{Mutex, oneshot};
use uuid::Uuid;

use super::{CHAIN_LOCK, insert_linked, lock_chain, move_chain_head, row_for};
use crate::context::RequestContext;
use crate::error::{ServiceError, ServiceResult};

/// Writes audit rows for the requests of one pool, batching those that arrive together.
pub struct AuditWriter {
    db: DatabaseConnection,
    queue: SyncMutex<Vec<Pending>>,
    /// Held by the request whose turn it is to write whatever is queued.
    turn: Mutex<()>,
}

struct Pending {
    tenant: Option<Uuid>,
    rows: Vec<audit_event::Model>,
    done: oneshot::Sender<Result<(), String>>,
}

impl AuditWriter {
    /// A writer over the unbound pool (it binds each tenant's rows itself).
    pub fn new(db: DatabaseConnection) -> Arc<Self> {
        Arc::new(Self {
            db,
            queue: SyncMutex::new(Vec::new()),
            turn: Mutex::new(()),
        })
    }

    /// Writes the request's buffered records (with every other request's that are waiting).
    /// Fails, and the caller must not answer with the data, when they were not written.
    pub async fn flush(&self, ctx: &RequestContext) -> ServiceResult<usize> {
        let records = ctx.take_audit_records();
        if records.is_empty() {
            return Ok(0);
        }
        let count = records.len();
        let tenant = ctx.viewer.as_ref().map(|v| v.tenant_id);
        let rows = records.into_iter().map(|r| row_for(ctx, r)).collect();
        let (done, mut outcome) = oneshot::channel();
        self.lock_queue().push(Pending { tenant, rows, done });

        let _turn = self.turn.lock().await;
        if let Ok(written) = outcome.try_recv() {
            // An earlier turn wrote this request's rows with its own.
            return written.map(|()| count).map_err(unavailable);
        }
        let batch = std::mem::take(&mut *self.lock_queue());
        // The write runs as its own task: if this request is cancelled (the client went
        // away), the rows of the others it carries are still written and answered.
        let db = self.db.clone();
        let write = tokio::spawn(async move { write_batch(&db, batch).await });
        if let Err(join) = write.await {
            return Err(ServiceError::Internal(Box::new(join)));
        }
        match outcome.try_recv() {
            Ok(written) => written.map(|()| count).map_err(unavailable),
            // The batch always holds this request's rows, and every sender is answered.
            Err(closed) => Err(ServiceError::Internal(Box::new(closed))),
        }
    }

    fn lock_queue(&self) -> std::sync::MutexGuard<'_, Vec<Pending>> {
        // A panic while holding this lock can only happen in `Vec::push`/`take`; the queue
        // stays consistent either way.
        self.queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// One transaction for the whole batch; every waiter gets its outcome.
async fn write_batch(db: &DatabaseConnection, batch: Vec<Pending>) {
    let mut by_tenant: BTreeMap<Option<Uuid>, Vec<audit_event::Model>> = BTreeMap::new();
    let mut waiters = Vec::with_capacity(batch.len());
    for pending in batch {
        by_tenant
            .entry(pending.tenant)
            .or_default()
            .extend(pending.rows);
        waiters.push(pending.done);
    }
    let outcome = write_groups(db, by_tenant)
        .await
        .map_err(|err| err.to_string());
    if let Err(error) = &outcome {
        tracing::error!(error = %error, requests = waiters.len(), "audit rows not written");
    }
    for waiter in waiters {
        // A waiter that went away no longer needs its answer; its rows were handled.
        let _ = waiter.send(outcome.clone());
    }
}

async fn write_groups(
    db: &DatabaseConnection,
    by_tenant: BTreeMap<Option<Uuid>, Vec<audit_event::Model>>,
) -> ServiceResult<()> {
    let _chain = CHAIN_LOCK.lock().await;
    let txn = crate::db::begin_write(db).await?;
    let mut prev = lock_chain(&txn).await?;
    for (tenant, rows) in by_tenant {
        crate::db::bind(&txn, tenant).await?;
        insert_linked(&txn, &mut prev, rows).await?;
    }
    move_chain_head(&txn, &prev).await?;
    txn.commit().await?;
    Ok(())
}

fn unavailable(cause: String) -> ServiceError {
    ServiceError::Unavailable(cause.into())
}
