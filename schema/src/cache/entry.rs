//! One cached answer: the response data, the audit records to write again on every hit, and
//! the generations of everything it depends on at the time it was stored.

use portal_core::audit::AuditRecord;
use portal_entities::AuditOutcome;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The `data` of an error-free response. Kept as a GraphQL value (an ordered map), so a
    /// hit returns the fields in the order the query asked for them, like the live answer.
    pub data: async_graphql::Value,
    pub records: Vec<StoredRecord>,
    /// Generation keys and their values when the answer was computed (`None`: never bumped).
    /// The entry is valid while every one of them still holds that value.
    pub deps: Vec<(String, Option<String>)>,
}

impl Entry {
    /// The answer and the audit records to write for a hit now; `None` when the entry cannot
    /// be used (written by another version), which makes it a miss.
    pub fn into_hit(self) -> Option<Hit> {
        let data = self.data;
        let records = self
            .records
            .iter()
            .map(StoredRecord::to_record)
            .collect::<Option<Vec<_>>>()?;
        Some(Hit { data, records })
    }
}

/// A usable entry, ready to answer a request.
pub struct Hit {
    pub data: async_graphql::Value,
    pub records: Vec<AuditRecord>,
}

/// An audit record without its time: a hit writes it again, at the time of the hit, under
/// the hit's request id and client address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredRecord {
    pub action: String,
    pub entity_type: String,
    pub entity_id: Option<Uuid>,
    pub patient_id: Option<Uuid>,
    pub proxy_for: Option<Uuid>,
    pub outcome: String,
    pub reason: Option<String>,
}

impl StoredRecord {
    pub fn from_record(record: &AuditRecord) -> Self {
        Self {
            action: record.action.clone(),
            entity_type: record.entity_type.clone(),
            entity_id: record.entity_id,
            patient_id: record.patient_id,
            proxy_for: record.proxy_for,
            outcome: outcome_label(record.outcome).to_owned(),
            reason: record.reason.clone(),
        }
    }

    /// The record as it is written for a hit now; `None` for an unknown outcome (an entry
    /// written by a different version), which makes the entry unusable.
    pub fn to_record(&self) -> Option<AuditRecord> {
        Some(AuditRecord {
            action: self.action.clone(),
            entity_type: self.entity_type.clone(),
            entity_id: self.entity_id,
            patient_id: self.patient_id,
            proxy_for: self.proxy_for,
            outcome: parse_outcome(&self.outcome)?,
            reason: self.reason.clone(),
            occurred_at: portal_core::clock::now(),
        })
    }
}

fn outcome_label(outcome: AuditOutcome) -> &'static str {
    match outcome {
        AuditOutcome::Allowed => "ALLOWED",
        AuditOutcome::Denied => "DENIED",
        AuditOutcome::Failed => "FAILED",
    }
}

fn parse_outcome(label: &str) -> Option<AuditOutcome> {
    match label {
        "ALLOWED" => Some(AuditOutcome::Allowed),
        "DENIED" => Some(AuditOutcome::Denied),
        "FAILED" => Some(AuditOutcome::Failed),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use portal_core::access::Access;

    use super::*;

    #[test]
    fn a_stored_answer_keeps_the_field_order_of_the_query() {
        let entry = Entry {
            data: async_graphql::value!({ "viewer": { "subject": "alice", "patients": [] } }),
            records: Vec::new(),
            deps: Vec::new(),
        };
        // The Redis store keeps entries as JSON.
        let json = serde_json::to_string(&entry).expect("serialises");
        let back: Entry = serde_json::from_str(&json).expect("parses");
        let hit = back.into_hit().expect("usable");
        let async_graphql::Value::Object(root) = hit.data else {
            panic!("an object")
        };
        let Some(async_graphql::Value::Object(viewer)) = root.get("viewer") else {
            panic!("viewer is an object")
        };
        let keys: Vec<&str> = viewer.keys().map(|k| k.as_str()).collect();
        assert_eq!(keys, ["subject", "patients"]);
    }

    #[test]
    fn records_survive_the_round_trip_with_a_new_time() {
        let original = AuditRecord::new(
            Access::read("patient.read", "Patient").entity(Uuid::now_v7()),
            Some(Uuid::now_v7()),
            AuditOutcome::Denied,
        )
        .reason("no relation to patient")
        .proxy_for(Some(Uuid::now_v7()));
        let stored = StoredRecord::from_record(&original);
        let json = serde_json::to_string(&stored).expect("serialises");
        let back: StoredRecord = serde_json::from_str(&json).expect("parses");
        let replayed = back.to_record().expect("known outcome");
        assert_eq!(StoredRecord::from_record(&replayed), stored);
        assert!(replayed.occurred_at >= original.occurred_at);
    }
}
