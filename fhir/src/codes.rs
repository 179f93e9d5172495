//! The code systems and value mappings between the portal's model and FHIR R4: statuses,
//! categories, interpretation flags, LOINC and UCUM recognition. Tables, not logic.

use portal_entities::{
    AppointmentStatus, ClaimStatus, CodeSystem, CoverageStatus, Interpretation, OrderStatus,
    ResultStatus, TestCategory,
};

pub const LOINC: &str = "http://loinc.org";
pub const UCUM: &str = "http://unitsofmeasure.org";
pub const SNOMED: &str = "http://snomed.info/sct";
/// Codes of the portal's own catalog that are not LOINC.
pub const LOCAL_CODE: &str = "urn:portal:code";
/// The portal's medical record numbers (Patient.identifier, type MR).
pub const MRN: &str = "urn:portal:mrn";
pub const NPI: &str = "http://hl7.org/fhir/sid/us-npi";
/// CLIA numbers (the OID CMS assigned to them).
pub const CLIA: &str = "urn:oid:2.16.840.1.113883.4.7";
/// Identifiers that are the portal's own UUIDs (`urn:uuid:<id>`).
pub const URN_UUID: &str = "urn:ietf:rfc:3986";
pub const DICOM_UID: &str = "urn:dicom:uid";
pub const V2_0074: &str = "http://terminology.hl7.org/CodeSystem/v2-0074";
pub const V2_0203: &str = "http://terminology.hl7.org/CodeSystem/v2-0203";
pub const OBSERVATION_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/observation-category";
pub const INTERPRETATION: &str =
    "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation";
pub const ORGANIZATION_TYPE: &str = "http://terminology.hl7.org/CodeSystem/organization-type";
pub const COVERAGE_CLASS: &str = "http://terminology.hl7.org/CodeSystem/coverage-class";
pub const CLAIM_TYPE: &str = "http://terminology.hl7.org/CodeSystem/claim-type";
pub const ADJUDICATION: &str = "http://terminology.hl7.org/CodeSystem/adjudication";
pub const CARIN_ADJUDICATION: &str = "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBAdjudication";

/// DiagnosticReport.status and Observation.status of a result version.
pub fn result_status(status: ResultStatus) -> &'static str {
    match status {
        ResultStatus::Preliminary => "preliminary",
        ResultStatus::Final => "final",
        ResultStatus::Corrected => "corrected",
        ResultStatus::EnteredInError => "entered-in-error",
    }
}

/// The result statuses a `status` search value matches: `None` when the value is not a
/// DiagnosticReport/Observation status at all; FHIR statuses the portal never stores match
/// no result.
pub fn result_statuses_of(value: &str) -> Option<Vec<ResultStatus>> {
    let stored = [
        ResultStatus::Preliminary,
        ResultStatus::Final,
        ResultStatus::Corrected,
        ResultStatus::EnteredInError,
    ];
    if let Some(found) = stored.into_iter().find(|s| result_status(*s) == value) {
        return Some(vec![found]);
    }
    const NEVER_STORED: [&str; 6] = [
        "registered",
        "partial",
        "amended",
        "appended",
        "cancelled",
        "unknown",
    ];
    NEVER_STORED.contains(&value).then(Vec::new)
}

/// DiagnosticReport.category (HL7 v2 table 0074, diagnostic service section).
pub fn report_category(category: TestCategory) -> (&'static str, &'static str) {
    match category {
        TestCategory::Lab => ("LAB", "Laboratory"),
        TestCategory::Imaging => ("RAD", "Radiology"),
    }
}

pub fn report_category_of(code: &str) -> Option<TestCategory> {
    match code {
        "LAB" => Some(TestCategory::Lab),
        "RAD" => Some(TestCategory::Imaging),
        _ => None,
    }
}

/// Observation.category (the FHIR observation-category code system).
pub fn observation_category(category: TestCategory) -> (&'static str, &'static str) {
    match category {
        TestCategory::Lab => ("laboratory", "Laboratory"),
        TestCategory::Imaging => ("imaging", "Imaging"),
    }
}

pub fn observation_category_of(code: &str) -> Option<TestCategory> {
    match code {
        "laboratory" => Some(TestCategory::Lab),
        "imaging" => Some(TestCategory::Imaging),
        _ => None,
    }
}

/// Observation.interpretation (v3 ObservationInterpretation).
pub fn interpretation(flag: Interpretation) -> (&'static str, &'static str) {
    match flag {
        Interpretation::Normal => ("N", "Normal"),
        Interpretation::Low => ("L", "Low"),
        Interpretation::High => ("H", "High"),
        Interpretation::CriticalLow => ("LL", "Critical low"),
        Interpretation::CriticalHigh => ("HH", "Critical high"),
        Interpretation::Abnormal => ("A", "Abnormal"),
    }
}

/// The system of a catalog test code.
pub fn test_code_system(system: CodeSystem) -> &'static str {
    match system {
        CodeSystem::Loinc => LOINC,
        CodeSystem::Local => LOCAL_CODE,
    }
}

pub fn test_code_system_of(uri: &str) -> Option<CodeSystem> {
    match uri {
        LOINC => Some(CodeSystem::Loinc),
        LOCAL_CODE => Some(CodeSystem::Local),
        _ => None,
    }
}

