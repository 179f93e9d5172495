//! Send-time checks: a notification is queued when its result is written, but is sent only if
//! the patient may still see that result (release policy) and still wants its channel.

use portal_entities::{NotificationChannel, notification, notification_preference, test_result};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter};

use super::Template;
use portal_core::access;
use portal_core::error::ServiceResult;
use portal_core::policy::default_preferences;
use portal_core::release::is_sensitive;
use portal_core::release::{ReleaseRule, is_released_status};

/// Why `row` must not be sent now (stored in `last_error`, so no PHI), or `None` to send it.
///
/// Notifications go to the patient only (proxies receive none), so the rule is the patient's.
/// A walk-in link (`result_link`) is sent on the channel staff chose and opens the current
/// version of its result, so it is checked against the release rule only.
pub async fn reason_to_skip(
    db: &impl ConnectionTrait,
    row: &notification::Model,
    template: Template,
) -> ServiceResult<Option<&'static str>> {
    if template != Template::ResultLink && !channel_wanted(db, row).await? {
        return Ok(Some("channel turned off by the patient"));
    }
    let Some(result_id) = row.result_id else {
        return Ok(None);
    };
    let Some(result) = test_result::Entity::find_by_id(result_id)
        .filter(test_result::Column::TenantId.eq(row.tenant_id))
        .filter(test_result::Column::PatientId.eq(row.patient_id))
        .one(db)
        .await?
    else {
        return Ok(Some("result no longer available"));
    };
    if !is_released_status(result.status) {
        return Ok(Some("result not released to the patient"));
    }
    if template != Template::ResultLink && is_superseded(db, &result).await? {
        // The newer version queued its own notification when it was stored.
        return Ok(Some("superseded by a newer version of the result"));
    }
    let rule =
        ReleaseRule::for_access(db, &access::as_patient(row.tenant_id, row.patient_id)).await?;
    let sensitive = is_sensitive(db, result.tenant_id, result.test_id).await?;
    if !rule.allows(&result, sensitive) {
        return Ok(Some("held: sensitive result"));
    }
    Ok(None)
}

/// Whether the patient's preferences (or the defaults, without a stored row) still include
/// the notification's channel; `NONE` turns every channel off.
async fn channel_wanted(
    db: &impl ConnectionTrait,
    row: &notification::Model,
) -> ServiceResult<bool> {
    let prefs = notification_preference::Entity::find_by_id(row.patient_id)
        .filter(notification_preference::Column::TenantId.eq(row.tenant_id))
        .one(db)
        .await?
        .unwrap_or_else(|| default_preferences(row.tenant_id, row.patient_id));
    Ok(match row.channel {
        NotificationChannel::Email => prefs.email,
        NotificationChannel::Sms => prefs.sms,
        NotificationChannel::Push => prefs.push,
    })
}

/// Whether a correction or "entered in error" has replaced this result.
async fn is_superseded(
    db: &impl ConnectionTrait,
    result: &test_result::Model,
) -> ServiceResult<bool> {
    let successors = test_result::Entity::find()
        .filter(test_result::Column::TenantId.eq(result.tenant_id))
        .filter(test_result::Column::ReplacesResultId.eq(result.id))
        .count(db)
        .await?;
    Ok(successors > 0)
}
