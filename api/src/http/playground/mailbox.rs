//! `GET /playground/mailbox` (embedded default only, mailbox folder only): the newest
//! messages the notification worker wrote to the local mailbox folder, each whole — channel,
//! recipient, subject, body, the link it carries, when it was written — newest first, for
//! the playground's panel. The messages carry no result values by design; the route does not
//! exist in production (see `router`) nor when email goes to a real SMTP server.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::json;

use super::tokens::DEVELOPMENT_ONLY;
use crate::state::AppState;

/// How many messages the panel shows.
const NEWEST: usize = 20;

#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct MailboxMessage {
    /// `email`, `sms` or `push`.
    channel: &'static str,
    /// The address, the phone number, or "a registered device" for push.
    to: String,
    /// The email's subject or the push notification's title; SMS have none.
    subject: Option<String>,
    /// The whole text, as the recipient reads it.
    body: String,
    /// The first link in the body (the portal's sign-in link).
    link: Option<String>,
    /// When the worker wrote it (RFC 3339).
    sent_at: String,
}

pub async fn messages(State(state): State<AppState>) -> Response {
    if state.dev.is_none() || state.config.notify.smtp_url.is_some() {
        return StatusCode::NOT_FOUND.into_response();
    }
    let dir = state.config.notify.mailbox_dir.clone();
    let listed = tokio::task::spawn_blocking(move || newest(&dir)).await;
    let body = json!({
        "development": DEVELOPMENT_ONLY,
        "folder": state.config.notify.mailbox_dir.display().to_string(),
        "messages": listed.unwrap_or_default(),
    });
    let mut response = Json(body).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The newest messages, newest first; files written in the same instant by name, descending,
/// so that the order never shuffles between two reads.
fn newest(dir: &Path) -> Vec<MailboxMessage> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<(SystemTime, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    files.sort_by(|a, b| b.cmp(a));
    files
        .into_iter()
        .filter_map(|(modified, path)| read(&path, modified))
        .take(NEWEST)
        .collect()
}

fn read(path: &Path, modified: SystemTime) -> Option<MailboxMessage> {
    let text = std::fs::read_to_string(path).ok()?;
    let name = path.file_name()?.to_string_lossy();
    let sent_at = DateTime::<Utc>::from(modified).to_rfc3339_opts(SecondsFormat::Millis, true);
    if name.ends_with(".eml") {
        return Some(email(&text, sent_at));
    }
    let channel = if name.ends_with(".sms.json") {
        "sms"
    } else if name.ends_with(".push.json") {
        "push"
    } else {
        return None;
    };
    let payload: serde_json::Value = serde_json::from_str(&text).ok()?;
    let field = |key: &str| payload[key].as_str().map(str::to_owned);
    let body = field("body").unwrap_or_default();
    Some(MailboxMessage {
        channel,
        to: match channel {
            "sms" => field("to").unwrap_or_default(),
            _ => "a registered device".to_owned(),
        },
        subject: if channel == "push" {
            field("title")
        } else {
            None
        },
        link: link(&body),
        body,
        sent_at,
    })
}

/// A plain-text email as written by the worker: its `To` and `Subject` headers and its
/// whole body (decoded from base64 or quoted-printable when the mailer encoded it).
fn email(text: &str, sent_at: String) -> MailboxMessage {
    let (head, body) = text
        .split_once("\r\n\r\n")
        .or_else(|| text.split_once("\n\n"))
        .unwrap_or((text, ""));
    let header = |name: &str| {
        head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    };
    let body = match header("Content-Transfer-Encoding").as_deref() {
        Some(e) if e.eq_ignore_ascii_case("base64") => {
            let packed: String = body.split_whitespace().collect();
            base64::engine::general_purpose::STANDARD
                .decode(packed)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .unwrap_or_default()
        }
        Some(e) if e.eq_ignore_ascii_case("quoted-printable") => quoted_printable(body),
        _ => body.to_owned(),
    };
    let body = body.replace("\r\n", "\n").trim_end().to_owned();
    MailboxMessage {
        channel: "email",
        to: header("To").unwrap_or_default(),
        subject: header("Subject"),
        link: link(&body),
        body,
        sent_at,
    }
}

/// Decodes quoted-printable text (RFC 2045 §6.7): `=XX` bytes and `=` soft line breaks.
fn quoted_printable(text: &str) -> String {
    let joined = text.replace("=\r\n", "").replace("=\n", "");
    let mut bytes = Vec::with_capacity(joined.len());
    let raw = joined.as_bytes();
    let mut i = 0;
    while i < raw.len() {
        let hex = raw
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (raw[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'=', Some(byte)) => {
                bytes.push(byte);
                i += 3;
            }
            (byte, _) => {
                bytes.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The first `http://` or `https://` link in `text`.
fn link(text: &str) -> Option<String> {
    text.split_whitespace()
        .find(|word| word.starts_with("http://") || word.starts_with("https://"))
        .map(|word| word.trim_end_matches(['.', ',', ')']).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SENT: &str = "2026-12-08T10:00:00.000Z";

    #[test]
    fn an_email_is_listed_whole_with_its_link() {
        let eml = "From: Portal <no-reply@portal.local>\r\nTo: alice@example.org\r\nSubject: A new result is ready\r\nContent-Transfer-Encoding: 7bit\r\n\r\nHello,\r\n\r\nA new result is ready in your portal.\r\nSign in to view it:\r\nhttp://127.0.0.1:8080/\r\n";
        let message = email(eml, SENT.into());
        assert_eq!(message.channel, "email");
        assert_eq!(message.to, "alice@example.org");
        assert_eq!(message.subject.as_deref(), Some("A new result is ready"));
        assert_eq!(
            message.body,
            "Hello,\n\nA new result is ready in your portal.\nSign in to view it:\nhttp://127.0.0.1:8080/"
        );
        assert_eq!(message.link.as_deref(), Some("http://127.0.0.1:8080/"));
    }

    #[test]
    fn encoded_email_bodies_are_decoded() {
        let qp = "To: a@b\r\nSubject: Hola\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nYa est=C3=A1 disponible =\r\nen el portal.\r\n";
        assert_eq!(
            email(qp, SENT.into()).body,
            "Ya está disponible en el portal."
        );
        let b64 = "To: a@b\r\nSubject: Hola\r\nContent-Transfer-Encoding: base64\r\n\r\nWWEgZXN0w6EgbGlzdG8=\r\n";
        assert_eq!(email(b64, SENT.into()).body, "Ya está listo");
    }

    #[test]
    fn sms_and_push_read_as_they_arrive_newest_first() {
        let dir = tempfile::tempdir().expect("dir");
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text);
        write(
            "a-0.sms.json",
            r#"{"to":"+15555550100","body":"A new result is ready. http://p/"}"#,
        )
        .expect("sms");
        write(
            "b-0.push.json",
            r#"{"token":"t","title":"New result","body":"A new result is ready. http://p/"}"#,
        )
        .expect("push");
        write(".c.eml.partial", "To: x").expect("partial");
        let listed = newest(dir.path());
        assert_eq!(listed.len(), 2, "{listed:?}");
        // Same modification time or not, the order is stable and newest (or later name) first.
        let second = newest(dir.path());
        assert_eq!(listed, second);
        let sms = listed.iter().find(|m| m.channel == "sms").expect("sms");
        assert_eq!(sms.subject, None);
        assert_eq!(sms.to, "+15555550100");
        assert_eq!(sms.body, "A new result is ready. http://p/");
        assert_eq!(sms.link.as_deref(), Some("http://p/"));
        let push = listed.iter().find(|m| m.channel == "push").expect("push");
        assert_eq!(push.subject.as_deref(), Some("New result"));
        assert_eq!(push.to, "a registered device");
    }
}
