//! `GET /playground/tokens` (embedded default only): day-long development tokens for the
//! demo users, each with the label the playground shows ("Alice Nguyen — patient"). The
//! same tokens `portal token` mints; the route does not exist in production (see `router`).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portal_resolvers::ids::{NodeType, encode};
use portal_services::patients;
use serde::Serialize;
use serde_json::json;

use crate::auth::Role;
use crate::state::AppState;

/// What every development-only answer says about itself.
pub const DEVELOPMENT_ONLY: &str = "Development only (the embedded default with demo data): \
     this endpoint does not exist in production.";

/// The demo patients with a portal account, by MRN.
const PATIENTS: [&str; 3] = ["MRN1001", "MRN1002", "MRN1004"];

/// The demo staff users: the subjects `portal token --role …` mints, and their labels.
const STAFF: [(Role, &str, &str); 3] = [
    (Role::Clinician, "dr.patel", "Dr. Maya Patel"),
    (Role::Lab, "lis.riverside", "Riverside LIS"),
    (Role::Staff, "staff.riverside", "Riverside front desk"),
];

/// One demo user and a token for them.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DemoUser {
    /// "Alice Nguyen — patient": what the playground's badges and pickers show.
    pub label: String,
    pub name: String,
    pub role: &'static str,
    pub token: String,
    /// The patient's global id, for patients (what `resultReady` listens to).
    pub patient_id: Option<String>,
}

/// Every demo user with a fresh token, patients first; `None` outside development with demo
/// data.
pub async fn demo_users(state: &AppState) -> Option<Vec<DemoUser>> {
    if !state.config.is_development() {
        return None;
    }
    let dev = state.dev.as_ref()?;
    let tenant = dev.demo_tenant?;
    let day = chrono::Duration::hours(24);
    let db = portal_core::db::TenantDb::scoped(state.app.db.clone(), Some(tenant));
    let mut users = Vec::new();
    for mrn in PATIENTS {
        let Ok(Some(patient)) = patients::find_by_mrn(&db, tenant, mrn).await else {
            continue;
        };
        let Some(subject) = patient.user_subject.as_deref() else {
            continue;
        };
        let token = dev
            .signer
            .mint(subject, tenant, &[Role::Patient], Some(patient.id), day)
            .ok()?;
        let name = format!("{} {}", patient.given_name, patient.family_name);
        users.push(DemoUser {
            label: format!("{name} — patient"),
            name,
            role: Role::Patient.as_str(),
            token,
            patient_id: Some(encode(NodeType::Patient, patient.id).to_string()),
        });
    }
    for (role, subject, name) in STAFF {
        let token = dev.signer.mint(subject, tenant, &[role], None, day).ok()?;
        users.push(DemoUser {
            label: format!("{name} — {}", role.as_str()),
            name: name.to_owned(),
            role: role.as_str(),
            token,
            patient_id: None,
        });
    }
    Some(users)
}

pub async fn list(State(state): State<AppState>) -> Response {
    let Some(users) = demo_users(&state).await else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut response =
        Json(json!({ "development": DEVELOPMENT_ONLY, "users": users })).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
