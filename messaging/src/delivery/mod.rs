//! Delivery of queued notifications: PHI-free messages, the channels that carry them (SMTP,
//! HTTP providers, or the local mailbox folder) and the worker that retries and dead-letters.

mod contact;
mod http_provider;
mod mailbox;
mod message;
mod recheck;
mod send;
mod smtp;
mod worker;

use std::path::PathBuf;

pub use http_provider::HttpProvider;
pub use mailbox::MailboxDir;
pub use message::{Language, Message, Template};
pub use smtp::{SmtpSender, build_email, parse_sender};
pub use worker::{
    DeliveryCounts, Notifications, RetryPolicy, deliver_due, replay_dead, run_worker,
};

/// Why one send failed. The text is stored in `notifications.last_error`, so it names the
/// kind of failure (status code, timeout) and never an address or a provider's response body.
/// A permanent failure (the recipient or message was refused for good) is not retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendFailure {
    reason: String,
    permanent: bool,
}

impl SendFailure {
    /// A failure that may pass (outage, timeout, rate limit): retried with backoff.
    pub fn temporary(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            permanent: false,
        }
    }

    /// A refusal that a retry would only repeat (unknown mailbox, invalid number or token).
    pub fn permanent(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            permanent: true,
        }
    }

    pub fn is_permanent(&self) -> bool {
        self.permanent
    }

    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl std::fmt::Display for SendFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

/// Where emails go: a real SMTP server, or `.eml` files in the mailbox folder.
#[derive(Clone)]
pub enum EmailChannel {
    Smtp(SmtpSender),
    Mailbox,
}

/// Where SMS or push messages go: an HTTP provider, or `.json` files in the mailbox folder.
#[derive(Clone)]
pub enum TextChannel {
    Http(HttpProvider),
    Mailbox,
}

/// Everything the worker needs to turn a notification row into a sent message.
#[derive(Clone)]
pub struct Channels {
    pub email: EmailChannel,
    pub sms: TextChannel,
    pub push: TextChannel,
    pub mailbox: MailboxDir,
    /// `From:` of every email, e.g. `Patient Portal <no-reply@portal.local>`.
    pub sender: lettre::message::Mailbox,
    /// The portal's public address, the only link a message carries.
    pub portal_url: String,
}

impl Channels {
    /// Channels that write everything to `mailbox_dir` (the embedded default).
    pub fn local(
        mailbox_dir: PathBuf,
        sender: lettre::message::Mailbox,
        portal_url: String,
    ) -> Self {
        Self {
            email: EmailChannel::Mailbox,
            sms: TextChannel::Mailbox,
            push: TextChannel::Mailbox,
            mailbox: MailboxDir::new(mailbox_dir),
            sender,
            portal_url,
        }
    }
}
