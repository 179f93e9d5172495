//! `/graphql` over HTTP, as the GraphQL-over-HTTP spec describes it: POST with an
//! `application/json` body, GET with `query` (queries only), answers in
//! `application/graphql-response+json` or `application/json` (see `reply`). A GET that asks
//! to upgrade is the WebSocket endpoint (`ws`); a browser asking for a page is sent to the
//! playground.
//!
//! Before anything runs: the body size, the parameters, automatic persisted queries, the
//! request limits; then the bearer token is checked and the operation runs through
//! `portal_schema::execute`.

mod params;
mod persisted;
mod reply;
mod token_hint;

use std::collections::HashMap;

use async_graphql::parser::types::OperationType;
use async_graphql::{Response, Variables};
use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::handler::Handler;
use axum::http::{Extensions, HeaderMap, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect};
use portal_core::context::Origin;
use portal_schema::Documents;
use portal_schema::limits::{Refusal, RequestLimits, check_variables};

use super::auth::{audit_rejection, authenticate};
use crate::state::AppState;
use params::Params;
pub use reply::codes;
use reply::{EdgeError, MediaType, wants_html};

pub async fn post(
    State(state): State<AppState>,
    extensions: Extensions,
    headers: HeaderMap,
    body: Body,
) -> axum::response::Response {
    let media = MediaType::negotiate(&headers);
    let params = match read_body(&state, &headers, body).await {
        Ok(bytes) => Params::from_body(&bytes),
        Err(err) => Err(err),
    };
    match params {
        Ok(params) => run(&state, &extensions, &headers, params, Method::POST, media).await,
        Err(err) => rejected(&state, err, media),
    }
}

/// GET: the WebSocket upgrade, the playground for a browser, or a query.
pub async fn get(State(state): State<AppState>, request: Request) -> axum::response::Response {
    let headers = request.headers();
    if is_websocket_upgrade(headers) {
        return super::ws::upgrade.call(request, state).await;
    }
    let pairs = Query::<HashMap<String, String>>::try_from_uri(request.uri()).map(|q| q.0);
    let no_query = pairs
        .as_ref()
        .is_ok_and(|p| !p.contains_key("query") && !p.contains_key("extensions"));
    if wants_html(headers) && no_query {
        return browser_page(&state);
    }
    let media = MediaType::negotiate(headers);
    let params = pairs
        .map_err(|_| EdgeError::bad_request("the query string is not valid"))
        .and_then(Params::from_query_string);
    let (parts, _) = request.into_parts();
    match params {
        Ok(params) => {
            run(
                &state,
                &parts.extensions,
                &parts.headers,
                params,
                Method::GET,
                media,
            )
            .await
        }
        Err(err) => rejected(&state, err, media),
    }
}

fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// Where a browser that opened `/graphql` goes: the playground, or a short page that says
/// what the endpoint is when the playground is off.
fn browser_page(state: &AppState) -> axum::response::Response {
    if state.config.playground {
        return Redirect::to("/").into_response();
    }
    Html(
        "<!doctype html><meta charset=utf-8><title>GraphQL endpoint</title>\
         <p>This is the GraphQL endpoint of the Patient Portal Results API. Send queries by \
         POST with an <code>application/json</code> body, or by GET with a <code>query</code> \
         parameter; subscriptions use a WebSocket (<code>graphql-transport-ws</code>).</p>",
    )
    .into_response()
}

/// How much of a refused body is read and discarded before the refusal is sent, and for
/// how long: a client still sending when the server closes gets a reset instead of the
/// answer (node's `fetch` reports a network error). A larger or slower body is cut off.
const DRAIN_BYTES: usize = 64 * 1024 * 1024;
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(30);

/// Reads and discards the rest of a refused body, within [`DRAIN_BYTES`] and [`DRAIN_TIME`].
async fn drain(body: Body) {
    use futures_util::StreamExt;
    let mut stream = body.into_data_stream();
    let mut read = 0usize;
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        while read <= DRAIN_BYTES {
            match stream.next().await {
                Some(Ok(chunk)) => read += chunk.len(),
                _ => break,
            }
        }
    })
    .await;
}

/// The POST body, refused unless it is `application/json` (UTF-8) and within the limit; a
/// refused body is drained first so that the client reads the refusal.
async fn read_body(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<axum::body::Bytes, EdgeError> {
    if !is_json(headers) {
        drain(body).await;
        return Err(EdgeError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            codes::UNSUPPORTED_MEDIA_TYPE,
            "send the request as application/json",
        ));
    }
    let max = state.config.max_body_bytes;
    let too_large = || {
        let refusal = Refusal::Limit {
            limit: "body_bytes",
            max,
        };
        EdgeError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            error: Box::new(refusal.to_server_error()),
        }
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > max) {
        drain(body).await;
        return Err(too_large());
    }
    let mut stream = body.into_data_stream();
    let mut bytes = Vec::new();
    while let Some(chunk) = futures_util::StreamExt::next(&mut stream).await {
        let Ok(chunk) = chunk else {
            return Err(too_large());
        };
        if bytes.len() + chunk.len() > max {
            drain(Body::from_stream(stream)).await;
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes.into())
}

/// `application/json`, with no charset or `charset=utf-8`.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mut parts = value.split(';');
    let essence = parts.next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
        && parts.all(|p| {
            let p = p.trim().to_ascii_lowercase();
            p.is_empty() || p == "charset=utf-8" || p == "charset=\"utf-8\""
        })
}

