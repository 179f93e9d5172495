//! Liveness (`/health`) and readiness (`/ready`: database reachable, migrations applied, not
//! shutting down).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::state::AppState;

pub async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Answers within about two database timeouts even when the database hangs: a stopped
/// database is "not ready" at once, never a stuck probe.
/// From SIGTERM on it answers 503 `"shutting down"` at once, before the listener closes.
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    if state.is_draining() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "shutting down" })),
        );
    }
    let timeout = state.config.database_timeout;
    let database = tokio::time::timeout(timeout, portal_core::db::ping(&state.app.db))
        .await
        .is_ok_and(|ping| ping.is_ok());
    let pending = if database {
        tokio::time::timeout(timeout, crate::migrate::pending(&state.app.db))
            .await
            .ok()
            .and_then(Result::ok)
    } else {
        None
    };
    let ready = database && pending == Some(0);
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "status": if ready { "ready" } else { "not ready" },
            "database": if database { "ok" } else { "unreachable" },
            "pendingMigrations": pending,
        })),
    )
}