/// The system of an analyte code: observations carry no system of their own, so a code is
/// LOINC when it has LOINC's shape and its mod-10 check digit is right, local otherwise.
pub fn analyte_system(code: &str) -> &'static str {
    if is_loinc(code) { LOINC } else { LOCAL_CODE }
}

/// `nnnnn-d` where `d` is the LOINC check digit of `nnnnn` (the mod-10 Luhn algorithm).
pub fn is_loinc(code: &str) -> bool {
    let Some((body, check)) = code.split_once('-') else {
        return false;
    };
    let digits: Option<Vec<u32>> = body.chars().map(|c| c.to_digit(10)).collect();
    let check = match check.as_bytes() {
        [c] if c.is_ascii_digit() => u32::from(c - b'0'),
        _ => return false,
    };
    let Some(digits) = digits.filter(|d| (1..=7).contains(&d.len())) else {
        return false;
    };
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| match i % 2 {
            0 => (d * 2) / 10 + (d * 2) % 10,
            _ => *d,
        })
        .sum();
    (10 - sum % 10) % 10 == check
}

/// A coded value's system: SNOMED CT for numeric concept ids, none otherwise (the portal
/// stores no system with coded values).
pub fn value_code_system(code: &str) -> Option<&'static str> {
    let numeric = (6..=18).contains(&code.len()) && code.chars().all(|c| c.is_ascii_digit());
    numeric.then_some(SNOMED)
}

/// Units that are valid UCUM codes as written (the ones laboratories send); any other unit is
/// shown as text only, without a UCUM code.
const UCUM_UNITS: &[&str] = &[
    "%",
    "10*3/uL",
    "10*6/uL",
    "10*9/L",
    "10*12/L",
    "g/dL",
    "g/L",
    "mg/dL",
    "mg/L",
    "ug/dL",
    "ug/L",
    "ng/mL",
    "ng/dL",
    "pg/mL",
    "pg",
    "fL",
    "mmol/L",
    "umol/L",
    "nmol/L",
    "pmol/L",
    "mmol/mol",
    "meq/L",
    "[IU]/L",
    "m[IU]/L",
    "[iU]/L",
    "m[iU]/L",
    "U/L",
    "mU/L",
    "mL/min",
    "mL/min/{1.73_m2}",
    "mm/h",
    "s",
    "min",
    "h",
    "kg",
    "g",
    "cm",
    "mm[Hg]",
    "/min",
    "{ratio}",
    "[pH]",
    "mosm/kg",
    "cells/uL",
    "/uL",
    "/[HPF]",
    "/[LPF]",
];

pub fn is_ucum(unit: &str) -> bool {
    UCUM_UNITS.contains(&unit)
}

/// Coverage.status.
pub fn coverage_status(status: CoverageStatus) -> &'static str {
    match status {
        CoverageStatus::Active => "active",
        CoverageStatus::Cancelled => "cancelled",
        CoverageStatus::EnteredInError => "entered-in-error",
    }
}

/// ExplanationOfBenefit.outcome: adjudicated claims are complete, the others queued.
pub fn claim_outcome(status: ClaimStatus) -> &'static str {
    match status {
        ClaimStatus::Submitted | ClaimStatus::Processing => "queued",
        ClaimStatus::Paid | ClaimStatus::Denied | ClaimStatus::Adjusted => "complete",
    }
}

/// Appointment.status.
pub fn appointment_status(status: AppointmentStatus) -> &'static str {
    match status {
        AppointmentStatus::Booked => "booked",
        AppointmentStatus::Cancelled => "cancelled",
        AppointmentStatus::Completed => "fulfilled",
        AppointmentStatus::NoShow => "noshow",
    }
}

/// ServiceRequest.status.
pub fn order_status(status: OrderStatus) -> &'static str {
    match status {
        OrderStatus::Pending => "active",
        OrderStatus::Completed => "completed",
        OrderStatus::Cancelled => "revoked",
    }
}

/// ServiceRequest.category (SNOMED CT procedure kinds).
pub fn order_category(category: TestCategory) -> (&'static str, &'static str) {
    match category {
        TestCategory::Lab => ("108252007", "Laboratory procedure"),
        TestCategory::Imaging => ("363679005", "Imaging"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loinc_codes_are_recognised_by_their_check_digit() {
        for code in [
            "718-7", "2093-3", "4548-4", "58410-2", "56888-1", "789-8", "36643-5",
        ] {
            assert!(is_loinc(code), "{code}");
        }
        for code in [
            "718-6",
            "obs-0",
            "58410",
            "-2",
            "12345678-9",
            "718-77",
            "a18-7",
        ] {
            assert!(!is_loinc(code), "{code}");
        }
    }

    #[test]
    fn search_statuses_are_strict() {
        assert_eq!(result_statuses_of("final"), Some(vec![ResultStatus::Final]));
        assert_eq!(result_statuses_of("amended"), Some(vec![]));
        assert_eq!(result_statuses_of("FINAL"), None);
    }

    #[test]
    fn only_known_ucum_units_get_a_code() {
        assert!(is_ucum("10*3/uL"));
        assert!(!is_ucum("K/uL"));
    }
}
