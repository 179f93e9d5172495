//! Delivery correctness: permanent refusals are dead-lettered without retries (real aiosmtpd,
//! a loopback HTTP provider), the release policy and channel preferences are checked again at
//! send time, and a push token follows the patient who registered it last.

use chrono::Utc;
use portal_api::notify;
use portal_entities::{NotificationChannel, NotificationStatus, ResultStatus};
use portal_messaging::delivery::{self, DeliveryCounts};
use portal_testkit::smtp::SmtpServer;
use serde_json::json;

use crate::on_both_backends;
use crate::support::ids::patient_gid;
use crate::support::notifications::FakeProvider;
use crate::support::{Backend, TestApp, no_errors};

async fn deliver(app: &TestApp) -> DeliveryCounts {
    let config = &app.state.config.notify;
    let channels = notify::channels(config).expect("channels from the configuration");
    delivery::deliver_due(&app.db, &channels, &notify::retry_policy(config), 50)
        .await
        .expect("delivery pass")
}

async fn an_smtp_550_is_dead_at_once_and_replay_still_works(backend: Backend) {
    let smtp = SmtpServer::start_refusing("550 5.1.1 Mailbox unavailable");
    let app = TestApp::init(backend)
        .with_secret("SMTP_URL", smtp.url())
        .with_config(|c| c.notify.max_attempts = 5)
        .await;
    let w = app.world().await;
    app.contact(w.p1, Some("gone@patients.test"), None).await;
    let id = app
        .queued(
            w.tenant_a,
            w.p1,
            Some(w.p1_final),
            NotificationChannel::Email,
            "result_ready",
        )
        .await;

    assert_eq!(deliver(&app).await.dead, 1);
    let row = app.notification(id).await;
    assert_eq!((row.status, row.attempts), (NotificationStatus::Dead, 1));
    assert_eq!(row.last_error.as_deref(), Some("smtp: permanent error 550"));
    app.make_due(id).await;
    assert_eq!(
        deliver(&app).await.claimed,
        0,
        "a dead letter is not retried"
    );

    let replayed = delivery::replay_dead(&app.db, None, false)
        .await
        .expect("replay");
    assert_eq!(replayed, 1);
    assert_eq!(
        app.notification(id).await.status,
        NotificationStatus::Pending
    );
    assert_eq!(deliver(&app).await.dead, 1, "replayed, refused again");
    assert!(smtp.messages().is_empty());
}

async fn an_smtp_451_is_retried_with_backoff(backend: Backend) {
    let smtp = SmtpServer::start_refusing("451 4.3.0 Try again later");
    let app = TestApp::init(backend)
        .with_secret("SMTP_URL", smtp.url())
        .with_config(|c| c.notify.max_attempts = 5)
        .await;
    let w = app.world().await;
    app.contact(w.p1, Some("p1@patients.test"), None).await;
    let id = app
        .queued(
            w.tenant_a,
            w.p1,
            Some(w.p1_final),
            NotificationChannel::Email,
            "result_ready",
        )
        .await;

    assert_eq!(deliver(&app).await.failed, 1);
    let row = app.notification(id).await;
    assert_eq!((row.status, row.attempts), (NotificationStatus::Failed, 1));
    assert_eq!(row.last_error.as_deref(), Some("smtp: transient error 451"));
    assert!(
        row.next_attempt_at > Utc::now(),
        "due again after a backoff"
    );
}

