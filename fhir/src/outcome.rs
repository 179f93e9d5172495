//! Errors of the FHIR interface as `OperationOutcome`s with their HTTP status. The service
//! error decides the status, as it decides GraphQL's `extensions.code`, so one case answers
//! the same way through both doors. Internal detail is logged (with the request id), never sent.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portal_core::ServiceError;
use serde_json::{Value, json};

use crate::format::FHIR_JSON;

/// Why a FHIR request was not answered with a resource.
#[derive(Debug)]
pub enum FhirError {
    /// What a domain service refused or failed with.
    Service(ServiceError),
    /// A search or request parameter the server does not know or cannot read (400).
    Invalid(String),
    /// A resource type or interaction this server does not serve (404 for the type, 405 for
    /// the interaction).
    UnknownType(String),
    NotAllowed(String),
    /// The client accepts only formats this server does not produce (406).
    NotAcceptable(String),
    /// The request's unit of work could not be finished; the answer is withheld (503).
    Withheld,
}

impl From<ServiceError> for FhirError {
    fn from(err: ServiceError) -> Self {
        Self::Service(err)
    }
}

pub type FhirResult<T> = Result<T, FhirError>;

impl FhirError {
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid(message.into())
    }

    /// The HTTP status, the OperationOutcome issue code and the client-safe message.
    fn parts(&self) -> (StatusCode, &'static str, String) {
        match self {
            Self::Service(err) => service_parts(err),
            Self::Invalid(message) => (StatusCode::BAD_REQUEST, "invalid", message.clone()),
            Self::UnknownType(kind) => (
                StatusCode::NOT_FOUND,
                "not-supported",
                format!("resource type {kind} is not served"),
            ),
            Self::NotAllowed(message) => (
                StatusCode::METHOD_NOT_ALLOWED,
                "not-supported",
                message.clone(),
            ),
            Self::NotAcceptable(message) => {
                (StatusCode::NOT_ACCEPTABLE, "not-supported", message.clone())
            }
            Self::Withheld => (
                StatusCode::SERVICE_UNAVAILABLE,
                "transient",
                "service temporarily unavailable".into(),
            ),
        }
    }

    /// The response: an OperationOutcome in FHIR JSON (also for 406: JSON is all there is).
    pub fn into_response(self, request_id: &str) -> Response {
        let (status, code, message) = self.parts();
        if let Self::Service(ServiceError::Internal(source) | ServiceError::Unavailable(source)) =
            &self
        {
            tracing::error!(request_id, code, error = %source, "FHIR request failed");
        }
        let mut response = (status, body(&outcome(status, code, &message))).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"portal\""),
            );
        }
        response
    }
}

fn service_parts(err: &ServiceError) -> (StatusCode, &'static str, String) {
    let (status, code) = match err {
        ServiceError::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "login"),
        ServiceError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
        ServiceError::NotFound(_) | ServiceError::Expired(_) => {
            (StatusCode::NOT_FOUND, "not-found")
        }
        ServiceError::BadUserInput { .. } => (StatusCode::BAD_REQUEST, "invalid"),
        ServiceError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
        ServiceError::RateLimited => (StatusCode::TOO_MANY_REQUESTS, "throttled"),
        ServiceError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "transient"),
        ServiceError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "exception"),
    };
    (status, code, err.to_string())
}

/// One issue: `error` for the client's mistakes, `fatal` when the server could not answer.
fn outcome(status: StatusCode, code: &str, message: &str) -> Value {
    let severity = if status.is_server_error() {
        "fatal"
    } else {
        "error"
    };
    json!({
        "resourceType": "OperationOutcome",
        "issue": [{
            "severity": severity,
            "code": code,
            "details": { "text": message },
        }],
    })
}

pub(crate) fn body(value: &Value) -> String {
    crate::format::text(value)
}
