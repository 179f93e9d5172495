//! Where a result comes from, as an ORU carries it: the specimen (SPM-4, SPM-8, SPM-17,
//! SPM-18; OBR-14 and OBR-15 for senders without SPM) and, per observation, the device
//! (OBX-17, OBX-18) and the performing laboratory (OBX-23 name and identifier, OBX-24
//! address, OBX-25 director).

use super::rules::time_in;
use super::types::{Coded, Hd};
use crate::datetime::Hl7Time;
use crate::error::Hl7Error;
use crate::parse::{ComponentRef, RepetitionRef, Segment};

/// The specimen of an order group.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Specimen {
    /// SPM-4 specimen type (CWE), else OBR-15.1 (SPS specimen source name or code).
    pub kind: Option<Coded>,
    /// SPM-8 specimen source site (CWE).
    pub source_site: Option<Coded>,
    /// SPM-17.1 collection start (else OBR-7 is used by the interface).
    pub collected_at: Option<Hl7Time>,
    /// SPM-18 received (else OBR-14).
    pub received_at: Option<Hl7Time>,
}

impl Specimen {
    /// SPM; a bad time is 102 at its location.
    pub fn from_spm(spm: Segment<'_>) -> Result<Self, Hl7Error> {
        Ok(Self {
            kind: Coded::from_repetition(spm.field(4).repetition(0)),
            source_site: Coded::from_repetition(spm.field(8).repetition(0)),
            collected_at: time_in(spm, 17, 1, "SPM-17 specimen collection time")?,
            received_at: time_in(spm, 18, 1, "SPM-18 specimen received time")?,
        })
    }

    /// This SPM, completed by what the OBR said.
    pub fn or(self, obr: Option<Self>) -> Self {
        let obr = obr.unwrap_or_default();
        Self {
            kind: self.kind.or(obr.kind),
            source_site: self.source_site.or(obr.source_site),
            collected_at: self.collected_at.or(obr.collected_at),
            received_at: self.received_at.or(obr.received_at),
        }
    }

    /// What an OBR says of its specimen (OBR-14 received, OBR-15 source), for senders
    /// without SPM.
    pub fn from_obr(obr: Segment<'_>) -> Result<Option<Self>, Hl7Error> {
        let source = obr.field(15).repetition(0).component(1);
        let specimen = Self {
            kind: Coded::from_component(source),
            source_site: None,
            collected_at: None,
            received_at: time_in(obr, 14, 1, "OBR-14 specimen received time")?,
        };
        Ok((specimen != Self::default()).then_some(specimen))
    }
}

/// The device an observation was made with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Device {
    /// OBX-17 (observation method: the test kit for many senders): text, else original
    /// text (CWE.9), else code; else OBX-18's name.
    pub name: Option<String>,
    /// OBX-18.1 equipment instance identifier.
    pub identifier: Option<String>,
}

impl Device {
    pub fn from_obx(obx: Segment<'_>) -> Option<Self> {
        let method = obx.field(17).repetition(0);
        let equipment = obx.field(18).repetition(0);
        let device = Self {
            name: text(method.component(2))
                .or_else(|| text(method.component(9)))
                .or_else(|| text(method.component(1)))
                .or_else(|| text(equipment.component(2))),
            identifier: text(equipment.component(1)),
        };
        (device != Self::default()).then_some(device)
    }
}

/// The laboratory that performed an observation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PerformingOrganization {
    /// XON.1.
    pub name: Option<String>,
    /// XON.10 organization identifier, else XON.3 (v2.3–2.5 ID number).
    pub identifier: Option<String>,
    /// XON.7 identifier type code (table 0203, e.g. XX).
    pub identifier_type: Option<String>,
    /// XON.6 assigning authority (e.g. `CLIA&2.16.840.1.113883.4.7&ISO`).
    pub assigning_authority: Option<Hd>,
    /// OBX-24 on one line.
    pub address: Option<String>,
    /// OBX-25 (XCN): the medical director's name.
    pub director: Option<String>,
}

impl PerformingOrganization {
    pub fn from_obx(obx: Segment<'_>) -> Option<Self> {
        let xon = obx.field(23).repetition(0);
        let org = Self {
            name: text(xon.component(1)),
            identifier: text(xon.component(10)).or_else(|| text(xon.component(3))),
            identifier_type: text(xon.component(7)),
            assigning_authority: Hd::from_component(xon.component(6)),
            address: one_line(obx.field(24).repetition(0), &[1, 2, 3, 4, 5, 6]),
            director: one_line(obx.field(25).repetition(0), &[6, 3, 4, 2, 5]),
        };
        (org != Self::default()).then_some(org)
    }

    /// The assigning authority by name, else by its universal id.
    pub fn identifier_system(&self) -> Option<String> {
        self.assigning_authority
            .as_ref()
            .and_then(|hd| hd.namespace.clone().or_else(|| hd.universal_id.clone()))
    }
}

fn text(c: ComponentRef<'_>) -> Option<String> {
    // A component with subcomponents reads as its first one.
    c.subcomponent(1)
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// The non-empty components `order` of a repetition, joined with spaces or commas.
fn one_line(r: RepetitionRef<'_>, order: &[usize]) -> Option<String> {
    let parts: Vec<String> = order.iter().filter_map(|&n| text(r.component(n))).collect();
    let separator = if order.first() == Some(&1) { ", " } else { " " };
    (!parts.is_empty()).then(|| parts.join(separator))
}
