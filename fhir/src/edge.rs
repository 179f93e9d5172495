//! One FHIR request from start to end: content negotiation, the bearer token, the unit of
//! work (created once, finished once), and the answer or its OperationOutcome.

use std::future::Future;
use std::sync::Arc;

use axum::http::{Extensions, HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portal_core::context::{RequestContext, Shape};
use portal_core::pagination::PageRequest;
use portal_core::{ServiceError, ServiceResult};
use serde_json::Value;

use crate::FhirState;
use crate::format::{FHIR_JSON, negotiate};
use crate::outcome::{FhirError, FhirResult, body};
use crate::params::Search;
use crate::versions;

/// The request as handlers see it: its unit of work and where links point.
pub struct Call {
    pub ctx: RequestContext,
    pub base: String,
    max_page_size: u64,
}

impl Call {
    /// The page size for `_count` (the server's maximum when not given or larger).
    pub fn page_size(&self, count: Option<i32>) -> u64 {
        count.map_or(self.max_page_size, |n| {
            (n.max(1) as u64).min(self.max_page_size)
        })
    }

    /// The page a search asks for (`_count` lowered to the maximum, the cursor decoded),
    /// counting all matches for `Bundle.total`.
    pub fn page(&self, search: &Search) -> ServiceResult<PageRequest> {
        let max = self.max_page_size;
        let count = search
            .count
            .map(|n| i32::try_from((n as u64).min(max)).unwrap_or(i32::MAX));
        PageRequest::new(count, search.cursor.as_deref(), max)
            .map(PageRequest::with_total)
            .map_err(|err| match err {
                ServiceError::BadUserInput { .. } => {
                    ServiceError::bad_input("_cursor", "invalid _cursor: follow Bundle.link next")
                }
                other => other,
            })
    }
}

/// Runs `handler` as one request of the viewer the gate admits; `query` is the request's
/// query string as pairs (for `_format`).
pub async fn run<F, Fut>(
    state: &FhirState,
    headers: &HeaderMap,
    extensions: &Extensions,
    query: &[(String, String)],
    handler: F,
) -> Response
where
    F: FnOnce(Arc<Call>) -> Fut,
    Fut: Future<Output = FhirResult<Value>>,
{
    answer(state, headers, extensions, query, handler, |resource| {
        json(StatusCode::OK, &resource)
    })
    .await
}

/// [`run`] for a read or vread: a versioned resource is answered with its `ETag` and
/// `Last-Modified`, or 304 when the client's copy is current (the read happened and is
/// audited either way).
pub async fn run_read<F, Fut>(
    state: &FhirState,
    headers: &HeaderMap,
    extensions: &Extensions,
    query: &[(String, String)],
    handler: F,
) -> Response
where
    F: FnOnce(Arc<Call>) -> Fut,
    Fut: Future<Output = FhirResult<Value>>,
{
    answer(state, headers, extensions, query, handler, |resource| {
        versions::answer(headers, &resource)
    })
    .await
}

async fn answer<F, Fut>(
    state: &FhirState,
    headers: &HeaderMap,
    extensions: &Extensions,
    query: &[(String, String)],
    handler: F,
    respond: impl FnOnce(Value) -> Response,
) -> Response
where
    F: FnOnce(Arc<Call>) -> Fut,
    Fut: Future<Output = FhirResult<Value>>,
{
    let format = query
        .iter()
        .find(|(name, _)| name == "_format")
        .map(|(_, v)| v.as_str());
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    if let Err(err) = negotiate(format, accept) {
        return err.into_response("");
    }
    let origin = match state.gate.origin(headers, extensions).await {
        Ok(origin) => origin,
        Err(err) => return FhirError::Service(err).into_response(""),
    };
    let request_id = origin.request_id.clone();
    if origin.viewer.is_none() {
        let err = ServiceError::Unauthenticated("a bearer token is required".into());
        return FhirError::Service(err).into_response(&request_id);
    }
    let call = Arc::new(Call {
        ctx: RequestContext::new(&state.db, Shape::Query, origin),
        base: state.base_url.clone(),
        max_page_size: state.max_page_size,
    });
    let answer = handler(call.clone()).await;
    if let Err(why) = call.ctx.finish().await {
        tracing::error!(request_id = %request_id, error = %why.cause, "{}; answer withheld", why.what);
        return FhirError::Withheld.into_response(&request_id);
    }
    match answer {
        Ok(resource) => respond(resource),
        Err(err) => err.into_response(&request_id),
    }
}

/// A FHIR JSON answer.
pub fn json(status: StatusCode, value: &Value) -> Response {
    let mut response = (status, body(value)).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
    response
}
