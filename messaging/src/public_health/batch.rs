//! Batches: forming one from the queue, claiming a due one (under a [`crate::queue`] lease, like
//! the notification worker), and storing what the receiver answered.
//!
//! A batch's membership is fixed when it is formed, in one transaction that also stores its
//! CSV; every later attempt sends that CSV under that id. Forming takes queued reports with
//! a guarded `UPDATE … WHERE status = QUEUED` (PostgreSQL also skips rows another former has
//! locked), so a report is in one batch at a time. It leaves a batch only when the batch was
//! refused (4xx): the rows named go to the error queue, the others back to the queue.

use portal_entities::{
    BatchStatus, ReportStatus, public_health_batch, public_health_error, public_health_report,
};
use sea_orm::sea_query::{Expr, LockBehavior, LockType};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::Settings;
use super::queue::{Batches, Reports};
use super::rows::{self, Hold, RowSettings};
use super::upload::Answer;
use crate::queue::{self, Lease, Replay};
use portal_core::clock;
use portal_core::db::TenantDb;
use portal_core::error::ServiceResult;

/// A batch this worker holds under `lease`.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub batch: public_health_batch::Model,
    pub lease: Lease,
}

/// What forming found.
pub enum Formed {
    /// A batch to send, and why each report taken with it went to the error queue instead.
    Batch(Claimed, Vec<Hold>),
    /// Every report taken had a problem and went to the error queue; there may be more.
    OnlyProblems(Vec<Hold>),
    Empty,
}

/// Takes the oldest due PENDING batch of `tenant` (a retry, or one whose holder's lease
/// ran out); `None` when there is none or others took them first.
pub async fn claim_due(
    db: &TenantDb,
    tenant: Uuid,
    settings: &Settings,
) -> ServiceResult<Option<Claimed>> {
    let (batches, lease) = queue::claim::<Batches>(
        db,
        sea_orm::Condition::all().add(public_health_batch::Column::TenantId.eq(tenant)),
        1,
        settings.lease,
    )
    .await?;
    Ok(batches
        .into_iter()
        .next()
        .map(|batch| Claimed { batch, lease }))
}

/// Forms a new batch of up to `max_batch` queued reports of `tenant`, taken
/// `dequeue_batch` at a time, oldest first, already leased to this worker.
pub async fn form(
    db: &TenantDb,
    tenant: Uuid,
    settings: &Settings,
    row_settings: &RowSettings,
) -> ServiceResult<Formed> {
    // A read first: an idle pass takes no write lock.
    let any_queued = public_health_report::Entity::find()
        .select_only()
        .column(public_health_report::Column::Id)
        .filter(public_health_report::Column::TenantId.eq(tenant))
        .filter(public_health_report::Column::Status.eq(ReportStatus::Queued))
        .into_tuple::<Uuid>()
        .one(db)
        .await?;
    if any_queued.is_none() {
        return Ok(Formed::Empty);
    }
    let now = clock::now();
    let lease = Lease::from_now(settings.lease)?;
    let batch_id = Uuid::now_v7();
    let txn = portal_core::db::begin_write(db).await?;
    let mut batch = public_health_batch::Model {
        id: batch_id,
        tenant_id: tenant,
        status: BatchStatus::Pending,
        row_count: 0,
        payload: String::new(),
        attempts: 0,
        next_attempt_at: lease.token(),
        last_status: None,
        last_error: None,
        created_at: now,
        sent_at: None,
    };
    public_health_batch::Entity::insert(batch.clone().into_active_model())
        .exec(&txn)
        .await?;
    let taken = take_queued(&txn, tenant, batch_id, settings).await?;
    if taken.is_empty() {
        txn.rollback().await?;
        return Ok(Formed::Empty);
    }
    let rendered = rows::render(&txn, &taken, row_settings).await?;
    for (report_id, _, problem) in &rendered.problems {
        to_error_queue(&txn, tenant, *report_id, None, None, problem, None).await?;
    }
    let held: Vec<Hold> = rendered.problems.iter().map(|(_, h, _)| *h).collect();
    if rendered.included.is_empty() {
        public_health_batch::Entity::delete_by_id(batch_id)
            .exec(&txn)
            .await?;
        txn.commit().await?;
        return Ok(Formed::OnlyProblems(held));
    }
    batch.row_count = i32::try_from(rendered.included.len()).unwrap_or(i32::MAX);
    batch.payload = rendered.csv;
    public_health_batch::Entity::update_many()
        .col_expr(
            public_health_batch::Column::RowCount,
            Expr::value(batch.row_count),
        )
        .col_expr(
            public_health_batch::Column::Payload,
            Expr::value(batch.payload.clone()),
        )
        .filter(public_health_batch::Column::Id.eq(batch_id))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(Formed::Batch(Claimed { batch, lease }, held))
}

