//! Ends a request once its operation ran: the transaction commits with the audit records,
//! and every error gets a stable `extensions.code`.
//!
//! This runs after `Schema::execute` rather than as async-graphql extensions: any extension
//! makes the engine wrap every field's resolution in the extension chain, which the read
//! path's profile showed as ~5% of the server's CPU for no work (BENCHMARKS.md).

use async_graphql::{ErrorExtensionValues, ErrorExtensions, Response, Value};
use portal_services::RequestContext;
use portal_services::audit;
use portal_services::db::TenantDb;
use sea_orm::DatabaseConnection;

/// Commits the request's work and writes its audit records; if either fails the client gets
/// UNAVAILABLE instead of the data: no read of patient data goes unrecorded, and no answer
/// is given for a transaction that did not commit.
///
/// - A query on PostgreSQL (`TenantDb::Request`): the records are appended inside the
///   query's own transaction and commit with it. If that fails (a statement had aborted the
///   transaction, or the COMMIT failed), the records are written in a transaction of their
///   own and the answer is withheld.
/// - A mutation (its writes committed as they ran), and SQLite: the records go in their own
///   transaction, bound to the viewer's tenant.
pub(crate) async fn finish(
    pool: &DatabaseConnection,
    db: &TenantDb,
    ctx: &RequestContext,
    response: Response,
) -> Response {
    let rows = audit::take_rows(ctx);
    let tenant = ctx.viewer.as_ref().map(|v| v.tenant_id);
    let own = || TenantDb::scoped(pool.clone(), tenant);
    if let TenantDb::Request(_) = db {
        let committed = match &rows {
            r if r.is_empty() => db.finish().await.map_err(|e| e.to_string()),
            r => commit_with_audit(db, r.clone()).await,
        };
        let Err(cause) = committed else {
            return with_error_codes(response);
        };
        if rows.is_empty() {
            return withheld(
                &ctx.request_id,
                "the request's transaction did not commit",
                &cause,
            );
        }
        if let Err(err) = audit::append(&own(), rows).await {
            tracing::error!(request_id = %ctx.request_id, error = %err, "audit records could not be written on their own either");
        }
        return withheld(
            &ctx.request_id,
            "the request's transaction and its audit records did not commit",
            &cause,
        );
    }
    if rows.is_empty() {
        return with_error_codes(response);
    }
    match audit::append(&own(), rows).await {
        Ok(_) => with_error_codes(response),
        Err(err) => withheld(
            &ctx.request_id,
            "audit trail write failed",
            &err.to_string(),
        ),
    }
}

/// Appends the rows in the query's transaction, then commits it. On an error the
/// transaction is ended anyway (a COMMIT of an aborted transaction rolls it back), so its
/// connection goes back to the pool.
async fn commit_with_audit(
    db: &TenantDb,
    rows: Vec<portal_entities::audit_event::Model>,
) -> Result<(), String> {
    match audit::append_within(db, rows).await {
        Ok(_) => db.finish().await.map_err(|e| e.to_string()),
        Err(err) => {
            let _ = db.finish().await;
            Err(err.to_string())
        }
    }
}

/// The answer that replaces the data when the request could not be committed or audited:
/// UNAVAILABLE.
pub(crate) fn withheld(request_id: &str, what: &str, cause: &str) -> Response {
    tracing::error!(request_id = %request_id, error = %cause, "{what}; answer withheld");
    let error = async_graphql::Error::new("service temporarily unavailable")
        .extend_with(|_, ext| ext.set("code", "UNAVAILABLE"))
        .into_server_error(async_graphql::Pos::default());
    Response::from_errors(vec![error])
}

/// Errors raised by the GraphQL engine itself (syntax, validation, limits, argument
/// coercion) carry no code; they are the client's input: BAD_USER_INPUT.
pub(crate) fn with_error_codes(mut response: Response) -> Response {
    for error in &mut response.errors {
        let extensions = error
            .extensions
            .get_or_insert_with(ErrorExtensionValues::default);
        if extensions.get("code").is_none() {
            extensions.set("code", Value::from("BAD_USER_INPUT"));
        }
    }
    response
}