/// Runs one request whose parameters were read: persisted query, limits, GET rules, token,
/// then the operation.
async fn run(
    state: &AppState,
    extensions: &Extensions,
    headers: &HeaderMap,
    params: Params,
    method: Method,
    media: MediaType,
) -> axum::response::Response {
    let request = match prepare(state, params, &method).await {
        Ok(request) => request,
        Err(Rejected::Edge(err)) => return rejected(state, err, media),
        Err(Rejected::GraphQL(response)) => return answer(state, &response, media),
    };
    let (request_id, client) = super::request_id::origin(extensions);
    // A header that is not visible ASCII is present but cannot be a bearer token.
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or_default());
    let viewer = match authenticate(state, authorization).await {
        Ok(viewer) => viewer,
        Err(err) => {
            audit_rejection(state, &request_id, client, &err).await;
            let error = portal_schema::coded_error(err.to_string(), err.code().as_str());
            return answer(state, &Response::from_errors(vec![error]), media);
        }
    };
    let origin = Origin::new(viewer, request_id, client);
    let response = portal_schema::execute(&state.schema, request, origin).await;
    answer(state, &response, media)
}

/// Why a request did not reach execution: an HTTP-level error, or a GraphQL request error.
pub(crate) enum Rejected {
    Edge(EdgeError),
    GraphQL(Box<Response>),
}

impl From<EdgeError> for Rejected {
    fn from(err: EdgeError) -> Self {
        Self::Edge(err)
    }
}

/// The GraphQL request, checked against the limits (see `limits`) on its document as parsed
/// once (`Documents`).
async fn prepare(
    state: &AppState,
    params: Params,
    method: &Method,
) -> Result<async_graphql::Request, Rejected> {
    let query = persisted::resolve(state, &params).await?;
    let limits = request_limits(state);
    limits.check_text(&query).map_err(refused)?;
    let mut request = async_graphql::Request::new(query).variables(Variables::from_json(
        serde_json::Value::Object(params.variables),
    ));
    if let Some(name) = params.operation_name {
        request = request.operation_name(name);
    }
    check_variables(&request.variables).map_err(refused)?;
    let name = request.operation_name.clone();
    // The document as parsed once (`Documents`); `execute` finds the same parse. Only a text
    // that does not parse is parsed again here, for its error.
    let parsed = state
        .schema
        .data::<Documents>()
        .and_then(|documents| documents.get(&request));
    let operation = match parsed {
        Some(parsed) => {
            limits.check_document(&parsed.document).map_err(refused)?;
            operation_type(&parsed.document, name.as_deref())
        }
        None => match request.parsed_query() {
            Ok(document) => {
                limits.check_document(document).map_err(refused)?;
                operation_type(document, name.as_deref())
            }
            Err(mut error) => {
                error.extensions = portal_schema::coded_error("", "BAD_USER_INPUT").extensions;
                let response = Response::from_errors(vec![error]);
                return Err(Rejected::GraphQL(Box::new(response)));
            }
        },
    };
    if method == Method::GET && operation.is_some_and(|ty| ty != OperationType::Query) {
        return Err(EdgeError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            codes::METHOD_NOT_ALLOWED,
            "only queries may be sent by GET; send mutations by POST",
        )
        .into());
    }
    Ok(request)
}

/// The type of the operation the request selects (`None` when the name matches none; the
/// engine reports that).
fn operation_type(
    document: &async_graphql::parser::types::ExecutableDocument,
    name: Option<&str>,
) -> Option<OperationType> {
    use async_graphql::parser::types::DocumentOperations;
    match (&document.operations, name) {
        (DocumentOperations::Single(op), _) => Some(op.node.ty),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| op.node.ty),
        (DocumentOperations::Multiple(ops), None) => {
            let mut types = ops.values().map(|op| op.node.ty);
            // Several operations and no name: the engine refuses it; GET refuses any non-query.
            if types.clone().all(|ty| ty == OperationType::Query) {
                types.next()
            } else {
                Some(OperationType::Mutation)
            }
        }
    }
}

/// A limit is the HTTP request's fault (400 for every media type); a text input with a
/// control character is a GraphQL input error like any other.
fn refused(refusal: Refusal) -> Rejected {
    match refusal {
        Refusal::Limit { .. } => Rejected::Edge(EdgeError {
            status: StatusCode::BAD_REQUEST,
            error: Box::new(refusal.to_server_error()),
        }),
        Refusal::ControlCharacter { .. } => {
            Rejected::GraphQL(Box::new(Response::from_errors(vec![
                refusal.to_server_error(),
            ])))
        }
    }
}

fn request_limits(state: &AppState) -> RequestLimits {
    state
        .schema
        .data::<RequestLimits>()
        .cloned()
        .unwrap_or_default()
}

/// Counts the response's errors by code (once per error), then answers.
fn answer(state: &AppState, response: &Response, media: MediaType) -> axum::response::Response {
    if let Some(metrics) = &state.metrics {
        metrics.graphql_errors(response);
    }
    if state.config.is_development()
        && state.dev.is_some()
        && let Some(hinted) = token_hint::add(response, &crate::invocation())
    {
        return reply::graphql(&hinted, media);
    }
    reply::graphql(response, media)
}

/// Counts an HTTP-level error like a GraphQL one, by its code, then answers.
fn rejected(state: &AppState, err: EdgeError, media: MediaType) -> axum::response::Response {
    if let Some(metrics) = &state.metrics {
        metrics.graphql_errors(&Response::from_errors(vec![(*err.error).clone()]));
    }
    err.into_response(media)
}
