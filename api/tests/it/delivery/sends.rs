//! Notification delivery against real components: aiosmtpd for email, a loopback HTTP
//! provider for SMS and push, the mailbox folder, and both databases for claiming and retries.

use std::collections::HashSet;
use std::time::Duration;

use chrono::Utc;
use portal_api::notify;
use portal_entities::notification;
use portal_entities::{NotificationChannel, NotificationStatus};
use portal_messaging::delivery::{self, Channels, DeliveryCounts, RetryPolicy};
use portal_testkit::smtp::SmtpServer;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use crate::on_both_backends;
use crate::support::ids::result_vars;
use crate::support::notifications::FakeProvider;
use crate::support::{Backend, TestApp};

const PORTAL: &str = "https://portal.test";

fn wiring(app: &TestApp) -> (Channels, RetryPolicy) {
    let config = &app.state.config.notify;
    let channels = notify::channels(config).expect("channels from the configuration");
    (channels, notify::retry_policy(config))
}

async fn deliver(app: &TestApp) -> DeliveryCounts {
    let (channels, policy) = wiring(app);
    delivery::deliver_due(&app.db, &channels, &policy, 50)
        .await
        .expect("delivery pass")
}

/// Quoted-printable soft line breaks undone, so a long line reads as one.
fn unfolded(raw: &str) -> String {
    raw.replace("=\r\n", "").replace("\r\n", "\n")
}

fn assert_no_phi(text: &str) {
    // What the world fixture stores about P1 and the result: names, birth date, test, values.
    for phi in [
        "GivenP1",
        "FamilyP1",
        "1980",
        "58410-2",
        "Test 58410",
        "Analyte",
        "g/dL",
    ] {
        assert!(!text.contains(phi), "message leaks {phi:?}:\n{text}");
    }
}

async fn email_reaches_a_real_smtp_server_without_phi(backend: Backend) {
    let smtp = SmtpServer::start();
    let app = TestApp::init(backend)
        .with_secret("SMTP_URL", smtp.url())
        .with_config(|c| c.notify.public_url = PORTAL.to_owned())
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

    let counts = deliver(&app).await;

    assert_eq!((counts.claimed, counts.sent), (1, 1));
    let row = app.notification(id).await;
    assert_eq!(row.status, NotificationStatus::Sent);
    assert!(row.sent_at.is_some());
    let messages = smtp.messages();
    assert_eq!(messages.len(), 1, "exactly one message reached the server");
    let message = unfolded(&messages[0]);
    assert!(message.contains("To: p1@patients.test"), "{message}");
    assert!(
        message.contains("Subject: A new result is ready"),
        "{message}"
    );
    assert!(
        message.contains(&format!("Sign in to view it:\n{PORTAL}")),
        "{message}"
    );
    assert_no_phi(&message);
}

