//! Writes the request's audit records after the operation ran, before the answer leaves.

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute};
use async_graphql::{ErrorExtensions, Response};
use portal_resolvers::AppData;
use portal_services::db::TenantDb;
use portal_services::{RequestContext, audit};

/// If the audit trail cannot be written, the client gets UNAVAILABLE instead of the data:
/// no read of patient data goes unrecorded.
pub struct AuditFlush;

impl ExtensionFactory for AuditFlush {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(AuditFlushExtension)
    }
}

struct AuditFlushExtension;

#[async_graphql::async_trait::async_trait]
impl Extension for AuditFlushExtension {
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let response = next.run(ctx, operation_name).await;
        let (Some(app), Some(request)) =
            (ctx.data_opt::<AppData>(), ctx.data_opt::<RequestContext>())
        else {
            return response;
        };
        // Its own transaction, bound to the viewer's tenant (row-level security), after the
        // request's transaction ended.
        let tenant = request.viewer.as_ref().map(|v| v.tenant_id);
        let db = TenantDb::scoped(app.db.clone(), tenant);
        match audit::flush(&db, request).await {
            Ok(_) => response,
            Err(err) => withheld(&request.request_id, &err.to_string()),
        }
    }
}

/// The answer that replaces the data when the audit trail cannot be written: UNAVAILABLE.
pub(crate) fn withheld(request_id: &str, cause: &str) -> Response {
    tracing::error!(request_id = %request_id, error = %cause, "audit trail write failed; answer withheld");
    let error = async_graphql::Error::new("service temporarily unavailable")
        .extend_with(|_, ext| ext.set("code", "UNAVAILABLE"))
        .into_server_error(async_graphql::Pos::default());
    Response::from_errors(vec![error])
}
