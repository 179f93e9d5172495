//! A patient's account settings: notification preferences, push tokens, the proxy grants they gave.

use async_graphql::{ID, Object};
use chrono::{DateTime, Utc};
use portal_core::access::Scope;
use portal_entities::{notification_preference, proxy_grant, push_token};

use super::enums::{AccessScope, NotificationChannel, PushPlatform};
use crate::ids::{NodeType, encode};

/// How and in which language the patient is told that a result is ready.
pub struct NotificationPreferences(pub notification_preference::Model);

#[Object]
impl NotificationPreferences {
    /// The channels in use; `[NONE]` when the patient opted out of all.
    async fn channels(&self) -> Vec<NotificationChannel> {
        let m = &self.0;
        let channels: Vec<_> = [
            (m.email, NotificationChannel::Email),
            (m.sms, NotificationChannel::Sms),
            (m.push, NotificationChannel::Push),
        ]
        .into_iter()
        .filter_map(|(on, channel)| on.then_some(channel))
        .collect();
        if channels.is_empty() {
            vec![NotificationChannel::None]
        } else {
            channels
        }
    }
    /// BCP-47 language tag of messages.
    async fn language(&self) -> &str {
        &self.0.language
    }
    /// Hold results of sensitive tests until discussed with a clinician.
    async fn hold_sensitive_results(&self) -> bool {
        self.0.hold_sensitive_results
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// Access a patient gave a parent or carer.
pub struct ProxyGrant(pub proxy_grant::Model);

#[Object]
impl ProxyGrant {
    pub async fn id(&self) -> ID {
        encode(NodeType::ProxyGrant, self.0.id)
    }
    async fn grantee_name(&self) -> &str {
        &self.0.grantee_name
    }
    /// E.g. PARENT, GUARDIAN, CARER.
    async fn relationship(&self) -> &str {
        &self.0.relationship
    }
    async fn scopes(&self) -> Vec<AccessScope> {
        self.0
            .scopes
            .split(',')
            .filter_map(Scope::parse)
            .map(Into::into)
            .collect()
    }
    async fn valid_from(&self) -> DateTime<Utc> {
        self.0.valid_from
    }
    async fn valid_to(&self) -> Option<DateTime<Utc>> {
        self.0.valid_to
    }
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.0.revoked_at
    }
    /// In force now: started, not expired, not revoked.
    async fn active(&self) -> bool {
        let now = Utc::now();
        let m = &self.0;
        m.revoked_at.is_none() && m.valid_from <= now && m.valid_to.is_none_or(|to| to > now)
    }
}

/// A device registered for push notifications (the token itself is never returned).
pub struct PushToken(pub push_token::Model);

#[Object]
impl PushToken {
    async fn id(&self) -> ID {
        encode(NodeType::PushToken, self.0.id)
    }
    async fn platform(&self) -> PushPlatform {
        self.0.platform.into()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// Set once the device was unregistered; no pushes are sent after it.
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.0.revoked_at
    }
}
