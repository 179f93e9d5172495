//! Reading a patient's account settings: notification preferences and proxy grants.

use portal_entities::{notification_preference, proxy_grant};
use sea_orm::{ColumnTrait, EntityTrait, Order, QueryFilter};
use tracing::instrument;

use portal_core::access::{self, Access, PatientAccess, Scope};
use portal_core::context::RequestContext;
use portal_core::error::ServiceResult;
use portal_core::pagination::{KeyKind, Keyset, Page, PageRequest, PatientList};
use portal_core::policy::default_preferences;

const PREFERENCES: Access = Access::read("preferences.read", "NotificationPreferences");
const GRANTS: Access = Access::read("proxy_grants.list", "ProxyGrant");

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

/// The proxy grants a patient has given, newest first, including expired and revoked ones.
#[instrument(skip(ctx, parent, page), fields(request_id = %ctx.request_id))]
pub async fn proxy_grants(
    ctx: &RequestContext,
    parent: &PatientAccess,
    page: &PageRequest,
) -> ServiceResult<(PatientAccess, Page<proxy_grant::Model>)> {
    let access = access::confirm(ctx, parent, Scope::Account, GRANTS)?;
    let list = PatientList {
        tenant: proxy_grant::Column::TenantId,
        patient: proxy_grant::Column::PatientId,
        sort: Keyset {
            key: proxy_grant::Column::CreatedAt,
            id: proxy_grant::Column::Id,
            kind: KeyKind::Time,
            order: Order::Desc,
        },
    };
    let grants = list
        .fetch(ctx.db(), &access, proxy_grant::Entity::find(), page)
        .await?;
    for grant in &grants.items {
        access::note_grant_bounds(ctx, grant);
    }
    Ok((access, grants))
}