async fn sms_retries_with_backoff_goes_dead_and_replay_sends_it(backend: Backend) {
    let provider = FakeProvider::start(3).await;
    let app = TestApp::init(backend)
        .with_secret("SMS_PROVIDER_URL", &provider.url)
        .with_secret("SMS_PROVIDER_TOKEN", "sms-test-token")
        .with_config(|c| {
            c.notify.public_url = PORTAL.to_owned();
            c.notify.max_attempts = 3;
            c.notify.backoff = Duration::from_secs(60);
        })
        .await;
    let w = app.world().await;
    app.contact(w.p1, None, Some("+15550001")).await;
    let id = app
        .queued(
            w.tenant_a,
            w.p1,
            Some(w.p1_final),
            NotificationChannel::Sms,
            "result_corrected",
        )
        .await;

    // Two failures: FAILED, one more attempt each time, and a wait that doubles.
    let mut delays = Vec::new();
    for attempt in 1..=2 {
        let before = Utc::now();
        assert_eq!(deliver(&app).await.failed, 1);
        let row = app.notification(id).await;
        assert_eq!(
            (row.status, row.attempts),
            (NotificationStatus::Failed, attempt)
        );
        assert_eq!(
            row.last_error.as_deref(),
            Some("sms provider answered HTTP 500")
        );
        delays.push((row.next_attempt_at - before).num_seconds());
        assert_eq!(
            deliver(&app).await.claimed,
            0,
            "not due again before the backoff ends"
        );
        app.make_due(id).await;
    }
    assert!(
        delays[0] >= 59 && delays[0] <= 60,
        "first wait is the base: {delays:?}"
    );
    assert!(
        delays[1] >= 119 && delays[1] <= 120,
        "second wait doubles: {delays:?}"
    );

    // The third failure reaches NOTIFY_MAX_ATTEMPTS: DEAD, and never picked up again.
    assert_eq!(deliver(&app).await.dead, 1);
    let dead = app.notification(id).await;
    assert_eq!((dead.status, dead.attempts), (NotificationStatus::Dead, 3));
    app.make_due(id).await;
    assert_eq!(deliver(&app).await.claimed, 0);

    // Replay: a dry run only counts; the real one re-queues; the next pass sends.
    assert_eq!(
        delivery::replay_dead(&app.db, None, true)
            .await
            .expect("dry run"),
        1
    );
    assert_eq!(app.notification(id).await.status, NotificationStatus::Dead);
    assert_eq!(
        delivery::replay_dead(&app.db, None, false)
            .await
            .expect("replay"),
        1
    );
    let replayed = app.notification(id).await;
    assert_eq!(
        (replayed.status, replayed.attempts),
        (NotificationStatus::Pending, 0)
    );
    assert_eq!(deliver(&app).await.sent, 1);
    let sent = app.notification(id).await;
    assert_eq!(sent.status, NotificationStatus::Sent);
    assert!(
        sent.last_error
            .is_some_and(|e| !e.contains("quota") && !e.contains("+1555"))
    );

    let requests = provider.requests();
    assert_eq!(requests.len(), 4, "three failures and one success");
    let (body, auth) = &requests[3];
    assert_eq!(body["to"], "+15550001");
    let text = body["body"].as_str().expect("body text");
    assert_eq!(
        text,
        format!("An updated result is ready in your portal. {PORTAL}")
    );
    assert_eq!(auth.as_deref(), Some("Bearer sms-test-token"));
    assert_no_phi(&body.to_string());
}

async fn two_workers_never_send_the_same_notification_twice(backend: Backend) {
    let provider = FakeProvider::start(0).await;
    let app = TestApp::init(backend)
        .with_secret("SMS_PROVIDER_URL", &provider.url)
        .await;
    let tenant = app.tenant("t").await;
    let mut queued = Vec::new();
    for n in 0..24 {
        let patient = app.patient(tenant, &format!("M{n}"), None).await;
        app.contact(patient, None, Some(&format!("+1555{n:04}")))
            .await;
        queued.push(
            app.queued(
                tenant,
                patient,
                None,
                NotificationChannel::Sms,
                "result_ready",
            )
            .await,
        );
    }
    let (channels, policy) = wiring(&app);

    let worker = |db: sea_orm::DatabaseConnection| {
        let (channels, policy) = (channels.clone(), policy.clone());
        tokio::spawn(async move {
            let mut sent = 0;
            loop {
                let counts = delivery::deliver_due(&db, &channels, &policy, 3)
                    .await
                    .expect("delivery pass");
                if counts.claimed == 0 {
                    return sent;
                }
                sent += counts.sent;
            }
        })
    };
    let (a, b) = (worker(app.db.clone()), worker(app.db.clone()));
    let (a, b) = (a.await.expect("worker a"), b.await.expect("worker b"));

    assert_eq!(
        a + b,
        24,
        "every notification sent once (worker a {a}, worker b {b})"
    );
    let recipients: Vec<String> = provider
        .bodies()
        .iter()
        .map(|body| body["to"].as_str().unwrap_or_default().to_owned())
        .collect();
    let distinct: HashSet<&String> = recipients.iter().collect();
    assert_eq!(
        recipients.len(),
        24,
        "the provider got one request per notification"
    );
    assert_eq!(distinct.len(), 24, "no recipient got the message twice");
    for id in queued {
        assert_eq!(app.notification(id).await.status, NotificationStatus::Sent);
    }
}

