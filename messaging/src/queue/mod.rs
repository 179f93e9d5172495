//! One job-queue primitive for every queue kept in a table: `run_at` scheduling, batch claim
//! under a lease whose end is the fencing token of every state write, heartbeat, attempts
//! with a backoff policy, a dead state, replay, a unique key, and backlog and age gauges.
//!
//! A queue is a *use* of this module, not a table of its own: a descriptor names the table
//! and its columns ([`DeadLetter`], [`JobQueue`]), so each queue keeps its table, indexes and
//! row-level security, and no migration moves data. Notifications and public-health batches
//! are retry queues ([`JobQueue`]); the HL7 dead letter and the public-health error queue use
//! only the dead, replay and metrics parts ([`DeadLetter`], [`Replay`]).
//!
//! How a queue works (as crates.io's `crates_io_worker` and zero-to-production's delivery
//! worker): a row is due when its status is one of [`JobQueue::READY`] and its `run_at` has
//! passed. [`claim`] takes up to `limit` due rows in one statement and sets their `run_at` to
//! the lease end, which hides them from other workers until then; on PostgreSQL the rows are
//! picked `FOR UPDATE SKIP LOCKED`, on SQLite (one writer at a time) the guarded UPDATE alone
//! decides. That lease end is the fencing token: every write by the holder ([`write`],
//! [`fail`], [`heartbeat`]) matches `run_at = token`, so once a lease ran out and another
//! worker claimed the row (moving `run_at` to a later end), the old holder's writes change
//! nothing. A row whose worker died is due again when its lease ends: at least once.

mod backoff;
mod claim;
mod dead;
mod lease;
mod metrics;

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{EntityTrait, TryGetable, Value};

pub use backoff::{Backoff, Failure, Retries};
pub use claim::{claim, enqueue};
pub use dead::{count_dead_in, dead_filter, dead_rows, replay, replay_in};
pub use lease::{Lease, fail, fence, heartbeat, write};
pub use metrics::{Backlog, backlog, by_status, dead_count};

use portal_core::error::{ServiceError, ServiceResult};

/// A column of the descriptor's table.
pub type Col<Q> = <<Q as DeadLetter>::Entity as EntityTrait>::Column;
/// A row of the descriptor's table.
pub type Row<Q> = <<Q as DeadLetter>::Entity as EntityTrait>::Model;

/// A table that holds a dead letter: rows in [`DeadLetter::DEAD`] wait for an operator, who
/// lists, counts and replays them.
pub trait DeadLetter: Send + Sync + 'static {
    type Entity: EntityTrait;
    /// The status column's type (a `DeriveActiveEnum`).
    type Status: Into<Value> + TryGetable + Copy + PartialEq + Send + Sync + 'static;
    /// The queue's name in logs.
    const NAME: &'static str;
    const STATUS: Col<Self>;
    /// When a row entered the queue: a replay's `since`, the order of a listing, the age gauge.
    const CREATED_AT: Col<Self>;
    /// The statuses of the dead letter.
    const DEAD: &'static [Self::Status];
}

/// A dead letter replayed in bulk: its dead rows go back to the queue by one UPDATE (a
/// dead letter replayed row by row, like HL7's, reads [`dead_rows`] and applies each).
pub trait Replay: DeadLetter {
    /// What a replay sets on a dead row to put it back in the queue (at `now`).
    fn replayed(
        update: sea_orm::UpdateMany<Self::Entity>,
        now: DateTime<Utc>,
    ) -> sea_orm::UpdateMany<Self::Entity>;
}

/// A retry queue: a dead letter whose rows are claimed, leased, retried and dead-lettered.
pub trait JobQueue: DeadLetter {
    const ID: Col<Self>;
    /// When the row is due; while claimed, the lease end (the fencing token).
    const RUN_AT: Col<Self>;
    /// Failed attempts so far.
    const ATTEMPTS: Col<Self>;
    /// Statuses a worker may claim (the row is due once `RUN_AT` has passed).
    const READY: &'static [Self::Status];
    /// The status of a row waiting for its retry after a failed attempt.
    const RETRY: Self::Status;
    /// The columns no two rows share: enqueuing a row again adds nothing.
    const UNIQUE: &'static [Col<Self>];
}

/// `now + delay`, or an internal error when it does not fit.
pub(crate) fn after(now: DateTime<Utc>, delay: Duration) -> ServiceResult<DateTime<Utc>> {
    chrono::Duration::from_std(delay)
        .ok()
        .and_then(|delay| now.checked_add_signed(delay))
        .ok_or_else(|| ServiceError::internal("queue delay out of range"))
}
