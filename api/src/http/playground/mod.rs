//! Serves GraphiQL and the patient view (from the web-playground crate): in development with
//! the demo walk-through ready — the patient's token in the first tab, a lab tab with its own
//! token and an `addTestResult` for the patient, the live results panel, the mailbox and the
//! demo tokens (`mailbox`, `tokens`: the embedded default only).
//!
//! Assets are served under fingerprinted names (cached for good) and, like the page,
//! compressed when the browser accepts it (see `router`).

mod demo;
mod mailbox;
mod tokens;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use portal_web_playground::{
    PatientPage, PlaygroundPage, asset as find_asset, fingerprinted_asset, render, render_patient,
};

use crate::state::AppState;

pub use mailbox::messages as mailbox;
pub use tokens::list as tokens;

const EXAMPLES: &str = include_str!("../examples.graphql");

pub async fn page(State(state): State<AppState>) -> Response {
    let session = demo::session(&state).await;
    let banner = match &session {
        Some(_) => "Development mode: demo data. Tabs run as the token in their Headers:",
        None => "Patient Portal Results API",
    };
    let page = PlaygroundPage {
        graphql_path: "/graphql",
        default_token: session.as_ref().map(|s| s.patient_token.as_str()),
        default_query: EXAMPLES,
        banner,
        demo: session.as_ref().map(demo::Session::page),
    };
    // The page carries tokens: never stored by a cache.
    no_store(Html(render(&page)).into_response())
}

/// The patient view: a reference client on the public GraphQL API; in development it picks
/// a demo user's token from `/playground/tokens`.
pub async fn patient(State(state): State<AppState>) -> Response {
    let dev = state.config.is_development() && state.dev.is_some();
    let page = PatientPage {
        graphql_path: "/graphql",
        tokens_path: dev.then_some("/playground/tokens"),
    };
    let mut response = Html(render_patient(&page)).into_response();
    // No token in it: revalidated, its fingerprinted assets cached for good.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// `/favicon.ico`, which browsers ask for on pages that name no icon (e.g. a JSON answer).
pub async fn favicon() -> Response {
    asset(Path("favicon.svg".to_owned())).await
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// An asset by its fingerprinted name (cached for a year, immutable), or by its plain name
/// (revalidated every time).
pub async fn asset(Path(name): Path<String>) -> Response {
    let (found, cache) = match fingerprinted_asset(&name) {
        Some(asset) => (Some(asset), "public, max-age=31536000, immutable"),
        None => (find_asset(&name), "no-cache"),
    };
    match found {
        Some(asset) => (
            [
                (header::CONTENT_TYPE, asset.content_type),
                (header::CACHE_CONTROL, cache),
            ],
            asset.body,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
