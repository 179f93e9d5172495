//! The demo walk-through the development playground carries: tokens for the demo patient
//! and the lab, the patient's id and an `addTestResult` ready to run as the lab.

use chrono::{SecondsFormat, Utc};
use portal_entities::facility;
use portal_resolvers::ids::{NodeType, encode};
use portal_web_playground::DemoSession;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::state::AppState;

/// The operation of the lab tab.
const LAB_QUERY: &str =
    "# As the lab (Riverside LIS): this tab's Headers hold a lab token. Subscribe in the Live
# results panel on the right first, then run this (▶): Alice's new HbA1c arrives in the
# panel, and the email and SMS she is sent appear in its Mailbox. The result is validated
# against the catalog (BAD_USER_INPUT names the field); each run stores a new order.
mutation AddHbA1c($input: AddTestResultInput!) {
  addTestResult(input: $input) {
    result { id status test { displayName } observations { displayValue interpretation } }
    eventId
    notifications { channel status }
  }
}
";

pub struct Session {
    pub patient_token: String,
    patient_name: String,
    patient_id: String,
    lab_token: String,
    lab_variables: String,
    token_command: String,
    server_time_ms: i64,
}

impl Session {
    pub fn page(&self) -> DemoSession<'_> {
        DemoSession {
            patient_name: &self.patient_name,
            patient_id: &self.patient_id,
            lab_token: &self.lab_token,
            lab_query: LAB_QUERY,
            lab_variables: &self.lab_variables,
            mailbox_path: "/playground/mailbox",
            tokens_path: "/playground/tokens",
            token_command: &self.token_command,
            server_time_ms: self.server_time_ms,
        }
    }
}

/// Development with demo data only: Alice's and the lab's day-long tokens and the rest.
pub async fn session(state: &AppState) -> Option<Session> {
    let tenant = state.dev.as_ref()?.demo_tenant?;
    let users = super::tokens::demo_users(state).await?;
    let alice = users.iter().find(|u| u.role == "patient")?;
    let lab = users.iter().find(|u| u.role == "lab")?;
    let facility = facility::Entity::find()
        .filter(facility::Column::TenantId.eq(tenant))
        .order_by_asc(facility::Column::Name)
        .one(&state.app.db)
        .await
        .ok()??;
    let patient_id = alice.patient_id.clone()?;
    let now = Utc::now();
    let variables = serde_json::json!({
        "input": {
            "patientId": patient_id,
            "order": { "facilityId": encode(NodeType::Facility, facility.id).to_string(), "testCode": "4548-4" },
            "status": "FINAL",
            // The server's clock when the page was written: never "in the future".
            "issuedAt": now.to_rfc3339_opts(SecondsFormat::Secs, true),
            "observations": [{ "code": "4548-4", "valueNumeric": 6.3 }],
        }
    });
    Some(Session {
        patient_token: alice.token.clone(),
        patient_name: alice.name.clone(),
        patient_id,
        lab_token: lab.token.clone(),
        lab_variables: serde_json::to_string_pretty(&variables).unwrap_or_default(),
        token_command: format!("{} token --patient MRN1002", crate::invocation()),
        server_time_ms: now.timestamp_millis(),
    })
}
