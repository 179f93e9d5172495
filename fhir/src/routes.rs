//! The routes under `/fhir/R4` and the dispatch of each interaction to its resource type.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{Extensions, HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::FhirState;
use crate::capability::{self, served};
use crate::edge::{self, json};
use crate::everything;
use crate::format::negotiate;
use crate::outcome::{FhirError, FhirResult};
use crate::params::{Search, resource_id};
use crate::resources;

type Pairs = Query<Vec<(String, String)>>;

/// The FHIR routes, to be nested at `/fhir/R4` (any outer state: this router carries its own).
pub fn router<S: Clone + Send + Sync + 'static>(state: FhirState) -> Router<S> {
    Router::new()
        .route("/", get(base).fallback(not_allowed))
        .route("/metadata", get(metadata).fallback(not_allowed))
        .route("/{kind}", get(search).fallback(not_allowed))
        .route("/{kind}/{id}", get(read).fallback(not_allowed))
        .route("/{kind}/{id}/_history", get(history).fallback(not_allowed))
        .route(
            "/{kind}/{id}/{operation}",
            get(operation).fallback(not_allowed),
        )
        .route(
            "/{kind}/{id}/_history/{version}",
            get(vread).fallback(not_allowed),
        )
        .fallback(unknown)
        .with_state(state)
}

async fn base(State(state): State<FhirState>) -> Response {
    to_metadata(&state.base_url)
}

/// The answer at the base (`/fhir/R4`, and `/fhir/R4/` where the server mounts it): the base
/// is no resource, so it sends the client to the CapabilityStatement (303 See Other), which
/// says what is served here.
pub fn to_metadata(base_url: &str) -> Response {
    Redirect::to(&format!("{base_url}/metadata")).into_response()
}

/// The CapabilityStatement: no token needed, nothing read from the database.
async fn metadata(
    State(state): State<FhirState>,
    headers: HeaderMap,
    Query(query): Pairs,
) -> Response {
    let format = query
        .iter()
        .find(|(n, _)| n == "_format")
        .map(|(_, v)| v.as_str());
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    if let Err(err) = negotiate(format, accept) {
        return err.into_response("");
    }
    if let Some((name, _)) = query.iter().find(|(n, _)| n != "_format") {
        return FhirError::invalid(format!("unknown parameter {name} for metadata"))
            .into_response("");
    }
    json(StatusCode::OK, &capability::statement(&state.base_url))
}

async fn search(
    State(state): State<FhirState>,
    Path(kind): Path<String>,
    headers: HeaderMap,
    extensions: Extensions,
    Query(query): Pairs,
) -> Response {
    let pairs = query.clone();
    edge::run(&state, &headers, &extensions, &pairs, |call| async move {
        let served = served(&kind).ok_or_else(|| FhirError::UnknownType(kind.clone()))?;
        if served.search.is_empty() {
            return Err(FhirError::NotAllowed(format!("{kind} is read by id only")));
        }
        let search = Search::parse(served, query)?;
        resources::search(&call, served.kind, &search).await
    })
    .await
}

async fn read(
    State(state): State<FhirState>,
    Path((kind, id)): Path<(String, String)>,
    headers: HeaderMap,
    extensions: Extensions,
    Query(query): Pairs,
) -> Response {
    let pairs = query.clone();
    edge::run_read(&state, &headers, &extensions, &pairs, |call| async move {
        let served = known(&kind, &query)?;
        resources::read(&call, served.kind, resource_id(&id)?).await
    })
    .await
}

/// An operation on an instance: `Patient/{id}/$everything` is the one served.
async fn operation(
    State(state): State<FhirState>,
    Path((kind, id, operation)): Path<(String, String, String)>,
    headers: HeaderMap,
    extensions: Extensions,
    Query(query): Pairs,
) -> Response {
    let pairs = query.clone();
    edge::run(&state, &headers, &extensions, &pairs, |call| async move {
        served(&kind).ok_or_else(|| FhirError::UnknownType(kind.clone()))?;
        if kind != "Patient" || operation != "$everything" {
            return Err(FhirError::NotAllowed(format!(
                "{kind}/{{id}}/{operation} is not served (Patient/{{id}}/$everything is)"
            )));
        }
        let asked = everything::Everything::parse(query)?;
        everything::page(&call, resource_id(&id)?, &asked).await
    })
    .await
}

async fn history(
    State(state): State<FhirState>,
    Path((kind, id)): Path<(String, String)>,
    headers: HeaderMap,
    extensions: Extensions,
    Query(query): Pairs,
) -> Response {
    let pairs = query.clone();
    edge::run(&state, &headers, &extensions, &pairs, |call| async move {
        versioned(&kind, &query)?;
        resources::report::history(&call, resource_id(&id)?).await
    })
    .await
}

async fn vread(
    State(state): State<FhirState>,
    Path((kind, id, version)): Path<(String, String, String)>,
    headers: HeaderMap,
    extensions: Extensions,
    Query(query): Pairs,
) -> Response {
    let pairs = query.clone();
    edge::run_read(&state, &headers, &extensions, &pairs, |call| async move {
        versioned(&kind, &query)?;
        resources::report::vread(&call, resource_id(&id)?, resource_id(&version)?).await
    })
    .await
}

/// A served type; reads take no parameter but `_format`.
fn known(kind: &str, query: &[(String, String)]) -> FhirResult<&'static capability::Served> {
    let served = served(kind).ok_or_else(|| FhirError::UnknownType(kind.to_owned()))?;
    if let Some((name, _)) = query.iter().find(|(n, _)| n != "_format") {
        return Err(FhirError::invalid(format!(
            "unknown parameter {name} for a read"
        )));
    }
    Ok(served)
}

fn versioned(kind: &str, query: &[(String, String)]) -> FhirResult<()> {
    let served = known(kind, query)?;
    if !served.history {
        return Err(FhirError::NotAllowed(format!("{kind} keeps no history")));
    }
    Ok(())
}

async fn not_allowed() -> Response {
    FhirError::NotAllowed("this server is read only: GET".into()).into_response("")
}

async fn unknown() -> Response {
    FhirError::UnknownType("(this path)".into()).into_response("")
}
