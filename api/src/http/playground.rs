//! Serves GraphiQL (from the web-playground crate) with a dev token for a demo patient.

use crate::auth::Role;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use portal_services::patients;
use portal_web_playground::{PlaygroundPage, asset as find_asset, render};

use crate::state::AppState;

const EXAMPLES: &str = include_str!("examples.graphql");

pub async fn page(State(state): State<AppState>) -> Html<String> {
    let token = demo_patient_token(&state).await;
    let banner = if state.config.is_development() {
        "Development mode: demo data, dev token for Alice Nguyen (MRN1001) pre-filled"
    } else {
        "Patient Portal Results API"
    };
    Html(render(&PlaygroundPage {
        graphql_path: "/graphql",
        default_token: token.as_deref(),
        default_query: EXAMPLES,
        banner,
    }))
}

/// A day-long token for the demo patient Alice, in development only.
async fn demo_patient_token(state: &AppState) -> Option<String> {
    let dev = state.dev.as_ref()?;
    let tenant = dev.demo_tenant?;
    let db = portal_core::db::TenantDb::scoped(state.app.db.clone(), Some(tenant));
    let alice = patients::find_by_mrn(&db, tenant, "MRN1001").await.ok()??;
    dev.signer
        .mint(
            alice.user_subject.as_deref().unwrap_or("alice"),
            tenant,
            &[Role::Patient],
            Some(alice.id),
            chrono::Duration::hours(24),
        )
        .ok()
}

pub async fn asset(Path(name): Path<String>) -> Response {
    match find_asset(&name) {
        Some(asset) => (
            [
                (header::CONTENT_TYPE, asset.content_type),
                (header::CACHE_CONTROL, "public, max-age=86400"),
            ],
            asset.body,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
