//! Changing a patient's account settings: notification preferences and device push tokens.

use portal_entities::{PushPlatform, notification_preference, push_token};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter};
use tracing::instrument;
use uuid::Uuid;

use crate::patients;
use portal_core::access::{self, Access, PatientAccess, Scope};
use portal_core::context::RequestContext;
use portal_core::error::{ServiceError, ServiceResult};

const UPDATE: Access = Access::write("preferences.update", "NotificationPreferences");
const REGISTER: Access = Access::write("push_token.register", "PushToken");
const UNREGISTER: Access = Access::write("push_token.unregister", "PushToken");

/// Longest language tag accepted (BCP 47 recommends supporting at least 35 characters).
pub const MAX_LANGUAGE_LEN: usize = 35;
const MAX_PUSH_TOKEN_LEN: usize = 4096;

/// A channel as the patient chooses it; `None` opts out of all and stands alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Email,
    Sms,
    Push,
    None,
}

/// The fields of `updateNotificationPreferences`; absent fields keep their value.
#[derive(Debug, Clone, Default)]
pub struct PreferencesUpdate {
    pub channels: Option<Vec<Channel>>,
    pub language: Option<String>,
    pub hold_sensitive_results: Option<bool>,
}

impl PreferencesUpdate {
    fn validate(&self) -> ServiceResult<()> {
        if let Some(channels) = &self.channels {
            if channels.is_empty() {
                return Err(ServiceError::bad_input(
                    "input.channels",
                    "choose at least one channel, or [NONE] to opt out",
                ));
            }
            if channels.contains(&Channel::None) && channels.len() > 1 {
                return Err(ServiceError::bad_input(
                    "input.channels",
                    "NONE cannot be combined with other channels",
                ));
            }
        }
        if let Some(language) = &self.language
            && !is_language_tag(language)
        {
            return Err(ServiceError::bad_input(
                "input.language",
                "language must be a BCP 47 tag such as en, de-CH or zh-Hant-TW",
            ));
        }
        Ok(())
    }

    fn apply(&self, mut prefs: notification_preference::Model) -> notification_preference::Model {
        if let Some(channels) = &self.channels {
            prefs.email = channels.contains(&Channel::Email);
            prefs.sms = channels.contains(&Channel::Sms);
            prefs.push = channels.contains(&Channel::Push);
        }
        if let Some(language) = &self.language {
            language.clone_into(&mut prefs.language);
        }
        if let Some(hold) = self.hold_sensitive_results {
            prefs.hold_sensitive_results = hold;
        }
        prefs.updated_at = portal_core::clock::now();
        prefs
    }
}

