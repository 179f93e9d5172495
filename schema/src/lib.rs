//! Assembles the GraphQL schema: root types, limits, the SDL, and how one request runs.

pub mod cache;
mod finish;
mod request_db;

use std::sync::Arc;

use async_graphql::dataloader::DataLoader;
use async_graphql::{Data, Request, Response, Schema};
use portal_resolvers::{Loaders, Mutation, Query, Subscription};
use portal_services::RequestContext;
use portal_services::db::TenantDb;
use uuid::Uuid;

pub use cache::ReadCache;
pub use portal_resolvers::{AppData, Subscriber};

pub type PortalSchema = Schema<Query, Mutation, Subscription>;

/// Query hardening limits.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_depth: usize,
    pub max_complexity: usize,
    pub introspection: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_depth: 16,
            max_complexity: 2_000,
            introspection: true,
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
    // No extensions: what a request does after its operation (commit, audit, error codes)
    // is in `execute` (see `finish`).
    .limit_depth(limits.max_depth)
    .limit_complexity(limits.max_complexity);
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

/// Runs one request with its per-request data: the context (viewer, audit buffer), the
/// database handle bound to the viewer's tenant (see `request_db`) and a DataLoader over it.
/// The request's transaction commits and its audit records are written before it returns
/// (`finish`). A query may be answered from the read cache (audited all the same);
/// `cache.after` runs once the request's transaction has committed, so a mutation's
/// invalidation follows it.
pub async fn execute(schema: &PortalSchema, request: Request, ctx: RequestContext) -> Response {
    let cache = schema
        .data::<ReadCache>()
        .cloned()
        .unwrap_or_else(ReadCache::disabled);
    let plan = match cache.lookup(&request, &ctx).await {
        cache::Lookup::Hit(entry) => {
            // The hit's audit rows are written like a miss's: bound to the viewer's tenant.
            let tenant = ctx.viewer.as_ref().map(|v| v.tenant_id);
            let db = TenantDb::scoped(schema_db(schema), tenant);
            return cache::serve(&db, entry, ctx).await;
        }
        cache::Lookup::Proceed(plan) => plan,
    };
    let deps = ctx.read_deps();
    let ctx = Arc::new(ctx);
    let pool = schema_db(schema);
    let (request, db) = with_request_data(&pool, request, ctx.clone());
    let response = schema.execute(request).await;
    let response = finish::finish(&pool, &db, &ctx, response).await;
    cache.after(plan, &deps, &response).await;
    response
}

/// The data of one WebSocket connection: who is connected, and a DataLoader scoped to their
/// tenant for the fields of delivered results. Each delivered result is read and audited
/// under its own fresh request context (see `portal_services::live`).
pub fn connection_data(schema: &PortalSchema, subscriber: Subscriber) -> Data {
    let tenant = subscriber
        .viewer
        .as_ref()
        .map(|v| v.tenant_id)
        .unwrap_or(Uuid::nil());
    // Long-lived: every read runs in its own short transaction bound to the tenant.
    let db = TenantDb::scoped(schema_db(schema), Some(tenant).filter(|t| !t.is_nil()));
    let loader = DataLoader::new(Loaders::new(db.clone(), tenant), tokio::spawn);
    let mut data = Data::default();
    data.insert(subscriber);
    data.insert(db);
    data.insert(loader);
    data
}

/// The request with its data attached, and the database handle it runs on.
fn with_request_data(
    pool: &sea_orm::DatabaseConnection,
    request: Request,
    ctx: Arc<RequestContext>,
) -> (Request, TenantDb) {
    let tenant = ctx
        .viewer
        .as_ref()
        .map(|v| v.tenant_id)
        .unwrap_or(Uuid::nil());
    let bound = Some(tenant).filter(|t| !t.is_nil());
    let db = request_db::for_request(pool.clone(), &request, bound);
    let loader = DataLoader::new(Loaders::new(db.clone(), tenant), tokio::spawn);
    (request.data(ctx).data(db.clone()).data(loader), db)
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
