//! The patient of a message, from PID: the MRN chosen among the PID-3 identifiers.

use super::types::{Cx, PersonName};
use crate::codes::ErrorCode;
use crate::error::Hl7Error;
use crate::parse::{Location, Message, Segment};

/// Who the message is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientIdentity {
    /// The medical record number (see [`PatientIdentity::from_pid`] for the rule).
    pub mrn: Cx,
    /// Every identifier of PID-3, in order.
    pub identifiers: Vec<Cx>,
    /// PID-5, first repetition.
    pub name: Option<PersonName>,
}

impl PatientIdentity {
    /// The MRN is the PID-3 repetition whose identifier type (CX.5) is `MR`; failing that,
    /// the first PID-3 repetition with an id; failing that PID-2 (the external id that
    /// v2.3 senders often fill instead). None of them: 101 at `PID^1^3`.
    pub fn from_pid(pid: Segment<'_>) -> Result<Self, Hl7Error> {
        let identifiers: Vec<Cx> = pid
            .field(3)
            .repetitions()
            .filter_map(Cx::from_repetition)
            .collect();
        let mrn = identifiers
            .iter()
            .find(|cx| cx.id_type.as_deref() == Some("MR"))
            .or_else(|| identifiers.first())
            .cloned()
            .or_else(|| Cx::from_repetition(pid.field(2).repetition(0)))
            .ok_or_else(|| {
                Hl7Error::content(
                    pid.location(3),
                    ErrorCode::RequiredFieldMissing,
                    "patient identifier (MRN) missing",
                )
            })?;
        Ok(Self {
            mrn,
            identifiers,
            name: PersonName::from_repetition(pid.field(5).repetition(0)),
        })
    }
}

/// The one PID of a message, or 100 when it is missing or repeated.
pub fn single_pid(message: &Message) -> Result<Segment<'_>, Hl7Error> {
    let mut pids = message.segments("PID");
    let pid = pids.next().ok_or_else(|| {
        Hl7Error::content(
            Location::segment("PID", 1),
            ErrorCode::SegmentSequence,
            "PID segment missing",
        )
    })?;
    if let Some(second) = pids.next() {
        return Err(Hl7Error::content(
            Location::segment("PID", second.sequence()),
            ErrorCode::SegmentSequence,
            "one patient per message is accepted",
        ));
    }
    Ok(pid)
}
