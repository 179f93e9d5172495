//! One OBX observation: value by OBX-2 value type, units, range, flags, status.

use super::rules::{coded, required, text, time};
use super::types::Coded;
use crate::codes::ErrorCode;
use crate::datetime::Hl7Time;
use crate::error::Hl7Error;
use crate::parse::{FieldRef, Segment};

/// OBX-5 read according to OBX-2.
#[derive(Debug, Clone, PartialEq)]
pub enum ObservationValue {
    /// NM: the number and the text as sent (keeps precision such as `12.90`).
    Numeric { value: f64, text: String },
    /// ST, TX, FT: repetitions joined with line breaks (`\.br\` is a line break too).
    Text(String),
    /// CWE, CE, CNE, CF.
    Coded(Coded),
    /// SN: comparator and numbers, e.g. `>^100` or `^1^:^128`.
    StructuredNumeric(StructuredNumeric),
    /// DT, DTM, TS.
    Time(Hl7Time),
    /// Other value types (ED, RP, HD, TM, ID, IS...): OBX-5.1 as text.
    Other { value_type: String, text: String },
    /// No OBX-5 (for instance with status X, result cannot be obtained).
    Empty,
}

/// SN data type.
#[derive(Debug, Clone, PartialEq)]
pub struct StructuredNumeric {
    pub comparator: Option<String>,
    pub first: Option<f64>,
    pub separator: Option<String>,
    pub second: Option<f64>,
}

/// OBX-8, HL7 table 0078. Codes not listed are kept as [`AbnormalFlag::Other`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AbnormalFlag {
    Low,
    High,
    CriticalLow,
    CriticalHigh,
    BelowLowScale,
    AboveHighScale,
    Normal,
    Abnormal,
    CriticalAbnormal,
    Other(String),
}

impl AbnormalFlag {
    /// The code as table 0078 writes it (an unlisted code as sent).
    pub fn code(&self) -> &str {
        match self {
            Self::Low => "L",
            Self::High => "H",
            Self::CriticalLow => "LL",
            Self::CriticalHigh => "HH",
            Self::BelowLowScale => "<",
            Self::AboveHighScale => ">",
            Self::Normal => "N",
            Self::Abnormal => "A",
            Self::CriticalAbnormal => "AA",
            Self::Other(code) => code,
        }
    }

    fn from_code(code: &str) -> Self {
        match code {
            "L" => Self::Low,
            "H" => Self::High,
            "LL" => Self::CriticalLow,
            "HH" => Self::CriticalHigh,
            "<" => Self::BelowLowScale,
            ">" => Self::AboveHighScale,
            "N" => Self::Normal,
            "A" => Self::Abnormal,
            "AA" => Self::CriticalAbnormal,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// OBX-11, HL7 table 0085.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObservationStatus {
    /// F
    Final,
    /// C: replaces a final result.
    Corrected,
    /// P
    Preliminary,
    /// W: posted in error (wrong patient...); replaces the earlier one.
    Wrong,
    /// X: result cannot be obtained.
    CannotObtain,
    /// D: delete this observation.
    Delete,
    /// R: entered, not verified.
    NotVerified,
    /// S: partial.
    Partial,
    /// I: specimen in lab, pending.
    Pending,
    /// U: status changed to final without retransmitting the result.
    ChangedToFinal,
    /// N: not asked.
    NotAsked,
    /// O: order detail, no result.
    OrderDetail,
}

impl ObservationStatus {
    fn from_code(code: &str) -> Option<Self> {
        Some(match code {
            "F" => Self::Final,
            "C" => Self::Corrected,
            "P" => Self::Preliminary,
            "W" => Self::Wrong,
            "X" => Self::CannotObtain,
            "D" => Self::Delete,
            "R" => Self::NotVerified,
            "S" => Self::Partial,
            "I" => Self::Pending,
            "U" => Self::ChangedToFinal,
            "N" => Self::NotAsked,
            "O" => Self::OrderDetail,
            _ => return None,
        })
    }
}

/// One OBX with the NTE segments that follow it.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// The OBX segment's sequence in the message (its ERR-2 location).
    pub segment_sequence: usize,
    /// OBX-1.
    pub set_id: Option<String>,
    /// OBX-2.
    pub value_type: Option<String>,
    /// OBX-3, e.g. LOINC `718-7^Hemoglobin^LN`.
    pub code: Coded,
    /// OBX-4.
    pub sub_id: Option<String>,
    /// OBX-5.
    pub value: ObservationValue,
    /// OBX-6 (UCUM in OBX-6.1 or OBX-6.3 = UCUM).
    pub units: Option<Coded>,
    /// OBX-7, as sent (`4.5-11.0`, `<200`).
    pub reference_range: Option<String>,
    /// OBX-8, every repetition.
    pub abnormal_flags: Vec<AbnormalFlag>,
    /// OBX-11.
    pub status: ObservationStatus,
    /// OBX-14.
    pub observed_at: Option<Hl7Time>,
    /// NTE-3 of the NTE segments after this OBX.
    pub notes: Vec<String>,
    /// OBX-17 / OBX-18.
    pub device: Option<super::provenance::Device>,
    /// OBX-23 / OBX-24 / OBX-25.
    pub performing_organization: Option<super::provenance::PerformingOrganization>,
}

impl Observation {
    pub fn from_obx(obx: Segment<'_>) -> Result<Self, Hl7Error> {
        let code =
            Coded::from_repetition(required(obx, 3, "OBX-3 observation identifier")?.repetition(0))
                .filter(|c| c.code.is_some() || c.text.is_some())
                .ok_or_else(|| {
                    Hl7Error::content(
                        obx.location(3),
                        ErrorCode::RequiredFieldMissing,
                        "OBX-3 observation identifier missing",
                    )
                })?;
        let status = coded(
            obx,
            11,
            "OBX-11 result status",
            ObservationStatus::from_code,
        )?
        .ok_or_else(|| {
            Hl7Error::content(
                obx.location(11),
                ErrorCode::RequiredFieldMissing,
                "OBX-11 result status missing",
            )
        })?;
        Ok(Self {
            segment_sequence: obx.sequence(),
            set_id: text(obx, 1),
            value_type: text(obx, 2),
            code,
            sub_id: text(obx, 4),
            value: value(obx)?,
            units: Coded::from_repetition(obx.field(6).repetition(0)),
            reference_range: text(obx, 7),
            abnormal_flags: obx
                .field(8)
                .repetitions()
                .filter_map(|r| r.text())
                .map(|code| AbnormalFlag::from_code(&code))
                .collect(),
            status,
            observed_at: time(obx, 14, "OBX-14 observation time")?,
            notes: Vec::new(),
            device: super::provenance::Device::from_obx(obx),
            performing_organization: super::provenance::PerformingOrganization::from_obx(obx),
        })
    }

