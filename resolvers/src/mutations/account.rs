//! Mutations on a patient's account: notification preferences, push tokens, proxy grants.

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use portal_services::account::preferences;
use portal_services::proxy;

use crate::context::{app, request};
use crate::error::GqlResult;
use crate::ids::{NodeType, decode};
use crate::types::account::{NotificationPreferences, ProxyGrant, PushToken};
use crate::types::enums::{AccessScope, NotificationChannel, PushPlatform};

#[derive(Default)]
pub struct AccountMutation;

/// Fields left out keep their current value.
#[derive(InputObject)]
pub struct NotificationPreferencesInput {
    /// `[NONE]` to opt out of all; otherwise any of EMAIL, SMS, PUSH.
    pub channels: Option<Vec<NotificationChannel>>,
    /// BCP 47 language tag, at most 35 characters (e.g. `en`, `de-CH`).
    pub language: Option<String>,
    /// Hold results of sensitive tests until discussed with a clinician.
    pub hold_sensitive_results: Option<bool>,
}

#[derive(InputObject)]
pub struct GrantProxyAccessInput {
    /// The grantee's identity-provider subject (`sub` of their token).
    pub grantee_subject: String,
    pub grantee_name: String,
    /// E.g. PARENT, GUARDIAN, CARER.
    pub relationship: String,
    /// Any of RESULTS, APPOINTMENTS, COVERAGE, ACCESS_LOG.
    pub scopes: Vec<AccessScope>,
    /// Defaults to now.
    pub valid_from: Option<DateTime<Utc>>,
    /// Must be after `validFrom` and in the future; null means until revoked.
    pub valid_to: Option<DateTime<Utc>>,
}

#[derive(SimpleObject)]
pub struct UpdateNotificationPreferencesPayload {
    pub preferences: NotificationPreferences,
}

#[derive(SimpleObject)]
pub struct RegisterPushTokenPayload {
    pub push_token: PushToken,
}

#[derive(SimpleObject)]
pub struct UnregisterPushTokenPayload {
    pub push_token: PushToken,
}

#[derive(SimpleObject)]
pub struct GrantProxyAccessPayload {
    pub grant: ProxyGrant,
}

#[derive(SimpleObject)]
pub struct RevokeProxyAccessPayload {
    pub grant: ProxyGrant,
}

#[Object]
impl AccountMutation {
    /// Changes how the patient is told about new results (the patient or staff; never a proxy).
    /// Sets the preferences given: repeating the same call changes nothing.
    async fn update_notification_preferences(
        &self,
        ctx: &Context<'_>,
        patient_id: ID,
        input: NotificationPreferencesInput,
    ) -> Result<UpdateNotificationPreferencesPayload> {
        let patient_id = decode(&patient_id, NodeType::Patient, "patientId").gql()?;
        let update = preferences::PreferencesUpdate {
            channels: input
                .channels
                .map(|c| c.into_iter().map(Into::into).collect()),
            language: input.language,
            hold_sensitive_results: input.hold_sensitive_results,
        };
        let (_, model) = preferences::update_preferences(request(ctx)?, patient_id, &update)
            .await
            .gql()?;
        Ok(UpdateNotificationPreferencesPayload {
            preferences: NotificationPreferences(model),
        })
    }

    /// Registers a device for push notifications; registering the same token again is a no-op.
    async fn register_push_token(
        &self,
        ctx: &Context<'_>,
        patient_id: ID,
        platform: PushPlatform,
        token: String,
    ) -> Result<RegisterPushTokenPayload> {
        let patient_id = decode(&patient_id, NodeType::Patient, "patientId").gql()?;
        let model =
            preferences::register_push_token(request(ctx)?, patient_id, platform.into(), &token)
                .await
                .gql()?;
        Ok(RegisterPushTokenPayload {
            push_token: PushToken(model),
        })
    }

    /// Stops pushes to a device (idempotent).
    async fn unregister_push_token(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<UnregisterPushTokenPayload> {
        let id = decode(&id, NodeType::PushToken, "id").gql()?;
        let model = preferences::unregister_push_token(request(ctx)?, id)
            .await
            .gql()?;
        Ok(UnregisterPushTokenPayload {
            push_token: PushToken(model),
        })
    }

    /// Lets a parent or carer see parts of the patient's record. Granting again while the
    /// same person holds an active grant is a CONFLICT (revoke it first).
    async fn grant_proxy_access(
        &self,
        ctx: &Context<'_>,
        patient_id: ID,
        input: GrantProxyAccessInput,
    ) -> Result<GrantProxyAccessPayload> {
        let patient_id = decode(&patient_id, NodeType::Patient, "patientId").gql()?;
        let input = proxy::GrantInput {
            grantee_subject: input.grantee_subject,
            grantee_name: input.grantee_name,
            relationship: input.relationship,
            scopes: input.scopes.into_iter().map(Into::into).collect(),
            valid_from: input.valid_from,
            valid_to: input.valid_to,
        };
        let model = proxy::grant(request(ctx)?, patient_id, &input)
            .await
            .gql()?;
        app(ctx)?.outbox_wake.notify_one();
        Ok(GrantProxyAccessPayload {
            grant: ProxyGrant(model),
        })
    }

    /// Ends a proxy grant at once; revoking a revoked grant is a CONFLICT.
    async fn revoke_proxy_access(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<RevokeProxyAccessPayload> {
        let id = decode(&id, NodeType::ProxyGrant, "id").gql()?;
        let model = proxy::revoke(request(ctx)?, id).await.gql()?;
        app(ctx)?.outbox_wake.notify_one();
        Ok(RevokeProxyAccessPayload {
            grant: ProxyGrant(model),
        })
    }
}
