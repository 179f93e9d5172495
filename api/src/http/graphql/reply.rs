//! The answer of `/graphql` over HTTP: the media type the client accepts, the status code
//! the GraphQL-over-HTTP spec gives for it, and the body in selection order.
//!
//! - `application/graphql-response+json` (asked for in `Accept`): 200 when the operation
//!   ran; for a request error (the document did not parse or validate, a variable did not
//!   coerce, a limit was exceeded — nothing ran, so there is no `data` entry) 400, 401 for a
//!   rejected token, 404 for an unknown persisted query, 503 when the answer was withheld.
//! - `application/json` (no `Accept`, `*/*`, or asked for): 200 for every GraphQL answer,
//!   as older clients expect.
//!
//! Errors of the HTTP request itself (not a GraphQL request at all) have their own status in
//! both: 400 (missing query, bad JSON or parameters), 405 (a mutation by GET), 413 (body too
//! large), 415 (not `application/json`).

use std::collections::BTreeMap;

use async_graphql::{ServerError, Value};
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The GraphQL-over-HTTP media types the endpoint answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    GraphQLResponse,
    Json,
}

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

impl MediaType {
    /// The client's preference by `Accept` (highest `q` first, then order); `*/*`, no
    /// `Accept`, or nothing we know: `application/json`.
    pub fn negotiate(headers: &HeaderMap) -> Self {
        let mut best: Option<(f32, Self)> = None;
        for (range, q) in accepted(headers) {
            let candidate = match range.as_str() {
                GRAPHQL_RESPONSE => Self::GraphQLResponse,
                JSON | "application/*" | "*/*" => Self::Json,
                _ => continue,
            };
            if best.is_none_or(|(known, _)| q > known) {
                best = Some((q, candidate));
            }
        }
        best.map_or(Self::Json, |(_, media)| media)
    }

    fn content_type(self) -> &'static str {
        match self {
            Self::GraphQLResponse => "application/graphql-response+json; charset=utf-8",
            Self::Json => "application/json; charset=utf-8",
        }
    }
}

/// Whether the caller is a browser asking for a page (`text/html` listed, and neither JSON
/// media type).
pub fn wants_html(headers: &HeaderMap) -> bool {
    let ranges: Vec<String> = accepted(headers).map(|(range, _)| range).collect();
    ranges.iter().any(|r| r == "text/html")
        && !ranges.iter().any(|r| r == GRAPHQL_RESPONSE || r == JSON)
}

/// The media ranges of `Accept` (lower case, without parameters) with their `q` (> 0).
fn accepted(headers: &HeaderMap) -> impl Iterator<Item = (String, f32)> + '_ {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|item| {
            let mut parts = item.split(';');
            let range = parts.next()?.trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            (q > 0.0 && !range.is_empty()).then_some((range, q))
        })
}

/// An error of the HTTP request itself, answered before any GraphQL runs.
#[derive(Debug)]
pub struct EdgeError {
    pub status: StatusCode,
    /// Boxed: a `ServerError` is large, and this travels in every `Result` of the edge.
    pub error: Box<ServerError>,
}

impl EdgeError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            error: Box::new(portal_schema::coded_error(message, code)),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, codes::BAD_REQUEST, message)
    }

    pub fn into_response(self, media: MediaType) -> Response {
        let mut response = body_response(
            media,
            &Payload {
                data: None,
                errors: std::slice::from_ref(&*self.error),
                extensions: &BTreeMap::new(),
            },
        );
        *response.status_mut() = self.status;
        if self.status == StatusCode::METHOD_NOT_ALLOWED {
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
        }
        response
    }
}

/// Codes of the errors the HTTP edge answers with, beside the service codes
/// (`portal_core::ErrorCode`) and LIMIT_EXCEEDED (`portal_schema::limits`).
pub mod codes {
    /// Not a GraphQL-over-HTTP request: no query, a body that is not JSON, parameters of
    /// the wrong type.
    pub const BAD_REQUEST: &str = "BAD_REQUEST";
    /// A mutation or subscription sent by GET.
    pub const METHOD_NOT_ALLOWED: &str = "METHOD_NOT_ALLOWED";
    /// A POST whose body is not `application/json`.
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "UNSUPPORTED_MEDIA_TYPE";
    /// An automatic persisted query whose hash the server does not know (yet).
    pub const PERSISTED_QUERY_NOT_FOUND: &str = "PERSISTED_QUERY_NOT_FOUND";
    /// Registered operations only: a query that is not in the manifest.
    pub const OPERATION_NOT_REGISTERED: &str = "OPERATION_NOT_REGISTERED";
}

