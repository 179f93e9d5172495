//! Reading a patient's account settings: notification preferences and proxy grants.

use chrono::Utc;
use portal_entities::{notification_preference, proxy_grant};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, Order, QueryFilter};
use tracing::instrument;
use uuid::Uuid;

use crate::access::{self, Access, PatientAccess, Scope};
use crate::context::RequestContext;
use crate::error::ServiceResult;
use crate::pagination::{Keyset, Page, PageRequest};

const PREFERENCES: Access = Access::read("preferences.read", "NotificationPreferences");
const GRANTS: Access = Access::read("proxy_grants.list", "ProxyGrant");

/// A patient's notification preferences; the defaults (email on, English, no hold) when
/// the patient never set any.
#[instrument(skip(db, ctx), fields(request_id = %ctx.request_id))]
pub async fn preferences<C: ConnectionTrait>(
    db: &C,
    ctx: &RequestContext,
    patient_id: Uuid,
) -> ServiceResult<(PatientAccess, notification_preference::Model)> {
    let access = access::authorize(db, ctx, patient_id, Scope::Account, PREFERENCES).await?;
    let stored = notification_preference::Entity::find()
        .filter(notification_preference::Column::TenantId.eq(access.tenant_id))
        .filter(notification_preference::Column::PatientId.eq(patient_id))
        .one(db)
        .await?;
    let prefs = stored.unwrap_or_else(|| default_preferences(access.tenant_id, patient_id));
    Ok((access, prefs))
}

pub fn default_preferences(tenant_id: Uuid, patient_id: Uuid) -> notification_preference::Model {
    notification_preference::Model {
        patient_id,
        tenant_id,
        email: true,
        sms: false,
        push: false,
        language: "en".to_owned(),
        hold_sensitive_results: false,
        updated_at: Utc::now(),
    }
}

/// The proxy grants a patient has given, newest first, including expired and revoked ones.
#[instrument(skip(db, ctx, page), fields(request_id = %ctx.request_id))]
pub async fn proxy_grants<C: ConnectionTrait>(
    db: &C,
    ctx: &RequestContext,
    patient_id: Uuid,
    page: &PageRequest,
) -> ServiceResult<(PatientAccess, Page<proxy_grant::Model>)> {
    let access = access::authorize(db, ctx, patient_id, Scope::Account, GRANTS).await?;
    let select = proxy_grant::Entity::find()
        .filter(proxy_grant::Column::TenantId.eq(access.tenant_id))
        .filter(proxy_grant::Column::PatientId.eq(patient_id));
    let after_key = page
        .after
        .as_ref()
        .map(|c| c.time())
        .transpose()?
        .map(Into::into);
    let keyset = Keyset {
        key: proxy_grant::Column::CreatedAt,
        id: proxy_grant::Column::Id,
        order: Order::Desc,
    };
    let grants = keyset.fetch(select, page, after_key, db).await?;
    for grant in &grants.items {
        access::note_grant_bounds(ctx, grant);
    }
    Ok((access, grants))
}
