//! Patient identity by (assigning authority, identifier), as HL7 CX carries it (CX.1 with
//! its CX.4 HD). The tenant knows its authorities (`patient_id_authorities`): its own, whose
//! identifier is the MRN (`patients.mrn`), and one per sending facility, whose identifiers
//! live in `patient_identifiers`. An identifier whose authority the tenant does not know
//! matches nobody: lab A's "12345" is not the portal's "12345".

use portal_core::context::Writing;
use portal_core::error::{ServiceError, ServiceResult};
use portal_entities::{patient, patient_id_authority, patient_identifier};
use sea_orm::sea_query::{Expr, ExprTrait, Func, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
};
use uuid::Uuid;

/// An assigning authority as a message names it (HL7 HD: namespace id, universal id, type).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Authority {
    pub namespace: Option<String>,
    pub universal_id: Option<String>,
    pub universal_id_type: Option<String>,
}

impl Authority {
    /// Whether a stored authority is the one named: by universal id (and its type, when
    /// both say) when both carry one, else by namespace id; case does not matter.
    pub fn names(&self, known: &patient_id_authority::Model) -> bool {
        let same = |a: &Option<String>, b: &Option<String>| match (a, b) {
            (Some(a), Some(b)) => a.trim().eq_ignore_ascii_case(b.trim()),
            _ => false,
        };
        if self.universal_id.is_some() && known.universal_id.is_some() {
            let types_agree = self.universal_id_type.is_none()
                || known.universal_id_type.is_none()
                || same(&self.universal_id_type, &known.universal_id_type);
            return same(&self.universal_id, &known.universal_id) && types_agree;
        }
        same(&self.namespace, &known.namespace)
    }

    pub fn is_empty(&self) -> bool {
        self.namespace.is_none() && self.universal_id.is_none()
    }
}

/// Who assigned an identifier, among the tenant's authorities.
#[derive(Debug, Clone, PartialEq)]
pub enum Assigner {
    /// The tenant itself: the identifier is an MRN.
    Own,
    /// A sending facility's authority.
    Facility(patient_id_authority::Model),
}

/// The authorities a tenant knows, read once per message.
#[derive(Debug, Clone, Default)]
pub struct Authorities {
    own: Option<patient_id_authority::Model>,
    facilities: Vec<patient_id_authority::Model>,
}

impl Authorities {
    pub async fn of_tenant<C: ConnectionTrait>(db: &C, tenant_id: Uuid) -> ServiceResult<Self> {
        let rows = patient_id_authority::Entity::find()
            .filter(patient_id_authority::Column::TenantId.eq(tenant_id))
            .order_by_asc(patient_id_authority::Column::CreatedAt)
            .all(db)
            .await?;
        let (own, facilities): (Vec<_>, Vec<_>) =
            rows.into_iter().partition(|a| a.facility_id.is_none());
        Ok(Self {
            own: own.into_iter().next(),
            facilities,
        })
    }

    /// The authority of a sent identifier. Without CX.4 the identifier is the sending
    /// facility's when it has an authority, else the tenant's own (an MRN); with CX.4 it is
    /// the authority it names, or `None` when the tenant does not know it.
    pub fn resolve(&self, sent: Option<&Authority>, sender: Option<Uuid>) -> Option<Assigner> {
        match sent.filter(|a| !a.is_empty()) {
            None => Some(
                sender
                    .and_then(|f| self.of_facility(f))
                    .cloned()
                    .map_or(Assigner::Own, Assigner::Facility),
            ),
            Some(sent) => {
                if self.own.as_ref().is_some_and(|own| sent.names(own)) {
                    return Some(Assigner::Own);
                }
                self.facilities
                    .iter()
                    .find(|known| sent.names(known))
                    .cloned()
                    .map(Assigner::Facility)
            }
        }
    }

    /// The authority of a sending facility, if one is registered for it.
    pub fn of_facility(&self, facility_id: Uuid) -> Option<&patient_id_authority::Model> {
        self.facilities
            .iter()
            .find(|a| a.facility_id == Some(facility_id))
    }
}

