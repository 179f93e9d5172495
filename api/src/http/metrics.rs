//! `GET /metrics` (Prometheus text format) and the layer that counts every routed request.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::metrics::Metrics;
use crate::state::AppState;

/// Counts the request under its route template (`/playground/assets/{name}`), so labels stay
/// few and never carry what a client put in a path.
pub async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    metrics.http_request(&route, response.status().as_u16(), started.elapsed());
    response
}

pub async fn scrape(State(state): State<AppState>) -> Response {
    let Some(metrics) = state.metrics.as_ref() else {
        return axum::http::StatusCode::NOT_FOUND.into_response();
    };
    metrics.record_cache(state.cache.stats());
    metrics.record_hub(&state.app.hub);
    let body = metrics
        .scrape(&state.app.db, state.config.database_timeout)
        .await;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}
