//! The notification worker: claims due rows, re-checks that each may still be sent, sends
//! them, records SENT / FAILED (with exponential backoff) / DEAD (after the last attempt, or
//! at once on a permanent refusal) / SKIPPED, and replays the dead-letter state.
//!
//! Claiming is a lease: a status- and time-guarded `UPDATE … SET next_attempt_at = now + lease
//! WHERE id = ? AND status IN (PENDING, FAILED) AND next_attempt_at <= now`. Exactly one
//! worker sees `rows_affected = 1`: SQLite runs writes one at a time, and PostgreSQL makes a
//! concurrent UPDATE wait for the row lock and then re-check its WHERE against the new row
//! (READ COMMITTED), which no longer matches. No status or column is added, and a worker that
//! dies mid-send loses only its lease: the row is due again once the lease ends. One lease
//! covers the whole claimed batch, and no send starts when less than twice the send timeout
//! of it is left, so a worker whose lease ran out never sends a row another worker holds.
//! At least once: a worker killed after the provider accepted a message but before the
//! outcome was stored leaves the row due again, and the message is sent a second time after
//! the lease.

use std::collections::HashSet;
use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::{StreamExt, stream};
use portal_entities::{NotificationStatus, notification};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use tracing::instrument;
use uuid::Uuid;

