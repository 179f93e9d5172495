//! The HTTP surface: GraphQL (HTTP and WebSocket), the FHIR R4 read API, the playground,
//! health, readiness and metrics.

mod auth;
mod fhir;
mod graphql;
mod health;
mod metrics;
mod playground;
mod request_id;
mod ws;

use axum::Router;
use axum::routing::{get, post};

pub use request_id::RequestId;

use crate::state::AppState;

pub fn router(state: AppState) -> Router {
    let mut router = Router::new()
        .route("/graphql", post(graphql::post).get(graphql::get))
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .merge(fhir::routes(&state));
    if state.config.playground {
        let pages = Router::new()
            .route("/", get(playground::page))
            .route("/playground/patient", get(playground::patient))
            .route("/playground/assets/{name}", get(playground::asset))
            .route("/favicon.ico", get(playground::favicon));
        // The demo's mailbox and tokens: the embedded default only, never in production.
        let pages = if state.config.is_development() && state.dev.is_some() {
            pages
                .route("/playground/mailbox", get(playground::mailbox))
                .route("/playground/tokens", get(playground::tokens))
        } else {
            pages
        };
        // 1.4 MB of scripts and styles: sent compressed (gzip or Brotli) when accepted.
        router = router.merge(pages.layer(tower_http::compression::CompressionLayer::new()));
    }
    finish(router, state)
}

/// The router of `portal worker`: `/health`, `/ready` and `/metrics` only, no GraphQL.
pub fn probes(state: AppState) -> Router {
    let router = Router::new()
        .route("/health", get(health::health))
        .route("/ready", get(health::ready));
    finish(router, state)
}

/// Adds `/metrics` (when on), the request counter and request ids.
fn finish(mut router: Router<AppState>, state: AppState) -> Router {
    if let Some(counter) = state.metrics.clone() {
        // `route_layer`: only routed requests are counted, each under its route template.
        router = router.route("/metrics", get(metrics::scrape)).route_layer(
            axum::middleware::from_fn_with_state(counter, metrics::track),
        );
    }
    router
        .layer(axum::middleware::from_fn(request_id::assign))
        .with_state(state)
}
