//! `POST /graphql`: authenticates the bearer token, then runs the operation.

use std::net::SocketAddr;

use async_graphql::{ErrorExtensions, Response};
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::extract::{ConnectInfo, State};
use axum::http::{Extensions, HeaderMap, header};
use portal_services::auth::Viewer;
use portal_services::{RequestContext, ServiceError, audit};

use super::RequestId;
use crate::state::AppState;

pub async fn handle(
    State(state): State<AppState>,
    extensions: Extensions,
    headers: HeaderMap,
    request: GraphQLRequest,
) -> GraphQLResponse {
    let request_id = extensions
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    let client = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    let viewer = match authenticate(&state, &headers).await {
        Ok(viewer) => viewer,
        Err(err) => {
            if let Err(audit_err) =
                audit::record_login_failure(&state.db, &request_id, client, &err.to_string()).await
            {
                tracing::error!(error = %audit_err, "could not audit a rejected token");
            }
            return unauthenticated(&err).into();
        }
    };
    let ctx = RequestContext::new(viewer, request_id, client);
    portal_schema::execute(&state.schema, request.into_inner(), ctx)
        .await
        .into()
}

/// No `Authorization` header: an anonymous request (most fields then say UNAUTHENTICATED).
/// A header that is present must carry a valid bearer token.
async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<Viewer>, ServiceError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ServiceError::Unauthenticated("expected `Authorization: Bearer <token>`".into())
        })?;
    state.verifier.verify(token).await.map(Some)
}

fn unauthenticated(err: &ServiceError) -> Response {
    let code = err.code().as_str();
    let error = async_graphql::Error::new(err.to_string())
        .extend_with(|_, ext| ext.set("code", code))
        .into_server_error(async_graphql::Pos::default());
    Response::from_errors(vec![error])
}
