//! Fixtures for notification delivery: contact details, push tokens, queued notification
//! rows (the write path that queues them is built separately) and a fake HTTP provider.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use chrono::{DateTime, Duration, Utc};
use portal_entities::*;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter};
use serde_json::Value;
use uuid::Uuid;

use super::TestApp;

impl TestApp {
    /// Gives a patient an email address and a phone number.
    pub async fn contact(&self, patient: Uuid, email: Option<&str>, phone: Option<&str>) {
        patient::Entity::update_many()
            .col_expr(
                patient::Column::Email,
                Expr::value(email.map(str::to_owned)),
            )
            .col_expr(
                patient::Column::Phone,
                Expr::value(phone.map(str::to_owned)),
            )
            .filter(patient::Column::Id.eq(patient))
            .exec(&self.owner)
            .await
            .expect("contact");
    }

    pub async fn push_token(&self, tenant: Uuid, patient: Uuid, token: &str, revoked: bool) {
        push_token::Model {
            id: Uuid::now_v7(),
            tenant_id: tenant,
            patient_id: patient,
            platform: PushPlatform::Android,
            token: token.into(),
            created_at: Utc::now(),
            revoked_at: revoked.then(Utc::now),
        }
        .into_active_model()
        .insert(&self.owner)
        .await
        .expect("push token");
    }

    pub async fn language(&self, tenant: Uuid, patient: Uuid, language: &str) {
        notification_preference::Model {
            patient_id: patient,
            tenant_id: tenant,
            email: true,
            sms: true,
            push: true,
            language: language.into(),
            hold_sensitive_results: false,
            updated_at: Utc::now(),
        }
        .into_active_model()
        .insert(&self.owner)
        .await
        .expect("preferences");
    }

    /// Turns one channel on or off in the patient's preferences (from the defaults when the
    /// patient has none stored).
    pub async fn channel_wanted(
        &self,
        tenant: Uuid,
        patient: Uuid,
        channel: NotificationChannel,
        on: bool,
    ) {
        let stored = notification_preference::Entity::find_by_id(patient)
            .one(&self.owner)
            .await
            .expect("read preferences");
        let exists = stored.is_some();
        let mut prefs =
            stored.unwrap_or_else(|| portal_core::policy::default_preferences(tenant, patient));
        match channel {
            NotificationChannel::Email => prefs.email = on,
            NotificationChannel::Sms => prefs.sms = on,
            NotificationChannel::Push => prefs.push = on,
        }
        self.store_preferences(prefs, exists).await;
    }

    /// Sets the patient's "hold sensitive results" preference, keeping their channels.
    pub async fn hold_sensitive(&self, tenant: Uuid, patient: Uuid) {
        let stored = notification_preference::Entity::find_by_id(patient)
            .one(&self.owner)
            .await
            .expect("read preferences");
        let exists = stored.is_some();
        let mut prefs =
            stored.unwrap_or_else(|| portal_core::policy::default_preferences(tenant, patient));
        prefs.hold_sensitive_results = true;
        self.store_preferences(prefs, exists).await;
    }

    async fn store_preferences(&self, prefs: notification_preference::Model, exists: bool) {
        let row = prefs.into_active_model().reset_all();
        if exists {
            row.update(&self.owner).await.expect("update preferences");
        } else {
            row.insert(&self.owner).await.expect("insert preferences");
        }
    }

    /// A PENDING notification, due now, as the write path queues it: for a channel the
    /// patient has turned on (turned on here if it was not).
    pub async fn queued(
        &self,
        tenant: Uuid,
        patient: Uuid,
        result: Option<Uuid>,
        channel: NotificationChannel,
        template: &str,
    ) -> Uuid {
        self.channel_wanted(tenant, patient, channel, true).await;
        let id = Uuid::now_v7();
        let now = portal_core::clock::now();
        notification::Model {
            id,
            tenant_id: tenant,
            patient_id: patient,
            result_id: result,
            event_id: Uuid::now_v7(),
            channel,
            template: template.into(),
            status: NotificationStatus::Pending,
            attempts: 0,
            last_error: None,
            next_attempt_at: now,
            sent_at: None,
            created_at: now,
            params: None,
        }
        .into_active_model()
        .insert(&self.owner)
        .await
        .expect("notification");
        id
    }