async fn push_goes_to_each_active_device_and_missing_addresses_are_skipped(backend: Backend) {
    let provider = FakeProvider::start(0).await;
    let app = TestApp::init(backend)
        .with_secret("PUSH_PROVIDER_URL", &provider.url)
        .await;
    let w = app.world().await;
    app.push_token(w.tenant_a, w.p1, "device-1", false).await;
    app.push_token(w.tenant_a, w.p1, "device-2", false).await;
    app.push_token(w.tenant_a, w.p1, "device-revoked", true)
        .await;
    let push = app
        .queued(
            w.tenant_a,
            w.p1,
            Some(w.p1_final),
            NotificationChannel::Push,
            "result_ready",
        )
        .await;
    let no_email = app
        .queued(
            w.tenant_a,
            w.p2,
            Some(w.p2_final),
            NotificationChannel::Email,
            "result_ready",
        )
        .await;
    let no_device = app
        .queued(
            w.tenant_a,
            w.p2,
            Some(w.p2_final),
            NotificationChannel::Push,
            "result_ready",
        )
        .await;

    let counts = deliver(&app).await;

    assert_eq!((counts.sent, counts.skipped), (1, 2));
    let tokens: HashSet<String> = provider
        .bodies()
        .iter()
        .map(|body| {
            assert_eq!(body["title"], "A new result is ready");
            body["token"].as_str().unwrap_or_default().to_owned()
        })
        .collect();
    assert_eq!(
        tokens,
        HashSet::from(["device-1".into(), "device-2".into()])
    );
    assert_eq!(
        app.notification(push).await.status,
        NotificationStatus::Sent
    );
    let skipped = app.notification(no_email).await;
    assert_eq!(skipped.status, NotificationStatus::Skipped);
    assert_eq!(
        skipped.last_error.as_deref(),
        Some("patient has no email address")
    );
    let skipped = app.notification(no_device).await;
    assert_eq!(
        skipped.last_error.as_deref(),
        Some("patient has no active push token")
    );
}