async fn take_queued<C: ConnectionTrait>(
    txn: &C,
    tenant: Uuid,
    batch_id: Uuid,
    settings: &Settings,
) -> ServiceResult<Vec<public_health_report::Model>> {
    let mut taken: Vec<public_health_report::Model> = Vec::new();
    while taken.len() < settings.max_batch {
        let want = settings.dequeue_batch.min(settings.max_batch - taken.len());
        let mut peek = public_health_report::Entity::find()
            .select_only()
            .column(public_health_report::Column::Id)
            .filter(public_health_report::Column::TenantId.eq(tenant))
            .filter(public_health_report::Column::Status.eq(ReportStatus::Queued))
            .order_by_asc(public_health_report::Column::CreatedAt)
            .order_by_asc(public_health_report::Column::Id)
            .limit(want as u64);
        if txn.get_database_backend() == DatabaseBackend::Postgres {
            peek = peek.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        let ids: Vec<Uuid> = peek.into_tuple().all(txn).await?;
        if ids.is_empty() {
            break;
        }
        let peeked = ids.len();
        let mut got = public_health_report::Entity::update_many()
            .col_expr(
                public_health_report::Column::Status,
                Expr::value(ReportStatus::Batched),
            )
            .col_expr(
                public_health_report::Column::BatchId,
                Expr::value(Some(batch_id)),
            )
            .filter(public_health_report::Column::Id.is_in(ids))
            .filter(public_health_report::Column::Status.eq(ReportStatus::Queued))
            .exec_with_returning(txn)
            .await?;
        got.sort_by_key(|r| (r.created_at, r.id));
        taken.extend(got);
        if peeked < want {
            break;
        }
    }
    Ok(taken)
}

/// What storing an answer concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    Sent,
    Retried,
    /// Refused: how many rows went to the error queue and how many back to the queue.
    Refused {
        errors: usize,
        requeued: usize,
    },
    /// Another worker holds the batch now (this worker's lease ran out): nothing changed.
    LeaseLost,
}

/// Stores the receiver's answer. A 2xx is stored whoever holds the batch now (it was
/// delivered, and a resend carries the same id); a retry or a refusal only while this
/// worker's lease holds (fenced by its token).
/// `receiver` names the destination on the audit rows of a delivered batch.
pub async fn record(
    db: &TenantDb,
    claimed: &Claimed,
    answer: &Answer,
    settings: &Settings,
    receiver: &str,
) -> ServiceResult<Recorded> {
    match answer {
        Answer::Accepted(status) => accepted(db, claimed, *status, receiver).await,
        Answer::Retry { status, reason } => retry(db, claimed, *status, reason, settings).await,
        Answer::Refused { status, rows, body } => refused(db, claimed, *status, rows, body).await,
    }
}

async fn accepted(
    db: &TenantDb,
    claimed: &Claimed,
    status: u16,
    receiver: &str,
) -> ServiceResult<Recorded> {
    use public_health_batch::Column as B;
    let now = clock::now();
    let txn = portal_core::db::begin_write(db).await?;
    let done = public_health_batch::Entity::update_many()
        .col_expr(B::Status, Expr::value(BatchStatus::Sent))
        .col_expr(B::SentAt, Expr::value(Some(now)))
        .col_expr(
            B::Attempts,
            Expr::value(claimed.batch.attempts.saturating_add(1)),
        )
        .col_expr(B::LastStatus, Expr::value(Some(i32::from(status))))
        .col_expr(B::LastError, Expr::value(Option::<String>::None))
        .filter(B::Id.eq(claimed.batch.id))
        .filter(B::Status.eq(BatchStatus::Pending))
        .exec(&txn)
        .await?;
    if done.rows_affected == 0 {
        txn.rollback().await?;
        return Ok(Recorded::LeaseLost);
    }
    let batch = &claimed.batch;
    super::disclosure::record(&txn, batch.tenant_id, batch.id, receiver, now).await?;
    public_health_report::Entity::update_many()
        .col_expr(
            public_health_report::Column::Status,
            Expr::value(ReportStatus::Sent),
        )
        .col_expr(public_health_report::Column::SentAt, Expr::value(Some(now)))
        .filter(public_health_report::Column::BatchId.eq(claimed.batch.id))
        .filter(public_health_report::Column::Status.eq(ReportStatus::Batched))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(Recorded::Sent)
}