/// The patient an identifier under `assigner` names, if any.
pub async fn find<C: ConnectionTrait>(
    db: &C,
    tenant_id: Uuid,
    assigner: &Assigner,
    value: &str,
) -> ServiceResult<Option<patient::Model>> {
    match assigner {
        Assigner::Own => super::find_by_mrn(db, tenant_id, value).await,
        Assigner::Facility(authority) => {
            let held = Query::select()
                .column(patient_identifier::Column::PatientId)
                .from(patient_identifier::Entity)
                .and_where(Expr::col(patient_identifier::Column::TenantId).eq(tenant_id))
                .and_where(Expr::col(patient_identifier::Column::AuthorityId).eq(authority.id))
                .and_where(Expr::col(patient_identifier::Column::Value).eq(value))
                .to_owned();
            Ok(patient::Entity::find()
                .filter(patient::Column::TenantId.eq(tenant_id))
                .filter(patient::Column::Id.in_subquery(held))
                .one(db)
                .await?)
        }
    }
}

/// Patients of the tenant with this family name, given name (case-insensitive) and birth
/// date: the candidates staff compare when an unknown identifier arrives.
pub async fn same_name_and_birth_date<C: ConnectionTrait>(
    db: &C,
    tenant_id: Uuid,
    given_name: &str,
    family_name: &str,
    birth_date: chrono::NaiveDate,
) -> ServiceResult<Vec<patient::Model>> {
    let lower = |col: patient::Column| Func::lower(Expr::col((patient::Entity, col)));
    Ok(patient::Entity::find()
        .filter(patient::Column::TenantId.eq(tenant_id))
        .filter(patient::Column::BirthDate.eq(birth_date))
        .filter(
            Expr::expr(lower(patient::Column::FamilyName)).eq(family_name.trim().to_lowercase()),
        )
        .filter(Expr::expr(lower(patient::Column::GivenName)).eq(given_name.trim().to_lowercase()))
        .order_by_asc(patient::Column::Id)
        .all(db)
        .await?)
}

/// Records that the patient holds `value` under `authority_id`, in the caller's transaction
/// (true when it is new); an identifier another patient already holds is a CONFLICT (never
/// moved silently).
pub async fn link_in(
    work: &Writing<'_>,
    tenant_id: Uuid,
    patient_id: Uuid,
    authority_id: Uuid,
    value: &str,
    walk_in: bool,
) -> ServiceResult<bool> {
    let held = patient_identifier::Entity::find()
        .filter(patient_identifier::Column::TenantId.eq(tenant_id))
        .filter(patient_identifier::Column::AuthorityId.eq(authority_id))
        .filter(patient_identifier::Column::Value.eq(value))
        .one(work.txn())
        .await?;
    match held {
        Some(row) if row.patient_id == patient_id => Ok(false),
        Some(_) => Err(ServiceError::Conflict(
            "another patient holds this identifier of the authority".into(),
        )),
        None => {
            let row = patient_identifier::Model {
                id: Uuid::now_v7(),
                tenant_id,
                patient_id,
                authority_id,
                value: value.to_owned(),
                walk_in,
                created_at: portal_core::clock::now(),
            };
            patient_identifier::Entity::insert(row.into_active_model())
                .exec_without_returning(work.txn())
                .await
                .map_err(|e| {
                    crate::master::conflict_on_duplicate(
                        e,
                        "another patient holds this identifier of the authority",
                    )
                })?;
            Ok(true)
        }
    }
}

/// The identifiers of these patients under other authorities, with their authority, for
/// GraphQL and FHIR (one query for the whole page).
pub async fn of_patients<C: ConnectionTrait>(
    db: &C,
    tenant_id: Uuid,
    patient_ids: &[Uuid],
) -> ServiceResult<Vec<(patient_identifier::Model, patient_id_authority::Model)>> {
    if patient_ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = patient_identifier::Entity::find()
        .find_also_related(patient_id_authority::Entity)
        .filter(patient_identifier::Column::TenantId.eq(tenant_id))
        .filter(patient_identifier::Column::PatientId.is_in(patient_ids.iter().copied()))
        .order_by_asc(patient_identifier::Column::CreatedAt)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, authority)| authority.map(|a| (id, a)))
        .collect())
}

