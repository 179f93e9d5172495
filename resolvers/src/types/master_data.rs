//! Typed inputs of the master-data mutations and their conversion into service patches.
//! In an update, an omitted field stays as it is and `null` (or a blank string) clears an
//! optional one.

use async_graphql::{ID, InputObject, MaybeUndefined};
use chrono::NaiveDate;
use portal_services::catalog::admin::{AnalyteInput as ServiceAnalyte, CatalogTestPatch};
use portal_services::coverage::claims::ClaimPatch;
use portal_services::coverage::registration::{CoveragePatch, CoverageRecord};
use portal_services::directory::admin::{ClinicianPatch, FacilityPatch};
use portal_services::directory::code_map::CodeMapEntry;
use portal_services::directory::identifiers::FacilityIdentifier;
use portal_services::master::{Patch, blank_clears};
use portal_services::patients::registration::PatientPatch;
use uuid::Uuid;

use crate::ids::{NodeType, decode};

use super::enums::{ClaimStatus, CodeSystem, CoverageStatus, TestCategory, ValueType};

/// Omitted keeps, `null` clears, a value sets (blank clears).
fn text(value: MaybeUndefined<String>) -> Patch<String> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => blank_clears(Some(v)),
    }
}

fn value<T>(value: MaybeUndefined<T>) -> Patch<T> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(v)),
    }
}

/// An alias identifier of a facility, as HL7 v2 names a sender (HD).
#[derive(InputObject)]
pub struct FacilityIdentifierInput {
    /// HD.1, e.g. a local name `EASTLAB`.
    pub namespace_id: Option<String>,
    /// HD.2, e.g. an OID `2.16.840.1.113883.3.8589`.
    pub universal_id: Option<String>,
    /// HD.3: CLIA, ISO (an OID), DNS or L (local).
    pub universal_id_type: Option<String>,
}

fn identifiers(given: Option<Vec<FacilityIdentifierInput>>) -> Option<Vec<FacilityIdentifier>> {
    given.map(|list| {
        list.into_iter()
            .map(|i| FacilityIdentifier {
                namespace_id: i.namespace_id,
                universal_id: i.universal_id,
                universal_id_type: i.universal_id_type,
            })
            .collect()
    })
}

/// A local code of a sending facility and the catalog code it stands for.
#[derive(InputObject)]
pub struct CodeMapEntryInput {
    /// The code as the sender writes it (HL7 CWE.1 or CWE.4).
    pub local_code: String,
    /// Its coding system (CWE.3 or CWE.6); omitted: any system.
    pub local_system: Option<String>,
    /// The catalog test or analyte code.
    pub code: String,
}

fn code_map(given: Option<Vec<CodeMapEntryInput>>) -> Option<Vec<CodeMapEntry>> {
    given.map(|list| {
        list.into_iter()
            .map(|e| CodeMapEntry {
                local_code: e.local_code,
                local_system: e.local_system,
                code: e.code,
            })
            .collect()
    })
}

#[derive(InputObject)]
pub struct CreateFacilityInput {
    pub name: String,
    /// Two digits, D, seven digits (e.g. 05D2101234).
    pub clia_number: Option<String>,
    /// The street line(s).
    pub address: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
    pub phone: Option<String>,
    /// HL7 ORU from this sending facility: store the valid ORC/OBR groups and answer AE
    /// for the others (default false: a message is stored whole or not at all).
    pub accept_valid_groups: Option<bool>,
    /// Other identifiers HL7 messages name the facility by (MSH-4, OBX-23).
    pub identifiers: Option<Vec<FacilityIdentifierInput>>,
    /// The facility's local codes mapped to catalog codes (HL7 OBR-4, OBX-3).
    pub code_map: Option<Vec<CodeMapEntryInput>>,
    /// The clinician public-health reports name when an order names none.
    pub default_ordering_clinician_id: Option<ID>,
}

/// A clinician's global id; one that is not a clinician's becomes the nil id, which the
/// service refuses as BAD_USER_INPUT on `input.defaultOrderingClinicianId`.
fn clinician_id(id: ID) -> Uuid {
    decode(&id, NodeType::Clinician, "input.defaultOrderingClinicianId").unwrap_or(Uuid::nil())
}

impl From<CreateFacilityInput> for FacilityPatch {
    fn from(i: CreateFacilityInput) -> Self {
        Self {
            name: Some(i.name),
            clia_number: blank_clears(i.clia_number),
            address: blank_clears(i.address),
            city: blank_clears(i.city),
            state: blank_clears(i.state),
            postal_code: blank_clears(i.postal_code),
            country: blank_clears(i.country),
            phone: blank_clears(i.phone),
            default_ordering_clinician_id: i
                .default_ordering_clinician_id
                .map(|id| Some(clinician_id(id))),
            accept_valid_groups: i.accept_valid_groups,
            identifiers: identifiers(i.identifiers),
            code_map: code_map(i.code_map),
        }
    }
}