async fn retry(
    db: &TenantDb,
    claimed: &Claimed,
    status: Option<u16>,
    reason: &str,
    settings: &Settings,
) -> ServiceResult<Recorded> {
    use public_health_batch::Column as B;
    let failure = settings
        .retries()
        .failed(claimed.batch.attempts, false, clock::now())?;
    let update = public_health_batch::Entity::update_many()
        .col_expr(B::LastStatus, Expr::value(status.map(i32::from)))
        .col_expr(B::LastError, Expr::value(Some(reason.to_owned())));
    let held =
        queue::fail::<Batches>(db, &claimed.lease, claimed.batch.id, &failure, update).await?;
    Ok(if held {
        Recorded::Retried
    } else {
        Recorded::LeaseLost
    })
}

async fn refused(
    db: &TenantDb,
    claimed: &Claimed,
    status: u16,
    named: &[(String, String)],
    body: &str,
) -> ServiceResult<Recorded> {
    use public_health_batch::Column as B;
    let batch_id = claimed.batch.id;
    let txn = portal_core::db::begin_write(db).await?;
    let close = public_health_batch::Entity::update_many()
        .col_expr(B::Status, Expr::value(BatchStatus::Refused))
        .col_expr(
            B::Attempts,
            Expr::value(claimed.batch.attempts.saturating_add(1)),
        )
        .col_expr(B::LastStatus, Expr::value(Some(i32::from(status))))
        .col_expr(
            B::LastError,
            Expr::value(Some(format!("receiver refused the batch: HTTP {status}"))),
        );
    if !queue::write::<Batches>(&txn, &claimed.lease, batch_id, close).await? {
        txn.rollback().await?;
        return Ok(Recorded::LeaseLost);
    }
    let members = public_health_report::Entity::find()
        .filter(public_health_report::Column::BatchId.eq(batch_id))
        .filter(public_health_report::Column::Status.eq(ReportStatus::Batched))
        .all(&txn)
        .await?;
    let named_here: Vec<(&public_health_report::Model, &str)> = members
        .iter()
        .filter_map(|m| {
            let id = m.id.to_string();
            named
                .iter()
                .find(|(tracking, _)| *tracking == id)
                .map(|(_, message)| (m, message.as_str()))
        })
        .collect();
    let tenant = claimed.batch.tenant_id;
    let status = Some(i32::from(status));
    if named_here.is_empty() {
        let message = format!("receiver refused the whole batch {batch_id}");
        for member in &members {
            to_error_queue(
                &txn,
                tenant,
                member.id,
                Some(batch_id),
                status,
                &message,
                Some(body),
            )
            .await?;
        }
        txn.commit().await?;
        return Ok(Recorded::Refused {
            errors: members.len(),
            requeued: 0,
        });
    }
    for (member, message) in &named_here {
        to_error_queue(
            &txn,
            tenant,
            member.id,
            Some(batch_id),
            status,
            message,
            Some(body),
        )
        .await?;
    }
    // The rows not named go back to the queue as a replayed row does.
    let requeued = Reports::replayed(public_health_report::Entity::update_many(), clock::now())
        .filter(public_health_report::Column::BatchId.eq(batch_id))
        .filter(public_health_report::Column::Status.eq(ReportStatus::Batched))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(Recorded::Refused {
        errors: named_here.len(),
        requeued: usize::try_from(requeued.rows_affected).unwrap_or(usize::MAX),
    })
}

/// Moves one report to the error queue with the reason (and the receiver's answer).
async fn to_error_queue<C: ConnectionTrait>(
    txn: &C,
    tenant: Uuid,
    report_id: Uuid,
    batch_id: Option<Uuid>,
    http_status: Option<i32>,
    message: &str,
    response: Option<&str>,
) -> ServiceResult<()> {
    public_health_report::Entity::update_many()
        .col_expr(
            public_health_report::Column::Status,
            Expr::value(ReportStatus::Error),
        )
        .col_expr(
            public_health_report::Column::BatchId,
            Expr::value(Option::<Uuid>::None),
        )
        .filter(public_health_report::Column::Id.eq(report_id))
        .exec(txn)
        .await?;
    public_health_error::Entity::insert(public_health_error::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tenant),
        report_id: Set(report_id),
        batch_id: Set(batch_id),
        http_status: Set(http_status),
        message: Set(message.to_owned()),
        response: Set(response.filter(|r| !r.is_empty()).map(str::to_owned)),
        created_at: Set(clock::now()),
        replayed_at: Set(None),
    })
    .exec(txn)
    .await?;
    Ok(())
}
