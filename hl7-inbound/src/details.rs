//! The specimen, times, performing laboratory and devices an ORU group carries, mapped to
//! the ingest service's details: kept as the laboratory sent them (the performing
//! laboratory is data, not resolved to a facility).

use chrono::FixedOffset;
use portal_hl7::messages::{Coded, Observation, OrderGroup};
use portal_services::ingest::{ObservationDetails, PerformingLaboratory, ResultDetails, Specimen};

/// Collection time: SPM-17, else OBR-7; received: SPM-18, else OBR-14; the performing
/// laboratory of the group's first OBX that names one.
pub(crate) fn result(group: &OrderGroup, offset: FixedOffset) -> ResultDetails {
    let specimen = group.specimen.clone().unwrap_or_default();
    let collected = specimen.collected_at.or(group.observed_at);
    let lab = group
        .observations
        .iter()
        .find_map(|o| o.performing_organization.as_ref())
        .map(|org| PerformingLaboratory {
            name: org.name.clone(),
            identifier: org.identifier.clone(),
            identifier_type: org.identifier_type.clone(),
            identifier_system: org.identifier_system(),
            address: org.address.clone(),
            director: org.director.clone(),
        });
    let kind = specimen.kind.as_ref();
    let source = specimen.source_site.as_ref().and_then(display);
    let specimen = (kind.is_some() || source.is_some()).then(|| Specimen {
        type_code: kind.and_then(|k| k.code.clone()),
        type_display: kind.and_then(display),
        type_system: kind.and_then(|k| k.system.clone()),
        source,
    });
    ResultDetails {
        collected_at: collected.map(|t| t.to_utc(offset)),
        received_at: group
            .specimen
            .as_ref()
            .and_then(|s| s.received_at)
            .map(|t| t.to_utc(offset)),
        specimen,
        performing_laboratory: lab,
    }
}

/// OBX-14, OBX-17/18, OBX-7.
pub(crate) fn observation(o: &Observation, offset: FixedOffset) -> ObservationDetails {
    ObservationDetails {
        observed_at: o.observed_at.map(|t| t.to_utc(offset)),
        device_name: o.device.as_ref().and_then(|d| d.name.clone()),
        device_identifier: o.device.as_ref().and_then(|d| d.identifier.clone()),
        reference_range: o.reference_range.clone(),
    }
}

/// The text of a code, else its alternate text, else the code.
fn display(c: &Coded) -> Option<String> {
    c.text
        .clone()
        .or_else(|| c.alternate_text.clone())
        .or_else(|| c.code.clone())
}
