//! The notification worker: claims due rows, re-checks that each may still be sent, sends
//! them, records SENT / FAILED (with exponential backoff) / DEAD (after the last attempt, or
//! at once on a permanent refusal) / SKIPPED, and replays the dead-letter state.
//!
//! The `notifications` table is a [`crate::queue`] retry queue ([`Notifications`]): a batch
//! is claimed in one statement under a lease, every outcome is written fenced by the lease's
//! token, so a worker whose lease ran out changes nothing. A worker that dies mid-send loses
//! only its lease: the row is due again once the lease ends. One lease covers the whole
//! claimed batch, and no send starts when less than twice the send timeout of it is left, so
//! a worker whose lease ran out never sends a row another worker holds.
//! At least once: a worker killed after the provider accepted a message but before the
//! outcome was stored leaves the row due again, and the message is sent a second time after
//! the lease.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::{StreamExt, stream};
use portal_entities::{NotificationStatus, notification};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, UpdateMany};
use tracing::instrument;

use super::send::{Outcome, send};
use super::{Channels, Template, contact, recheck};
use crate::queue::{self, Backoff, DeadLetter, JobQueue, Lease, Replay, Retries};
use portal_core::clock;
use portal_core::db::TenantDb;
use portal_core::error::ServiceResult;

/// The `notifications` table as a retry queue: PENDING or FAILED rows are claimed once
/// `next_attempt_at` has passed; DEAD is the dead letter; one row per event and channel.
pub struct Notifications;

impl DeadLetter for Notifications {
    type Entity = notification::Entity;
    type Status = NotificationStatus;
    const NAME: &'static str = "notifications";
    const STATUS: notification::Column = notification::Column::Status;
    const CREATED_AT: notification::Column = notification::Column::CreatedAt;
    const DEAD: &'static [NotificationStatus] = &[NotificationStatus::Dead];
}

impl Replay for Notifications {
    /// Back to PENDING with zero attempts, due now.
    fn replayed(
        update: UpdateMany<notification::Entity>,
        now: DateTime<Utc>,
    ) -> UpdateMany<notification::Entity> {
        update
            .col_expr(
                notification::Column::Status,
                Expr::value(NotificationStatus::Pending),
            )
            .col_expr(notification::Column::Attempts, Expr::value(0))
            .col_expr(notification::Column::NextAttemptAt, Expr::value(now))
    }
}

impl JobQueue for Notifications {
    const ID: notification::Column = notification::Column::Id;
    const RUN_AT: notification::Column = notification::Column::NextAttemptAt;
    const ATTEMPTS: notification::Column = notification::Column::Attempts;
    const READY: &'static [NotificationStatus] =
        &[NotificationStatus::Pending, NotificationStatus::Failed];
    const RETRY: NotificationStatus = NotificationStatus::Failed;
    const UNIQUE: &'static [notification::Column] =
        &[notification::Column::EventId, notification::Column::Channel];
}

/// Retries and claims, from `NOTIFY_MAX_ATTEMPTS`, `NOTIFY_BACKOFF_MS`, `NOTIFY_BACKOFF_MAX_MS`.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts after which a row is DEAD.
    pub max_attempts: i32,
    /// Delay after the first failure; doubled after each further one.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// How long a claimed batch stays invisible to other workers (`NOTIFY_LEASE_SECS`).
    pub lease: Duration,
    /// The longest one send may take (`NOTIFY_SEND_TIMEOUT_MS`); a send is started only while
    /// at least twice this much of the lease is left.
    pub send_timeout: Duration,
    /// Sends in flight at once within one claimed batch (`NOTIFY_CONCURRENCY`).
    pub concurrency: usize,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(600),
            lease: Duration::from_secs(300),
            send_timeout: Duration::from_secs(10),
            concurrency: 16,
        }
    }
}

