//! The outbox event and the notifications of a stored result (see docs/events.md), written
//! in the caller's transaction.

use portal_entities::{
    NotificationChannel, NotificationStatus, notification, patient, push_token, test_result,
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
};
use serde_json::json;
use uuid::Uuid;

use super::QueuedNotification;
use portal_core::error::ServiceResult;
use portal_core::policy::default_preferences;
use portal_core::release::is_released_status;
use portal_messaging::outbox::{self, NewEvent};

pub const RESULT_RELEASED: &str = "result.released";
pub const RESULT_PRELIMINARY: &str = "result.preliminary";

/// Writes the result's outbox event and, for released results, one notification per
/// channel the patient chose. Returns the event id and what was queued.
pub(super) async fn record<C: ConnectionTrait>(
    db: &C,
    result: &test_result::Model,
    patient: &patient::Model,
    sensitive: bool,
) -> ServiceResult<(Uuid, Vec<QueuedNotification>)> {
    let released = is_released_status(result.status);
    let event_id = outbox::insert(
        db,
        NewEvent {
            tenant_id: result.tenant_id,
            patient_id: Some(result.patient_id),
            event_type: if released {
                RESULT_RELEASED
            } else {
                RESULT_PRELIMINARY
            },
            aggregate_type: "TestResult",
            aggregate_id: result.id,
            payload: json!({
                "resultId": result.id,
                "patientId": result.patient_id,
                "status": result.status,
                "category": result.category,
                "chainId": result.chain_id,
                "replacesResultId": result.replaces_result_id,
                "sensitive": sensitive,
            }),
        },
    )
    .await?;
    if !released {
        return Ok((event_id, Vec::new()));
    }
    let queued = notifications(db, result, patient, sensitive, event_id).await?;
    Ok((event_id, queued))
}

async fn notifications<C: ConnectionTrait>(
    db: &C,
    result: &test_result::Model,
    patient: &patient::Model,
    sensitive: bool,
    event_id: Uuid,
) -> ServiceResult<Vec<QueuedNotification>> {
    let prefs = portal_entities::notification_preference::Entity::find_by_id(patient.id)
        .one(db)
        .await?
        .unwrap_or_else(|| default_preferences(patient.tenant_id, patient.id));
    let push_tokens = push_token::Entity::find()
        .filter(push_token::Column::TenantId.eq(patient.tenant_id))
        .filter(push_token::Column::PatientId.eq(patient.id))
        .filter(push_token::Column::RevokedAt.is_null())
        .count(db)
        .await?;
    let template = if result.replaces_result_id.is_some()
        && result.status != portal_entities::ResultStatus::Final
    {
        "result_corrected"
    } else {
        "result_ready"
    };
    let held = sensitive && prefs.hold_sensitive_results;
    let wanted = [
        (
            prefs.email,
            NotificationChannel::Email,
            patient.email.is_some(),
            "no email address",
        ),
        (
            prefs.sms,
            NotificationChannel::Sms,
            patient.phone.is_some(),
            "no phone number",
        ),
        (
            prefs.push,
            NotificationChannel::Push,
            push_tokens > 0,
            "no active push token",
        ),
    ];
    let now = portal_core::clock::now();
    let mut rows = Vec::new();
    let mut queued = Vec::new();
    for (enabled, channel, reachable, unreachable) in wanted {
        if !enabled {
            continue;
        }
        let (status, reason) = match (held, reachable) {
            (true, _) => (NotificationStatus::Skipped, Some("held: sensitive result")),
            (false, false) => (NotificationStatus::Skipped, Some(unreachable)),
            (false, true) => (NotificationStatus::Pending, None),
        };
        rows.push(notification::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(patient.tenant_id),
            patient_id: Set(patient.id),
            result_id: Set(Some(result.id)),
            event_id: Set(event_id),
            channel: Set(channel),
            template: Set(template.to_owned()),
            status: Set(status),
            attempts: Set(0),
            last_error: Set(reason.map(str::to_owned)),
            next_attempt_at: Set(now),
            sent_at: Set(None),
            created_at: Set(now),
            params: Set(None),
        });
        queued.push(QueuedNotification { channel, status });
    }
    if !rows.is_empty() {
        notification::Entity::insert_many(rows).exec(db).await?;
    }
    Ok(queued)
}
