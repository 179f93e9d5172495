//! The FHIR R4 read API (`/fhir/R4`): a second door to the same house. Each request is an
//! edge like the GraphQL handler: the bearer token is checked by the same gate, one unit of
//! work (`RequestContext`) is created and finished once, and every read goes through the
//! domain services, which apply the access rules, the release policy and the audit.
//! This crate maps the services' answers to FHIR resources and their errors to
//! OperationOutcomes; it holds no rule of its own.

mod bundle;
mod capability;
mod codes;
mod dates;
mod edge;
mod everything;
mod format;
mod outcome;
mod params;
mod resources;
mod routes;
mod versions;

use std::sync::Arc;

use axum::http::{Extensions, HeaderMap};
use portal_core::ServiceError;
use portal_core::context::Origin;
use sea_orm::DatabaseConnection;

pub use routes::{router, to_metadata};

/// Who is asking, as the server's authentication decides it (the same for GraphQL and
/// FHIR): the request id, the client's address and the viewer of a valid bearer token.
#[async_trait::async_trait]
pub trait Gate: Send + Sync + 'static {
    /// `viewer` is `None` without an `Authorization` header; a header that does not hold a
    /// valid bearer token is an error (UNAUTHENTICATED), audited by the gate.
    async fn origin(
        &self,
        headers: &HeaderMap,
        extensions: &Extensions,
    ) -> Result<Origin, ServiceError>;
}

/// What the FHIR handlers share across requests.
#[derive(Clone)]
pub struct FhirState {
    pub db: DatabaseConnection,
    /// The largest `_count` served; a larger one is lowered to it.
    pub max_page_size: u64,
    /// The public address of `/fhir/R4` (no trailing slash): `fullUrl`s and paging links.
    pub base_url: String,
    pub gate: Arc<dyn Gate>,
}