/// The serialised form of a GraphQL response, `data` left out for a request error.
#[derive(Serialize)]
struct Payload<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a Value>,
    #[serde(skip_serializing_if = "<[ServerError]>::is_empty")]
    errors: &'a [ServerError],
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    extensions: &'a BTreeMap<String, Value>,
}

/// The HTTP answer to a GraphQL response.
pub fn graphql(response: &async_graphql::Response, media: MediaType) -> Response {
    let request_error = is_request_error(response);
    let status = match media {
        MediaType::Json => StatusCode::OK,
        MediaType::GraphQLResponse if request_error => status_of_request_error(response),
        MediaType::GraphQLResponse => StatusCode::OK,
    };
    let body = Payload {
        data: (!request_error).then_some(&response.data),
        errors: &response.errors,
        extensions: &response.extensions,
    };
    let mut reply = body_response(media, &body);
    *reply.status_mut() = status;
    if status == StatusCode::UNAUTHORIZED {
        reply
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    reply
}

/// Nothing ran: no data, and no error belongs to a field (a field error has a path).
fn is_request_error(response: &async_graphql::Response) -> bool {
    matches!(response.data, Value::Null)
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty())
}

fn status_of_request_error(response: &async_graphql::Response) -> StatusCode {
    let code = response.errors.first().and_then(|e| {
        e.extensions
            .as_ref()
            .and_then(|ext| ext.get("code"))
            .and_then(|code| match code {
                Value::String(code) => Some(code.clone()),
                _ => None,
            })
    });
    match code.as_deref() {
        Some("UNAUTHENTICATED") => StatusCode::UNAUTHORIZED,
        Some("FORBIDDEN") | Some(codes::OPERATION_NOT_REGISTERED) => StatusCode::FORBIDDEN,
        Some(codes::PERSISTED_QUERY_NOT_FOUND) => StatusCode::NOT_FOUND,
        Some("RATE_LIMITED") => StatusCode::TOO_MANY_REQUESTS,
        Some("UNAVAILABLE") => StatusCode::SERVICE_UNAVAILABLE,
        Some("INTERNAL") => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

fn body_response(media: MediaType, body: &Payload<'_>) -> Response {
    // Serialising values and errors cannot fail; an empty body would be the worst case.
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut response = Body::from(bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(media.content_type()),
    );
    // Answers hold patient data: no shared cache may keep them, whatever the method.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::VARY,
        HeaderValue::from_static("accept, authorization"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_str(value).expect("ascii"));
        headers
    }

    #[test]
    fn the_media_type_follows_accept() {
        use MediaType::*;
        assert_eq!(MediaType::negotiate(&HeaderMap::new()), Json);
        assert_eq!(MediaType::negotiate(&accept("*/*")), Json);
        assert_eq!(
            MediaType::negotiate(&accept(GRAPHQL_RESPONSE)),
            GraphQLResponse
        );
        assert_eq!(
            MediaType::negotiate(&accept(
                "application/graphql-response+json, application/json;q=0.9"
            )),
            GraphQLResponse
        );
        assert_eq!(
            MediaType::negotiate(&accept(
                "application/graphql-response+json;q=0.5, application/json"
            )),
            Json
        );
        assert_eq!(MediaType::negotiate(&accept("text/plain")), Json);
    }

    #[test]
    fn browsers_are_recognised_by_accept() {
        assert!(wants_html(&accept(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        )));
        assert!(!wants_html(&accept("application/json, text/html")));
        assert!(!wants_html(&HeaderMap::new()));
    }

    #[test]
    fn request_errors_have_no_data_and_a_4xx_status() {
        let error = portal_schema::coded_error("bad", "BAD_USER_INPUT");
        let response = async_graphql::Response::from_errors(vec![error]);
        let reply = graphql(&response, MediaType::GraphQLResponse);
        assert_eq!(reply.status(), StatusCode::BAD_REQUEST);
        let legacy = graphql(&response, MediaType::Json);
        assert_eq!(legacy.status(), StatusCode::OK);
    }
}