/// The FHIR `Identifier.system` of an authority: `urn:oid:` for an ISO OID, `urn:uuid:` for
/// a UUID, the URI itself for a URI/DNS, else `urn:portal:authority:<namespace>`
/// (docs/patients.md, "Identifiers").
pub fn fhir_system(authority: &patient_id_authority::Model) -> String {
    let kind = authority
        .universal_id_type
        .as_deref()
        .map(str::to_ascii_uppercase);
    match (authority.universal_id.as_deref(), kind.as_deref()) {
        (Some(oid), Some("ISO")) => format!("urn:oid:{oid}"),
        (Some(id), Some("UUID")) => format!("urn:uuid:{}", id.to_ascii_lowercase()),
        (Some(uri), Some("URI")) => uri.to_owned(),
        (Some(dns), Some("DNS")) => format!("https://{dns}"),
        (Some(id), Some(other)) => format!("urn:portal:authority:{}:{id}", other.to_lowercase()),
        _ => format!(
            "urn:portal:authority:{}",
            authority.namespace.as_deref().unwrap_or("unnamed")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(
        namespace: Option<&str>,
        uid: Option<&str>,
        facility: Option<Uuid>,
    ) -> patient_id_authority::Model {
        patient_id_authority::Model {
            id: Uuid::now_v7(),
            tenant_id: Uuid::nil(),
            facility_id: facility,
            namespace: namespace.map(str::to_owned),
            universal_id: uid.map(str::to_owned),
            universal_id_type: uid.map(|_| "ISO".to_owned()),
            registers_patients: false,
            sends_result_links: false,
            created_at: portal_core::clock::now(),
            updated_at: None,
        }
    }

    fn hd(namespace: Option<&str>, uid: Option<&str>) -> Authority {
        Authority {
            namespace: namespace.map(str::to_owned),
            universal_id: uid.map(str::to_owned),
            universal_id_type: uid.map(|_| "ISO".to_owned()),
        }
    }

    #[test]
    fn an_authority_is_named_by_universal_id_when_both_carry_one_else_by_namespace() {
        let lab = known(Some("LABA"), Some("1.2.3"), None);
        assert!(hd(Some("whatever"), Some("1.2.3")).names(&lab));
        assert!(
            !hd(Some("LABA"), Some("1.2.4")).names(&lab),
            "the OIDs differ"
        );
        assert!(hd(Some("laba"), None).names(&lab));
        assert!(!hd(Some("LABB"), None).names(&lab));
    }

    #[test]
    fn an_unnamed_authority_is_the_senders_and_an_unknown_one_matches_nobody() {
        let facility = Uuid::now_v7();
        let lab = known(Some("LABA"), None, Some(facility));
        let authorities = Authorities {
            own: Some(known(Some("RIVERSIDE"), None, None)),
            facilities: vec![lab.clone()],
        };
        assert_eq!(authorities.resolve(None, None), Some(Assigner::Own));
        assert_eq!(
            authorities.resolve(None, Some(facility)),
            Some(Assigner::Facility(lab.clone()))
        );
        assert_eq!(
            authorities.resolve(Some(&hd(Some("RIVERSIDE"), None)), Some(facility)),
            Some(Assigner::Own)
        );
        assert_eq!(
            authorities.resolve(Some(&hd(Some("LABZ"), None)), None),
            None
        );
    }

    #[test]
    fn fhir_systems_come_from_the_authority() {
        assert_eq!(
            fhir_system(&known(Some("LABA"), Some("1.2.3"), None)),
            "urn:oid:1.2.3"
        );
        assert_eq!(
            fhir_system(&known(Some("LABA"), None, None)),
            "urn:portal:authority:LABA"
        );
    }
}
