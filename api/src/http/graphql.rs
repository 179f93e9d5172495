//! `POST /graphql`: authenticates the bearer token, then runs the operation.

use async_graphql::{ErrorExtensions, Response};
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::extract::State;
use axum::http::{Extensions, HeaderMap, header};
use portal_core::ServiceError;
use portal_core::context::Origin;

use super::auth::{audit_rejection, authenticate};
use crate::state::AppState;

pub async fn handle(
    State(state): State<AppState>,
    extensions: Extensions,
    headers: HeaderMap,
    request: GraphQLRequest,
) -> GraphQLResponse {
    let (request_id, client) = super::request_id::origin(&extensions);
    // A header that is not visible ASCII is present but cannot be a bearer token.
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or_default());
    let viewer = match authenticate(&state, authorization).await {
        Ok(viewer) => viewer,
        Err(err) => {
            audit_rejection(&state, &request_id, client, &err).await;
            return counted(&state, unauthenticated(&err));
        }
    };
    let origin = Origin::new(viewer, request_id, client);
    let response = portal_schema::execute(&state.schema, request.into_inner(), origin).await;
    counted(&state, response)
}

/// Counts the response's errors by code (once per error), then hands it to axum.
fn counted(state: &AppState, response: Response) -> GraphQLResponse {
    if let Some(metrics) = &state.metrics {
        metrics.graphql_errors(&response);
    }
    response.into()
}

fn unauthenticated(err: &ServiceError) -> Response {
    let code = err.code().as_str();
    let error = async_graphql::Error::new(err.to_string())
        .extend_with(|_, ext| ext.set("code", code))
        .into_server_error(async_graphql::Pos::default());
    Response::from_errors(vec![error])
}
