//! The MSH header: who sent what to whom, which message, which version.

use chrono::{FixedOffset, Offset, Utc};

use super::types::Hd;
use crate::datetime::Hl7Time;
use crate::parse::{Message, parse_first_segment};

/// MSH fields the receiver routes and acknowledges by. Every field is optional here so an
/// ACK can always be built, even for a message with a broken header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    /// MSH-3; HD.2/HD.3 may carry an OID or CLIA number.
    pub sending_application: Option<Hd>,
    /// MSH-4; a lab's CLIA number usually comes as `Name^05D2101234^CLIA`.
    pub sending_facility: Option<Hd>,
    /// MSH-5.
    pub receiving_application: Option<Hd>,
    /// MSH-6.
    pub receiving_facility: Option<Hd>,
    /// MSH-7.
    pub sent_at: Option<Hl7Time>,
    /// MSH-9.1, e.g. ORU.
    pub message_type: Option<String>,
    /// MSH-9.2, e.g. R01.
    pub trigger: Option<String>,
    /// MSH-9.3, e.g. ORU_R01 (absent before v2.3.1).
    pub structure: Option<String>,
    /// MSH-10.
    pub control_id: Option<String>,
    /// MSH-11.1: P production, T training, D debugging.
    pub processing_id: Option<String>,
    /// MSH-12.1, e.g. 2.5.1.
    pub version: Option<String>,
    /// MSH-18, first repetition.
    pub charset: Option<String>,
}

impl Header {
    pub fn read(message: &Message) -> Self {
        let msh = message.msh();
        let text = |n: usize, c: usize| msh.field(n).component(c).text().map(String::from);
        Self {
            sending_application: Hd::from_field(msh.field(3).repetition(0)),
            sending_facility: Hd::from_field(msh.field(4).repetition(0)),
            receiving_application: Hd::from_field(msh.field(5).repetition(0)),
            receiving_facility: Hd::from_field(msh.field(6).repetition(0)),
            sent_at: msh.field(7).text().and_then(|t| Hl7Time::parse(&t).ok()),
            message_type: text(9, 1),
            trigger: text(9, 2),
            structure: text(9, 3),
            control_id: text(10, 1),
            processing_id: text(11, 1),
            version: text(12, 1),
            charset: text(18, 1),
        }
    }

    /// The header of a message that did not parse as a whole (a bad later segment, an
    /// oversized frame whose start is all we kept): only the first segment is read.
    pub fn peek(bytes: &[u8]) -> Option<Self> {
        parse_first_segment(bytes).ok().map(|m| Self::read(&m))
    }

    /// The offset to read times without their own offset with: MSH-7's, else UTC.
    pub fn default_offset(&self) -> FixedOffset {
        self.sent_at
            .and_then(|t| t.offset)
            .unwrap_or_else(|| Utc.fix())
    }

    /// `ORU^R01` style, for logs.
    pub fn kind(&self) -> String {
        format!(
            "{}^{}",
            self.message_type.as_deref().unwrap_or(""),
            self.trigger.as_deref().unwrap_or("")
        )
    }
}