/// SMTP down while two workers run: every attempt fails and is retried with backoff, no
/// message is lost or sent twice; once the server is up, each email arrives exactly once.
async fn with_smtp_down_two_workers_retry_and_each_email_arrives_once_when_it_is_back(
    backend: Backend,
) {
    let port = SmtpServer::free_port();
    let url = format!("smtp://127.0.0.1:{port}");
    let app = TestApp::init(backend)
        .with_secret("SMTP_URL", &url)
        .with_config(|c| {
            c.notify.backoff = Duration::from_millis(50);
            c.notify.backoff_max = Duration::from_millis(200);
            c.notify.max_attempts = 100;
        })
        .await;
    let tenant = app.tenant("t").await;
    let mut queued = Vec::new();
    for n in 0..12 {
        let patient = app.patient(tenant, &format!("M{n}"), None).await;
        app.contact(patient, Some(&format!("p{n}@patients.test")), None)
            .await;
        queued.push(
            app.queued(
                tenant,
                patient,
                None,
                NotificationChannel::Email,
                "result_ready",
            )
            .await,
        );
    }
    let (channels, policy) = wiring(&app);
    let pass = |db: sea_orm::DatabaseConnection| {
        let (channels, policy) = (channels.clone(), policy.clone());
        tokio::spawn(async move {
            delivery::deliver_due(&db, &channels, &policy, 5)
                .await
                .expect("delivery pass")
        })
    };

    // Down: both workers claim, fail, and schedule retries until every row has failed at
    // least once; nothing is sent.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (a, b) = (pass(app.db.clone()), pass(app.db.clone()));
        let (a, b) = (a.await.expect("worker a"), b.await.expect("worker b"));
        assert_eq!(a.sent + b.sent, 0, "nothing can be sent while SMTP is down");
        let mut all_failed = true;
        for id in &queued {
            let row = app.notification(*id).await;
            assert_ne!(row.status, NotificationStatus::Dead, "{row:?}");
            all_failed &= row.status == NotificationStatus::Failed && row.attempts >= 1;
        }
        if all_failed {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not every notification was attempted while SMTP was down"
        );
    }

    // Back: the workers drain the retries; each message goes out once.
    let smtp = SmtpServer::start_on(port);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut sent = 0;
    while sent < 12 {
        assert!(
            std::time::Instant::now() < deadline,
            "only {sent} of 12 sent after SMTP came back"
        );
        let (a, b) = (pass(app.db.clone()), pass(app.db.clone()));
        let (a, b) = (a.await.expect("worker a"), b.await.expect("worker b"));
        sent += a.sent + b.sent;
        if a.claimed + b.claimed == 0 {
            // Wait for the next retries to fall due (backoff of at most 200 ms).
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    assert_eq!(sent, 12, "each notification sent once");
    for id in &queued {
        assert_eq!(app.notification(*id).await.status, NotificationStatus::Sent);
    }
    let messages = smtp.messages();
    assert_eq!(
        messages.len(),
        12,
        "the server got one message per notification"
    );
    let recipients: HashSet<String> = messages
        .iter()
        .filter_map(|m| {
            m.lines()
                .find(|l| l.starts_with("To: "))
                .map(|l| l.trim().to_owned())
        })
        .collect();
    assert_eq!(recipients.len(), 12, "no patient got the email twice");
}

on_both_backends!(
    email_reaches_a_real_smtp_server_without_phi,
    with_smtp_down_two_workers_retry_and_each_email_arrives_once_when_it_is_back,
    sms_retries_with_backoff_goes_dead_and_replay_sends_it,
    two_workers_never_send_the_same_notification_twice,
    push_goes_to_each_active_device_and_missing_addresses_are_skipped,
);

#[tokio::test]
async fn without_smtp_or_providers_messages_are_files_in_the_mailbox_folder() {
    let app = TestApp::init(Backend::Sqlite)
        .with_config(|c| c.notify.public_url = PORTAL.to_owned())
        .await;
    let w = app.world().await;
    app.contact(w.p1, Some("p1@patients.test"), Some("+15550001"))
        .await;
    app.language(w.tenant_a, w.p1, "es").await;
    let email = app
        .queued(
            w.tenant_a,
            w.p1,
            Some(w.p1_final),
            NotificationChannel::Email,
            "result_ready",
        )
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

    assert_eq!(deliver(&app).await.sent, 2);

    let mailbox = app.data_dir().join("mailbox");
    let eml = std::fs::read_to_string(mailbox.join(format!("{email}.eml"))).expect("email file");
    assert!(eml.contains("To: p1@patients.test"), "{eml}");
    assert!(unfolded(&eml).contains(PORTAL), "{eml}");
    assert_no_phi(&eml);
    let json =
        std::fs::read_to_string(mailbox.join(format!("{sms}-0.sms.json"))).expect("sms file");
    let body: serde_json::Value = serde_json::from_str(&json).expect("sms json");
    assert_eq!(body["to"], "+15550001");
    assert_eq!(
        body["body"],
        format!("Hay un nuevo resultado disponible en su portal. {PORTAL}")
    );
}

#[tokio::test]
async fn a_walk_in_link_is_delivered_then_forgotten_and_opens_the_result() {
    let app = TestApp::init(Backend::Sqlite).await;
    let w = app.world().await;
    app.contact(w.p1, None, Some("+15555550123")).await;
    let lab = app.as_lab(w.tenant_a);
    let send =
        r#"mutation($id: ID!) { sendResultLink(resultId: $id, channel: SMS) { deliveryStatus } }"#;
    let id = result_vars(w.p1_final);
    let response = lab.query(send, id).await;
    assert!(response.get("errors").is_none(), "{response:#}");

    assert_eq!(deliver(&app).await.sent, 1);
    let mailbox = app.data_dir().join("mailbox");
    let sms = std::fs::read_dir(&mailbox)
        .expect("mailbox")
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().ends_with(".sms.json"))
        .expect("an sms file");
    let text = std::fs::read_to_string(sms.path()).expect("sms");
    assert_no_phi(&text);
    let token = text
        .split("/r/")
        .nth(1)
        .and_then(|rest| rest.split(['"', ' ', '\\']).next())
        .expect("the link is in the message")
        .to_owned();
    let rows = notification::Entity::find()
        .filter(notification::Column::PatientId.eq(w.p1))
        .all(&app.owner)
        .await
        .expect("rows");
    assert_eq!(rows[0].status, NotificationStatus::Sent);
    assert!(
        rows[0].params.is_none(),
        "the secret link is not kept once sent"
    );

    let open = r#"query($token: String!) { resultLink(token: $token, birthDate: "1980-01-02") { status } }"#;
    let opened = app.anonymous().query(open, json!({ "token": token })).await;
    assert_eq!(
        opened["data"]["resultLink"]["status"], "FINAL",
        "{opened:#}"
    );
}

