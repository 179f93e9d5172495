//! Mounts the FHIR R4 read API (`portal-fhir`) at `/fhir/R4`, with the same gate as
//! `POST /graphql`: the bearer token verified by the same verifier, a rejected token audited.

use axum::Router;
use axum::http::{Extensions, HeaderMap, header};
use axum::routing::get;
use portal_core::ServiceError;
use portal_core::context::Origin;
use portal_fhir::{FhirState, Gate};
use std::sync::Arc;

use super::auth::{audit_rejection, authenticate};
use crate::state::AppState;

pub const BASE_PATH: &str = "/fhir/R4";

/// The FHIR routes over the server's state, at `/fhir/R4`.
pub fn routes(state: &AppState) -> Router<AppState> {
    let base_url = format!("{}{BASE_PATH}", state.config.notify.public_url);
    let fhir = FhirState {
        db: state.app.db.clone(),
        max_page_size: state.config.max_page_size,
        base_url: base_url.clone(),
        gate: Arc::new(BearerGate(state.clone())),
    };
    // Nesting routes `/fhir/R4` and what is below it, not `/fhir/R4/`: the base too.
    let slash = get(move || async move { portal_fhir::to_metadata(&base_url) });
    Router::new()
        .nest(BASE_PATH, portal_fhir::router(fhir))
        .route(&format!("{BASE_PATH}/"), slash)
}

struct BearerGate(AppState);

#[async_trait::async_trait]
impl Gate for BearerGate {
    async fn origin(
        &self,
        headers: &HeaderMap,
        extensions: &Extensions,
    ) -> Result<Origin, ServiceError> {
        let (request_id, client) = super::request_id::origin(extensions);
        // A header that is not visible ASCII is present but cannot be a bearer token.
        let authorization = headers
            .get(header::AUTHORIZATION)
            .map(|v| v.to_str().unwrap_or_default());
        match authenticate(&self.0, authorization).await {
            Ok(viewer) => Ok(Origin::new(viewer, request_id, client)),
            Err(err) => {
                audit_rejection(&self.0, &request_id, client, &err).await;
                Err(err)
            }
        }
    }
}