/// A BCP-47-like tag: a 2–8 letter primary subtag, then 1–8 character alphanumeric subtags.
pub fn is_language_tag(tag: &str) -> bool {
    if tag.is_empty() || tag.len() > MAX_LANGUAGE_LEN {
        return false;
    }
    let mut parts = tag.split('-');
    let primary_ok = parts
        .next()
        .is_some_and(|p| (2..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphabetic()));
    primary_ok
        && parts.all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// Changes a patient's notification preferences (the patient or staff; never a proxy).
#[instrument(skip(ctx, update), fields(request_id = %ctx.request_id))]
pub async fn update_preferences(
    ctx: &RequestContext,
    patient_id: Uuid,
    update: &PreferencesUpdate,
) -> ServiceResult<(PatientAccess, notification_preference::Model)> {
    let db = ctx.db();
    let what = UPDATE.entity(patient_id);
    let (access, _) = patients::authorize_write(ctx, patient_id, Scope::Account, what).await?;
    update
        .validate()
        .map_err(|e| ctx.failed(what, Some(patient_id), e))?;
    let stored = notification_preference::Entity::find()
        .filter(notification_preference::Column::TenantId.eq(access.tenant_id))
        .filter(notification_preference::Column::PatientId.eq(patient_id))
        .one(db)
        .await?;
    let current = stored
        .unwrap_or_else(|| portal_core::policy::default_preferences(access.tenant_id, patient_id));
    let next = update.apply(current);
    upsert_preferences(db, next.clone()).await?;
    Ok((access, next))
}

async fn upsert_preferences<C: ConnectionTrait>(
    db: &C,
    prefs: notification_preference::Model,
) -> ServiceResult<()> {
    use notification_preference::Column as Col;
    notification_preference::Entity::insert(prefs.into_active_model())
        .on_conflict(
            OnConflict::column(Col::PatientId)
                .update_columns([
                    Col::Email,
                    Col::Sms,
                    Col::Push,
                    Col::Language,
                    Col::HoldSensitiveResults,
                    Col::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Registers a device for push notifications; the same active token is returned, not duplicated.
/// A device belongs to the patient who registered it last: another patient's active
/// registration of the same token is revoked, so their pushes never reach this device.
#[instrument(skip(ctx, token), fields(request_id = %ctx.request_id))]
pub async fn register_push_token(
    ctx: &RequestContext,
    patient_id: Uuid,
    platform: PushPlatform,
    token: &str,
) -> ServiceResult<push_token::Model> {
    let db = ctx.db();
    let what = REGISTER;
    let (access, _) = patients::authorize_write(ctx, patient_id, Scope::Account, what).await?;
    let token = token.trim();
    if token.is_empty() || token.len() > MAX_PUSH_TOKEN_LEN || token.contains(char::is_whitespace) {
        return Err(ctx.failed(
            what,
            Some(patient_id),
            ServiceError::bad_input("token", "not a valid push token"),
        ));
    }
    release_from_other_patients(db, access.tenant_id, patient_id, token).await?;
    let existing = push_token::Entity::find()
        .filter(push_token::Column::TenantId.eq(access.tenant_id))
        .filter(push_token::Column::PatientId.eq(patient_id))
        .filter(push_token::Column::Token.eq(token))
        .filter(push_token::Column::RevokedAt.is_null())
        .one(db)
        .await?;
    if let Some(existing) = existing {
        return Ok(existing);
    }
    let row = push_token::Model {
        id: Uuid::now_v7(),
        tenant_id: access.tenant_id,
        patient_id,
        platform,
        token: token.to_owned(),
        created_at: portal_core::clock::now(),
        revoked_at: None,
    };
    push_token::Entity::insert(row.clone().into_active_model())
        .exec_without_returning(db)
        .await?;
    Ok(row)
}

/// Revokes the token's active registrations by other patients of the tenant (a shared or
/// handed-on device), in the caller's transaction.
async fn release_from_other_patients<C: ConnectionTrait>(
    db: &C,
    tenant_id: Uuid,
    patient_id: Uuid,
    token: &str,
) -> ServiceResult<()> {
    let moved = push_token::Entity::update_many()
        .col_expr(
            push_token::Column::RevokedAt,
            portal_core::clock::now().into(),
        )
        .filter(push_token::Column::TenantId.eq(tenant_id))
        .filter(push_token::Column::Token.eq(token))
        .filter(push_token::Column::PatientId.ne(patient_id))
        .filter(push_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    if moved.rows_affected > 0 {
        tracing::info!(
            revoked = moved.rows_affected,
            "push token moved from another patient"
        );
    }
    Ok(())
}

/// Stops pushes to a device; unregistering an already revoked token changes nothing.
#[instrument(skip(ctx), fields(request_id = %ctx.request_id))]
pub async fn unregister_push_token(
    ctx: &RequestContext,
    id: Uuid,
) -> ServiceResult<push_token::Model> {
    let db = ctx.db();
    let tenant_id = ctx.viewer()?.tenant_id;
    let mut row = push_token::Entity::find_by_id(id)
        .filter(push_token::Column::TenantId.eq(tenant_id))
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("push token"))?;
    access::authorize(ctx, row.patient_id, Scope::Account, UNREGISTER.entity(id)).await?;
    if row.revoked_at.is_some() {
        return Ok(row);
    }
    let now = portal_core::clock::now();
    push_token::Entity::update_many()
        .col_expr(push_token::Column::RevokedAt, now.into())
        .filter(push_token::Column::Id.eq(id))
        .filter(push_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    row.revoked_at = Some(now);
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_tags_are_checked() {
        for ok in ["en", "de-CH", "zh-Hant-TW", "es-419", "sgn-BE-FR"] {
            assert!(is_language_tag(ok), "{ok}");
        }
        for bad in ["", "e", "en_US", "en--US", "1a", "en-", &"a".repeat(36)] {
            assert!(!is_language_tag(bad), "{bad}");
        }
    }
}
