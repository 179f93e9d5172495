//! Which query a request runs: its `query` parameter, or the persisted query that its
//! `extensions.persistedQuery.sha256Hash` names (Apollo's automatic persisted queries, over
//! GET and POST). In registered-only mode (`PORTAL_PERSISTED_QUERIES=registered`) only
//! operations of the manifest run, by hash or by their exact text.

use async_graphql::Response;
use portal_schema::persisted::sha256_hex;
use serde_json::Value;

use super::Rejected;
use super::params::Params;
use super::reply::{EdgeError, codes};
use crate::state::AppState;

pub async fn resolve(state: &AppState, params: &Params) -> Result<String, Rejected> {
    let store = &state.persisted;
    match (persisted_hash(params)?, params.query.as_deref()) {
        (Some(hash), Some(query)) => {
            if sha256_hex(query) != hash {
                return Err(EdgeError::bad_request(
                    "extensions.persistedQuery.sha256Hash is not the SHA-256 of the query",
                )
                .into());
            }
            if store.is_registered_only() && !store.is_registered(&hash) {
                return Err(graphql_error(
                    codes::OPERATION_NOT_REGISTERED,
                    "only registered operations run on this server",
                ));
            }
            store.put(&hash, query).await;
            Ok(query.to_owned())
        }
        (Some(hash), None) => store.get(&hash).await.ok_or_else(|| {
            graphql_error(codes::PERSISTED_QUERY_NOT_FOUND, "PersistedQueryNotFound")
        }),
        (None, Some(query)) => {
            if store.is_registered_only() && !store.is_registered(&sha256_hex(query)) {
                return Err(graphql_error(
                    codes::OPERATION_NOT_REGISTERED,
                    "only registered operations run on this server",
                ));
            }
            Ok(query.to_owned())
        }
        (None, None) => Err(EdgeError::bad_request("the query parameter is missing").into()),
    }
}

/// `extensions.persistedQuery` = `{ "version": 1, "sha256Hash": "<64 hex digits>" }`, the
/// hash in lower case; absent: `None`.
fn persisted_hash(params: &Params) -> Result<Option<String>, Rejected> {
    let Some(persisted) = params.extensions.get("persistedQuery") else {
        return Ok(None);
    };
    let bad = |why: &str| {
        Rejected::from(EdgeError::bad_request(format!(
            "extensions.persistedQuery: {why}"
        )))
    };
    if persisted.get("version").and_then(Value::as_u64) != Some(1) {
        return Err(bad("only version 1 is supported"));
    }
    let hash = persisted
        .get("sha256Hash")
        .and_then(Value::as_str)
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| bad("sha256Hash must be 64 hexadecimal digits"))?;
    Ok(Some(hash.to_ascii_lowercase()))
}

fn graphql_error(code: &str, message: &str) -> Rejected {
    Rejected::GraphQL(Box::new(Response::from_errors(vec![
        portal_schema::coded_error(message, code),
    ])))
}
