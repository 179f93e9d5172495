//! Ends a request once its operation ran: its unit of work is finished (the transaction
//! commits with the audit records), and every error gets a stable `extensions.code`.
//!
//! This runs after `Schema::execute` rather than as async-graphql extensions: any extension
//! makes the engine wrap every field's resolution in the extension chain, which the read
//! path's profile showed as ~5% of the server's CPU for no work (BENCHMARKS.md).

use async_graphql::{ErrorExtensionValues, Response, ServerError, Value};
use portal_core::RequestContext;

/// Finishes the request's unit of work (commit and audit, see `RequestContext::finish`); if
/// that fails the client gets UNAVAILABLE instead of the data.
pub(crate) async fn finish(ctx: &RequestContext, response: Response) -> Response {
    match ctx.finish().await {
        Ok(_) => with_error_codes(response),
        Err(why) => withheld(&ctx.request_id, why.what, &why.cause),
    }
}

/// The answer that replaces the data when the request could not be committed or audited:
/// UNAVAILABLE.
pub(crate) fn withheld(request_id: &str, what: &str, cause: &str) -> Response {
    tracing::error!(request_id = %request_id, error = %cause, "{what}; answer withheld");
    Response::from_errors(vec![coded_error(
        "service temporarily unavailable",
        "UNAVAILABLE",
    )])
}

/// Errors raised by the GraphQL engine itself (syntax, validation, limits, argument
/// coercion) carry no code; they are the client's input: BAD_USER_INPUT.
pub(crate) fn with_error_codes(mut response: Response) -> Response {
    for error in &mut response.errors {
        let extensions = error
            .extensions
            .get_or_insert_with(ErrorExtensionValues::default);
        if extensions.get("code").is_none() {
            extensions.set("code", Value::from(crate::ENGINE_ERROR_CODE));
        }
    }
    response
}

/// An error of the request as a whole (no position in the query, so no `locations`) with
/// its `extensions.code`.
pub fn coded_error(message: impl Into<String>, code: &str) -> ServerError {
    let mut error = ServerError::new(message, None);
    let mut extensions = ErrorExtensionValues::default();
    extensions.set("code", code);
    error.extensions = Some(extensions);
    error
}
