//! What applying a message came to, and how service errors become ERR segments: a content
//! error is AE (the sender must fix it), a failure here is AR (the sender may resend).

use portal_core::{ErrorCode as ServiceCode, ServiceError};
use portal_entities::Hl7MessageStatus;
use portal_hl7::{AckCode, ErrorCode, Hl7Error, Issue, Location};

/// A message applied: the warnings its ACK carries, whether anything was written (to keep),
/// and the problems of its refused groups (AE with one ERR each: nothing is kept, unless the
/// sender accepts valid groups and `changed` says the valid ones were stored).
#[derive(Debug, Default)]
pub struct Applied {
    pub warnings: Vec<Issue>,
    pub changed: bool,
    pub refused: Vec<Issue>,
}

/// Why a message was not applied.
#[derive(Debug)]
pub struct Failure {
    pub kind: Kind,
    pub issue: Issue,
    /// A patient match for staff, written after the message's transaction is rolled back
    /// (the refused message keeps nothing else, but the match queue must keep this).
    pub queued_match: Option<Box<QueuedMatch>>,
}

/// An unknown identifier whose name and birth date match a patient: what the staff
/// matching queue receives once the refused message's transaction is undone.
#[derive(Debug)]
pub struct QueuedMatch {
    pub unmatched: portal_services::patients::matching::Unmatched,
    pub candidate: portal_entities::patient::Model,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// AE: the content was refused (unknown patient or test, a bad value).
    Content,
    /// AR: the message itself cannot be processed (unparseable, unsupported).
    Message,
    /// AR: a failure here (database, commit); the same message may succeed later.
    System,
}

impl Kind {
    pub fn ack_code(self) -> AckCode {
        match self {
            Self::Content => AckCode::Error,
            Self::Message | Self::System => AckCode::Reject,
        }
    }

    pub fn status(self) -> Hl7MessageStatus {
        match self {
            Self::Content => Hl7MessageStatus::Dead,
            Self::Message => Hl7MessageStatus::Rejected,
            Self::System => Hl7MessageStatus::Error,
        }
    }
}

impl Failure {
    pub fn content(code: ErrorCode, location: Location, message: impl Into<String>) -> Self {
        Self {
            kind: Kind::Content,
            issue: Issue::error(code, message).at(location),
            queued_match: None,
        }
    }

    /// The first of the refused groups' problems, as the message's failure; `None` when no
    /// group was refused.
    pub fn first_refused(refused: &[Issue]) -> Option<Self> {
        refused.first().map(|issue| Self {
            kind: Kind::Content,
            issue: issue.clone(),
            queued_match: None,
        })
    }

    pub fn system() -> Self {
        Self {
            kind: Kind::System,
            issue: Issue::error(
                ErrorCode::InternalError,
                "the receiver could not process the message; resend later",
            ),
            queued_match: None,
        }
    }

    /// A parse or mapping error of `portal-hl7`: AE for content, AR for the rest.
    pub fn from_hl7(error: &Hl7Error) -> Self {
        let kind = match error {
            Hl7Error::Content { .. } => Kind::Content,
            Hl7Error::Processing(_) | Hl7Error::Io(_) => Kind::System,
            _ => Kind::Message,
        };
        Self {
            kind,
            issue: error.issue(),
            queued_match: None,
        }
    }

    /// A service error, placed in the message by `locate` (the service names its input
    /// field, the sender needs the HL7 field). Internal detail is logged, never sent.
    pub fn from_service(error: ServiceError, locate: impl Fn(&str) -> Location) -> Self {
        match error {
            ServiceError::BadUserInput { field, message } => {
                Self::content(input_code(&message), locate(&field), in_hl7_terms(&message))
            }
            ServiceError::NotFound(what) => Self::content(
                ErrorCode::UnknownKeyIdentifier,
                locate(""),
                format!("{what} not found"),
            ),
            ServiceError::Expired(message) => {
                Self::content(ErrorCode::UnknownKeyIdentifier, locate(""), message)
            }
            ServiceError::Conflict(message) => Self::content(
                ErrorCode::DuplicateKeyIdentifier,
                locate(""),
                in_hl7_terms(&message),
            ),
            other => {
                // ServiceError's Display carries no SQL or values: only the code and a phrase.
                tracing::warn!(code = %other.code(), error = %other, "hl7.apply failed in a service");
                if matches!(
                    other.code(),
                    ServiceCode::Forbidden | ServiceCode::Unauthenticated
                ) {
                    tracing::error!("hl7: the interface's viewer may not write: check its roles");
                }
                Self::system()
            }
        }
    }

