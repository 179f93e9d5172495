//! `PORTAL_PUBLIC_URL`, `SMTP_*`, `SMS_PROVIDER_*`, `PUSH_PROVIDER_*`, `NOTIFY_*`: where
//! notifications go and how failed deliveries are retried.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::var::{Reader, Var, kind, section};
use super::{ConfigError, Secret, check_http_url, err};

section! {
    title: "Notifications",
    intro: "Where messages go (a mailbox folder for any channel without a server or provider) and how failed deliveries are retried. `portal config check` prints where each channel goes, without URLs or tokens.",
    PUBLIC_URL = Var::new("PORTAL_PUBLIC_URL", kind::URL,
        "The portal's public address: the only link a message carries, and the base of FHIR `fullUrl`s and paging links.")
        .derived("`http://<PORTAL_BIND>`");
    MAILBOX_DIR = Var::new("PORTAL_MAILBOX_DIR", kind::PATH,
        "Where messages are written for channels without a server or provider.")
        .derived("`<PORTAL_DATA_DIR>/mailbox`");
    SMTP_URL = Var::new("SMTP_URL", kind::URL,
        "`smtp://host:port` (plain; add `?tls=required` for STARTTLS) or `smtps://user:pass@host:465` (TLS).")
        .secret();
    SMTP_FROM = Var::new("SMTP_FROM", kind::TEXT, "Sender of every email.")
        .default("Patient Portal <no-reply@portal.local>");
    SMS_PROVIDER_URL = Var::new("SMS_PROVIDER_URL", kind::URL,
        "HTTP endpoint receiving `{\"to\", \"body\"}` (Twilio-style gateway).")
        .secret();
    SMS_PROVIDER_TOKEN = Var::new("SMS_PROVIDER_TOKEN", kind::TEXT,
        "Sent as `Authorization: Bearer …` to the SMS provider.")
        .secret();
    PUSH_PROVIDER_URL = Var::new("PUSH_PROVIDER_URL", kind::URL,
        "HTTP endpoint receiving `{\"token\", \"title\", \"body\"}` (FCM/APNs-style gateway).")
        .secret();
    PUSH_PROVIDER_TOKEN = Var::new("PUSH_PROVIDER_TOKEN", kind::TEXT, "Bearer token for the push provider.")
        .secret();
    MAX_ATTEMPTS = Var::new("NOTIFY_MAX_ATTEMPTS", kind::INTEGER,
        "Failed attempts after which a notification is `DEAD`.")
        .default("5")
        .range(1, 100);
    BACKOFF = Var::new("NOTIFY_BACKOFF_MS", kind::MILLISECONDS,
        "Wait after the first failure; doubled after each further one.")
        .default("1000");
    BACKOFF_MAX = Var::new("NOTIFY_BACKOFF_MAX_MS", kind::MILLISECONDS,
        "Longest wait between attempts; at least `NOTIFY_BACKOFF_MS`.")
        .default("600000");
    POLL = Var::new("NOTIFY_POLL_MS", kind::MILLISECONDS, "How often the worker looks for due notifications.")
        .default("500")
        .min(10);
    BATCH_SIZE = Var::new("NOTIFY_BATCH_SIZE", kind::INTEGER, "Notifications claimed per pass.")
        .default("50")
        .range(1, 1000);
    CONCURRENCY = Var::new("NOTIFY_CONCURRENCY", kind::INTEGER,
        "Sends in flight at once per worker, within a claimed batch.")
        .default("16")
        .range(1, 256);
    WORKER = Var::new("NOTIFY_WORKER", kind::BOOL,
        "Run the delivery worker (in `portal serve` and `portal worker`); `false` turns it off.")
        .default("true");
    LEASE = Var::new("NOTIFY_LEASE_SECS", kind::SECONDS,
        "How long a claimed batch is hidden from other workers; a killed worker's batch is retried after it. At least 3 × `NOTIFY_SEND_TIMEOUT_MS`.")
        .default("300");
    SEND_TIMEOUT = Var::new("NOTIFY_SEND_TIMEOUT_MS", kind::MILLISECONDS,
        "Timeout of one SMTP exchange or SMS/push request.")
        .default("10000")
        .min(100);
}

