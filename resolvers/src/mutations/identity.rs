//! Patient identity mutations for staff and admins: an assigning authority (the
//! organisation's own, or a sending facility's with its walk-in rules), and the decision on
//! a patient match. Each calls one service.

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use portal_services::directory::authorities::{self, AuthorityInput};
use portal_services::patients::matching::{self, Resolution};

use crate::context::request;
use crate::error::GqlResult;
use crate::ids::{NodeType, decode};
use crate::types::identity::{PatientIdAuthority, PatientMatch, PatientMatchResolution};

#[derive(Default)]
pub struct IdentityMutation;

/// An assigning authority (HL7 HD) and, for a sending facility's, its walk-in rules.
#[derive(InputObject)]
pub struct PatientIdAuthorityInput {
    /// HD.1 namespace id (e.g. `LABA`).
    pub namespace: Option<String>,
    /// HD.2 universal id (e.g. an OID).
    pub universal_id: Option<String>,
    /// HD.3 (HL7 table 0301: ISO, DNS, UUID, CLIA...); required with a universal id.
    pub universal_id_type: Option<String>,
    /// Register the patient of an ORU whose identifier no patient holds (default off).
    #[graphql(default)]
    pub registers_patients: bool,
    /// Send result links to adult walk-ins registered from this facility's ORUs (default off).
    #[graphql(default)]
    pub sends_result_links: bool,
}

#[derive(SimpleObject)]
pub struct PatientIdAuthorityPayload {
    pub authority: PatientIdAuthority,
}

#[derive(SimpleObject)]
pub struct PatientMatchPayload {
    pub patient_match: PatientMatch,
}

#[Object]
impl IdentityMutation {
    /// Sets the assigning authority of a sending facility's patient identifiers, or without
    /// `facilityId` the organisation's own (its MRNs); staff, admin.
    async fn set_patient_id_authority(
        &self,
        ctx: &Context<'_>,
        facility_id: Option<ID>,
        input: PatientIdAuthorityInput,
    ) -> Result<PatientIdAuthorityPayload> {
        let facility_id = facility_id
            .map(|id| decode(&id, NodeType::Facility, "facilityId"))
            .transpose()
            .gql()?;
        let input = AuthorityInput {
            namespace: input.namespace,
            universal_id: input.universal_id,
            universal_id_type: input.universal_id_type,
            registers_patients: input.registers_patients,
            sends_result_links: input.sends_result_links,
        };
        let row = authorities::set(request(ctx)?, facility_id, input)
            .await
            .gql()?;
        Ok(PatientIdAuthorityPayload {
            authority: PatientIdAuthority(row),
        })
    }

    /// Decides a patient match: LINK gives the identifier to the candidate, REGISTER
    /// registers a new patient with it (staff, admin). Replay the waiting message after.
    async fn resolve_patient_match(
        &self,
        ctx: &Context<'_>,
        id: ID,
        resolution: PatientMatchResolution,
    ) -> Result<PatientMatchPayload> {
        let id = decode(&id, NodeType::PatientMatch, "id").gql()?;
        let resolution = match resolution {
            PatientMatchResolution::Link => Resolution::Link,
            PatientMatchResolution::Register => Resolution::Register,
        };
        let req = request(ctx)?;
        matching::resolve(req, id, resolution).await.gql()?;
        let view = matching::get(req, id).await.gql()?;
        Ok(PatientMatchPayload {
            patient_match: PatientMatch(view),
        })
    }
}