async fn a_provider_404_is_dead_at_once_and_a_429_is_retried(backend: Backend) {
    let provider = FakeProvider::start(0).await;
    let app = TestApp::init(backend)
        .with_secret("SMS_PROVIDER_URL", &provider.url)
        .with_config(|c| c.notify.max_attempts = 5)
        .await;
    let w = app.world().await;
    app.contact(w.p1, None, Some("+15550001")).await;
    let invalid = app
        .queued(
            w.tenant_a,
            w.p1,
            Some(w.p1_final),
            NotificationChannel::Sms,
            "result_ready",
        )
        .await;

    provider.refuse_with(404, 1);
    assert_eq!(deliver(&app).await.dead, 1);
    let row = app.notification(invalid).await;
    assert_eq!((row.status, row.attempts), (NotificationStatus::Dead, 1));
    assert_eq!(
        row.last_error.as_deref(),
        Some("sms provider refused the recipient: HTTP 404")
    );
    app.make_due(invalid).await;
    assert_eq!(
        deliver(&app).await.claimed,
        0,
        "a dead letter is not retried"
    );
    assert_eq!(provider.requests().len(), 1);

    let limited = app
        .queued(
            w.tenant_a,
            w.p1,
            Some(w.p1_final),
            NotificationChannel::Sms,
            "result_ready",
        )
        .await;
    provider.refuse_with(429, 1);
    assert_eq!(deliver(&app).await.failed, 1);
    let row = app.notification(limited).await;
    assert_eq!((row.status, row.attempts), (NotificationStatus::Failed, 1));
    assert_eq!(
        row.last_error.as_deref(),
        Some("sms provider answered HTTP 429")
    );

    // Replay sends the dead letter once the recipient is fixed at the provider.
    assert_eq!(
        delivery::replay_dead(&app.db, None, false)
            .await
            .expect("replay"),
        1
    );
    assert_eq!(deliver(&app).await.sent, 1);
    assert_eq!(
        app.notification(invalid).await.status,
        NotificationStatus::Sent
    );
}

async fn a_result_held_after_queueing_is_skipped_at_send_time(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    app.contact(w.p1, Some("p1@patients.test"), None).await;
    let order = app.order(w.tenant_a, w.p1, w.facility, w.hiv, None).await;
    let sensitive = app
        .result(
            w.tenant_a,
            w.p1,
            order,
            w.hiv,
            ResultStatus::Final,
            Utc::now(),
            None,
        )
        .await;
    let held = app
        .queued(
            w.tenant_a,
            w.p1,
            Some(sensitive),
            NotificationChannel::Email,
            "result_ready",
        )
        .await;
    let other = app
        .queued(
            w.tenant_a,
            w.p1,
            Some(w.p1_final),
            NotificationChannel::Email,
            "result_ready",
        )
        .await;
    app.hold_sensitive(w.tenant_a, w.p1).await;

    let counts = deliver(&app).await;

    assert_eq!((counts.sent, counts.skipped), (1, 1));
    let row = app.notification(held).await;
    assert_eq!(row.status, NotificationStatus::Skipped);
    assert_eq!(row.last_error.as_deref(), Some("held: sensitive result"));
    let mailbox = app.data_dir().join("mailbox");
    assert!(!mailbox.join(format!("{held}.eml")).exists());
    assert!(mailbox.join(format!("{other}.eml")).is_file());
}

async fn a_superseded_result_is_not_announced_but_its_correction_is(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    app.contact(w.p1, Some("p1@patients.test"), None).await;
    let original = app
        .queued(
            w.tenant_a,
            w.p1,
            Some(w.p1_final),
            NotificationChannel::Email,
            "result_ready",
        )
        .await;
    let order = app.order(w.tenant_a, w.p1, w.facility, w.cbc, None).await;
    let in_error = app
        .result(
            w.tenant_a,
            w.p1,
            order,
            w.cbc,
            ResultStatus::EnteredInError,
            Utc::now(),
            Some(w.p1_final),
        )
        .await;
    let correction = app
        .queued(
            w.tenant_a,
            w.p1,
            Some(in_error),
            NotificationChannel::Email,
            "result_corrected",
        )
        .await;

    let counts = deliver(&app).await;

    assert_eq!((counts.sent, counts.skipped), (1, 1));
    let row = app.notification(original).await;
    assert_eq!(row.status, NotificationStatus::Skipped);
    assert_eq!(
        row.last_error.as_deref(),
        Some("superseded by a newer version of the result")
    );
    assert_eq!(
        app.notification(correction).await.status,
        NotificationStatus::Sent
    );
}

