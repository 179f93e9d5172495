//! Email over SMTP with lettre (`smtp://` plain or STARTTLS by query, `smtps://` TLS).

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::Error as SmtpError;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::{Message, SendFailure};

#[derive(Clone)]
pub struct SmtpSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl SmtpSender {
    /// Parses `SMTP_URL` (e.g. `smtp://127.0.0.1:2525`, `smtps://user:pass@host`); connects
    /// only when sending. `timeout` (`NOTIFY_SEND_TIMEOUT_MS`) bounds each SMTP exchange and
    /// is kept well under the worker's claim lease, so a stuck server cannot cause a double send.
    pub fn from_url(url: &str, timeout: Duration) -> Result<Self, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|_| "SMTP_URL is not a valid smtp:// or smtps:// URL".to_owned())?
            .timeout(Some(timeout))
            .build();
        Ok(Self { transport })
    }

    pub async fn send(&self, email: lettre::Message) -> Result<(), SendFailure> {
        self.transport
            .send(email)
            .await
            .map(|_| ())
            .map_err(|e| describe(&e))
    }
}

/// Parses the `From:` address (`SMTP_FROM`).
pub fn parse_sender(text: &str) -> Result<Mailbox, String> {
    text.parse()
        .map_err(|_| format!("SMTP_FROM is not a valid address: {text:?}"))
}

/// Builds the email; `None` when the recipient address is not a valid address.
pub fn build_email(from: &Mailbox, to: &str, message: &Message) -> Option<lettre::Message> {
    let to: Mailbox = to.parse().ok()?;
    lettre::Message::builder()
        .from(from.clone())
        .to(to)
        .subject(message.subject.clone())
        .header(ContentType::TEXT_PLAIN)
        .body(message.body.clone())
        .ok()
}

/// The reply code and kind only: server texts often quote the recipient's address.
fn describe(error: &SmtpError) -> SendFailure {
    let code = error.status().map(u16::from);
    let kind = if error.is_timeout() {
        "timeout"
    } else if error.is_permanent() {
        "permanent error"
    } else if error.is_transient() {
        "transient error"
    } else {
        "connection or protocol error"
    };
    let reason = match code {
        Some(code) => format!("smtp: {kind} {code}"),
        None => format!("smtp: {kind}"),
    };
    if error.is_permanent() && !code.is_some_and(is_authentication_reply) {
        SendFailure::permanent(reason)
    } else {
        SendFailure::temporary(reason)
    }
}

/// 5xx replies about the portal's own login (530, 534, 535, 538) are fixed by the operator, not
/// by the recipient, so they are retried like 4xx replies; every other 5xx is permanent.
fn is_authentication_reply(code: u16) -> bool {
    matches!(code, 530 | 534 | 535 | 538)
}