#[derive(InputObject)]
pub struct UpdateFacilityInput {
    pub name: Option<String>,
    pub clia_number: MaybeUndefined<String>,
    pub address: MaybeUndefined<String>,
    pub city: MaybeUndefined<String>,
    pub state: MaybeUndefined<String>,
    pub postal_code: MaybeUndefined<String>,
    pub country: MaybeUndefined<String>,
    pub phone: MaybeUndefined<String>,
    pub default_ordering_clinician_id: MaybeUndefined<ID>,
    /// See `CreateFacilityInput.acceptValidGroups`.
    pub accept_valid_groups: Option<bool>,
    /// Replaces the facility's alias identifiers when given (`[]` removes them).
    pub identifiers: Option<Vec<FacilityIdentifierInput>>,
    /// Replaces the facility's code map when given (`[]` removes it).
    pub code_map: Option<Vec<CodeMapEntryInput>>,
}

impl From<UpdateFacilityInput> for FacilityPatch {
    fn from(i: UpdateFacilityInput) -> Self {
        Self {
            name: i.name,
            clia_number: text(i.clia_number),
            address: text(i.address),
            city: text(i.city),
            state: text(i.state),
            postal_code: text(i.postal_code),
            country: text(i.country),
            phone: text(i.phone),
            default_ordering_clinician_id: value(
                i.default_ordering_clinician_id.map_value(clinician_id),
            ),
            accept_valid_groups: i.accept_valid_groups,
            identifiers: identifiers(i.identifiers),
            code_map: code_map(i.code_map),
        }
    }
}

#[derive(InputObject)]
pub struct CreateClinicianInput {
    /// As patients see it, e.g. "Dr. Maya Patel".
    pub display_name: String,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    /// National Provider Identifier: 10 digits with a valid check digit; unique in the
    /// organisation.
    pub npi: Option<String>,
    /// The identity-provider subject of the clinician's login.
    pub user_subject: Option<String>,
}

impl From<CreateClinicianInput> for ClinicianPatch {
    fn from(i: CreateClinicianInput) -> Self {
        Self {
            display_name: Some(i.display_name),
            given_name: blank_clears(i.given_name),
            family_name: blank_clears(i.family_name),
            npi: blank_clears(i.npi),
            user_subject: blank_clears(i.user_subject),
        }
    }
}

#[derive(InputObject)]
pub struct UpdateClinicianInput {
    pub display_name: Option<String>,
    pub given_name: MaybeUndefined<String>,
    pub family_name: MaybeUndefined<String>,
    pub npi: MaybeUndefined<String>,
    pub user_subject: MaybeUndefined<String>,
}

impl From<UpdateClinicianInput> for ClinicianPatch {
    fn from(i: UpdateClinicianInput) -> Self {
        Self {
            display_name: i.display_name,
            given_name: text(i.given_name),
            family_name: text(i.family_name),
            npi: text(i.npi),
            user_subject: text(i.user_subject),
        }
    }
}

/// One analyte of a catalog test, in the order results report them.
#[derive(InputObject)]
pub struct CatalogAnalyteInput {
    pub code: String,
    pub display_name: String,
    pub value_type: ValueType,
    pub unit: Option<String>,
    pub reference_low: Option<f64>,
    pub reference_high: Option<f64>,
    pub reference_text: Option<String>,
    /// Whether rows of this analyte go to public health when the test is reportable.
    #[graphql(default = true)]
    pub reportable: bool,
}

fn analytes(list: Vec<CatalogAnalyteInput>) -> Vec<ServiceAnalyte> {
    list.into_iter()
        .map(|a| ServiceAnalyte {
            code: a.code,
            display_name: a.display_name,
            value_type: a.value_type.into(),
            unit: a.unit,
            reference_low: a.reference_low,
            reference_high: a.reference_high,
            reference_text: a.reference_text,
            reportable: a.reportable,
        })
        .collect()
}

#[derive(InputObject)]
pub struct CreateCatalogTestInput {
    /// A LOINC code (`94500-6`) when `codeSystem` is LOINC; unique in the organisation.
    pub code: String,
    pub code_system: CodeSystem,
    pub display_name: String,
    pub category: TestCategory,
    pub specimen: Option<String>,
    pub unit: Option<String>,
    pub reference_low: Option<f64>,
    pub reference_high: Option<f64>,
    pub reference_text: Option<String>,
    /// Patients may hold results of sensitive tests until discussed.
    #[graphql(default)]
    pub sensitive: bool,
    /// Results are reported to public health.
    #[graphql(default)]
    pub reportable: bool,
    /// The instrument or test kit model public-health rows name (`equipment_model_name`).
    pub device_model: Option<String>,
    #[graphql(default)]
    pub analytes: Vec<CatalogAnalyteInput>,
}

