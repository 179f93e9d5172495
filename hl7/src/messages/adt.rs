//! ADT^A04/A08/A28/A31: patient demographics (PID) and insurance coverage (IN1).

use chrono::NaiveDate;

use super::msh::Header;
use super::pid::{PatientIdentity, single_pid};
use super::rules::{coded, date, required, text};
use super::types::{Address, Coded, Cx, Telecom};
use super::unsupported_event;
use crate::datetime::Hl7Time;
use crate::error::Hl7Error;
use crate::parse::{Message, Segment};

/// Which ADT trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdtEvent {
    /// A04 register a patient.
    Register,
    /// A08 update patient information.
    Update,
    /// A28 add person information.
    AddPerson,
    /// A31 update person information.
    UpdatePerson,
}

impl AdtEvent {
    fn from_trigger(trigger: &str) -> Option<Self> {
        Some(match trigger {
            "A04" => Self::Register,
            "A08" => Self::Update,
            "A28" => Self::AddPerson,
            "A31" => Self::UpdatePerson,
            _ => return None,
        })
    }
}

/// PID-8, HL7 table 0001.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sex {
    Female,
    Male,
    Other,
    Unknown,
    Ambiguous,
    NotApplicable,
}

impl Sex {
    fn from_code(code: &str) -> Option<Self> {
        Some(match code {
            "F" => Self::Female,
            "M" => Self::Male,
            "O" => Self::Other,
            "U" => Self::Unknown,
            "A" => Self::Ambiguous,
            "N" => Self::NotApplicable,
            _ => return None,
        })
    }
}

/// What PID says about the patient.
#[derive(Debug, Clone, PartialEq)]
pub struct Demographics {
    pub identity: PatientIdentity,
    /// PID-7 (a TS; the date part).
    pub birth_date: Option<NaiveDate>,
    /// PID-7 as sent, when it carries a time of birth.
    pub birth_time: Option<Hl7Time>,
    /// PID-8.
    pub sex: Option<Sex>,
    /// PID-10, every repetition.
    pub races: Vec<Coded>,
    /// PID-22, every repetition.
    pub ethnic_groups: Vec<Coded>,
    /// PID-11, every repetition.
    pub addresses: Vec<Address>,
    /// PID-13 and PID-14 telephone numbers (not emails).
    pub phones: Vec<Telecom>,
    /// PID-13 repetitions with XTN.3 Internet / XTN.2 NET: XTN.4.
    pub emails: Vec<String>,
    /// PID-15.
    pub primary_language: Option<Coded>,
    /// PID-29, PID-30: death date/time and indicator.
    pub deceased: bool,
    /// The PID fields sent as `""`: the receiver should clear what it holds for them.
    pub cleared_fields: Vec<usize>,
}

/// One IN1 segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coverage {
    /// The IN1 segment's sequence in the message (for ERR-2).
    pub segment_sequence: usize,
    /// IN1-2 insurance plan id (code and name).
    pub plan: Option<Coded>,
    /// IN1-3.1 insurance company id (the payer id).
    pub payer_id: String,
    /// IN1-4.1 insurance company name.
    pub payer_name: Option<String>,
    /// IN1-8 group number.
    pub group_number: Option<String>,
    /// IN1-9.1 group name.
    pub group_name: Option<String>,
    /// IN1-12 plan effective date.
    pub effective: Option<NaiveDate>,
    /// IN1-13 plan expiration date.
    pub expires: Option<NaiveDate>,
    /// IN1-15 plan type.
    pub plan_type: Option<String>,
    /// IN1-17 insured's relationship to patient (table 0063, e.g. SEL, SPO, CHD).
    pub relationship: Option<Coded>,
    /// IN1-36 policy number.
    pub policy_number: Option<String>,
    /// IN1-47 coverage type (table 0309).
    pub coverage_type: Option<String>,
    /// IN1-49 insured's id number.
    pub insured_id: Option<Cx>,
}

