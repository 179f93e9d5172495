//! ORU^R01 (v2.3 to v2.5.1): the patient, and each order (ORC/OBR group) with its
//! observations and notes; imaging reports with their DICOM Study Instance UID.

use super::msh::Header;
use super::obx::Observation;
use super::pid::{PatientIdentity, single_pid};
use super::rules::{coded, required, time};
use super::types::{Clinician, Coded, Ei};
use crate::codes::ErrorCode;
use crate::datetime::Hl7Time;
use crate::error::Hl7Error;
use crate::parse::{Location, Message, Segment};

/// OBR-25, HL7 table 0123, as far as the portal accepts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultStatus {
    /// P
    Preliminary,
    /// F
    Final,
    /// C: a correction of a final result.
    Corrected,
    /// X: the order was cancelled, no result.
    Cancelled,
}

impl ResultStatus {
    fn from_code(code: &str) -> Option<Self> {
        Some(match code {
            "P" => Self::Preliminary,
            "F" => Self::Final,
            "C" => Self::Corrected,
            "X" => Self::Cancelled,
            _ => return None,
        })
    }
}

/// One ORC/OBR group.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderGroup {
    /// The OBR segment's sequence in the message (for ERR-2).
    pub obr_sequence: usize,
    /// OBR-2, else ORC-2.
    pub placer_order: Option<Ei>,
    /// OBR-3, else ORC-3.
    pub filler_order: Option<Ei>,
    /// ORC-4 placer group number: the requisition several orders belong to.
    pub placer_group: Option<Ei>,
    /// OBR-4 universal service identifier, e.g. `58410-2^CBC panel^LN`.
    pub test: Coded,
    /// OBR-16, else ORC-12 (first repetition).
    pub ordering_provider: Option<Clinician>,
    /// ORC-21 ordering facility name (XON.1), apart from the performing lab.
    pub ordering_facility_name: Option<String>,
    /// ORC-21 organization identifier (XON.10, else XON.3).
    pub ordering_facility_identifier: Option<String>,
    /// ORC-17 entering organization (CWE text, else its code).
    pub entering_organization: Option<String>,
    /// OBR-7.
    pub observed_at: Option<Hl7Time>,
    /// OBR-22 results report / status change time.
    pub reported_at: Option<Hl7Time>,
    /// OBR-25.
    pub status: ResultStatus,
    pub observations: Vec<Observation>,
    /// NTE-3 of the NTE segments right after the OBR.
    pub notes: Vec<String>,
    /// From an OBX coded `113014^Study Instance UID^DCM`, else ZDS-1.
    pub study_instance_uid: Option<String>,
    /// The group's specimen: its first SPM, else OBR-14/OBR-15.
    pub specimen: Option<super::provenance::Specimen>,
}

impl OrderGroup {
    /// The report text of an imaging result: its TX/FT/ST observations, in order.
    pub fn report_text(&self) -> Option<String> {
        let parts: Vec<&str> = self
            .observations
            .iter()
            .filter(|o| !is_study_uid(o))
            .filter_map(Observation::text)
            .collect();
        (!parts.is_empty()).then(|| parts.join("\n"))
    }
}

/// An ORU^R01 message.
#[derive(Debug, Clone, PartialEq)]
pub struct OruR01 {
    pub header: Header,
    pub patient: PatientIdentity,
    pub orders: Vec<OrderGroup>,
}

impl OruR01 {
    pub fn from_message(message: &Message, header: Header) -> Result<Self, Hl7Error> {
        let patient = PatientIdentity::from_pid(single_pid(message)?)?;
        let mut groups = Grouper::default();
        for seg in message.all_segments() {
            groups.push(seg)?;
        }
        let orders = groups.finish();
        if orders.is_empty() {
            return Err(Hl7Error::content(
                Location::segment("OBR", 1),
                ErrorCode::SegmentSequence,
                "OBR segment missing",
            ));
        }
        Ok(Self {
            header,
            patient,
            orders,
        })
    }
}

/// Walks the segments, opening a group at each ORC or OBR and attaching OBX and NTE to
/// what they follow.
#[derive(Default)]
struct Grouper<'a> {
    done: Vec<OrderGroup>,
    orc: Option<Segment<'a>>,
    current: Option<OrderGroup>,
    /// Whether the current group's (first) SPM was read.
    spm_seen: bool,
}