#[tokio::test]
async fn replay_command_requeues_dead_notifications_created_since() {
    use clap::Parser as _;
    let app = TestApp::init(Backend::Sqlite).await;
    let w = app.world().await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let id = app
            .queued(
                w.tenant_a,
                w.p1,
                None,
                NotificationChannel::Email,
                "result_ready",
            )
            .await;
        app.mark_dead(id).await;
        ids.push(id);
    }
    app.queued_at(ids[0], Utc::now() - chrono::Duration::days(2))
        .await;
    let since = (Utc::now() - chrono::Duration::days(1)).to_rfc3339();
    let config = (*app.state.config).clone();
    let command = |extra: &[&str]| {
        let mut args = vec![
            "portal",
            "replay",
            "--dead-letter",
            "--since",
            since.as_str(),
        ];
        args.extend_from_slice(extra);
        portal_api::cli::Cli::try_parse_from(args).expect("replay arguments parse")
    };

    portal_api::cli::run(command(&["--dry-run"]), config.clone())
        .await
        .expect("dry run");
    assert_eq!(
        app.notification(ids[1]).await.status,
        NotificationStatus::Dead
    );
    portal_api::cli::run(command(&[]), config)
        .await
        .expect("replay");

    assert_eq!(
        app.notification(ids[0]).await.status,
        NotificationStatus::Dead
    );
    assert_eq!(
        app.notification(ids[1]).await.status,
        NotificationStatus::Pending
    );
    assert!(portal_api::cli::Cli::try_parse_from(["portal", "replay"]).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_serve_worker_delivers_queued_notifications_and_stops_on_shutdown() {
    let app = TestApp::init(Backend::Sqlite)
        .with_config(|c| c.notify.poll = Duration::from_millis(20))
        .await;
    let w = app.world().await;
    app.contact(w.p1, Some("p1@patients.test"), None).await;
    let worker = notify::Worker::spawn(&app.state)
        .expect("worker configuration")
        .expect("the worker is on by default");
    let id = app
        .queued(
            w.tenant_a,
            w.p1,
            Some(w.p1_final),
            NotificationChannel::Email,
            "result_ready",
        )
        .await;

    let mut status = NotificationStatus::Pending;
    for _ in 0..100 {
        status = app.notification(id).await.status;
        if status == NotificationStatus::Sent {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        status,
        NotificationStatus::Sent,
        "the polling worker sent it"
    );
    tokio::time::timeout(std::time::Duration::from_secs(10), worker.stop())
        .await
        .expect("the worker stops when asked");
    assert!(
        app.data_dir()
            .join("mailbox")
            .join(format!("{id}.eml"))
            .is_file()
    );
}

#[tokio::test]
async fn an_unreachable_smtp_server_fails_the_attempt_without_details() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let url = format!("smtp://127.0.0.1:{closed}");
    let app = TestApp::init(Backend::Sqlite)
        .with_secret("SMTP_URL", &url)
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
    let error = row.last_error.expect("the failure is recorded");
    assert!(error.starts_with("smtp: "), "{error}");
    assert!(
        !error.contains("p1@") && !error.contains(&closed.to_string()),
        "{error}"
    );
}