    pub fn summary(&self) -> String {
        self.issue.message.clone()
    }
}

/// What the services advise in GraphQL terms, said in HL7 terms (an ACK names no mutation).
const HL7_TERMS: [(&str, &str); 3] = [
    (
        "use correctTestResult or markTestResultEnteredInError",
        "send a correction (OBR-25 C) or a withdrawal (OBX-11 W)",
    ),
    ("with addTestResult", "as a final result (OBR-25 F)"),
    (
        "status must be PRELIMINARY or FINAL",
        "OBR-25 must be P, F, C or X",
    ),
];

fn in_hl7_terms(message: &str) -> String {
    HL7_TERMS
        .iter()
        .fold(message.to_owned(), |text, (graphql, hl7)| {
            text.replace(graphql, hl7)
        })
}

/// ERR-3 for a refused input: unknown keys are 204, missing values 101, the rest 102.
fn input_code(message: &str) -> ErrorCode {
    if message.starts_with("unknown") || message.contains("is not an analyte") {
        ErrorCode::UnknownKeyIdentifier
    } else if message.contains("needs") || message.contains("required") {
        ErrorCode::RequiredFieldMissing
    } else {
        ErrorCode::DataType
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn here(_: &str) -> Location {
        Location::field("OBR", 1, 4)
    }

    #[test]
    fn refused_input_is_ae_naming_the_field_and_failures_here_are_ar_without_detail() {
        let unknown = Failure::from_service(
            ServiceError::bad_input("input.order.testCode", "unknown test code \"9\""),
            here,
        );
        assert_eq!(
            (unknown.kind, unknown.issue.code),
            (Kind::Content, ErrorCode::UnknownKeyIdentifier)
        );
        assert_eq!(unknown.kind.ack_code(), AckCode::Error);
        assert_eq!(unknown.kind.status(), Hl7MessageStatus::Dead);
        assert_eq!(
            unknown.issue.location.map(|l| l.to_string()).as_deref(),
            Some("OBR^1^4")
        );
        let missing = Failure::from_service(
            ServiceError::bad_input(
                "input.observations",
                "a laboratory result needs at least one observation",
            ),
            here,
        );
        assert_eq!(missing.issue.code, ErrorCode::RequiredFieldMissing);
        let conflict = Failure::from_service(ServiceError::Conflict("replaced".into()), here);
        assert_eq!(conflict.issue.code, ErrorCode::DuplicateKeyIdentifier);
        let internal = Failure::from_service(ServiceError::internal("SELECT secret"), here);
        assert_eq!(
            (internal.kind, internal.issue.code),
            (Kind::System, ErrorCode::InternalError)
        );
        assert_eq!(internal.kind.ack_code(), AckCode::Reject);
        assert_eq!(internal.kind.status(), Hl7MessageStatus::Error);
        assert!(!internal.issue.message.contains("SELECT"));
    }

    #[test]
    fn service_advice_is_given_in_hl7_terms() {
        let released = Failure::from_service(
            ServiceError::Conflict(
                "the order already has a released result; use correctTestResult or markTestResultEnteredInError".into(),
            ),
            here,
        );
        assert_eq!(
            released.issue.message,
            "the order already has a released result; send a correction (OBR-25 C) or a withdrawal (OBX-11 W)"
        );
        assert!(!released.issue.message.contains("TestResult"));
    }

    #[test]
    fn parse_errors_keep_the_parsers_answer() {
        let unparseable = Failure::from_hl7(&Hl7Error::Unparseable("no MSH".into()));
        assert_eq!(unparseable.kind, Kind::Message);
        assert_eq!(unparseable.kind.status(), Hl7MessageStatus::Rejected);
    }
}
