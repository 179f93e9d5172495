//! The outbox event and the notifications of a stored result (see docs/events.md), added to
//! the caller's writes (one statement with the result on PostgreSQL).

use portal_entities::{
    NotificationChannel, NotificationStatus, notification, notification_preference, outbox_event,
    patient, test_result,
};
use sea_orm::ActiveValue::Set;
use serde_json::json;
use uuid::Uuid;

use super::QueuedNotification;
use super::write::Writes;
use portal_core::release::is_released_status;

pub const RESULT_RELEASED: &str = "result.released";
pub const RESULT_PRELIMINARY: &str = "result.preliminary";

/// What the patient chose and can be reached by, read with the patient (see
/// `validate::patient`).
#[derive(Debug, Clone)]
pub(super) struct Reach {
    pub(super) prefs: notification_preference::Model,
    pub(super) push_tokens: i64,
}

/// Adds the result's outbox event and, for released results, one notification per channel
/// the patient chose to `writes`. Returns the event id and what was queued.
pub(super) fn record(
    writes: &mut Writes,
    result: &test_result::Model,
    patient: &patient::Model,
    reach: &Reach,
    sensitive: bool,
) -> (Uuid, Vec<QueuedNotification>) {
    let released = is_released_status(result.status);
    let event_id = Uuid::now_v7();
    let now = portal_core::clock::now();
    writes.insert([outbox_event::ActiveModel {
        id: Set(event_id),
        tenant_id: Set(result.tenant_id),
        event_type: Set(if released {
            RESULT_RELEASED
        } else {
            RESULT_PRELIMINARY
        }
        .to_owned()),
        aggregate_type: Set("TestResult".to_owned()),
        aggregate_id: Set(result.id),
        patient_id: Set(Some(result.patient_id)),
        payload: Set(json!({
            "resultId": result.id,
            "patientId": result.patient_id,
            "status": result.status,
            "category": result.category,
            "chainId": result.chain_id,
            "replacesResultId": result.replaces_result_id,
            "sensitive": sensitive,
        })),
        created_at: Set(now),
        published_at: Set(None),
        publish_seq: Set(None),
    }]);
    if !released {
        return (event_id, Vec::new());
    }
    let (rows, queued) = notifications(result, patient, reach, sensitive, event_id);
    writes.insert(rows);
    (event_id, queued)
}

fn notifications(
    result: &test_result::Model,
    patient: &patient::Model,
    reach: &Reach,
    sensitive: bool,
    event_id: Uuid,
) -> (Vec<notification::ActiveModel>, Vec<QueuedNotification>) {
    let prefs = &reach.prefs;
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
            reach.push_tokens > 0,
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
    (rows, queued)
}
