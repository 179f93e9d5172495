//! The crate's one error type, and which ACK each error earns.

use crate::codes::{AckCode, ErrorCode, Issue, Location, Severity};

/// Everything that can go wrong from bytes on the wire to typed structs.
///
/// Messages never carry field values: they name the location and the rule (no PHI).
#[derive(Debug, thiserror::Error)]
pub enum Hl7Error {
    /// Not an HL7 v2 message at all (no MSH, bad encoding characters, bad segment id).
    #[error("unparseable message: {0}")]
    Unparseable(String),
    /// A field breaks a rule of the message; resending it unchanged will not help (AE).
    #[error("{code} at {location}: {message}")]
    Content {
        location: Location,
        code: ErrorCode,
        message: String,
    },
    /// Well-formed but not something this receiver processes: message type, trigger,
    /// version, character set (AR).
    #[error("{code} at {location}: {message}")]
    Unsupported {
        location: Location,
        code: ErrorCode,
        message: String,
    },
    /// An MLLP frame larger than the configured limit.
    #[error("frame of at least {size} bytes exceeds the limit of {limit} bytes")]
    FrameTooLarge { size: usize, limit: usize },
    /// A limit of this receiver on the shape of a message (segments, repetitions), which
    /// bounds the memory one message can take (AR).
    #[error("limit exceeded: {0}")]
    LimitExceeded(String),
    /// The application could not process the message (AR: the sender may resend).
    #[error("processing failed: {0}")]
    Processing(String),
    /// The listener's TLS certificate, key or client CA could not be used.
    #[error("tls: {0}")]
    Tls(String),
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

impl Hl7Error {
    pub(crate) fn content(location: Location, code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Content {
            location,
            code,
            message: message.into(),
        }
    }

    pub(crate) fn unsupported(
        location: Location,
        code: ErrorCode,
        message: impl Into<String>,
    ) -> Self {
        Self::Unsupported {
            location,
            code,
            message: message.into(),
        }
    }

    /// AE for content errors, AR for everything else (the original-mode rule).
    pub fn ack_code(&self) -> AckCode {
        match self {
            Self::Content { .. } => AckCode::Error,
            _ => AckCode::Reject,
        }
    }

    /// The ERR segment that explains this error to the sender.
    pub fn issue(&self) -> Issue {
        match self {
            Self::Content {
                location,
                code,
                message,
            }
            | Self::Unsupported {
                location,
                code,
                message,
            } => Issue::error(*code, message.clone()).at(location.clone()),
            Self::Unparseable(reason) => Issue::error(ErrorCode::SegmentSequence, reason.clone()),
            Self::FrameTooLarge { limit, .. } => Issue::error(
                ErrorCode::InternalError,
                format!("message exceeds the {limit}-byte limit"),
            ),
            Self::LimitExceeded(what) => Issue::error(
                ErrorCode::InternalError,
                format!("{what}, a limit of this receiver"),
            ),
            Self::Processing(_) | Self::Io(_) | Self::Tls(_) => Issue::error(
                ErrorCode::InternalError,
                "the receiver could not process the message; resend later",
            ),
        }
        .with_severity(Severity::Error)
    }
}