/// Notification delivery: where messages go and how often failures are retried.
#[derive(Clone)]
pub struct NotifyConfig {
    /// The portal's public address, the link every message carries and the base of FHIR
    /// links (`PORTAL_PUBLIC_URL`).
    pub public_url: String,
    /// Where messages are written when no SMTP server or provider is set.
    pub mailbox_dir: PathBuf,
    /// `smtp://` or `smtps://`; may carry credentials.
    pub smtp_url: Option<Secret>,
    pub smtp_from: String,
    pub sms: Option<Provider>,
    pub push: Option<Provider>,
    pub max_attempts: i32,
    pub backoff: Duration,
    pub backoff_max: Duration,
    pub poll: Duration,
    pub batch_size: u64,
    /// Whether the background work includes the delivery worker (`NOTIFY_WORKER`).
    pub worker: bool,
    /// How long a claimed batch stays invisible to other workers (`NOTIFY_LEASE_SECS`).
    pub lease: Duration,
    /// Timeout of one SMTP exchange or provider request (`NOTIFY_SEND_TIMEOUT_MS`).
    pub send_timeout: Duration,
    /// Sends in flight at once per worker (`NOTIFY_CONCURRENCY`).
    pub concurrency: usize,
}

/// An HTTP provider (SMS or push); URL and token are secrets (URLs often carry account keys).
#[derive(Clone)]
pub struct Provider {
    pub url: Secret,
    pub token: Option<Secret>,
}

pub(super) fn read(
    r: &Reader,
    data_dir: &Path,
    bind: SocketAddr,
) -> Result<NotifyConfig, ConfigError> {
    let public_url = r
        .set(&PUBLIC_URL)
        .unwrap_or_else(|| format!("http://{bind}"));
    check_http_url(PUBLIC_URL.name, &public_url)?;
    let send_timeout = r.millis(&SEND_TIMEOUT)?;
    let smtp_url = r.set(&SMTP_URL);
    if let Some(url) = &smtp_url {
        portal_messaging::delivery::SmtpSender::from_url(url, send_timeout).map_err(err)?;
    }
    let smtp_from = r.text(&SMTP_FROM).unwrap_or_default();
    portal_messaging::delivery::parse_sender(&smtp_from).map_err(err)?;
    let config = NotifyConfig {
        public_url: public_url.trim_end_matches('/').to_owned(),
        mailbox_dir: r
            .set(&MAILBOX_DIR)
            .map_or_else(|| data_dir.join("mailbox"), PathBuf::from),
        smtp_url: smtp_url.map(Secret::from),
        smtp_from,
        sms: provider(r, &SMS_PROVIDER_URL, &SMS_PROVIDER_TOKEN)?,
        push: provider(r, &PUSH_PROVIDER_URL, &PUSH_PROVIDER_TOKEN)?,
        max_attempts: r.number(&MAX_ATTEMPTS)?,
        backoff: r.millis(&BACKOFF)?,
        backoff_max: r.millis(&BACKOFF_MAX)?,
        poll: r.millis(&POLL)?,
        batch_size: r.number(&BATCH_SIZE)?,
        worker: r.flag(&WORKER)?,
        lease: r.seconds(&LEASE)?,
        send_timeout,
        concurrency: r.number(&CONCURRENCY)?,
    };
    validate(&config)?;
    Ok(config)
}

fn provider(r: &Reader, url: &Var, token: &Var) -> Result<Option<Provider>, ConfigError> {
    let Some(address) = r.set(url) else {
        if r.set(token).is_some() {
            return Err(err(format!(
                "{} is set but {} is not",
                token.name, url.name
            )));
        }
        return Ok(None);
    };
    check_http_url(url.name, &address)?;
    Ok(Some(Provider {
        url: Secret::from(address),
        token: r.secret(token),
    }))
}

/// The rules between variables (each variable's own bounds are in its declaration).
fn validate(config: &NotifyConfig) -> Result<(), ConfigError> {
    if config.backoff_max < config.backoff {
        return Err(err(format!(
            "{} must not be less than {}",
            BACKOFF_MAX.name, BACKOFF.name
        )));
    }
    // A send must end well inside the lease, or another worker could send the row again.
    if config.lease < config.send_timeout.saturating_mul(3) {
        return Err(err(format!(
            "{} must be at least three times {}",
            LEASE.name, SEND_TIMEOUT.name
        )));
    }
    Ok(())
}