impl From<CreateCatalogTestInput> for CatalogTestPatch {
    fn from(i: CreateCatalogTestInput) -> Self {
        Self {
            code: Some(i.code),
            code_system: Some(i.code_system.into()),
            display_name: Some(i.display_name),
            category: Some(i.category.into()),
            specimen: blank_clears(i.specimen),
            unit: blank_clears(i.unit),
            reference_low: i.reference_low.map(Some),
            reference_high: i.reference_high.map(Some),
            reference_text: blank_clears(i.reference_text),
            sensitive: Some(i.sensitive),
            reportable: Some(i.reportable),
            device_model: blank_clears(i.device_model),
            analytes: Some(analytes(i.analytes)),
        }
    }
}

#[derive(InputObject)]
pub struct UpdateCatalogTestInput {
    pub code: Option<String>,
    pub code_system: Option<CodeSystem>,
    pub display_name: Option<String>,
    pub category: Option<TestCategory>,
    pub specimen: MaybeUndefined<String>,
    pub unit: MaybeUndefined<String>,
    pub reference_low: MaybeUndefined<f64>,
    pub reference_high: MaybeUndefined<f64>,
    pub reference_text: MaybeUndefined<String>,
    pub sensitive: Option<bool>,
    pub reportable: Option<bool>,
    pub device_model: MaybeUndefined<String>,
    /// Replaces the test's analytes when given.
    pub analytes: Option<Vec<CatalogAnalyteInput>>,
}

impl From<UpdateCatalogTestInput> for CatalogTestPatch {
    fn from(i: UpdateCatalogTestInput) -> Self {
        Self {
            code: i.code,
            code_system: i.code_system.map(Into::into),
            display_name: i.display_name,
            category: i.category.map(Into::into),
            specimen: text(i.specimen),
            unit: text(i.unit),
            reference_low: value(i.reference_low),
            reference_high: value(i.reference_high),
            reference_text: text(i.reference_text),
            sensitive: i.sensitive,
            reportable: i.reportable,
            device_model: text(i.device_model),
            analytes: i.analytes.map(analytes),
        }
    }
}

/// A postal address. In `updatePatient`, a given address replaces the fields it names.
#[derive(InputObject, Default)]
pub struct AddressInput {
    pub line1: MaybeUndefined<String>,
    pub line2: MaybeUndefined<String>,
    pub city: MaybeUndefined<String>,
    pub state: MaybeUndefined<String>,
    pub postal_code: MaybeUndefined<String>,
    /// County or parish.
    pub county: MaybeUndefined<String>,
    /// ISO 3166 code, e.g. USA.
    pub country: MaybeUndefined<String>,
}

#[derive(InputObject)]
pub struct RegisterPatientInput {
    /// Medical record number, unique in the organisation.
    pub mrn: String,
    pub given_name: String,
    pub family_name: String,
    pub birth_date: NaiveDate,
    /// Administrative sex, HL7 table 0001: F, M, O, U, A, N.
    pub sex: Option<String>,
    /// CDC race code (HL7 table 0005), e.g. 2106-3.
    pub race: Option<String>,
    /// HL7 table 0189 (H, N, U) or CDC 2135-2 / 2186-5.
    pub ethnicity: Option<String>,
    pub address: Option<AddressInput>,
    pub phone: Option<String>,
    pub email: Option<String>,
    /// Preferred language, e.g. en, es-MX.
    pub language: Option<String>,
}

#[derive(InputObject)]
pub struct UpdatePatientInput {
    pub mrn: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub birth_date: Option<NaiveDate>,
    pub sex: MaybeUndefined<String>,
    pub race: MaybeUndefined<String>,
    pub ethnicity: MaybeUndefined<String>,
    pub address: Option<AddressInput>,
    pub phone: MaybeUndefined<String>,
    pub email: MaybeUndefined<String>,
    pub language: MaybeUndefined<String>,
}

fn with_address(mut patch: PatientPatch, address: Option<AddressInput>) -> PatientPatch {
    let a = address.unwrap_or_default();
    patch.address_line1 = text(a.line1);
    patch.address_line2 = text(a.line2);
    patch.city = text(a.city);
    patch.state = text(a.state);
    patch.postal_code = text(a.postal_code);
    patch.county = text(a.county);
    patch.country = text(a.country);
    patch
}