impl<'a> Grouper<'a> {
    fn push(&mut self, seg: Segment<'a>) -> Result<(), Hl7Error> {
        match seg.id() {
            "ORC" => {
                self.close();
                self.orc = Some(seg);
            }
            "OBR" => {
                self.close();
                self.current = Some(order_group(seg, self.orc.take())?);
                self.spm_seen = false;
            }
            "OBX" => {
                let group = self.current.as_mut().ok_or_else(|| out_of_place(seg))?;
                let observation = Observation::from_obx(seg)?;
                if is_study_uid(&observation) {
                    group.study_instance_uid = observation.text_or_other().map(str::to_owned);
                }
                group.observations.push(observation);
            }
            "NTE" => {
                if let Some(group) = self.current.as_mut() {
                    let note = note(seg);
                    match group.observations.last_mut() {
                        Some(obx) => obx.notes.push(note),
                        None => group.notes.push(note),
                    }
                }
            }
            "SPM" => {
                if let Some(group) = self.current.as_mut()
                    && !self.spm_seen
                {
                    let spm = super::provenance::Specimen::from_spm(seg)?;
                    group.specimen = Some(spm.or(group.specimen.take()));
                    self.spm_seen = true;
                }
            }
            "ZDS" => {
                if let Some(group) = self.current.as_mut() {
                    let uid = seg.field(1).text().map(String::from);
                    group.study_instance_uid = group.study_instance_uid.take().or(uid);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn close(&mut self) {
        self.done.extend(self.current.take());
    }

    fn finish(mut self) -> Vec<OrderGroup> {
        self.close();
        self.done
    }
}

fn order_group(obr: Segment<'_>, orc: Option<Segment<'_>>) -> Result<OrderGroup, Hl7Error> {
    let test = Coded::from_repetition(
        required(obr, 4, "OBR-4 universal service identifier")?.repetition(0),
    )
    .filter(|c| c.code.is_some())
    .ok_or_else(|| {
        Hl7Error::content(
            obr.location(4).with_component(1),
            ErrorCode::RequiredFieldMissing,
            "OBR-4 test code missing",
        )
    })?;
    let status =
        coded(obr, 25, "OBR-25 result status", ResultStatus::from_code)?.ok_or_else(|| {
            Hl7Error::content(
                obr.location(25),
                ErrorCode::RequiredFieldMissing,
                "OBR-25 result status missing",
            )
        })?;
    let ei = |seg: Option<Segment<'_>>, n: usize| {
        seg.and_then(|s| Ei::from_repetition(s.field(n).repetition(0)))
    };
    let clinician = |seg: Option<Segment<'_>>, n: usize| {
        seg.and_then(|s| Clinician::from_repetition(s.field(n).repetition(0)))
    };
    Ok(OrderGroup {
        obr_sequence: obr.sequence(),
        placer_order: ei(Some(obr), 2).or_else(|| ei(orc, 2)),
        filler_order: ei(Some(obr), 3).or_else(|| ei(orc, 3)),
        placer_group: ei(orc, 4),
        test,
        ordering_provider: clinician(Some(obr), 16).or_else(|| clinician(orc, 12)),
        ordering_facility_name: component(orc, 21, &[1]),
        ordering_facility_identifier: component(orc, 21, &[10, 3]),
        entering_organization: component(orc, 17, &[2, 1]),
        observed_at: time(obr, 7, "OBR-7 observation time")?,
        reported_at: time(obr, 22, "OBR-22 results report time")?,
        status,
        observations: Vec::new(),
        notes: Vec::new(),
        study_instance_uid: None,
        specimen: super::provenance::Specimen::from_obr(obr)?,
    })
}

/// The first non-empty of `components` of a segment's field (first repetition).
fn component(seg: Option<Segment<'_>>, field: usize, components: &[usize]) -> Option<String> {
    let repetition = seg?.field(field).repetition(0);
    components.iter().find_map(|n| {
        repetition
            .component(*n)
            .text()
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
    })
}

fn is_study_uid(observation: &Observation) -> bool {
    observation.code.is("113014", "DCM")
}

fn note(nte: Segment<'_>) -> String {
    super::obx::lines(nte.field(3))
}

fn out_of_place(seg: Segment<'_>) -> Hl7Error {
    Hl7Error::content(
        Location::segment(seg.id(), seg.sequence()),
        ErrorCode::SegmentSequence,
        "OBX before any OBR",
    )
}