    /// The observation's text when it is a report (TX, FT, ST).
    pub fn text(&self) -> Option<&str> {
        match &self.value {
            ObservationValue::Text(t) => Some(t),
            _ => None,
        }
    }
}

const TEXT_TYPES: [&str; 3] = ["ST", "TX", "FT"];
const CODED_TYPES: [&str; 4] = ["CWE", "CE", "CNE", "CF"];
const TIME_TYPES: [&str; 3] = ["DT", "DTM", "TS"];
const OTHER_TYPES: [&str; 14] = [
    "ED", "RP", "HD", "TM", "ID", "IS", "CP", "MO", "TN", "PN", "XPN", "XAD", "XCN", "XON",
];

fn value(obx: Segment<'_>) -> Result<ObservationValue, Hl7Error> {
    let field = obx.field(5);
    if field.is_empty() {
        return Ok(ObservationValue::Empty);
    }
    let bad = |what: &str| Hl7Error::content(obx.location(5), ErrorCode::DataType, what.to_owned());
    let value_type = obx.field(2).text().ok_or_else(|| {
        Hl7Error::content(
            obx.location(2),
            ErrorCode::RequiredFieldMissing,
            "OBX-2 value type missing with a value",
        )
    })?;
    let first = field.text().unwrap_or_default();
    let first = first.as_ref();
    Ok(match value_type.as_ref() {
        "NM" => ObservationValue::Numeric {
            value: number(first).ok_or_else(|| bad("NM value is not numeric"))?,
            text: first.trim().to_owned(),
        },
        t if TEXT_TYPES.contains(&t) => ObservationValue::Text(lines(field)),
        t if CODED_TYPES.contains(&t) => ObservationValue::Coded(
            Coded::from_repetition(field.repetition(0))
                .ok_or_else(|| bad("coded value is empty"))?,
        ),
        "SN" => ObservationValue::StructuredNumeric(
            structured_numeric(obx).ok_or_else(|| bad("SN value is not a structured numeric"))?,
        ),
        t if TIME_TYPES.contains(&t) => ObservationValue::Time(
            Hl7Time::parse(first).map_err(|_| bad("value is not a valid HL7 date/time"))?,
        ),
        t if OTHER_TYPES.contains(&t) => ObservationValue::Other {
            value_type: t.to_owned(),
            text: first.to_owned(),
        },
        _ => {
            return Err(Hl7Error::content(
                obx.location(2),
                ErrorCode::TableValueNotFound,
                "OBX-2 value type not recognised",
            ));
        }
    })
}

fn number(s: &str) -> Option<f64> {
    let s = s.trim();
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+'));
    plain
        .then(|| s.parse::<f64>().ok())
        .flatten()
        .filter(|v| v.is_finite())
}

/// The repetitions' texts, one per line, written into one string as they are read.
pub(super) fn lines(field: FieldRef<'_>) -> String {
    let mut out = String::new();
    for (i, r) in field.repetitions().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&r.text().unwrap_or_default());
    }
    out
}

fn structured_numeric(obx: Segment<'_>) -> Option<StructuredNumeric> {
    let c = |n: usize| obx.field(5).component(n).text();
    let num = |n: usize| c(n).map(|t| number(&t)).map(|v| v.ok_or(())).transpose();
    let sn = StructuredNumeric {
        comparator: c(1).map(String::from),
        first: num(2).ok()?,
        separator: c(3).map(String::from),
        second: num(4).ok()?,
    };
    let comparator_ok = sn
        .comparator
        .as_deref()
        .is_none_or(|c| ["<", ">", "<=", ">=", "=", "<>"].contains(&c));
    (comparator_ok && sn.first.is_some()).then_some(sn)
}

impl Observation {
    /// OBX-5.1 as text for text and other value types (a UID sent as HD, RP or ST).
    pub fn text_or_other(&self) -> Option<&str> {
        match &self.value {
            ObservationValue::Text(t) | ObservationValue::Other { text: t, .. } => Some(t),
            _ => None,
        }
    }
}
