//! Master-data mutations for staff and admins (registration also for the lab): facilities,
//! clinicians, catalog tests, patients, coverages and claims. Each calls one service.

use async_graphql::{Context, ID, Object, Result, SimpleObject};
use portal_services::catalog::admin as catalog;
use portal_services::coverage::{claims, registration as coverage};
use portal_services::directory::admin as directory;
use portal_services::patients::registration as patients;

use crate::context::request;
use crate::error::GqlResult;
use crate::ids::{NodeType, decode};
use crate::types::catalog::TestCatalogItem;
use crate::types::common::{Clinician, Facility};
use crate::types::coverage::{Claim, Coverage};
use crate::types::master_data::{
    AddClaimInput, AddCoverageInput, CreateCatalogTestInput, CreateClinicianInput,
    CreateFacilityInput, RegisterPatientInput, UpdateCatalogTestInput, UpdateClaimInput,
    UpdateClinicianInput, UpdateCoverageInput, UpdateFacilityInput, UpdatePatientInput,
};
use crate::types::patient::Patient;

#[derive(Default)]
pub struct MasterDataMutation;

#[derive(SimpleObject)]
pub struct FacilityPayload {
    pub facility: Facility,
}

#[derive(SimpleObject)]
pub struct ClinicianPayload {
    pub clinician: Clinician,
}

#[derive(SimpleObject)]
pub struct CatalogTestPayload {
    pub test: TestCatalogItem,
}

#[derive(SimpleObject)]
pub struct PatientPayload {
    pub patient: Patient,
}

#[derive(SimpleObject)]
pub struct CoveragePayload {
    pub coverage: Coverage,
}

#[derive(SimpleObject)]
pub struct ClaimPayload {
    pub claim: Claim,
}

#[Object]
impl MasterDataMutation {
    /// Adds a facility (staff, admin). The fields follow the master-data rules (e.g. a CLIA
    /// number is two digits, D, seven digits); each call adds a new facility.
    async fn create_facility(
        &self,
        ctx: &Context<'_>,
        input: CreateFacilityInput,
    ) -> Result<FacilityPayload> {
        let row = directory::create_facility(request(ctx)?, input.into())
            .await
            .gql()?;
        Ok(FacilityPayload {
            facility: Facility(row),
        })
    }

    /// Changes the fields given of a facility (staff, admin); repeating it changes nothing.
    async fn update_facility(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateFacilityInput,
    ) -> Result<FacilityPayload> {
        let id = decode(&id, NodeType::Facility, "id").gql()?;
        let row = directory::update_facility(request(ctx)?, id, input.into())
            .await
            .gql()?;
        Ok(FacilityPayload {
            facility: Facility(row),
        })
    }

    /// Adds a clinician; an NPI already in the organisation is a CONFLICT (staff, admin).
    async fn create_clinician(
        &self,
        ctx: &Context<'_>,
        input: CreateClinicianInput,
    ) -> Result<ClinicianPayload> {
        let row = directory::create_clinician(request(ctx)?, input.into())
            .await
            .gql()?;
        Ok(ClinicianPayload {
            clinician: Clinician(row),
        })
    }

    /// Changes the fields given of a clinician (staff, admin); repeating it changes nothing.
    async fn update_clinician(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateClinicianInput,
    ) -> Result<ClinicianPayload> {
        let id = decode(&id, NodeType::Clinician, "id").gql()?;
        let row = directory::update_clinician(request(ctx)?, id, input.into())
            .await
            .gql()?;
        Ok(ClinicianPayload {
            clinician: Clinician(row),
        })
    }

    /// Adds a test with its analytes to the catalog; a code already there is a CONFLICT.
    async fn create_catalog_test(
        &self,
        ctx: &Context<'_>,
        input: CreateCatalogTestInput,
    ) -> Result<CatalogTestPayload> {
        let row = catalog::create(request(ctx)?, input.into()).await.gql()?;
        Ok(CatalogTestPayload {
            test: TestCatalogItem(row),
        })
    }

    /// Changes the fields given of a catalog test; `analytes` replaces its analytes.
    async fn update_catalog_test(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateCatalogTestInput,
    ) -> Result<CatalogTestPayload> {
        let id = decode(&id, NodeType::TestCatalogItem, "id").gql()?;
        let row = catalog::update(request(ctx)?, id, input.into())
            .await
            .gql()?;
        Ok(CatalogTestPayload {
            test: TestCatalogItem(row),
        })
    }

    /// Registers a new patient; an MRN already in the organisation is a CONFLICT (staff,
    /// admin, lab).
    async fn register_patient(
        &self,
        ctx: &Context<'_>,
        input: RegisterPatientInput,
    ) -> Result<PatientPayload> {
        let (access, row) = patients::create(request(ctx)?, input.into()).await.gql()?;
        Ok(PatientPayload {
            patient: Patient::new(row, access),
        })
    }

    /// Changes the demographics given of a patient (staff, admin, lab); repeating it changes
    /// nothing.
    async fn update_patient(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdatePatientInput,
    ) -> Result<PatientPayload> {
        let id = decode(&id, NodeType::Patient, "id").gql()?;
        let (access, row) = patients::update(request(ctx)?, id, input.into())
            .await
            .gql()?;
        Ok(PatientPayload {
            patient: Patient::new(row, access),
        })
    }

    /// Adds a coverage to a patient; the same payer and member id again is a CONFLICT.
    async fn add_coverage(
        &self,
        ctx: &Context<'_>,
        patient_id: ID,
        input: AddCoverageInput,
    ) -> Result<CoveragePayload> {
        let patient_id = decode(&patient_id, NodeType::Patient, "patientId").gql()?;
        let row = coverage::add_coverage(request(ctx)?, patient_id, input.into())
            .await
            .gql()?;
        Ok(CoveragePayload {
            coverage: Coverage(row),
        })
    }

    /// Changes the fields given of a coverage (staff, admin, lab); repeating it changes
    /// nothing.
    async fn update_coverage(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateCoverageInput,
    ) -> Result<CoveragePayload> {
        let id = decode(&id, NodeType::Coverage, "id").gql()?;
        let row = coverage::update_coverage(request(ctx)?, id, input.into())
            .await
            .gql()?;
        Ok(CoveragePayload {
            coverage: Coverage(row),
        })
    }

    /// Adds a claim to a coverage; a claim number already used is a CONFLICT (staff, admin).
    async fn add_claim(
        &self,
        ctx: &Context<'_>,
        coverage_id: ID,
        input: AddClaimInput,
    ) -> Result<ClaimPayload> {
        let coverage_id = decode(&coverage_id, NodeType::Coverage, "coverageId").gql()?;
        let row = claims::add(request(ctx)?, coverage_id, input.into())
            .await
            .gql()?;
        Ok(ClaimPayload { claim: Claim(row) })
    }

    /// Changes the fields given of a claim (staff, admin); repeating it changes nothing.
    async fn update_claim(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateClaimInput,
    ) -> Result<ClaimPayload> {
        let id = decode(&id, NodeType::Claim, "id").gql()?;
        let row = claims::update(request(ctx)?, id, input.into())
            .await
            .gql()?;
        Ok(ClaimPayload { claim: Claim(row) })
    }
}
