//! Serves GraphiQL (from the web-playground crate): in development with the demo
//! walk-through ready — the patient's token in the first tab, a lab tab with its own token
//! and an `addTestResult` for the patient, the live results panel and the mailbox.
//!
//! Assets are served under fingerprinted names (cached for good) and, like the page,
//! compressed when the browser accepts it (see `router`).

mod demo;
mod mailbox;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use portal_web_playground::{PlaygroundPage, asset as find_asset, fingerprinted_asset, render};

use crate::state::AppState;

pub use mailbox::messages as mailbox;

const EXAMPLES: &str = include_str!("../examples.graphql");

pub async fn page(State(state): State<AppState>) -> Response {
    let session = demo::session(&state).await;
    let banner = match &session {
        Some(_) => {
            "Development mode: demo data. The first tab holds Alice Nguyen's token, the second \
             the lab's; the panel on the right listens for Alice's new results."
        }
        None => "Patient Portal Results API",
    };
    let page = PlaygroundPage {
        graphql_path: "/graphql",
        default_token: session.as_ref().map(|s| s.patient_token.as_str()),
        default_query: EXAMPLES,
        banner,
        demo: session.as_ref().map(demo::Session::page),
    };
    let mut response = Html(render(&page)).into_response();
    // The page carries tokens: never stored by a cache.
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
