//! Bearer-token authentication shared by `POST /graphql` (the `Authorization` header) and
//! WebSocket connections (the `Authorization` field of the `connection_init` payload).

use crate::auth::Viewer;
use portal_core::{ServiceError, audit};

use crate::state::AppState;

/// No value: an anonymous caller (most fields then say UNAUTHENTICATED). A value that is
/// present must be `Bearer <valid token>`.
pub async fn authenticate(
    state: &AppState,
    authorization: Option<&str>,
) -> Result<Option<Viewer>, ServiceError> {
    let Some(value) = authorization else {
        return Ok(None);
    };
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ServiceError::Unauthenticated("expected `Authorization: Bearer <token>`".into())
        })?;
    state.verifier.verify(token).await.map(Some)
}

/// Writes a rejected token to the audit trail (the reason, never the token).
pub async fn audit_rejection(
    state: &AppState,
    request_id: &str,
    client_addr: Option<String>,
    err: &ServiceError,
) {
    if let Err(audit_err) =
        audit::record_login_failure(&state.app.db, request_id, client_addr, &err.to_string()).await
    {
        tracing::error!(error = %audit_err, "could not audit a rejected token");
    }
}