impl RetryPolicy {
    /// Attempts and backoff as the queue applies them: doubling from the base, no jitter.
    pub fn retries(&self) -> Retries {
        Retries {
            max_attempts: Some(self.max_attempts),
            backoff: Backoff::exponential(self.backoff_base, self.backoff_max),
        }
    }
}

/// What one `deliver_due` pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryCounts {
    pub claimed: usize,
    pub sent: usize,
    pub failed: usize,
    pub dead: usize,
    pub skipped: usize,
}

/// Delivers up to `limit` due notifications (PENDING or FAILED, `next_attempt_at` passed),
/// oldest due first. Under row-level security (PostgreSQL) it works tenant by tenant, up to
/// `limit` rows each, so one tenant's backlog does not starve another's.
#[instrument(skip(db, channels, policy))]
pub async fn deliver_due(
    db: &DatabaseConnection,
    channels: &Channels,
    policy: &RetryPolicy,
    limit: u64,
) -> ServiceResult<DeliveryCounts> {
    let mut counts = DeliveryCounts::default();
    for scope in portal_core::db::tenant_scopes(db).await? {
        deliver_scope(&scope, channels, policy, limit, &mut counts).await?;
    }
    if counts.claimed > 0 {
        tracing::info!(
            claimed = counts.claimed,
            sent = counts.sent,
            failed = counts.failed,
            dead = counts.dead,
            skipped = counts.skipped,
            "notifications delivered"
        );
    }
    Ok(counts)
}

async fn deliver_scope(
    db: &TenantDb,
    channels: &Channels,
    policy: &RetryPolicy,
    limit: u64,
    counts: &mut DeliveryCounts,
) -> ServiceResult<()> {
    let (claimed, lease) = queue::claim::<Notifications>(
        db,
        sea_orm::Condition::all().add(notification::Column::Template.is_in(Template::NAMES)),
        limit,
        policy.lease,
    )
    .await?;
    counts.claimed += claimed.len();
    // Up to `policy.concurrency` rows at once: each send waits on the provider, and one at a
    // time a worker delivered only ~20 messages a second (bench/ingest.sh). Every send still
    // starts only while enough of the lease is left.
    let outcomes: Vec<Option<ServiceResult<NotificationStatus>>> = stream::iter(claimed)
        .map(|row| async move {
            if !lease.has_time_for(policy.send_timeout) {
                return None;
            }
            Some(deliver_one(db, channels, policy, &row, &lease).await)
        })
        .buffer_unordered(policy.concurrency.max(1))
        .collect()
        .await;
    let mut first_error = None;
    let mut left = 0;
    for outcome in outcomes {
        match outcome {
            Some(Ok(NotificationStatus::Sent)) => counts.sent += 1,
            Some(Ok(NotificationStatus::Failed)) => counts.failed += 1,
            Some(Ok(NotificationStatus::Dead)) => counts.dead += 1,
            Some(Ok(_)) => counts.skipped += 1,
            Some(Err(error)) => {
                first_error.get_or_insert(error);
            }
            None => left += 1,
        }
    }
    if left > 0 {
        // Sending now could finish after the lease, when another worker may send the same
        // row: the rest is claimed again once the lease ends.
        tracing::warn!(
            left,
            "claim lease nearly over: rest of the batch left for the next claim"
        );
    }
    first_error.map_or(Ok(()), Err)
}

/// Polls every `poll` until `shutdown` completes; a full batch is followed at once by the
/// next. The batch in hand is finished before stopping.
pub async fn run_worker(
    db: DatabaseConnection,
    channels: Channels,
    policy: RetryPolicy,
    batch: u64,
    poll: Duration,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    tracing::info!(
        poll_ms = poll.as_millis() as u64,
        batch,
        "notification worker started"
    );
    loop {
        let full = match deliver_due(&db, &channels, &policy, batch).await {
            Ok(counts) => counts.claimed as u64 >= batch,
            Err(error) => {
                tracing::warn!(error = %error, detail = ?error, "notification delivery pass failed");
                false
            }
        };
        if full {
            continue;
        }
        tokio::select! {
            () = &mut shutdown => break,
            () = tokio::time::sleep(poll) => {}
        }
    }
    tracing::info!("notification worker stopped");
}

