//! A patient's account settings: reading their notification preferences here, changing
//! them and the device push tokens in `preferences`.

pub mod preferences;

use portal_entities::notification_preference;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use tracing::instrument;

use portal_core::access::{self, Access, PatientAccess, Scope};
use portal_core::context::RequestContext;
use portal_core::error::ServiceResult;
use portal_core::policy::default_preferences;

const PREFERENCES: Access = Access::read("preferences.read", "NotificationPreferences");

/// A patient's notification preferences; the defaults (email on, English, no hold) when
/// the patient never set any.
#[instrument(skip(ctx, parent), fields(request_id = %ctx.request_id))]
pub async fn preferences(
    ctx: &RequestContext,
    parent: &PatientAccess,
) -> ServiceResult<(PatientAccess, notification_preference::Model)> {
    let access = access::confirm(ctx, parent, Scope::Account, PREFERENCES)?;
    let patient_id = access.patient_id;
    let stored = notification_preference::Entity::find()
        .filter(notification_preference::Column::TenantId.eq(access.tenant_id))
        .filter(notification_preference::Column::PatientId.eq(patient_id))
        .one(ctx.db())
        .await?;
    let prefs = stored.unwrap_or_else(|| default_preferences(access.tenant_id, patient_id));
    Ok((access, prefs))
}
