//! Relay global IDs: opaque base64 of `Type:uuid`, decoded with the expected type checked.

use async_graphql::ID;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portal_services::ServiceError;
use uuid::Uuid;

/// The node types that have global IDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeType {
    Patient,
    TestResult,
    TestOrder,
    Appointment,
    Coverage,
    Claim,
    ProxyGrant,
    TestCatalogItem,
    Facility,
    Clinician,
    Observation,
    PushToken,
    CriticalAlert,
    PatientMatch,
}

const ALL: [NodeType; 14] = [
    NodeType::Patient,
    NodeType::TestResult,
    NodeType::TestOrder,
    NodeType::Appointment,
    NodeType::Coverage,
    NodeType::Claim,
    NodeType::ProxyGrant,
    NodeType::TestCatalogItem,
    NodeType::Facility,
    NodeType::Clinician,
    NodeType::Observation,
    NodeType::PushToken,
    NodeType::CriticalAlert,
    NodeType::PatientMatch,
];

impl NodeType {
    pub fn name(self) -> &'static str {
        match self {
            Self::Patient => "Patient",
            Self::TestResult => "TestResult",
            Self::TestOrder => "TestOrder",
            Self::Appointment => "Appointment",
            Self::Coverage => "Coverage",
            Self::Claim => "Claim",
            Self::ProxyGrant => "ProxyGrant",
            Self::TestCatalogItem => "TestCatalogItem",
            Self::Facility => "Facility",
            Self::Clinician => "Clinician",
            Self::Observation => "Observation",
            Self::PushToken => "PushToken",
            Self::CriticalAlert => "CriticalAlert",
            Self::PatientMatch => "PatientMatch",
        }
    }
}

pub fn encode(node_type: NodeType, id: Uuid) -> ID {
    ID(URL_SAFE_NO_PAD.encode(format!("{}:{}", node_type.name(), id)))
}

/// Any global ID: its type and database id.
pub fn decode_any(id: &ID, field: &str) -> Result<(NodeType, Uuid), ServiceError> {
    let invalid = || ServiceError::bad_input(field, "not a valid ID");
    let bytes = URL_SAFE_NO_PAD.decode(id.as_str()).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (name, raw) = text.split_once(':').ok_or_else(invalid)?;
    let node_type = ALL
        .into_iter()
        .find(|t| t.name() == name)
        .ok_or_else(invalid)?;
    let uuid = Uuid::parse_str(raw).map_err(|_| invalid())?;
    Ok((node_type, uuid))
}

/// A global ID that must be of `expected` type.
pub fn decode(id: &ID, expected: NodeType, field: &str) -> Result<Uuid, ServiceError> {
    match decode_any(id, field)? {
        (node_type, uuid) if node_type == expected => Ok(uuid),
        _ => Err(ServiceError::bad_input(
            field,
            format!("expected the ID of a {}", expected.name()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_types_are_checked() {
        let uuid = Uuid::now_v7();
        let id = encode(NodeType::TestResult, uuid);
        assert_eq!(decode(&id, NodeType::TestResult, "id").ok(), Some(uuid));
        assert!(decode(&id, NodeType::Patient, "id").is_err());
        assert!(decode_any(&ID("bm9wZQ".into()), "id").is_err());
    }
}
