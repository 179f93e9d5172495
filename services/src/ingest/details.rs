//! What a laboratory sends with a result beyond its values — specimen, collection and
//! receipt times, performing laboratory — and with each observation — its time, device and
//! reference range as written: the input types, their checks and their rows
//! (`result_details`, `observation_details`, written only when something was sent).

use chrono::{DateTime, SubsecRound, Utc};
use portal_entities::{observation, observation_detail, result_detail};
use serde::Serialize;
use uuid::Uuid;

use super::validate::{not_in_future, text};
use portal_core::error::ServiceResult;

/// The specimen and the laboratory of a result, as the laboratory sent them.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ResultDetails {
    /// When the specimen was collected (HL7 SPM-17, else OBR-7).
    pub collected_at: Option<DateTime<Utc>>,
    /// When the laboratory received the specimen (HL7 SPM-18, else OBR-14).
    pub received_at: Option<DateTime<Utc>>,
    pub specimen: Option<Specimen>,
    pub performing_laboratory: Option<PerformingLaboratory>,
}

/// The specimen type (a code, usually SNOMED CT) and its source site or description.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Specimen {
    pub type_code: Option<String>,
    pub type_display: Option<String>,
    pub type_system: Option<String>,
    pub source: Option<String>,
}

/// The laboratory that performed the test, as data: not resolved to a facility.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct PerformingLaboratory {
    pub name: Option<String>,
    /// The laboratory's identifier, e.g. its CLIA number.
    pub identifier: Option<String>,
    /// The kind of identifier (HL7 table 0203, e.g. `XX` organization identifier).
    pub identifier_type: Option<String>,
    /// Who assigned the identifier (e.g. `CLIA`, or an OID).
    pub identifier_system: Option<String>,
    /// The address on one line.
    pub address: Option<String>,
    /// The medical director's name.
    pub director: Option<String>,
}

/// What an observation carries beyond its value.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ObservationDetails {
    /// When the observation was made (HL7 OBX-14).
    pub observed_at: Option<DateTime<Utc>>,
    /// The device or test kit (HL7 OBX-17 text, OBX-18 instance identifier).
    pub device_name: Option<String>,
    pub device_identifier: Option<String>,
    /// The reference range as the laboratory wrote it (HL7 OBX-7).
    pub reference_range: Option<String>,
}

impl ResultDetails {
    fn is_empty(&self) -> bool {
        self == &Self::default()
    }

    /// Times not in the future, texts without control characters.
    pub(super) fn check(&self, at: &str) -> ServiceResult<()> {
        if let Some(t) = self.collected_at {
            not_in_future(t, &format!("{at}.collectedAt"))?;
        }
        if let Some(t) = self.received_at {
            not_in_future(t, &format!("{at}.receivedAt"))?;
        }
        if let Some(s) = &self.specimen {
            let at = format!("{at}.specimen");
            text(&s.type_code, &format!("{at}.typeCode"))?;
            text(&s.type_display, &format!("{at}.typeDisplay"))?;
            text(&s.type_system, &format!("{at}.typeSystem"))?;
            text(&s.source, &format!("{at}.source"))?;
        }
        if let Some(l) = &self.performing_laboratory {
            let at = format!("{at}.performingLaboratory");
            text(&l.name, &format!("{at}.name"))?;
            text(&l.identifier, &format!("{at}.identifier"))?;
            text(&l.identifier_type, &format!("{at}.identifierType"))?;
            text(&l.identifier_system, &format!("{at}.identifierSystem"))?;
            text(&l.address, &format!("{at}.address"))?;
            text(&l.director, &format!("{at}.director"))?;
        }
        Ok(())
    }

    /// The row of a result, when anything was sent.
    pub(super) fn row(&self, tenant_id: Uuid, result_id: Uuid) -> Option<result_detail::Model> {
        if self.is_empty() {
            return None;
        }
        let specimen = self.specimen.clone().unwrap_or_default();
        let lab = self.performing_laboratory.clone().unwrap_or_default();
        Some(result_detail::Model {
            result_id,
            tenant_id,
            collected_at: self.collected_at.map(|t| t.trunc_subsecs(6)),
            received_at: self.received_at.map(|t| t.trunc_subsecs(6)),
            specimen_type_code: specimen.type_code,
            specimen_type_display: specimen.type_display,
            specimen_type_system: specimen.type_system,
            specimen_source: specimen.source,
            lab_name: lab.name,
            lab_identifier: lab.identifier,
            lab_identifier_type: lab.identifier_type,
            lab_identifier_system: lab.identifier_system,
            lab_address: lab.address,
            lab_director: lab.director,
        })
    }
}

