//! Global ids as the API spells them, in one place: `gid(NodeType::Patient, id)` for the
//! string, `patient_vars(id)` for the `{ "id": … }` variables most operations take.

pub use portal_resolvers::ids::NodeType;
use serde_json::{Value, json};
use uuid::Uuid;

/// The Relay global id of `id` as a node of type `node`.
pub fn gid(node: NodeType, id: Uuid) -> String {
    portal_resolvers::ids::encode(node, id).to_string()
}

pub fn patient_gid(id: Uuid) -> String {
    gid(NodeType::Patient, id)
}

pub fn result_gid(id: Uuid) -> String {
    gid(NodeType::TestResult, id)
}

pub fn facility_gid(id: Uuid) -> String {
    gid(NodeType::Facility, id)
}

pub fn clinician_gid(id: Uuid) -> String {
    gid(NodeType::Clinician, id)
}

/// `{ "id": <patient gid> }`.
pub fn patient_vars(id: Uuid) -> Value {
    json!({ "id": patient_gid(id) })
}

/// `{ "id": <test result gid> }`.
pub fn result_vars(id: Uuid) -> Value {
    json!({ "id": result_gid(id) })
}
