//! A facility's alias identifiers, as HL7 v2 names a sender (HD: namespace id, universal id,
//! universal id type): what its CLIA number alone does not cover — an OID (ISO), a DNS
//! name, a local name. MSH-4 and OBX-23 find the facility by any of them.

use portal_core::error::{ServiceError, ServiceResult};
use portal_entities::facility;
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Most identifiers one facility keeps.
pub const MAX_IDENTIFIERS: usize = 20;
const MAX_LEN: usize = 200;

/// One alias identifier (an HL7 HD).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FacilityIdentifier {
    pub namespace_id: Option<String>,
    pub universal_id: Option<String>,
    pub universal_id_type: Option<String>,
}

impl FacilityIdentifier {
    /// Whether an HD names this identifier: by universal id (and its type, when both say
    /// one), else — an HD without a universal id — by namespace id.
    pub fn names(&self, hd: &FacilityIdentifier) -> bool {
        let same = |a: &Option<String>, b: &Option<String>| match (a, b) {
            (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
            _ => false,
        };
        match &hd.universal_id {
            Some(_) => {
                same(&self.universal_id, &hd.universal_id)
                    && (hd.universal_id_type.is_none()
                        || self.universal_id_type.is_none()
                        || same(&self.universal_id_type, &hd.universal_id_type))
            }
            None => same(&self.namespace_id, &hd.namespace_id),
        }
    }
}

/// The identifiers stored on a facility (none when the column is empty or unreadable).
pub fn of(facility: &facility::Model) -> Vec<FacilityIdentifier> {
    facility
        .identifiers
        .as_deref()
        .and_then(|json| serde_json::from_str(json).ok())
        .unwrap_or_default()
}

/// The stored form of a list (`None` for an empty list).
pub fn stored(identifiers: &[FacilityIdentifier]) -> ServiceResult<Option<String>> {
    if identifiers.is_empty() {
        return Ok(None);
    }
    serde_json::to_string(identifiers)
        .map(Some)
        .map_err(|e| ServiceError::internal(e.to_string()))
}

/// Checks a list given to a master-data change: each names a namespace or a universal id, a
/// universal id has a known type, no control characters, no duplicates.
pub fn validated(
    field: &str,
    identifiers: Vec<FacilityIdentifier>,
) -> ServiceResult<Vec<FacilityIdentifier>> {
    if identifiers.len() > MAX_IDENTIFIERS {
        return Err(ServiceError::bad_input(
            field,
            format!("at most {MAX_IDENTIFIERS} identifiers"),
        ));
    }
    let mut kept: Vec<FacilityIdentifier> = Vec::with_capacity(identifiers.len());
    for (i, id) in identifiers.into_iter().enumerate() {
        let at = format!("{field}[{i}]");
        let clean = |value: Option<String>, name: &str| -> ServiceResult<Option<String>> {
            let value = value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
            if let Some(v) = &value
                && (v.len() > MAX_LEN || v.chars().any(|c| c.is_control() || "|^~\\&".contains(c)))
            {
                return Err(ServiceError::bad_input(
                    format!("{at}.{name}"),
                    "1 to 200 characters, no HL7 delimiters",
                ));
            }
            Ok(value)
        };
        let id = FacilityIdentifier {
            namespace_id: clean(id.namespace_id, "namespaceId")?,
            universal_id: clean(id.universal_id, "universalId")?,
            universal_id_type: clean(id.universal_id_type, "universalIdType")?
                .map(|t| t.to_uppercase()),
        };
        if id.namespace_id.is_none() && id.universal_id.is_none() {
            return Err(ServiceError::bad_input(
                at,
                "an identifier needs a namespace id or a universal id",
            ));
        }
        match (&id.universal_id, &id.universal_id_type) {
            (Some(_), Some(kind))
                if super::authorities::UNIVERSAL_ID_TYPES
                    .iter()
                    .any(|t| t.eq_ignore_ascii_case(kind)) => {}
            (Some(_), _) => {
                return Err(ServiceError::bad_input(
                    format!("{at}.universalIdType"),
                    "a universal id needs its type (HL7 table 0301: CLIA, ISO, DNS, HL7, L, UUID...)",
                ));
            }
            (None, Some(_)) => {
                return Err(ServiceError::bad_input(
                    format!("{at}.universalIdType"),
                    "a type without a universal id",
                ));
            }
            (None, None) => {}
        }
        if !kept.contains(&id) {
            kept.push(id);
        }
    }
    Ok(kept)
}

/// The tenant's facility an HD names: by CLIA number (a universal id of type CLIA, or of
/// no type), else by one of its alias identifiers. One statement: the candidates whose CLIA
/// number or identifiers contain the value, checked here.
pub async fn facility_named(
    db: &impl ConnectionTrait,
    tenant: Uuid,
    hd: &FacilityIdentifier,
) -> ServiceResult<Option<facility::Model>> {
    let Some(value) = hd.universal_id.as_ref().or(hd.namespace_id.as_ref()) else {
        return Ok(None);
    };
    let mut any = Condition::any().add(facility::Column::Identifiers.contains(value));
    let clia_kind = matches!(hd.universal_id_type.as_deref(), None | Some("CLIA"));
    if hd.universal_id.is_some() && clia_kind {
        any = any.add(facility::Column::CliaNumber.eq(value.to_uppercase()));
    }
    let candidates = facility::Entity::find()
        .filter(facility::Column::TenantId.eq(tenant))
        .filter(any)
        .all(db)
        .await?;
    let by_clia = |f: &facility::Model| {
        hd.universal_id.is_some()
            && clia_kind
            && f.clia_number
                .as_deref()
                .is_some_and(|c| c.eq_ignore_ascii_case(value))
    };
    Ok(candidates
        .into_iter()
        .find(|f| by_clia(f) || of(f).iter().any(|id| id.names(hd))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hd(ns: Option<&str>, uid: Option<&str>, kind: Option<&str>) -> FacilityIdentifier {
        FacilityIdentifier {
            namespace_id: ns.map(String::from),
            universal_id: uid.map(String::from),
            universal_id_type: kind.map(String::from),
        }
    }

    #[test]
    fn an_hd_names_an_identifier_by_universal_id_and_type_else_by_namespace() {
        let oid = hd(
            Some("EASTLAB"),
            Some("2.16.840.1.113883.3.8589"),
            Some("ISO"),
        );
        assert!(oid.names(&hd(None, Some("2.16.840.1.113883.3.8589"), Some("ISO"))));
        assert!(oid.names(&hd(Some("other"), Some("2.16.840.1.113883.3.8589"), None)));
        assert!(!oid.names(&hd(None, Some("2.16.840.1.113883.3.8589"), Some("DNS"))));
        assert!(oid.names(&hd(Some("eastlab"), None, None)));
        assert!(!oid.names(&hd(Some("EASTLAB"), Some("2.1"), Some("ISO"))));
    }

    #[test]
    fn identifiers_need_a_value_and_a_known_type() {
        let ok = validated(
            "input.identifiers",
            vec![
                hd(None, Some(" 2.16.840.1 "), Some("iso")),
                hd(Some("LAB"), None, None),
            ],
        )
        .expect("valid");
        assert_eq!(ok[0], hd(None, Some("2.16.840.1"), Some("ISO")));
        for bad in [
            hd(None, None, None),
            hd(None, Some("2.16"), None),
            hd(None, Some("2.16"), Some("XX")),
            hd(Some("A|B"), None, None),
        ] {
            assert!(
                validated("input.identifiers", vec![bad.clone()]).is_err(),
                "{bad:?}"
            );
        }
    }
}
