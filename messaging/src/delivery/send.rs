//! Sends one claimed notification over its channel and says what happened.

use portal_entities::{NotificationChannel, notification};
use serde_json::json;

use super::contact::Contact;
use super::smtp::build_email;
use super::{Channels, EmailChannel, Message, SendFailure, Template, TextChannel};

/// What became of one delivery attempt.
#[derive(Debug)]
pub enum Outcome {
    Sent,
    Failed(SendFailure),
    /// Nowhere to send it; the reason is stored in `last_error`.
    Skipped(&'static str),
}

pub async fn send(
    channels: &Channels,
    row: &notification::Model,
    template: Template,
    contact: &Contact,
) -> Outcome {
    if contact.addresses.is_empty() {
        return Outcome::Skipped(match row.channel {
            NotificationChannel::Email => "patient has no email address",
            NotificationChannel::Sms => "patient has no phone number",
            NotificationChannel::Push => "patient has no active push token",
        });
    }
    let link = match template {
        Template::ResultLink => match row
            .params
            .as_ref()
            .and_then(|p| p.get("link"))
            .and_then(|l| l.as_str())
        {
            Some(link) => link,
            None => return Outcome::Skipped("result link no longer available"),
        },
        _ => channels.portal_url.as_str(),
    };
    let message = Message::render(template, contact.language, link);
    let result = match row.channel {
        NotificationChannel::Email => {
            return email(channels, row, &contact.addresses[0], &message).await;
        }
        NotificationChannel::Sms => sms(channels, row, &contact.addresses[0], &message).await,
        NotificationChannel::Push => push(channels, row, &contact.addresses, &message).await,
    };
    match result {
        Ok(()) => Outcome::Sent,
        Err(failure) => Outcome::Failed(failure),
    }
}

async fn email(
    channels: &Channels,
    row: &notification::Model,
    to: &str,
    message: &Message,
) -> Outcome {
    let Some(email) = build_email(&channels.sender, to, message) else {
        return Outcome::Skipped("patient's email address is not valid");
    };
    let result = match &channels.email {
        EmailChannel::Smtp(smtp) => smtp.send(email).await,
        EmailChannel::Mailbox => {
            channels
                .mailbox
                .write_email(row.id, &email.formatted())
                .await
        }
    };
    match result {
        Ok(()) => Outcome::Sent,
        Err(failure) => Outcome::Failed(failure),
    }
}

async fn sms(
    channels: &Channels,
    row: &notification::Model,
    to: &str,
    message: &Message,
) -> Result<(), SendFailure> {
    let payload = json!({ "to": to, "body": message.short });
    match &channels.sms {
        TextChannel::Http(provider) => provider.post(&payload).await,
        TextChannel::Mailbox => {
            channels
                .mailbox
                .write_json(row.id, 0, "sms", &payload)
                .await
        }
    }
}

/// Push is best effort per device: sent when at least one device's token was accepted, so a
/// retry does not repeat the message on devices that already have it. The failure is
/// permanent only when every device was refused for good.
async fn push(
    channels: &Channels,
    row: &notification::Model,
    tokens: &[String],
    message: &Message,
) -> Result<(), SendFailure> {
    let mut last_failure = None;
    let mut all_permanent = true;
    let mut delivered = 0usize;
    for (index, token) in tokens.iter().enumerate() {
        let payload = json!({ "token": token, "title": message.subject, "body": message.short });
        let result = match &channels.push {
            TextChannel::Http(provider) => provider.post(&payload).await,
            TextChannel::Mailbox => {
                channels
                    .mailbox
                    .write_json(row.id, index, "push", &payload)
                    .await
            }
        };
        match result {
            Ok(()) => delivered += 1,
            Err(failure) => {
                all_permanent &= failure.is_permanent();
                last_failure = Some(failure);
            }
        }
    }
    match last_failure {
        Some(failure) if delivered == 0 && !all_permanent => {
            Err(SendFailure::temporary(failure.reason()))
        }
        Some(failure) if delivered == 0 => Err(failure),
        Some(failure) => {
            tracing::warn!(notification.id = %row.id, devices.failed = tokens.len() - delivered, error = %failure, "push reached only some devices");
            Ok(())
        }
        None => Ok(()),
    }
}