impl From<RegisterPatientInput> for PatientPatch {
    fn from(i: RegisterPatientInput) -> Self {
        let patch = Self {
            mrn: Some(i.mrn),
            given_name: Some(i.given_name),
            family_name: Some(i.family_name),
            birth_date: Some(i.birth_date),
            sex: blank_clears(i.sex),
            race: blank_clears(i.race),
            ethnicity: blank_clears(i.ethnicity),
            phone: blank_clears(i.phone),
            email: blank_clears(i.email),
            language: blank_clears(i.language),
            ..Self::default()
        };
        with_address(patch, i.address)
    }
}

impl From<UpdatePatientInput> for PatientPatch {
    fn from(i: UpdatePatientInput) -> Self {
        let patch = Self {
            mrn: i.mrn,
            given_name: i.given_name,
            family_name: i.family_name,
            birth_date: i.birth_date,
            sex: text(i.sex),
            race: text(i.race),
            ethnicity: text(i.ethnicity),
            phone: text(i.phone),
            email: text(i.email),
            language: text(i.language),
            ..Self::default()
        };
        with_address(patch, i.address)
    }
}

#[derive(InputObject)]
pub struct AddCoverageInput {
    /// The payer's identifier (IN1-3).
    pub payer_id: Option<String>,
    pub payer_name: String,
    pub plan: Option<String>,
    pub member_id: String,
    pub group_number: Option<String>,
    /// Defaults to today.
    pub period_start: Option<NaiveDate>,
    pub period_end: Option<NaiveDate>,
}

impl From<AddCoverageInput> for CoverageRecord {
    fn from(i: AddCoverageInput) -> Self {
        Self {
            payer_id: i.payer_id,
            payer_name: i.payer_name,
            plan: i.plan,
            member_id: i.member_id,
            group_number: i.group_number,
            period_start: i.period_start,
            period_end: i.period_end,
        }
    }
}

#[derive(InputObject)]
pub struct UpdateCoverageInput {
    pub payer_id: MaybeUndefined<String>,
    pub payer_name: Option<String>,
    pub plan: Option<String>,
    pub member_id: Option<String>,
    pub group_number: MaybeUndefined<String>,
    pub period_start: Option<NaiveDate>,
    pub period_end: MaybeUndefined<NaiveDate>,
    pub status: Option<CoverageStatus>,
}

impl From<UpdateCoverageInput> for CoveragePatch {
    fn from(i: UpdateCoverageInput) -> Self {
        Self {
            payer_id: text(i.payer_id),
            payer_name: i.payer_name,
            plan: i.plan,
            member_id: i.member_id,
            group_number: text(i.group_number),
            period_start: i.period_start,
            period_end: value(i.period_end),
            status: i.status.map(Into::into),
        }
    }
}

#[derive(InputObject)]
pub struct AddClaimInput {
    /// Unique in the organisation.
    pub claim_number: String,
    pub service_date: NaiveDate,
    pub description: String,
    /// Minor units (cents).
    pub billed_cents: i64,
    #[graphql(default)]
    pub allowed_cents: i64,
    #[graphql(default)]
    pub patient_responsibility_cents: i64,
    /// ISO 4217; defaults to USD.
    pub currency: Option<String>,
    /// Defaults to SUBMITTED.
    pub status: Option<ClaimStatus>,
}

impl From<AddClaimInput> for ClaimPatch {
    fn from(i: AddClaimInput) -> Self {
        Self {
            claim_number: Some(i.claim_number),
            service_date: Some(i.service_date),
            description: Some(i.description),
            billed_cents: Some(i.billed_cents),
            allowed_cents: Some(i.allowed_cents),
            patient_responsibility_cents: Some(i.patient_responsibility_cents),
            currency: i.currency,
            status: i.status.map(Into::into),
        }
    }
}

#[derive(InputObject)]
pub struct UpdateClaimInput {
    pub claim_number: Option<String>,
    pub service_date: Option<NaiveDate>,
    pub description: Option<String>,
    pub billed_cents: Option<i64>,
    pub allowed_cents: Option<i64>,
    pub patient_responsibility_cents: Option<i64>,
    pub currency: Option<String>,
    pub status: Option<ClaimStatus>,
}

impl From<UpdateClaimInput> for ClaimPatch {
    fn from(i: UpdateClaimInput) -> Self {
        Self {
            claim_number: i.claim_number,
            service_date: i.service_date,
            description: i.description,
            billed_cents: i.billed_cents,
            allowed_cents: i.allowed_cents,
            patient_responsibility_cents: i.patient_responsibility_cents,
            currency: i.currency,
            status: i.status.map(Into::into),
        }
    }
}

/// `Viewer.patients(search:)`: every given criterion must match.
#[derive(InputObject, Default)]
pub struct PatientSearchInput {
    /// Words, each the start of the given or family name, any case ("kim d").
    pub name: Option<String>,
    /// The exact MRN.
    pub mrn: Option<String>,
    pub birth_date: Option<NaiveDate>,
}
