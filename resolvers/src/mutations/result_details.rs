//! The optional inputs a laboratory may send with a result beyond its values (specimen,
//! collection and receipt times, performing laboratory, per observation its time, device
//! and reference range), as HL7 senders do; mapped to `portal_services::ingest`'s details.

use async_graphql::InputObject;
use chrono::{DateTime, Utc};
use portal_services::ingest::{ObservationDetails, PerformingLaboratory, ResultDetails, Specimen};

#[derive(InputObject, Default)]
pub struct SpecimenInput {
    /// The specimen type code (e.g. SNOMED CT 119297000 Blood specimen).
    pub type_code: Option<String>,
    pub type_display: Option<String>,
    /// The type code's system (e.g. `SCT` or `http://snomed.info/sct`).
    pub type_system: Option<String>,
    /// The source site or a description of the source.
    pub source: Option<String>,
}

#[derive(InputObject, Default)]
pub struct PerformingLaboratoryInput {
    pub name: Option<String>,
    /// The laboratory's identifier, e.g. its CLIA number.
    pub identifier: Option<String>,
    /// The identifier's kind (HL7 table 0203, e.g. XX).
    pub identifier_type: Option<String>,
    /// Who assigned the identifier (e.g. CLIA, or an OID).
    pub identifier_system: Option<String>,
    pub address: Option<String>,
    pub director: Option<String>,
}

pub(super) fn result_details(
    collected_at: Option<DateTime<Utc>>,
    received_at: Option<DateTime<Utc>>,
    specimen: Option<SpecimenInput>,
    lab: Option<PerformingLaboratoryInput>,
) -> ResultDetails {
    ResultDetails {
        collected_at,
        received_at,
        specimen: specimen.map(|s| Specimen {
            type_code: s.type_code,
            type_display: s.type_display,
            type_system: s.type_system,
            source: s.source,
        }),
        performing_laboratory: lab.map(|l| PerformingLaboratory {
            name: l.name,
            identifier: l.identifier,
            identifier_type: l.identifier_type,
            identifier_system: l.identifier_system,
            address: l.address,
            director: l.director,
        }),
    }
}

pub(super) fn observation_details(
    observed_at: Option<DateTime<Utc>>,
    reference_range: Option<String>,
    device: Option<String>,
) -> ObservationDetails {
    ObservationDetails {
        observed_at,
        device_name: device,
        device_identifier: None,
        reference_range,
    }
}