use super::send::{Outcome, send};
use super::{Channels, Template, contact, recheck};
use portal_core::clock;
use portal_core::db::TenantDb;
use portal_core::error::{ServiceError, ServiceResult};

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
    /// `base · 2^(attempts − 1)`, capped: 1 s, 2 s, 4 s … after the 1st, 2nd, 3rd failure.
    pub fn backoff(&self, attempts: i32) -> Duration {
        let exponent = u32::try_from(attempts.saturating_sub(1))
            .unwrap_or(0)
            .min(31);
        self.backoff_base
            .saturating_mul(1u32 << exponent)
            .min(self.backoff_max)
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
    let (claimed, lease_until) = claim(db, policy, limit).await?;
    counts.claimed += claimed.len();
    // Up to `policy.concurrency` rows at once: each send waits on the provider, and one at a
    // time a worker delivered only ~20 messages a second (bench/ingest.sh). Every send still
    // starts only while enough of the lease is left.
    let outcomes: Vec<Option<ServiceResult<NotificationStatus>>> = stream::iter(claimed)
        .map(|row| async move {
            if !time_left(lease_until, policy.send_timeout) {
                return None;
            }
            Some(deliver_one(db, channels, policy, &row, lease_until).await)
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
    let mut total = 0;
    for scope in portal_core::db::tenant_scopes(db).await? {
        total += replay_scope(&scope, since, dry_run).await?;
    }
    if !dry_run {
        tracing::info!(replayed = total, "dead-letter notifications replayed");
    }
    Ok(total)
}

async fn replay_scope(
    db: &TenantDb,
    since: Option<DateTime<Utc>>,
    dry_run: bool,
) -> ServiceResult<u64> {
    let mut dead =
        sea_orm::Condition::all().add(notification::Column::Status.eq(NotificationStatus::Dead));
    if let Some(since) = since {
        dead = dead.add(notification::Column::CreatedAt.gte(since));
    }
    if dry_run {
        return Ok(notification::Entity::find().filter(dead).count(db).await?);
    }
    let result = notification::Entity::update_many()
        .col_expr(
            notification::Column::Status,
            Expr::value(NotificationStatus::Pending),
        )
        .col_expr(notification::Column::Attempts, Expr::value(0))
        .col_expr(
            notification::Column::NextAttemptAt,
            Expr::value(clock::now()),
        )
        .filter(dead)
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// The due rows this worker now holds, and the lease end it holds them until.
async fn claim(
    db: &impl ConnectionTrait,
    policy: &RetryPolicy,
    limit: u64,
) -> ServiceResult<(Vec<notification::Model>, DateTime<Utc>)> {
    let now = clock::now();
    let lease_until = after(now, policy.lease)?;
    let due = notification::Entity::find()
        .filter(due_at(now))
        .order_by_asc(notification::Column::NextAttemptAt)
        .order_by_asc(notification::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    if due.is_empty() {
        return Ok((due, lease_until));
    }
    // One guarded UPDATE for the batch: a row another worker claimed in between no longer
    // matches `due_at` (PostgreSQL re-checks it after waiting for the row lock), so it is not
    // among the rows returned here.
    let taken: HashSet<Uuid> = notification::Entity::update_many()
        .col_expr(
            notification::Column::NextAttemptAt,
            Expr::value(lease_until),
        )
        .filter(notification::Column::Id.is_in(due.iter().map(|r| r.id)))
        .filter(due_at(now))
        .exec_with_returning(db)
        .await?
        .into_iter()
        .map(|r| r.id)
        .collect();
    let claimed = due.into_iter().filter(|r| taken.contains(&r.id)).collect();
    Ok((claimed, lease_until))
}

/// Rows a worker may take at `now`: retryable, due, and of a template this worker renders.
fn due_at(now: DateTime<Utc>) -> sea_orm::Condition {
    sea_orm::Condition::all()
        .add(
            notification::Column::Status
                .is_in([NotificationStatus::Pending, NotificationStatus::Failed]),
        )
        .add(notification::Column::NextAttemptAt.lte(now))
        .add(notification::Column::Template.is_in(Template::NAMES))
}

#[instrument(skip_all, fields(notification.id = %row.id, channel = ?row.channel, template = %row.template))]
async fn deliver_one(
    db: &impl ConnectionTrait,
    channels: &Channels,
    policy: &RetryPolicy,
    row: &notification::Model,
    lease_until: DateTime<Utc>,
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
    record(db, policy, row, lease_until, outcome).await
}

/// Stores the outcome, guarded by the lease so a worker whose lease ran out changes nothing.
async fn record(
    db: &impl ConnectionTrait,
    policy: &RetryPolicy,
    row: &notification::Model,
    lease_until: DateTime<Utc>,
    outcome: Outcome,
) -> ServiceResult<NotificationStatus> {
    use notification::Column as C;
    let now = clock::now();
    let mut update = notification::Entity::update_many();
    let status = match outcome {
        Outcome::Sent => {
            // A walk-in link's secret is kept only until it has been sent.
            update = update
                .col_expr(C::SentAt, Expr::value(Some(now)))
                .col_expr(C::Params, Expr::value(Option::<serde_json::Value>::None));
            NotificationStatus::Sent
        }
        Outcome::Skipped(reason) => {
            update = update.col_expr(C::LastError, Expr::value(Some(reason.to_owned())));
            NotificationStatus::Skipped
        }
        Outcome::Failed(failure) => {
            let attempts = row.attempts.saturating_add(1);
            let retry_at = after(now, policy.backoff(attempts))?;
            let permanent = failure.is_permanent();
            update = update
                .col_expr(C::Attempts, Expr::value(attempts))
                .col_expr(C::LastError, Expr::value(Some(failure.to_string())))
                .col_expr(C::NextAttemptAt, Expr::value(retry_at));
            // A refusal for good is dead-lettered at once: retrying would only repeat it.
            if permanent || attempts >= policy.max_attempts {
                NotificationStatus::Dead
            } else {
                NotificationStatus::Failed
            }
        }
    };
    let result = update
        .col_expr(C::Status, Expr::value(status))
        .filter(C::Id.eq(row.id))
        .filter(C::NextAttemptAt.eq(lease_until))
        .exec(db)
        .await?;
    if result.rows_affected == 0 {
        tracing::warn!("claim lease ran out before the outcome was stored");
    }
    tracing::debug!(status = ?status, "notification attempt recorded");
    Ok(status)
}

/// Whether a send of at most `send_timeout` started now ends well inside the lease.
fn time_left(lease_until: DateTime<Utc>, send_timeout: Duration) -> bool {
    after(clock::now(), send_timeout.saturating_mul(2)).is_ok_and(|end| end < lease_until)
}

fn after(now: DateTime<Utc>, delay: Duration) -> ServiceResult<DateTime<Utc>> {
    chrono::Duration::from_std(delay)
        .ok()
        .and_then(|delay| now.checked_add_signed(delay))
        .ok_or_else(|| ServiceError::internal("notification delay out of range"))
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
        let delays: Vec<u128> = (1..=5).map(|a| policy.backoff(a).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 700, 700]);
        assert_eq!(policy.backoff(1000), Duration::from_millis(700));
    }
}