async fn a_channel_turned_off_after_queueing_is_skipped(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    app.contact(w.p1, Some("p1@patients.test"), Some("+15550001"))
        .await;
    let sms = app
        .queued(
            w.tenant_a,
            w.p1,
            Some(w.p1_final),
            NotificationChannel::Sms,
            "result_ready",
        )
        .await;
    let email = app
        .queued(
            w.tenant_a,
            w.p1,
            Some(w.p1_final),
            NotificationChannel::Email,
            "result_ready",
        )
        .await;
    let me = app.as_patient("p1", w.tenant_a, w.p1);
    let update = r#"mutation($id: ID!, $input: NotificationPreferencesInput!) {
      updateNotificationPreferences(patientId: $id, input: $input) { preferences { channels } }
    }"#;
    let response = me
        .query(
            update,
            json!({ "id": patient_gid(w.p1), "input": { "channels": ["NONE"] } }),
        )
        .await;
    no_errors(&response);

    let counts = deliver(&app).await;

    assert_eq!((counts.sent, counts.skipped), (0, 2));
    for id in [sms, email] {
        let row = app.notification(id).await;
        assert_eq!(row.status, NotificationStatus::Skipped);
        assert_eq!(
            row.last_error.as_deref(),
            Some("channel turned off by the patient")
        );
    }
    assert!(
        !app.data_dir().join("mailbox").exists(),
        "nothing was written"
    );
}

async fn a_push_token_registered_by_another_patient_stops_reaching_the_first(backend: Backend) {
    let provider = FakeProvider::start(0).await;
    let app = TestApp::init(backend)
        .with_secret("PUSH_PROVIDER_URL", &provider.url)
        .await;
    let w = app.world().await;
    let register = r#"mutation($id: ID!, $token: String!) {
      registerPushToken(patientId: $id, platform: ANDROID, token: $token) { pushToken { id } }
    }"#;
    for (patient, subject) in [(w.p1, "p1"), (w.p2, "p2")] {
        let owner = app.as_patient(subject, w.tenant_a, patient);
        let vars = json!({ "id": patient_gid(patient), "token": "shared-device" });
        no_errors(&owner.query(register, vars).await);
    }
    let to_first = app
        .queued(
            w.tenant_a,
            w.p1,
            Some(w.p1_final),
            NotificationChannel::Push,
            "result_ready",
        )
        .await;
    let to_second = app
        .queued(
            w.tenant_a,
            w.p2,
            Some(w.p2_final),
            NotificationChannel::Push,
            "result_ready",
        )
        .await;

    let counts = deliver(&app).await;

    assert_eq!((counts.sent, counts.skipped), (1, 1));
    let first = app.notification(to_first).await;
    assert_eq!(first.status, NotificationStatus::Skipped);
    assert_eq!(
        first.last_error.as_deref(),
        Some("patient has no active push token")
    );
    assert_eq!(
        app.notification(to_second).await.status,
        NotificationStatus::Sent
    );
    let tokens: Vec<_> = provider
        .bodies()
        .iter()
        .map(|b| b["token"].clone())
        .collect();
    assert_eq!(
        tokens,
        [json!("shared-device")],
        "one push, to the new owner"
    );
}

on_both_backends!(
    an_smtp_550_is_dead_at_once_and_replay_still_works,
    an_smtp_451_is_retried_with_backoff,
    a_provider_404_is_dead_at_once_and_a_429_is_retried,
    a_result_held_after_queueing_is_skipped_at_send_time,
    a_superseded_result_is_not_announced_but_its_correction_is,
    a_channel_turned_off_after_queueing_is_skipped,
    a_push_token_registered_by_another_patient_stops_reaching_the_first,
);
