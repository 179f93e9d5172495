//! Assembles the GraphQL schema: root types, limits, the SDL, and how one request runs.

pub mod cache;
pub mod documents;
mod finish;
pub mod limits;
pub mod order;
pub mod persisted;
mod request_db;
mod socket;

use std::sync::Arc;

use async_graphql::dataloader::DataLoader;
use async_graphql::{Data, Request, Response, Schema};
use portal_core::context::{Origin, RequestContext, Shape};
use portal_resolvers::{Loaders, Mutation, Query, Subscription};

pub use cache::ReadCache;
pub use documents::Documents;
pub use finish::coded_error;
pub use portal_resolvers::{AppData, Subscriber};
pub use socket::SocketExecutor;

pub type PortalSchema = Schema<Query, Mutation, Subscription>;

/// Query hardening limits.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_depth: usize,
    pub max_complexity: usize,
    pub introspection: bool,
    /// Checked before validation (see `limits`); `max_directives` also binds the engine.
    pub request: limits::RequestLimits,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_depth: 16,
            max_complexity: 2_000,
            introspection: true,
            request: limits::RequestLimits::default(),
        }
    }
}

/// The schema the server and the tests execute against; `cache` answers repeated queries
/// (`ReadCache::disabled()` for none).
pub fn build(data: AppData, limits: &Limits, cache: ReadCache) -> PortalSchema {
    let mut builder = Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    )
    .data(data)
    .data(cache)
    .data(limits.request.clone())
    .data(Documents::default())
    // No extensions: what a request does after its operation (commit, audit, error codes)
    // is in `execute` (see `finish`).
    .limit_depth(limits.max_depth)
    .limit_complexity(limits.max_complexity)
    .limit_directives(limits.request.max_directives);
    if !limits.introspection {
        builder = builder.disable_introspection();
    }
    builder.finish()
}

/// The schema definition language of the API (what `portal schema` prints).
pub fn sdl() -> String {
    Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    )
    .finish()
    .sdl()
}

/// Runs one request: its unit of work (`RequestContext`: viewer, database handle bound to the
/// viewer's tenant, audit buffer) is created here, once, with a DataLoader over its handle;
/// the request's transaction commits and its audit records are written before it returns
/// (`finish`). A query may be answered from the read cache (audited all the same);
/// `cache.after` runs once the request's transaction has committed, so a mutation's
/// invalidation follows it. The query text is parsed at most once per distinct document
/// (`Documents`); the engine runs on a copy of that parse.
pub async fn execute(schema: &PortalSchema, mut request: Request, origin: Origin) -> Response {
    let cache = schema
        .data::<ReadCache>()
        .cloned()
        .unwrap_or_else(ReadCache::disabled);
    let parsed = schema
        .data::<Documents>()
        .and_then(|documents| documents.get(&request));
    let pool = schema_db(schema);
    let shape = request_db::shape_of(parsed.as_deref());
    let ctx = Arc::new(RequestContext::new(&pool, shape, origin));
    let plan = match cache.lookup(&request, parsed.as_deref(), &ctx).await {
        cache::Lookup::Hit(entry) => return cache::serve(entry, &ctx).await,
        cache::Lookup::Proceed(plan) => plan,
    };
    let order = parsed.map(|parsed| {
        request.set_parsed_query(parsed.document.clone());
        order::ResponseOrder::new(parsed, &request)
    });
    let deps = ctx.read_deps();
    let request = with_request_data(request, ctx.clone());
    let response = schema.execute(request).await;
    let response = match order {
        Some(order) => order.apply(response),
        None => response,
    };
    let response = finish::finish(&ctx, response).await;
    cache.after(plan, &deps, &response).await;
    response
}

/// The `extensions.code` of errors the GraphQL engine raises itself (syntax, validation,
/// limits, argument coercion): the client's input. The same over HTTP and WebSocket.
pub const ENGINE_ERROR_CODE: &str = "BAD_USER_INPUT";

/// The data of one WebSocket connection: who is connected, and a DataLoader over a handle
/// bound to their tenant for the nested fields of delivered results (each subscribe runs in
/// a unit of work of its own, see `Subscriber::subscribe_context`). The
/// replica's event hub reads and audits each delivered result once for all its subscribers
/// (see `portal_services::live`).
pub fn connection_data(schema: &PortalSchema, subscriber: Subscriber) -> Data {
    // Long-lived: every read runs in its own short transaction bound to the tenant.
    let ctx = RequestContext::new(&schema_db(schema), Shape::Statements, subscriber.origin());
    let loader = DataLoader::new(
        Loaders::new(ctx.db().clone(), ctx.tenant().unwrap_or_default()),
        tokio::spawn,
    );
    let mut data = Data::default();
    data.insert(subscriber);
    data.insert(loader);
    data
}

/// The request with its unit of work and a DataLoader over the same handle attached.
fn with_request_data(request: Request, ctx: Arc<RequestContext>) -> Request {
    let loader = DataLoader::new(
        Loaders::new(ctx.db().clone(), ctx.tenant().unwrap_or_default())
            .with_prefetch(ctx.prefetch().clone()),
        tokio::spawn,
    );
    request.data(ctx).data(loader)
}

fn schema_db(schema: &PortalSchema) -> sea_orm::DatabaseConnection {
    schema
        .data::<AppData>()
        .map(|d| d.db.clone())
        .unwrap_or_else(|| {
            // `build` always stores AppData; an empty connection makes every query fail loudly.
            sea_orm::DatabaseConnection::default()
        })
}