/// Moves DEAD notifications (created at or after `since`, if given) back to PENDING with
/// zero attempts, due now; returns how many. `dry_run` only counts them.
#[instrument(skip(db))]
pub async fn replay_dead(
    db: &DatabaseConnection,
    since: Option<DateTime<Utc>>,
    dry_run: bool,
) -> ServiceResult<u64> {
    let total = queue::replay::<Notifications>(db, since, dry_run).await?;
    if !dry_run {
        tracing::info!(replayed = total, "dead-letter notifications replayed");
    }
    Ok(total)
}

#[instrument(skip_all, fields(notification.id = %row.id, channel = ?row.channel, template = %row.template))]
async fn deliver_one(
    db: &impl ConnectionTrait,
    channels: &Channels,
    policy: &RetryPolicy,
    row: &notification::Model,
    lease: &Lease,
) -> ServiceResult<NotificationStatus> {
    let outcome = match Template::parse(&row.template) {
        Some(template) => match recheck::reason_to_skip(db, row, template).await? {
            Some(reason) => Outcome::Skipped(reason),
            None => {
                let contact = contact::load(db, row).await?;
                send(channels, row, template, &contact).await
            }
        },
        None => Outcome::Skipped("unknown template"),
    };
    record(db, policy, row, lease, outcome).await
}

/// Stores the outcome, fenced by the lease so a worker whose lease ran out changes nothing.
async fn record(
    db: &impl ConnectionTrait,
    policy: &RetryPolicy,
    row: &notification::Model,
    lease: &Lease,
    outcome: Outcome,
) -> ServiceResult<NotificationStatus> {
    use notification::Column as C;
    let now = clock::now();
    let update = notification::Entity::update_many();
    let (status, held) = match outcome {
        Outcome::Sent => {
            // A walk-in link's secret is kept only until it has been sent.
            let update = update
                .col_expr(C::Status, Expr::value(NotificationStatus::Sent))
                .col_expr(C::SentAt, Expr::value(Some(now)))
                .col_expr(C::Params, Expr::value(Option::<serde_json::Value>::None));
            let held = queue::write::<Notifications>(db, lease, row.id, update).await?;
            (NotificationStatus::Sent, held)
        }
        Outcome::Skipped(reason) => {
            let update = update
                .col_expr(C::Status, Expr::value(NotificationStatus::Skipped))
                .col_expr(C::LastError, Expr::value(Some(reason.to_owned())));
            let held = queue::write::<Notifications>(db, lease, row.id, update).await?;
            (NotificationStatus::Skipped, held)
        }
        Outcome::Failed(failure) => {
            // A refusal for good is dead-lettered at once: retrying would only repeat it.
            let failed = policy
                .retries()
                .failed(row.attempts, failure.is_permanent(), now)?;
            let update = update.col_expr(C::LastError, Expr::value(Some(failure.to_string())));
            let held = queue::fail::<Notifications>(db, lease, row.id, &failed, update).await?;
            let status = if failed.dead {
                NotificationStatus::Dead
            } else {
                NotificationStatus::Failed
            };
            (status, held)
        }
    };
    if !held {
        tracing::warn!("claim lease ran out before the outcome was stored");
    }
    tracing::debug!(status = ?status, "notification attempt recorded");
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_base_and_stops_at_the_cap() {
        let policy = RetryPolicy {
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_millis(700),
            ..RetryPolicy::default()
        };
        let backoff = policy.retries().backoff;
        let delays: Vec<u128> = (1..=5).map(|a| backoff.delay(a).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 700, 700]);
        assert_eq!(backoff.delay(1000), Duration::from_millis(700));
    }
}
