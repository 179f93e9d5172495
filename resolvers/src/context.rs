//! What resolvers take from the GraphQL context: shared state, the request, the loader.

use std::sync::Arc;

use async_graphql::connection::{Connection, Edge};
use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, OutputType, Result};
use portal_core::context::{Origin, RequestContext, Shape};
use portal_core::identity::Viewer;
use portal_core::pagination::{Page, PageRequest};
use portal_services::live::{CloseSignal, Hub};
use portal_services::walk_in::rate_limit::AttemptLimiter;
use portal_subscriptions::EventBus;
use sea_orm::DatabaseConnection;
use tokio::sync::Notify;

use crate::error::GqlResult;
use crate::loaders::Loaders;

/// Process-wide state the schema carries.
#[derive(Clone)]
pub struct AppData {
    /// The pool, bound to no tenant. Per-request handles are built over it (see `db`).
    pub db: DatabaseConnection,
    pub max_page_size: u64,
    /// `PORTAL_PUBLIC_URL`: the base of walk-in result links.
    pub public_url: String,
    /// Attempts at `resultLink` per client address (shared by every request of the process).
    pub result_link_limiter: Arc<AttemptLimiter>,
    /// Carries committed events to the replica's event hub (and the relay's tests).
    pub bus: EventBus,
    /// Serves every subscription of the replica (one follower per tenant).
    pub hub: Hub,
    /// Writes that committed outbox events call `notify_one()`, so the relay publishes them
    /// at once rather than at its next poll.
    pub outbox_wake: Arc<Notify>,
}

/// Who is connected over WebSocket, established once from `connection_init`. Subscriptions
/// build a fresh unit of work (`RequestContext`) from it for every event they deliver.
#[derive(Debug, Clone, Default)]
pub struct Subscriber {
    pub viewer: Option<Viewer>,
    pub client_addr: Option<String>,
    /// Recorded as the request id of the connection's audit rows.
    pub connection_id: String,
    /// Fired by the hub when a subscription of the connection did not drain its buffer:
    /// the WebSocket edge then closes the connection (the client resumes with `after`).
    pub closing: Arc<CloseSignal>,
}

impl Subscriber {
    /// Where the connection's requests come from.
    pub fn origin(&self) -> Origin {
        Origin::new(
            self.viewer.clone(),
            self.connection_id.clone(),
            self.client_addr.clone(),
        )
    }

    /// The unit of work of one subscribe: one transaction bound to the subscriber's tenant
    /// for the access decision and the starting point, committed with its audit row
    /// (`Shape::Query`; see `portal_services::live::subscribe_ready`).
    pub fn subscribe_context(&self, pool: &DatabaseConnection) -> RequestContext {
        RequestContext::new(pool, Shape::Query, self.origin())
    }
}

/// The connection's subscriber; anonymous when the schema runs outside a WebSocket.
pub fn subscriber(ctx: &Context<'_>) -> Subscriber {
    ctx.data_opt::<Subscriber>().cloned().unwrap_or_default()
}

pub fn app<'a>(ctx: &'a Context<'_>) -> Result<&'a AppData> {
    ctx.data::<AppData>()
}

/// The request's unit of work: viewer, tenant-bound database handle, audit buffer.
/// `portal_schema::execute` creates it and shares it (`Arc`) so that it can finish it once
/// the operation is done. Resolvers reach the database through it, never through
/// `AppData::db` (the unbound pool).
pub fn request<'a>(ctx: &'a Context<'_>) -> Result<&'a RequestContext> {
    ctx.data::<Arc<RequestContext>>().map(|c| c.as_ref())
}

pub fn loader<'a>(ctx: &'a Context<'_>) -> Result<&'a DataLoader<Loaders>> {
    ctx.data::<DataLoader<Loaders>>()
}

/// Validates `first`/`after` against the configured maximum page size.
pub fn page(ctx: &Context<'_>, first: Option<i32>, after: Option<String>) -> Result<PageRequest> {
    PageRequest::new(first, after.as_deref(), app(ctx)?.max_page_size).gql()
}

/// A Relay connection from a page of rows (each row's cursor comes with the page).
pub fn connection<T, N: OutputType>(page: Page<T>, node: impl Fn(T) -> N) -> Connection<String, N> {
    let mut connection = Connection::new(page.has_previous_page, page.has_next_page);
    connection.edges = page
        .into_edges()
        .map(|(cursor, row)| Edge::new(cursor.encode(), node(row)))
        .collect();
    connection
}
