//! The message store (`hl7_messages`): every message is kept raw in its tenant before it is
//! processed, one row per sender and control id, with its outcome; the dead letter is the
//! rows whose last outcome was AE (DEAD) or a failure here (ERROR). Raw messages hold PHI:
//! they are never logged and are purged after the retention (`purge`).

use chrono::{DateTime, Utc};
use portal_core::RequestContext;
use portal_core::db::TenantDb;
use portal_core::error::{ServiceError, ServiceResult};
use portal_entities::{Hl7MessageStatus, hl7_message};
use portal_hl7::AckCode;
use portal_hl7::messages::{Hd, Header};
use portal_hl7::parse::Delimiters;
use sea_orm::{
    ActiveEnum, ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::failure::Failure;
use crate::replay::DeadLetterQueue;
use portal_messaging::queue;

/// What looking up a received message found.
#[derive(Debug)]
pub enum Received {
    /// The control id was already accepted from this sender: nothing is stored or changed.
    Duplicate(Uuid),
    /// To apply (new, or a resend of a message that failed): kept with its outcome by `keep`.
    Pending(Box<Pending>),
}

/// A message being applied: its row as it will be kept, and whether the row exists already.
#[derive(Debug)]
pub struct Pending {
    pub row: hl7_message::Model,
    pub existed: bool,
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

/// Looks the message up by sender and control id. A resend of a message whose last answer
/// was AE or AR replaces the stored bytes and counts an attempt; nothing is written here:
/// `keep` writes the row with its outcome, in the message's transaction.
pub async fn receive(
    ctx: &RequestContext,
    tenant: Uuid,
    header: &Header,
    raw: &[u8],
    peer: Option<String>,
) -> ServiceResult<Received> {
    let id = Identity::of(header);
    let now = portal_core::clock::now();
    let earlier = match &id.control_id {
        Some(control_id) => by_identity(ctx.db(), tenant, &id, control_id).await?,
        None => None,
    };
    if let Some(earlier) = &earlier
        && earlier.status == Hl7MessageStatus::Accepted
    {
        return Ok(Received::Duplicate(earlier.id));
    }
    let row = hl7_message::Model {
        id: earlier.as_ref().map_or_else(Uuid::now_v7, |e| e.id),
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
        attempts: earlier.as_ref().map_or(1, |e| e.attempts + 1),
        processed_at: None,
        peer,
    };
    Ok(Received::Pending(Box::new(Pending {
        row,
        existed: earlier.is_some(),
    })))
}

/// The row a message was kept in before: its id, last status and attempts.
struct Earlier {
    id: Uuid,
    status: Hl7MessageStatus,
    attempts: i32,
}

/// The earlier row of this sender and control id. On PostgreSQL the request's first
/// statement, so it binds the tenant too (`TenantDb::query_row_binding`); never the raw bytes.
async fn by_identity(
    db: &TenantDb,
    tenant: Uuid,
    id: &Identity,
    control_id: &str,
) -> ServiceResult<Option<Earlier>> {
    let values: Vec<sea_orm::Value> = vec![
        tenant.into(),
        id.sending_application.clone().into(),
        id.sending_facility.clone().into(),
        control_id.to_owned().into(),
    ];
    if db.get_database_backend() == DatabaseBackend::Postgres {
        let row = db
            .query_row_binding(
                "(SELECT m.id FROM hl7_messages m WHERE m.tenant_id = $1 AND m.sending_application = $2 \
                 AND m.sending_facility = $3 AND m.control_id = $4) AS earlier_id, \
                 (SELECT m.status FROM hl7_messages m WHERE m.tenant_id = $1 AND m.sending_application = $2 \
                 AND m.sending_facility = $3 AND m.control_id = $4) AS earlier_status, \
                 (SELECT m.attempts FROM hl7_messages m WHERE m.tenant_id = $1 AND m.sending_application = $2 \
                 AND m.sending_facility = $3 AND m.control_id = $4) AS earlier_attempts",
                values,
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        let Some(id) = row.try_get::<Option<Uuid>>("", "earlier_id")? else {
            return Ok(None);
        };
        let status: String = row.try_get("", "earlier_status")?;
        return Ok(Some(Earlier {
            id,
            status: Hl7MessageStatus::try_from_value(&status)
                .map_err(|e| ServiceError::internal(e.to_string()))?,
            attempts: row.try_get("", "earlier_attempts")?,
        }));
    }
    let found: Option<(Uuid, Hl7MessageStatus, i32)> = hl7_message::Entity::find()
        .select_only()
        .columns([
            hl7_message::Column::Id,
            hl7_message::Column::Status,
            hl7_message::Column::Attempts,
        ])
        .filter(hl7_message::Column::TenantId.eq(tenant))
        .filter(hl7_message::Column::SendingApplication.eq(id.sending_application.clone()))
        .filter(hl7_message::Column::SendingFacility.eq(id.sending_facility.clone()))
        .filter(hl7_message::Column::ControlId.eq(control_id.to_owned()))
        .into_tuple()
        .one(db)
        .await?;
    Ok(found.map(|(id, status, attempts)| Earlier {
        id,
        status,
        attempts,
    }))
}

/// Keeps the message with how it was answered (the first error's code, place and text: no
/// values): one INSERT, or one UPDATE of a resent message's row.
pub async fn keep(
    db: &impl ConnectionTrait,
    pending: &Pending,
    ack: AckCode,
    failure: Option<&Failure>,
) -> ServiceResult<()> {
    let issue = failure.map(|f| &f.issue);
    let row = hl7_message::Model {
        status: failure.map_or(Hl7MessageStatus::Accepted, |f| f.kind.status()),
        ack_code: Some(ack.as_str().to_owned()),
        error_code: issue.map(|i| i.code.code().to_string()),
        error_location: issue
            .and_then(|i| i.location.as_ref())
            .map(ToString::to_string),
        error_summary: failure.map(Failure::summary),
        processed_at: Some(portal_core::clock::now()),
        ..pending.row.clone()
    };
    let id = row.id;
    let active = row.into_active_model();
    if pending.existed {
        // Every column set (the resend as it came), nothing read back.
        hl7_message::Entity::update_many()
            .set(active.reset_all())
            .filter(hl7_message::Column::Id.eq(id))
            .exec(db)
            .await?;
    } else {
        // Without RETURNING: reading the raw message back would hold it twice more (the
        // database's copy and the driver's) for nothing.
        hl7_message::Entity::insert(active)
            .exec_without_returning(db)
            .await?;
    }
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
