//! Maps service errors to GraphQL errors with a stable `extensions.code`, hiding internals.

use async_graphql::{Error, ErrorExtensions};
use portal_services::ServiceError;

/// Converts a service error into a client-safe GraphQL error. Unavailable and internal
/// errors are logged here with their detail and answered with a generic message.
pub fn to_gql(err: &ServiceError) -> Error {
    let code = err.code().as_str();
    match err {
        ServiceError::Internal(source) | ServiceError::Unavailable(source) => {
            tracing::error!(code, error = %source, "request failed");
        }
        _ => tracing::debug!(code, "request rejected"),
    }
    let field = match err {
        ServiceError::BadUserInput { field, .. } => Some(field.clone()),
        _ => None,
    };
    Error::new(err.to_string()).extend_with(|_, ext| {
        ext.set("code", code);
        if let Some(field) = &field {
            ext.set("field", field.as_str());
        }
    })
}

/// `?`-friendly conversion for resolver bodies.
pub trait GqlResult<T> {
    fn gql(self) -> async_graphql::Result<T>;
}

impl<T> GqlResult<T> for Result<T, ServiceError> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(|e| to_gql(&e))
    }
}

impl<T> GqlResult<T> for Result<T, std::sync::Arc<ServiceError>> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(|e| to_gql(&e))
    }
}
