//! Patient identity in GraphQL: identifiers with their assigning authority (and the FHIR
//! system it maps to), the organisation's authorities, and the staff matching queue.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use async_graphql::{Context, Enum, ID, Object, Result, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use portal_entities::{PatientMatchStatus as Stored, patient_id_authority};
use portal_services::patients::identity;
use portal_services::patients::matching::MatchView;
use portal_services::{nodes, patients};

use crate::context::request;
use crate::error::GqlResult;
use crate::ids::{NodeType, encode};
use crate::loaders::{LoadError, Loaders};
use crate::types::common::Facility;
use crate::types::patient::Patient;

/// An assigning authority of patient identifiers (HL7 HD).
pub struct PatientIdAuthority(pub patient_id_authority::Model);

#[Object]
impl PatientIdAuthority {
    /// HD.1 namespace id.
    async fn namespace(&self) -> Option<&str> {
        self.0.namespace.as_deref()
    }
    /// HD.2 universal id (an OID, a DNS name, a UUID...).
    async fn universal_id(&self) -> Option<&str> {
        self.0.universal_id.as_deref()
    }
    /// HD.3 universal id type (HL7 table 0301: ISO, DNS, UUID, CLIA...).
    async fn universal_id_type(&self) -> Option<&str> {
        self.0.universal_id_type.as_deref()
    }
    /// The FHIR `Identifier.system` of its identifiers (docs/patients.md).
    async fn system(&self) -> String {
        identity::fhir_system(&self.0)
    }
    /// The sending facility whose identifiers these are; null for the organisation's own
    /// (its MRNs).
    async fn facility(&self, ctx: &Context<'_>) -> Result<Option<Facility>> {
        let Some(id) = self.0.facility_id else {
            return Ok(None);
        };
        Ok(Some(Facility(
            nodes::facility(request(ctx)?, id).await.gql()?,
        )))
    }
    /// An ORU for an identifier of this authority that no patient holds registers the
    /// patient from PID (walk-ins).
    async fn registers_patients(&self) -> bool {
        self.0.registers_patients
    }
    /// Result links go to adult walk-ins registered from this facility's ORUs.
    async fn sends_result_links(&self) -> bool {
        self.0.sends_result_links
    }
}

/// A patient identifier under an assigning authority other than the organisation's own.
#[derive(SimpleObject)]
pub struct PatientIdentifier {
    /// CX.1 as the authority assigned it.
    pub value: String,
    /// The FHIR `Identifier.system` (from the authority).
    pub system: String,
    pub namespace: Option<String>,
    pub universal_id: Option<String>,
    pub universal_id_type: Option<String>,
}

impl PatientIdentifier {
    pub fn new(value: String, authority: &patient_id_authority::Model) -> Self {
        Self {
            value,
            system: identity::fhir_system(authority),
            namespace: authority.namespace.clone(),
            universal_id: authority.universal_id.clone(),
            universal_id_type: authority.universal_id_type.clone(),
        }
    }
}

/// A patient's identifiers under other authorities, one query per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IdentifiersOf(pub uuid::Uuid);

impl Loader<IdentifiersOf> for Loaders {
    type Value = Vec<(String, patient_id_authority::Model)>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[IdentifiersOf],
    ) -> Result<HashMap<IdentifiersOf, Self::Value>, Self::Error> {
        let (db, tenant) = self.scope();
        let ids: Vec<uuid::Uuid> = keys.iter().map(|k| k.0).collect();
        let rows = identity::of_patients(db, tenant, &ids).await?;
        let mut grouped: HashMap<IdentifiersOf, Self::Value> =
            keys.iter().map(|k| (*k, Vec::new())).collect();
        for (identifier, authority) in rows {
            if let Some(list) = grouped.get_mut(&IdentifiersOf(identifier.patient_id)) {
                list.push((identifier.value, authority));
            }
        }
        Ok(grouped)
    }
}

/// Where a match stands.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum PatientMatchStatus {
    /// Waiting for staff.
    Open,
    /// The identifier was linked to the candidate.
    Linked,
    /// A new patient was registered with the identifier.
    Registered,
}

impl From<Stored> for PatientMatchStatus {
    fn from(s: Stored) -> Self {
        match s {
            Stored::Open => Self::Open,
            Stored::Linked => Self::Linked,
            Stored::Registered => Self::Registered,
        }
    }
}

impl From<PatientMatchStatus> for Stored {
    fn from(s: PatientMatchStatus) -> Self {
        match s {
            PatientMatchStatus::Open => Self::Open,
            PatientMatchStatus::Linked => Self::Linked,
            PatientMatchStatus::Registered => Self::Registered,
        }
    }
}

/// Staff's decision on a match.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum PatientMatchResolution {
    /// The same person: the identifier becomes the candidate's.
    Link,
    /// Another person: a new patient is registered with the identifier.
    Register,
}

/// An HL7 message whose identifier no patient held while a patient with the same name and
/// birth date exists: staff decide (never merged automatically), then replay the message.
pub struct PatientMatch(pub MatchView);

#[Object]
impl PatientMatch {
    pub async fn id(&self) -> ID {
        encode(NodeType::PatientMatch, self.0.row.id)
    }
    async fn status(&self) -> PatientMatchStatus {
        self.0.row.status.into()
    }
    /// The identifier (PID-3) no patient held, with its authority.
    async fn identifier(&self) -> PatientIdentifier {
        PatientIdentifier::new(self.0.row.value.clone(), &self.0.authority)
    }
    /// PID-5 given name as the message sent it.
    async fn given_name(&self) -> &str {
        &self.0.row.given_name
    }
    /// PID-5 family name as the message sent it.
    async fn family_name(&self) -> &str {
        &self.0.row.family_name
    }
    /// PID-7 as the message sent it.
    async fn birth_date(&self) -> NaiveDate {
        self.0.row.birth_date
    }
    /// The existing patient with the same name and birth date.
    async fn candidate(&self, ctx: &Context<'_>) -> Result<Patient> {
        let (access, model) = patients::get(request(ctx)?, self.0.row.candidate_patient_id)
            .await
            .gql()?;
        Ok(Patient::new(model, access))
    }
    /// The patient the identifier now belongs to, once resolved.
    async fn resolved_patient(&self, ctx: &Context<'_>) -> Result<Option<Patient>> {
        let Some(id) = self.0.row.resolved_patient_id else {
            return Ok(None);
        };
        let (access, model) = patients::get(request(ctx)?, id).await.gql()?;
        Ok(Some(Patient::new(model, access)))
    }
    /// Who resolved it (their subject).
    async fn resolved_by(&self) -> Option<&str> {
        self.0.row.resolved_by.as_deref()
    }
    async fn resolved_at(&self) -> Option<DateTime<Utc>> {
        self.0.row.resolved_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.row.created_at
    }
}
