//! The vocabulary of acknowledgements and errors: ACK codes (MSA-1), HL7 table 0357 error
//! codes (ERR-3), severities (ERR-4), ERR-2 locations and the issues built from them. A
//! leaf: it imports nothing from this crate, so every other module may use it.

use std::fmt;

/// MSA-1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckCode {
    /// AA
    Accept,
    /// AE
    Error,
    /// AR
    Reject,
}

impl AckCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accept => "AA",
            Self::Error => "AE",
            Self::Reject => "AR",
        }
    }
}

impl fmt::Display for AckCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// ERR-3, HL7 table 0357 (message error condition codes, v2.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    SegmentSequence,
    RequiredFieldMissing,
    DataType,
    TableValueNotFound,
    UnsupportedMessageType,
    UnsupportedEventCode,
    UnsupportedProcessingId,
    UnsupportedVersionId,
    UnknownKeyIdentifier,
    DuplicateKeyIdentifier,
    RecordLocked,
    InternalError,
}

impl ErrorCode {
    pub fn code(self) -> u16 {
        match self {
            Self::SegmentSequence => 100,
            Self::RequiredFieldMissing => 101,
            Self::DataType => 102,
            Self::TableValueNotFound => 103,
            Self::UnsupportedMessageType => 200,
            Self::UnsupportedEventCode => 201,
            Self::UnsupportedProcessingId => 202,
            Self::UnsupportedVersionId => 203,
            Self::UnknownKeyIdentifier => 204,
            Self::DuplicateKeyIdentifier => 205,
            Self::RecordLocked => 206,
            Self::InternalError => 207,
        }
    }

    pub fn text(self) -> &'static str {
        match self {
            Self::SegmentSequence => "Segment sequence error",
            Self::RequiredFieldMissing => "Required field missing",
            Self::DataType => "Data type error",
            Self::TableValueNotFound => "Table value not found",
            Self::UnsupportedMessageType => "Unsupported message type",
            Self::UnsupportedEventCode => "Unsupported event code",
            Self::UnsupportedProcessingId => "Unsupported processing id",
            Self::UnsupportedVersionId => "Unsupported version id",
            Self::UnknownKeyIdentifier => "Unknown key identifier",
            Self::DuplicateKeyIdentifier => "Duplicate key identifier",
            Self::RecordLocked => "Application record locked",
            Self::InternalError => "Application internal error",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code(), self.text())
    }
}

/// ERR-4, HL7 table 0516.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
    Information,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "E",
            Self::Warning => "W",
            Self::Information => "I",
        }
    }
}

/// One ERR segment: where (ERR-2), what (ERR-3), how bad (ERR-4), and a message for the
/// sender's staff (ERR-8). The message must not contain patient data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub location: Option<Location>,
    pub code: ErrorCode,
    pub severity: Severity,
    pub message: String,
}

impl Issue {
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            location: None,
            code,
            severity: Severity::Error,
            message: message.into(),
        }
    }

    pub fn warning(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(code, message)
        }
    }

    pub fn at(self, location: Location) -> Self {
        Self {
            location: Some(location),
            ..self
        }
    }

    pub fn with_severity(self, severity: Severity) -> Self {
        Self { severity, ..self }
    }
}

/// Where in a message something is, printed like HL7 ERR-2 (ERL): `PID^1^3`, `OBX^2^5^1^1`.
///
/// Segment id, the segment's sequence among segments of that id (1-based), and optionally
/// field, repetition (1-based) and component. Printed with `^` like the ERL data type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub segment: String,
    pub sequence: usize,
    pub field: Option<usize>,
    pub repetition: Option<usize>,
    pub component: Option<usize>,
}

impl Location {
    /// The whole segment, e.g. a missing `PID`.
    pub fn segment(segment: &str, sequence: usize) -> Self {
        Self {
            segment: segment.to_owned(),
            sequence,
            field: None,
            repetition: None,
            component: None,
        }
    }

    /// A field of a segment, e.g. `PID^1^3`.
    pub fn field(segment: &str, sequence: usize, field: usize) -> Self {
        Self {
            field: Some(field),
            ..Self::segment(segment, sequence)
        }
    }

    /// Narrows to a component of the first repetition, e.g. `OBR^1^4^1^1`.
    pub fn with_component(self, component: usize) -> Self {
        Self {
            repetition: Some(self.repetition.unwrap_or(1)),
            component: Some(component),
            ..self
        }
    }

    /// Narrows to a repetition (1-based).
    pub fn with_repetition(self, repetition: usize) -> Self {
        Self {
            repetition: Some(repetition),
            ..self
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}^{}", self.segment, self.sequence)?;
        let Some(field) = self.field else {
            return Ok(());
        };
        write!(f, "^{field}")?;
        match (self.repetition, self.component) {
            (Some(r), Some(c)) => write!(f, "^{r}^{c}"),
            (Some(r), None) => write!(f, "^{r}"),
            (None, Some(c)) => write!(f, "^1^{c}"),
            (None, None) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_prints_like_err_2() {
        assert_eq!(Location::field("PID", 1, 3).to_string(), "PID^1^3");
        assert_eq!(
            Location::field("OBR", 2, 4).with_component(1).to_string(),
            "OBR^2^4^1^1"
        );
        assert_eq!(Location::segment("PID", 1).to_string(), "PID^1");
    }
}
