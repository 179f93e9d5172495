//! SIU^S12/S13/S14/S15/S26: an appointment identified by SCH-2, its time, reason,
//! location and patient.

use chrono::Duration;

use super::msh::Header;
use super::pid::PatientIdentity;
use super::rules::{required, text, time, time_in};
use super::types::{Clinician, Coded, Ei, Hd};
use super::unsupported_event;
use crate::codes::ErrorCode;
use crate::datetime::Hl7Time;
use crate::error::Hl7Error;
use crate::parse::{Message, Segment};

/// Which SIU trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SiuEvent {
    /// S12 new appointment booking.
    Book,
    /// S13 rescheduling.
    Reschedule,
    /// S14 modification.
    Modify,
    /// S15 cancellation.
    Cancel,
    /// S26 patient did not show up.
    NoShow,
}

impl SiuEvent {
    fn from_trigger(trigger: &str) -> Option<Self> {
        Some(match trigger {
            "S12" => Self::Book,
            "S13" => Self::Reschedule,
            "S14" => Self::Modify,
            "S15" => Self::Cancel,
            "S26" => Self::NoShow,
            _ => return None,
        })
    }

    /// Whether the message must say when the appointment is.
    fn needs_time(self) -> bool {
        matches!(self, Self::Book | Self::Reschedule | Self::Modify)
    }
}

/// AIL-3 (PL): where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppointmentPlace {
    pub point_of_care: Option<String>,
    pub room: Option<String>,
    /// PL.4, HD: the facility (namespace, and a CLIA number or OID in HD.2).
    pub facility: Option<Hd>,
    pub description: Option<String>,
}

/// An SIU message.
#[derive(Debug, Clone, PartialEq)]
pub struct Appointment {
    pub header: Header,
    pub event: SiuEvent,
    /// SCH-1 placer appointment id.
    pub placer_id: Option<Ei>,
    /// SCH-2 filler appointment id: the key the portal matches appointments by.
    pub filler_id: Ei,
    /// SCH-11.4 (TQ start), else AIS-4, else AIL-6.
    pub starts_at: Option<Hl7Time>,
    /// SCH-11.5 (TQ end), else start + duration.
    pub ends_at: Option<Hl7Time>,
    /// AIS-7/AIS-8, else SCH-9/SCH-10 (units minutes unless stated).
    pub duration: Option<Duration>,
    /// SCH-7 appointment reason.
    pub reason: Option<Coded>,
    /// SCH-8 appointment type (e.g. ROUTINE, FOLLOWUP).
    pub kind: Option<Coded>,
    /// AIS-3 the service booked.
    pub service: Option<Coded>,
    /// SCH-25 filler status code (Booked, Cancelled...).
    pub filler_status: Option<Coded>,
    /// AIL-3.
    pub place: Option<AppointmentPlace>,
    /// AIP-3.
    pub provider: Option<Clinician>,
    /// PID, when sent.
    pub patient: Option<PatientIdentity>,
}

impl Appointment {
    pub fn from_message(message: &Message, header: Header) -> Result<Self, Hl7Error> {
        let event = header
            .trigger
            .as_deref()
            .and_then(SiuEvent::from_trigger)
            .ok_or_else(unsupported_event)?;
        let sch = message.segment("SCH").ok_or_else(|| {
            Hl7Error::content(
                crate::parse::Location::segment("SCH", 1),
                ErrorCode::SegmentSequence,
                "SCH segment missing",
            )
        })?;
        let filler_id =
            Ei::from_repetition(required(sch, 2, "SCH-2 filler appointment id")?.repetition(0))
                .ok_or_else(|| {
                    Hl7Error::content(
                        sch.location(2),
                        ErrorCode::RequiredFieldMissing,
                        "SCH-2 filler appointment id missing",
                    )
                })?;
        let ais = message.segment("AIS");
        let ail = message.segment("AIL");
        let starts_at = first_time([
            time_in(sch, 11, 4, "SCH-11.4 start")?,
            opt_time(ais, 4, "AIS-4 start")?,
            opt_time(ail, 6, "AIL-6 start")?,
        ]);
        if event.needs_time() && starts_at.is_none() {
            return Err(Hl7Error::content(
                sch.location(11).with_component(4),
                ErrorCode::RequiredFieldMissing,
                "appointment start missing (SCH-11.4 or AIS-4)",
            ));
        }
        let duration = match ais {
            Some(ais) => duration(ais, 7, 8)?,
            None => None,
        }
        .map_or_else(|| duration(sch, 9, 10), |d| Ok(Some(d)))?;
        let ends_at = time_in(sch, 11, 5, "SCH-11.5 end")?.or_else(|| {
            let (start, d) = (starts_at?, duration?);
            Some(Hl7Time {
                local: start.local + d,
                ..start
            })
        });
        Ok(Self {
            header,
            event,
            placer_id: Ei::from_repetition(sch.field(1).repetition(0)),
            filler_id,
            starts_at,
            ends_at,
            duration,
            reason: Coded::from_repetition(sch.field(7).repetition(0)),
            kind: Coded::from_repetition(sch.field(8).repetition(0)),
            service: ais.and_then(|s| Coded::from_repetition(s.field(3).repetition(0))),
            filler_status: Coded::from_repetition(sch.field(25).repetition(0)),
            place: ail.and_then(place),
            provider: message
                .segment("AIP")
                .and_then(|s| Clinician::from_repetition(s.field(3).repetition(0))),
            patient: message
                .segment("PID")
                .map(PatientIdentity::from_pid)
                .transpose()?,
        })
    }
}

fn opt_time(seg: Option<Segment<'_>>, n: usize, what: &str) -> Result<Option<Hl7Time>, Hl7Error> {
    seg.map_or(Ok(None), |s| time(s, n, what))
}

fn first_time<const N: usize>(times: [Option<Hl7Time>; N]) -> Option<Hl7Time> {
    times.into_iter().flatten().next()
}

/// A duration field `n` with its units in CE field `units` (minutes unless stated).
fn duration(seg: Segment<'_>, n: usize, units: usize) -> Result<Option<Duration>, Hl7Error> {
    let Some(value) = text(seg, n) else {
        return Ok(None);
    };
    let bad = |what: &str| Hl7Error::content(seg.location(n), ErrorCode::DataType, what.to_owned());
    let amount: i64 = value
        .trim()
        .parse()
        .map_err(|_| bad("duration is not a whole number"))?;
    let unit = seg
        .field(units)
        .text()
        .unwrap_or(std::borrow::Cow::Borrowed("min"))
        .to_ascii_lowercase();
    let d = match unit.as_str() {
        "s" | "sec" | "second" | "seconds" => Duration::try_seconds(amount),
        "min" | "m" | "minute" | "minutes" => Duration::try_minutes(amount),
        "h" | "hr" | "hour" | "hours" => Duration::try_hours(amount),
        "d" | "day" | "days" => Duration::try_days(amount),
        _ => {
            return Err(Hl7Error::content(
                seg.location(units),
                ErrorCode::TableValueNotFound,
                "duration units not recognised",
            ));
        }
    };
    d.map(Some).ok_or_else(|| bad("duration out of range"))
}

fn place(ail: Segment<'_>) -> Option<AppointmentPlace> {
    let pl = ail.field(3).repetition(0);
    if pl.is_empty() {
        return None;
    }
    let text = |n: usize| pl.component(n).text().map(String::from);
    Some(AppointmentPlace {
        point_of_care: text(1),
        room: text(2),
        facility: Hd::from_component(pl.component(4)),
        description: text(9),
    })
}
