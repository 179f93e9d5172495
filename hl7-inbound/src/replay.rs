//! Replay of the dead letter (`portal hl7 replay --dead-letter`): each message is applied
//! again from its stored bytes, exactly as if the sender had resent it, in a unit of work of
//! its own. A message that now succeeds becomes ACCEPTED; what it stores is stored once
//! (its results carry the idempotency keys of its first attempt).
//!
//! The dead letter is not a retry queue (an AE goes straight to it, and only an operator
//! replays it): it uses the dead, replay and metrics parts of `portal_messaging::queue`
//! through [`DeadLetterQueue`].

use chrono::{DateTime, Utc};
use portal_core::error::ServiceResult;
use portal_entities::{Hl7MessageStatus, hl7_message};
use portal_hl7::messages::Header;
use portal_messaging::queue::{self, DeadLetter};
use sea_orm::DatabaseConnection;

use crate::dispatch;
use crate::interface::{self, Outcome};
use crate::store::Pending;

/// `hl7_messages` as a dead letter: ERROR and DEAD messages, by the time they were received.
pub struct DeadLetterQueue;

impl DeadLetter for DeadLetterQueue {
    type Entity = hl7_message::Entity;
    type Status = Hl7MessageStatus;
    const NAME: &'static str = "hl7_dead_letter";
    const STATUS: hl7_message::Column = hl7_message::Column::Status;
    const CREATED_AT: hl7_message::Column = hl7_message::Column::ReceivedAt;
    const DEAD: &'static [Hl7MessageStatus] = &Hl7MessageStatus::DEAD_LETTER;
}

/// What a replay did (or, in a dry run, would do).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    pub selected: usize,
    pub accepted: usize,
    pub still_failing: usize,
}

/// Replays the dead-letter messages received at or after `since`, tenant by tenant.
pub async fn dead_letter(
    pool: &DatabaseConnection,
    since: Option<DateTime<Utc>>,
    dry_run: bool,
) -> ServiceResult<Report> {
    let mut report = Report::default();
    for scope in portal_core::db::tenant_scopes(pool).await? {
        for row in queue::dead_rows::<DeadLetterQueue>(&scope, since, None).await? {
            report.selected += 1;
            if dry_run {
                continue;
            }
            match replay_one(pool, row).await? {
                Outcome::Accepted | Outcome::Duplicate => report.accepted += 1,
                _ => report.still_failing += 1,
            }
        }
    }
    Ok(report)
}

/// Applies one stored message again and records its new outcome.
async fn replay_one(pool: &DatabaseConnection, row: hl7_message::Model) -> ServiceResult<Outcome> {
    let parsed = portal_hl7::parse(&row.raw);
    let header = match &parsed {
        Ok(message) => Header::read(message),
        Err(_) => Header::peek(&row.raw).unwrap_or_default(),
    };
    let ctx = interface::context(pool, row.tenant_id, &header, None);
    let pending = Pending {
        row: hl7_message::Model {
            status: Hl7MessageStatus::Received,
            attempts: row.attempts + 1,
            ..row
        },
        existed: true,
    };
    let result = dispatch::apply(&ctx, &pending.row, parsed.as_ref(), None).await;
    let (_, outcome, _) = interface::settle(&ctx, &header, &pending, result).await;
    let row = pending.row;
    if let Err(unfinished) = ctx.finish().await {
        tracing::error!(what = unfinished.what, "hl7.replay: audit rows not written");
        return Ok(Outcome::Failed);
    }
    tracing::info!(message = %row.id, outcome = outcome.label(), "hl7.replay applied a message");
    Ok(outcome)
}
