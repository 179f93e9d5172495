//! The message store (`hl7_messages`): every message is kept raw in its tenant before it is
//! processed, one row per sender and control id, with its outcome; the dead letter is the
//! rows whose last outcome was AE (DEAD) or a failure here (ERROR). Raw messages hold PHI:
//! they are never logged and are purged after the retention (`purge`).

use chrono::{DateTime, Utc};
use portal_core::RequestContext;
use portal_core::db::TenantDb;
use portal_core::error::ServiceResult;
use portal_entities::{Hl7MessageStatus, hl7_message};
use portal_hl7::AckCode;
use portal_hl7::messages::{Hd, Header};
use portal_hl7::parse::Delimiters;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::failure::Failure;
use crate::replay::DeadLetterQueue;
use portal_messaging::queue;

/// What storing a received message found.
#[derive(Debug)]
pub enum Received {
    /// The control id was already accepted from this sender: nothing is stored or changed.
    Duplicate(hl7_message::Model),
    /// Stored (new, or a resend of a message that failed), status RECEIVED.
    Stored(hl7_message::Model),
}

/// The sender and control id a message is identified by.
pub struct Identity {
    pub sending_application: String,
    pub sending_facility: String,
    pub control_id: Option<String>,
    pub message_type: String,
}

impl Identity {
    pub fn of(header: &Header) -> Self {
        let d = Delimiters::default();
        let hd = |v: &Option<Hd>| v.as_ref().map(|h| h.encode(&d)).unwrap_or_default();
        Self {
            sending_application: hd(&header.sending_application),
            sending_facility: hd(&header.sending_facility),
            control_id: header.control_id.clone(),
            message_type: header.kind(),
        }
    }
}

/// Keeps the message before anything else happens to it. A resend of a message whose last
/// answer was AE or AR replaces the stored bytes and counts an attempt.
pub async fn receive(
    ctx: &RequestContext,
    tenant: Uuid,
    header: &Header,
    raw: &[u8],
    peer: Option<String>,
) -> ServiceResult<Received> {
    let id = Identity::of(header);
    let now = portal_core::clock::now();
    if let Some(control_id) = &id.control_id
        && let Some(row) = by_identity(ctx.db(), tenant, &id, control_id).await?
    {
        if row.status == Hl7MessageStatus::Accepted {
            return Ok(Received::Duplicate(row));
        }
        let attempts = row.attempts + 1;
        let mut active = row.into_active_model();
        active.raw = Set(raw.to_vec());
        active.message_type = Set(id.message_type);
        active.received_at = Set(now);
        active.status = Set(Hl7MessageStatus::Received);
        active.attempts = Set(attempts);
        active.peer = Set(peer);
        active.processed_at = Set(None);
        return Ok(Received::Stored(active.update(ctx.db()).await?));
    }
    let row = hl7_message::Model {
        id: Uuid::now_v7(),
        tenant_id: tenant,
        sending_application: id.sending_application,
        sending_facility: id.sending_facility,
        control_id: id.control_id,
        message_type: id.message_type,
        received_at: now,
        raw: raw.to_vec(),
        status: Hl7MessageStatus::Received,
        ack_code: None,
        error_code: None,
        error_location: None,
        error_summary: None,
        attempts: 1,
        processed_at: None,
        peer,
    };
    // Without RETURNING: reading the raw message back would hold it twice more (the
    // database's copy and the driver's) for nothing.
    hl7_message::Entity::insert(row.clone().into_active_model())
        .exec_without_returning(ctx.db())
        .await?;
    Ok(Received::Stored(row))
}

async fn by_identity(
    db: &TenantDb,
    tenant: Uuid,
    id: &Identity,
    control_id: &str,
) -> ServiceResult<Option<hl7_message::Model>> {
    Ok(hl7_message::Entity::find()
        .filter(hl7_message::Column::TenantId.eq(tenant))
        .filter(hl7_message::Column::SendingApplication.eq(id.sending_application.clone()))
        .filter(hl7_message::Column::SendingFacility.eq(id.sending_facility.clone()))
        .filter(hl7_message::Column::ControlId.eq(control_id.to_owned()))
        .one(db)
        .await?)
}

/// Records how the message was answered (the first error's code, place and text: no values).
pub async fn record_outcome(
    db: &impl ConnectionTrait,
    row_id: Uuid,
    ack: AckCode,
    failure: Option<&Failure>,
) -> ServiceResult<()> {
    let status = failure.map_or(Hl7MessageStatus::Accepted, |f| f.kind.status());
    let issue = failure.map(|f| &f.issue);
    hl7_message::ActiveModel {
        id: Set(row_id),
        status: Set(status),
        ack_code: Set(Some(ack.as_str().to_owned())),
        error_code: Set(issue.map(|i| i.code.code().to_string())),
        error_location: Set(issue
            .and_then(|i| i.location.as_ref())
            .map(ToString::to_string)),
        error_summary: Set(failure.map(Failure::summary)),
        processed_at: Set(Some(portal_core::clock::now())),
        ..Default::default()
    }
    .update(db)
    .await?;
    Ok(())
}

/// One dead-letter message as listed: no content, no patient data.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub received_at: DateTime<Utc>,
    pub message_type: String,
    pub control_id: Option<String>,
    pub status: Hl7MessageStatus,
    pub ack_code: Option<String>,
    pub error_code: Option<String>,
    pub error_location: Option<String>,
    pub attempts: i32,
}

/// Dead-letter rows of the handle's tenant(s), oldest first, received at or after `since`.
pub async fn dead_letter(
    db: &TenantDb,
    since: Option<DateTime<Utc>>,
    limit: u64,
) -> ServiceResult<Vec<DeadLetter>> {
    let select = hl7_message::Entity::find()
        .select_only()
        .columns([
            hl7_message::Column::Id,
            hl7_message::Column::TenantId,
            hl7_message::Column::ReceivedAt,
            hl7_message::Column::MessageType,
            hl7_message::Column::ControlId,
            hl7_message::Column::Status,
            hl7_message::Column::AckCode,
            hl7_message::Column::ErrorCode,
            hl7_message::Column::ErrorLocation,
            hl7_message::Column::Attempts,
        ])
        .filter(queue::dead_filter::<DeadLetterQueue>(since));
    type Row = (
        Uuid,
        Uuid,
        DateTime<Utc>,
        String,
        Option<String>,
        Hl7MessageStatus,
        Option<String>,
        Option<String>,
        Option<String>,
        i32,
    );
    let rows: Vec<Row> = select
        .order_by_asc(hl7_message::Column::ReceivedAt)
        .limit(limit)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| DeadLetter {
            id: r.0,
            tenant_id: r.1,
            received_at: r.2,
            message_type: r.3,
            control_id: r.4,
            status: r.5,
            ack_code: r.6,
            error_code: r.7,
            error_location: r.8,
            attempts: r.9,
        })
        .collect())
}

/// How many messages are in the dead letter and since when, over every tenant (for the
/// gauges: a message waiting there long needs someone to look).
pub async fn dead_letter_backlog(
    pool: &sea_orm::DatabaseConnection,
) -> ServiceResult<queue::Backlog> {
    queue::backlog::<DeadLetterQueue>(pool, &Hl7MessageStatus::DEAD_LETTER).await
}