impl ObservationDetails {
    fn is_empty(&self) -> bool {
        self == &Self::default()
    }

    pub(super) fn check(&self, field: &str) -> ServiceResult<()> {
        if let Some(t) = self.observed_at {
            not_in_future(t, &format!("{field}.observedAt"))?;
        }
        text(&self.device_name, &format!("{field}.device"))?;
        text(
            &self.device_identifier,
            &format!("{field}.deviceIdentifier"),
        )?;
        text(&self.reference_range, &format!("{field}.referenceRange"))
    }

    pub(super) fn row(
        &self,
        observation: &observation::Model,
    ) -> Option<observation_detail::Model> {
        if self.is_empty() {
            return None;
        }
        Some(observation_detail::Model {
            observation_id: observation.id,
            tenant_id: observation.tenant_id,
            result_id: observation.result_id,
            observed_at: self.observed_at.map(|t| t.trunc_subsecs(6)),
            device_name: self.device_name.clone(),
            device_identifier: self.device_identifier.clone(),
            reference_range: self.reference_range.clone(),
        })
    }
}

/// The numeric bounds of a range as laboratories write it: `4.3-6.2`, `4.3 to 6.2`,
/// `<4.3`, `<=2`, `>10`, `>=2.079`; anything else (`Exon 7 Present`, `Negative`) has none.
pub fn bounds(range: &str) -> (Option<f64>, Option<f64>) {
    let r = range.trim();
    let number = |s: &str| s.trim().parse::<f64>().ok().filter(|v| v.is_finite());
    for prefix in ["<=", "<"] {
        if let Some(rest) = r.strip_prefix(prefix) {
            return (None, number(rest));
        }
    }
    for prefix in [">=", ">"] {
        if let Some(rest) = r.strip_prefix(prefix) {
            return (number(rest), None);
        }
    }
    for sep in [" to ", " - ", "-", "_"] {
        // A leading minus is a sign, not a separator.
        if let Some(i) = r.get(1..).and_then(|s| s.find(sep)).map(|i| i + 1)
            && let (Some(low), Some(high)) = (number(&r[..i]), number(&r[i + sep.len()..]))
        {
            return (Some(low), Some(high));
        }
    }
    (None, None)
}

/// The detail rows of a stored result and its observations (`stored` in the order given).
pub(super) fn rows(
    details: &ResultDetails,
    given: &[super::NewObservation],
    stored: &[observation::Model],
    tenant_id: Uuid,
    result_id: Uuid,
) -> (Option<result_detail::Model>, Vec<observation_detail::Model>) {
    let observations = given
        .iter()
        .zip(stored)
        .filter_map(|(new, row)| new.details.row(row))
        .collect();
    (details.row(tenant_id, result_id), observations)
}

#[cfg(test)]
mod tests {
    use super::bounds;

    #[test]
    fn ranges_as_laboratories_write_them() {
        assert_eq!(bounds("4.3 to 6.2"), (Some(4.3), Some(6.2)));
        assert_eq!(bounds("0.0 - 5.6"), (Some(0.0), Some(5.6)));
        assert_eq!(bounds("6.3-100"), (Some(6.3), Some(100.0)));
        assert_eq!(bounds("70_105"), (Some(70.0), Some(105.0)));
        assert_eq!(bounds("-2-2"), (Some(-2.0), Some(2.0)));
        assert_eq!(bounds("<1000"), (None, Some(1000.0)));
        assert_eq!(bounds(">=2.079"), (Some(2.079), None));
        assert_eq!(bounds("Exon 7 Present"), (None, None));
        assert_eq!(bounds("<9 mcg/dL:  Acceptable"), (None, None));
    }
}
