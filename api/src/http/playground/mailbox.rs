//! `GET /playground/mailbox` (development, mailbox folder only): the newest messages the
//! notification worker wrote to the local mailbox folder, for the playground's panel. The
//! messages carry no result values by design; this exists only where the folder does.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::state::AppState;

/// How many messages the panel shows.
const NEWEST: usize = 10;

#[derive(Serialize)]
pub struct MailboxMessage {
    kind: &'static str,
    to: String,
    subject: String,
    text: String,
}

pub async fn messages(State(state): State<AppState>) -> Response {
    if state.dev.is_none() || state.config.notify.smtp_url.is_some() {
        return StatusCode::NOT_FOUND.into_response();
    }
    let dir = state.config.notify.mailbox_dir.clone();
    let listed = tokio::task::spawn_blocking(move || newest(&dir)).await;
    Json(listed.unwrap_or_default()).into_response()
}

fn newest(dir: &std::path::Path) -> Vec<MailboxMessage> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<(std::time::SystemTime, std::path::PathBuf)> = entries
        .filter_map(Result::ok)
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    files.sort_by_key(|(modified, _)| std::cmp::Reverse(*modified));
    files
        .into_iter()
        .take(NEWEST)
        .filter_map(|(_, path)| read(&path))
        .collect()
}

fn read(path: &std::path::Path) -> Option<MailboxMessage> {
    let text = std::fs::read_to_string(path).ok()?;
    let name = path.file_name()?.to_string_lossy();
    if name.ends_with(".eml") {
        return Some(email(&text));
    }
    let kind = if name.ends_with(".sms.json") {
        "SMS"
    } else if name.ends_with(".push.json") {
        "push"
    } else {
        return None;
    };
    let payload: serde_json::Value = serde_json::from_str(&text).ok()?;
    let field = |key: &str| payload[key].as_str().unwrap_or_default().to_owned();
    Some(MailboxMessage {
        kind,
        to: if kind == "SMS" {
            field("to")
        } else {
            "a device".to_owned()
        },
        subject: field("title"),
        text: field("body"),
    })
}

/// The `To` and `Subject` headers and the first line of the body of a plain-text email.
fn email(text: &str) -> MailboxMessage {
    let (head, body) = text
        .split_once("\r\n\r\n")
        .or_else(|| text.split_once("\n\n"))
        .unwrap_or((text, ""));
    let header = |name: &str| {
        head.lines()
            .find_map(|line| {
                let (key, value) = line.split_once(':')?;
                key.eq_ignore_ascii_case(name)
                    .then(|| value.trim().to_owned())
            })
            .unwrap_or_default()
    };
    MailboxMessage {
        kind: "email",
        to: header("To"),
        subject: header("Subject"),
        text: body
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or_default()
            .trim()
            .to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_email_shows_its_recipient_subject_and_first_line() {
        let eml = "From: Portal <no-reply@portal.local>\r\nTo: alice@example.org\r\nSubject: A new result is ready\r\n\r\nHello,\r\n\r\nA new result is ready in your portal.\r\n";
        let message = email(eml);
        assert_eq!(
            (
                message.to.as_str(),
                message.subject.as_str(),
                message.text.as_str()
            ),
            ("alice@example.org", "A new result is ready", "Hello,")
        );
    }
}
