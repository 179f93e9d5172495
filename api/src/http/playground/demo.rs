//! The demo walk-through the development playground carries: tokens for the demo patient
//! and the lab, the patient's id and an `addTestResult` ready to run as the lab.

use chrono::{SecondsFormat, Utc};
use portal_entities::facility;
use portal_resolvers::ids::{NodeType, encode};
use portal_services::patients;
use portal_web_playground::DemoSession;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::auth::Role;
use crate::state::AppState;

/// The operation of the lab tab.
const LAB_QUERY: &str =
    "# As the lab: this tab's Headers hold a lab token. Run it (▶) while the panel on the right
# listens, and Alice's new HbA1c appears there, with the email and SMS she was sent.
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
    patient_id: String,
    lab_token: String,
    lab_variables: String,
    token_command: String,
    server_time_ms: i64,
}

impl Session {
    pub fn page(&self) -> DemoSession<'_> {
        DemoSession {
            patient_name: "Alice Nguyen",
            patient_id: &self.patient_id,
            lab_token: &self.lab_token,
            lab_query: LAB_QUERY,
            lab_variables: &self.lab_variables,
            mailbox_path: "/playground/mailbox",
            token_command: &self.token_command,
            server_time_ms: self.server_time_ms,
        }
    }
}

/// Development with demo data only: Alice's and the lab's day-long tokens and the rest.
pub async fn session(state: &AppState) -> Option<Session> {
    let dev = state.dev.as_ref()?;
    let tenant = dev.demo_tenant?;
    let db = portal_core::db::TenantDb::scoped(state.app.db.clone(), Some(tenant));
    let alice = patients::find_by_mrn(&db, tenant, "MRN1001").await.ok()??;
    let lab = facility::Entity::find()
        .filter(facility::Column::TenantId.eq(tenant))
        .order_by_asc(facility::Column::Name)
        .one(&state.app.db)
        .await
        .ok()??;
    let day = chrono::Duration::hours(24);
    let subject = alice.user_subject.as_deref().unwrap_or("alice");
    let patient_token = dev
        .signer
        .mint(subject, tenant, &[Role::Patient], Some(alice.id), day)
        .ok()?;
    let lab_token = dev
        .signer
        .mint("lis", tenant, &[Role::Lab], None, day)
        .ok()?;
    let patient_id = encode(NodeType::Patient, alice.id).to_string();
    let now = Utc::now();
    let variables = serde_json::json!({
        "input": {
            "patientId": patient_id,
            "order": { "facilityId": encode(NodeType::Facility, lab.id).to_string(), "testCode": "4548-4" },
            "status": "FINAL",
            // The server's clock when the page was written: never "in the future".
            "issuedAt": now.to_rfc3339_opts(SecondsFormat::Secs, true),
            "observations": [{ "code": "4548-4", "valueNumeric": 6.3 }],
        }
    });
    Some(Session {
        patient_token,
        patient_id,
        lab_token,
        lab_variables: serde_json::to_string_pretty(&variables).unwrap_or_default(),
        token_command: format!("{} token --patient MRN1002", crate::invocation()),
        server_time_ms: now.timestamp_millis(),
    })
}