impl Coverage {
    /// The member id on the card: IN1-49 when sent, else IN1-36 (the common v2.3 usage).
    pub fn member_id(&self) -> Option<&str> {
        self.insured_id
            .as_ref()
            .map(|cx| cx.id.as_str())
            .or(self.policy_number.as_deref())
    }

    fn from_in1(in1: Segment<'_>) -> Result<Self, Hl7Error> {
        let payer = required(in1, 3, "IN1-3 insurance company id")?;
        let payer_id = Cx::from_repetition(payer.repetition(0))
            .map(|cx| cx.id)
            .unwrap_or_default();
        Ok(Self {
            segment_sequence: in1.sequence(),
            plan: Coded::from_repetition(in1.field(2).repetition(0)),
            payer_id,
            payer_name: text(in1, 4),
            group_number: text(in1, 8),
            group_name: text(in1, 9),
            effective: date(in1, 12, "IN1-12 plan effective date")?,
            expires: date(in1, 13, "IN1-13 plan expiration date")?,
            plan_type: text(in1, 15),
            relationship: Coded::from_repetition(in1.field(17).repetition(0)),
            policy_number: text(in1, 36),
            coverage_type: text(in1, 47),
            insured_id: Cx::from_repetition(in1.field(49).repetition(0)),
        })
    }
}

/// An ADT registration or update.
#[derive(Debug, Clone, PartialEq)]
pub struct AdtMessage {
    pub header: Header,
    pub event: AdtEvent,
    pub patient: Demographics,
    pub coverages: Vec<Coverage>,
}

impl AdtMessage {
    pub fn from_message(message: &Message, header: Header) -> Result<Self, Hl7Error> {
        let event = header
            .trigger
            .as_deref()
            .and_then(AdtEvent::from_trigger)
            .ok_or_else(unsupported_event)?;
        let patient = demographics(single_pid(message)?)?;
        let coverages = message
            .segments("IN1")
            .map(Coverage::from_in1)
            .collect::<Result<_, _>>()?;
        Ok(Self {
            header,
            event,
            patient,
            coverages,
        })
    }
}

impl Demographics {
    /// The demographics of a message's one PID, whatever its type (an ORU of a walk-in
    /// registers the patient from them).
    pub fn from_message(message: &Message) -> Result<Self, Hl7Error> {
        demographics(single_pid(message)?)
    }
}

fn demographics(pid: Segment<'_>) -> Result<Demographics, Hl7Error> {
    let birth_time = super::rules::time(pid, 7, "PID-7 date of birth")?;
    let telecoms: Vec<Telecom> = [13, 14]
        .iter()
        .flat_map(|&n| {
            pid.field(n)
                .repetitions()
                .filter_map(Telecom::from_repetition)
        })
        .collect();
    let (emails, phones): (Vec<Telecom>, Vec<Telecom>) =
        telecoms.into_iter().partition(Telecom::is_email);
    let coded_list = |n: usize| {
        pid.field(n)
            .repetitions()
            .filter_map(Coded::from_repetition)
            .collect()
    };
    Ok(Demographics {
        identity: PatientIdentity::from_pid(pid)?,
        birth_date: birth_time.map(|t| t.date()),
        birth_time: birth_time.filter(|t| t.precision > crate::datetime::Precision::Day),
        sex: coded(pid, 8, "PID-8 administrative sex", Sex::from_code)?,
        races: coded_list(10),
        ethnic_groups: coded_list(22),
        addresses: pid
            .field(11)
            .repetitions()
            .filter_map(Address::from_repetition)
            .collect(),
        phones,
        emails: emails.into_iter().filter_map(|t| t.email).collect(),
        primary_language: Coded::from_repetition(pid.field(15).repetition(0)),
        deceased: pid.field(30).text().as_deref() == Some("Y") || pid.field(29).text().is_some(),
        cleared_fields: pid
            .fields()
            .filter(|(_, field)| field.is_null())
            .map(|(n, _)| n)
            .collect(),
    })
}
