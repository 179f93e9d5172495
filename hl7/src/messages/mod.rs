//! Typed views of the messages the portal accepts: ORU^R01 results, ADT registrations and
//! updates, SIU appointments. Mapping only: no database, no policy.

mod adt;
mod msh;
mod obx;
mod oru;
mod pid;
mod provenance;
mod rules;
mod siu;
mod types;

pub use adt::{AdtEvent, AdtMessage, Coverage, Demographics, Sex};
pub use msh::Header;
pub use obx::{AbnormalFlag, Observation, ObservationStatus, ObservationValue, StructuredNumeric};
pub use oru::{OrderGroup, OruR01, ResultStatus};
pub use pid::PatientIdentity;
pub use provenance::{Device, PerformingOrganization, Specimen};
pub use siu::{Appointment, AppointmentPlace, SiuEvent};
pub use types::{Address, Clinician, Coded, Cx, Ei, Hd, PersonName, Telecom};

use crate::codes::ErrorCode;
use crate::error::Hl7Error;
use crate::parse::{Location, Message};

/// HL7 versions this receiver maps (MSH-12).
pub const SUPPORTED_VERSIONS: [&str; 5] = ["2.3", "2.3.1", "2.4", "2.5", "2.5.1"];

/// A message the portal understands.
#[derive(Debug, Clone, PartialEq)]
pub enum Hl7Message {
    Oru(Box<OruR01>),
    Adt(Box<AdtMessage>),
    Siu(Box<Appointment>),
}

/// Maps a parsed message by MSH-9 and MSH-12. Unsupported types, triggers and versions
/// are [`Hl7Error::Unsupported`] (AR); content errors are [`Hl7Error::Content`] (AE).
pub fn interpret(message: &Message) -> Result<Hl7Message, Hl7Error> {
    let header = Header::read(message);
    check_version(&header)?;
    let trigger = header.trigger.as_deref().unwrap_or_default();
    match header.message_type.as_deref() {
        Some("ORU") if trigger == "R01" => {
            OruR01::from_message(message, header).map(|m| Hl7Message::Oru(Box::new(m)))
        }
        Some("ADT") => {
            AdtMessage::from_message(message, header).map(|m| Hl7Message::Adt(Box::new(m)))
        }
        Some("SIU") => {
            Appointment::from_message(message, header).map(|m| Hl7Message::Siu(Box::new(m)))
        }
        Some("ORU") => Err(unsupported_event()),
        Some(_) => Err(Hl7Error::unsupported(
            msh9(),
            ErrorCode::UnsupportedMessageType,
            "message type not accepted (ORU, ADT, SIU)",
        )),
        None => Err(Hl7Error::content(
            msh9(),
            ErrorCode::RequiredFieldMissing,
            "MSH-9 message type missing",
        )),
    }
}

fn check_version(header: &Header) -> Result<(), Hl7Error> {
    match header.version.as_deref() {
        Some(v) if SUPPORTED_VERSIONS.contains(&v) => Ok(()),
        _ => Err(Hl7Error::unsupported(
            Location::field("MSH", 1, 12),
            ErrorCode::UnsupportedVersionId,
            "HL7 version not accepted (2.3 to 2.5.1)",
        )),
    }
}

fn msh9() -> Location {
    Location::field("MSH", 1, 9)
}

pub(crate) fn unsupported_event() -> Hl7Error {
    Hl7Error::unsupported(
        msh9().with_component(2),
        ErrorCode::UnsupportedEventCode,
        "trigger event not accepted for this message type",
    )
}

#[cfg(test)]
mod tests;