    pub async fn notification(&self, id: Uuid) -> notification::Model {
        notification::Entity::find_by_id(id)
            .one(&self.owner)
            .await
            .expect("read notification")
            .expect("notification exists")
    }

    /// Skips the backoff wait: the notification is due again now.
    pub async fn make_due(&self, id: Uuid) {
        self.set_notification(
            id,
            notification::Column::NextAttemptAt,
            Utc::now() - Duration::seconds(1),
        )
        .await;
    }

    /// Puts a notification in the dead-letter state, as the worker leaves it.
    pub async fn mark_dead(&self, id: Uuid) {
        notification::Entity::update_many()
            .col_expr(
                notification::Column::Status,
                Expr::value(NotificationStatus::Dead),
            )
            .filter(notification::Column::Id.eq(id))
            .exec(&self.owner)
            .await
            .expect("mark dead");
    }

    /// Backdates when a notification was queued.
    pub async fn queued_at(&self, id: Uuid, at: DateTime<Utc>) {
        self.set_notification(id, notification::Column::CreatedAt, at)
            .await;
    }

    async fn set_notification(&self, id: Uuid, column: notification::Column, at: DateTime<Utc>) {
        notification::Entity::update_many()
            .col_expr(column, Expr::value(at))
            .filter(notification::Column::Id.eq(id))
            .exec(&self.owner)
            .await
            .expect("update notification");
    }
}

/// A stand-in SMS or push provider on loopback: answers 500 (or the status set by
/// [`FakeProvider::refuse_with`]) `failures` times, then 200, and keeps every request body and
/// its `Authorization` header.
#[derive(Clone)]
pub struct FakeProvider {
    pub url: String,
    inner: Arc<ProviderState>,
}

#[derive(Default)]
struct ProviderState {
    failures_left: AtomicUsize,
    /// The status of a failed answer; 0 means 500.
    failure_status: AtomicU16,
    accepted: AtomicUsize,
    requests: Mutex<Vec<(Value, Option<String>)>>,
}

impl FakeProvider {
    pub async fn start(failures: usize) -> Self {
        let inner = Arc::new(ProviderState {
            failures_left: AtomicUsize::new(failures),
            ..ProviderState::default()
        });
        let router = Router::new()
            .route("/send", post(receive))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind fake provider");
        let addr = listener.local_addr().expect("fake provider address");
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self {
            url: format!("http://{addr}/send"),
            inner,
        }
    }

    /// Every request body received, in order (failed ones included).
    pub fn bodies(&self) -> Vec<Value> {
        self.requests().into_iter().map(|(body, _)| body).collect()
    }

    /// Answers the next `n` requests with 500 (`usize::MAX`: down until told otherwise).
    pub fn fail_next(&self, n: usize) {
        self.inner.failures_left.store(n, Ordering::SeqCst);
    }

    /// Answers the next `n` requests with `status` instead of 500.
    pub fn refuse_with(&self, status: u16, n: usize) {
        self.inner.failure_status.store(status, Ordering::SeqCst);
        self.fail_next(n);
    }

    /// How many requests were answered 200.
    pub fn accepted(&self) -> usize {
        self.inner.accepted.load(Ordering::SeqCst)
    }

    pub fn requests(&self) -> Vec<(Value, Option<String>)> {
        self.inner.requests.lock().expect("requests").clone()
    }
}

async fn receive(
    State(state): State<Arc<ProviderState>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, &'static str) {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    state.requests.lock().expect("requests").push((body, auth));
    // A little latency so concurrent workers really overlap.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let fail = state
        .failures_left
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if fail {
        let status = StatusCode::from_u16(state.failure_status.load(Ordering::SeqCst))
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (
            status,
            "upstream detail: account 42 over quota for +15550001",
        )
    } else {
        state.accepted.fetch_add(1, Ordering::SeqCst);
        (StatusCode::OK, "{\"sid\":\"ok\"}")
    }
}
