//! Original-mode acknowledgements: MSH (sender and receiver swapped) + MSA + ERR*.
//!
//! AA: accepted (may carry ERR with severity W). AE: the content is wrong, do not resend
//! unchanged. AR: unparseable, unsupported or a failure here, the sender may resend.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, FixedOffset, Utc};

pub use crate::codes::{AckCode, ErrorCode, Issue, Severity};
use crate::messages::{Hd, Header};
use crate::parse::{Delimiters, escape};

/// A built ACK, ready to be framed and sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    pub code: AckCode,
    /// MSH-10 of the ACK itself.
    pub control_id: String,
    /// The ACK in ER7, segments ended by `\r`.
    pub text: String,
}

impl Ack {
    /// AA for the message with this header.
    pub fn accept(header: &Header) -> Self {
        AckBuilder::new(header, AckCode::Accept).build()
    }

    /// AE or AR, with one ERR, for an error about the message with this header.
    pub fn for_error(header: &Header, error: &crate::Hl7Error) -> Self {
        AckBuilder::new(header, error.ack_code())
            .issue(error.issue())
            .build()
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.text.as_bytes()
    }
}

/// Builds an ACK answering the message whose header is given.
#[derive(Debug, Clone)]
pub struct AckBuilder<'a> {
    header: &'a Header,
    code: AckCode,
    text: Option<String>,
    issues: Vec<Issue>,
    control_id: Option<String>,
    at: Option<DateTime<FixedOffset>>,
}

impl<'a> AckBuilder<'a> {
    pub fn new(header: &'a Header, code: AckCode) -> Self {
        Self {
            header,
            code,
            text: None,
            issues: Vec::new(),
            control_id: None,
            at: None,
        }
    }

    /// MSA-3, a short text for the sender (no patient data).
    pub fn text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }

    pub fn issue(mut self, issue: Issue) -> Self {
        self.issues.push(issue);
        self
    }

    /// MSH-10 of the ACK; generated when not given.
    pub fn control_id(mut self, id: impl Into<String>) -> Self {
        self.control_id = Some(id.into());
        self
    }

    /// MSH-7 of the ACK; now when not given.
    pub fn at(mut self, at: DateTime<FixedOffset>) -> Self {
        self.at = Some(at);
        self
    }

    pub fn build(self) -> Ack {
        let d = Delimiters::default();
        let h = self.header;
        let control_id = self.control_id.unwrap_or_else(new_control_id);
        let at = self.at.unwrap_or_else(|| Utc::now().fixed_offset());
        let hd = |v: &Option<Hd>| v.as_ref().map(|hd| hd.encode(&d)).unwrap_or_default();
        let esc = |v: &Option<String>| v.as_deref().map(|s| escape(s, &d)).unwrap_or_default();
        let message_type = match &h.trigger {
            Some(trigger) => format!("ACK^{}^ACK", escape(trigger, &d)),
            None => "ACK".to_owned(),
        };
        let mut out = format!(
            "MSH|^~\\&|{}|{}|{}|{}|{}||{}|{}|{}|{}\r",
            hd(&h.receiving_application),
            hd(&h.receiving_facility),
            hd(&h.sending_application),
            hd(&h.sending_facility),
            at.format("%Y%m%d%H%M%S%z"),
            message_type,
            escape(&control_id, &d),
            h.processing_id
                .as_deref()
                .map(|p| escape(p, &d))
                .unwrap_or_else(|| "P".to_owned()),
            h.version
                .as_deref()
                .map(|v| escape(v, &d))
                .unwrap_or_else(|| "2.5.1".to_owned()),
        );
        out.push_str(&format!(
            "MSA|{}|{}|{}\r",
            self.code,
            esc(&h.control_id),
            esc(&self.text)
        ));
        for issue in &self.issues {
            out.push_str(&err_segment(issue, &d));
        }
        Ack {
            code: self.code,
            control_id,
            text: out,
        }
    }
}

fn err_segment(issue: &Issue, d: &Delimiters) -> String {
    let location = issue
        .location
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    format!(
        "ERR||{}|{}^{}^HL70357|{}||||{}\r",
        location,
        issue.code.code(),
        issue.code.text(),
        issue.severity.as_str(),
        escape(&issue.message, d)
    )
}

/// A control id unique within this process and, through the timestamp, across restarts;
/// 20 characters, the v2.5 length of MSH-10.
fn new_control_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed) % 1_000_000;
    format!("{}{n:06}", Utc::now().format("%Y%m%d%H%M%S"))
}

#[cfg(test)]
mod tests;
